/** Starting the servers under test and talking to the Switchboard BFF over HTTP. */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ReadyMessage } from './messages.js';
import { isRecord } from './messages.js';
import { BENCH_DIR, spawnChild, type Child } from './proc.js';

export const TENANT = 'bench';
export const API_KEY = 'bench-publish-key-0123456789';
export const APP_KEY = 'bench-app-key';
export const APP_SECRET = 'bench-app-secret-0123456789abcdef';
export const PROFILE_DIR = path.join(BENCH_DIR, 'results', 'profiles');

export interface BenchContext {
  quick: boolean;
  cpuProf: boolean;
  tmpDir: string;
  log(message: string): void;
}

export interface RunningServer {
  child: Child;
  pid: number;
  baseUrl: string;
  stop(): Promise<void>;
}

export type PeerServer = 'switchboard' | 'switchboard-workers' | 'socketio' | 'ws' | 'express-jwt';

export interface StartOptions {
  /** `taskset -c` core list. */
  cpus?: string;
  exposeGc?: boolean;
  raiseFdLimit?: boolean;
  /** Writes V8 CPU profiles to bench/results/profiles/<cpuProfile>/ (one file per thread; the main thread's is the big one). */
  cpuProfile?: string;
  /** Switchboard only. */
  store?: 'memory' | 'sqlite' | 'redis';
  /** Switchboard only: written as SWITCHBOARD_CONFIG; the built-in defaults otherwise. */
  config?: unknown;
  redisUrl?: string;
  /** Switchboard only: more environment variables. */
  env?: Record<string, string>;
}

async function switchboardEnv(ctx: BenchContext, options: StartOptions): Promise<Record<string, string>> {
  const dir = path.join(ctx.tmpDir, `sb-${randomBytes(4).toString('hex')}`);
  await mkdir(dir, { recursive: true });
  const configFile = path.join(dir, 'switchboard.config.json');
  await writeFile(configFile, JSON.stringify(options.config ?? {}));
  return {
    NODE_ENV: 'development',
    SWITCHBOARD_PROVIDER: 'local',
    SWITCHBOARD_STORE: options.store ?? 'memory',
    SWITCHBOARD_DATA_DIR: dir,
    // `{}` = built-in defaults; never pick up a switchboard.config.json from the repo.
    SWITCHBOARD_CONFIG: configFile,
    SWITCHBOARD_API_KEYS: `${TENANT}:${API_KEY}`,
    LOG_LEVEL: 'silent',
    LOCAL_APP_KEY: APP_KEY,
    LOCAL_APP_SECRET: APP_SECRET,
    LOCAL_MAX_CONNECTIONS: '100000',
    // Every load generator connects from 127.0.0.1: the per-address limits would stop it.
    LOCAL_MAX_CONNECTIONS_PER_ADDRESS: '1000000',
    LOCAL_CONNECTION_RATE_PER_ADDRESS: '1000000',
    LOCAL_CONNECTION_BURST_PER_ADDRESS: '1000000',
    SWITCHBOARD_MAX_SOCKETS_PER_ADDRESS: '1000000',
    ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
    ...options.env,
  };
}

export async function startServer(ctx: BenchContext, kind: PeerServer, options: StartOptions = {}): Promise<RunningServer> {
  const nodeFlags: string[] = [];
  if (options.exposeGc) nodeFlags.push('--expose-gc');
  if (options.cpuProfile) {
    const dir = path.join(PROFILE_DIR, options.cpuProfile);
    await mkdir(dir, { recursive: true });
    ctx.log(`CPU profile of the ${kind} server -> ${path.relative(process.cwd(), dir)}/`);
    nodeFlags.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
  }
  const child = spawnChild({
    script: `servers/${kind}.ts`,
    env: kind.startsWith('switchboard') ? await switchboardEnv(ctx, options) : { NODE_ENV: 'production' },
    cpus: options.cpus,
    nodeFlags,
    raiseFdLimit: options.raiseFdLimit,
    label: `${kind} server`,
  });
  try {
    const ready = await child.next<ReadyMessage>('ready', 30_000);
    return { child, pid: ready.pid, baseUrl: `http://127.0.0.1:${ready.port}`, stop: () => child.stop(5000) };
  } catch (error) {
    await child.stop(1000);
    throw error;
  }
}

async function postJson(url: string, body: unknown, bearer?: string): Promise<Record<string, unknown>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`POST ${new URL(url).pathname} answered ${response.status}: ${text.slice(0, 300)}`);
  const json: unknown = JSON.parse(text);
  if (!isRecord(json)) throw new Error(`POST ${new URL(url).pathname} answered a non-object`);
  return json;
}

/** `POST /v1/dev/session` -> app session token. */
export async function devSession(baseUrl: string, user = 'u1'): Promise<string> {
  const answer = await postJson(`${baseUrl}/v1/dev/session`, { tenant: TENANT, user });
  if (typeof answer.token !== 'string') throw new Error('dev session answer has no token');
  return answer.token;
}

/** Session -> `POST /v1/token` -> capability token. */
export async function capabilityToken(baseUrl: string, session: string): Promise<string> {
  const answer = await postJson(`${baseUrl}/v1/token`, {}, session);
  if (typeof answer.token !== 'string') throw new Error('token answer has no token');
  return answer.token;
}

export async function publishBatch(baseUrl: string, messages: { channel: string; event: string; data: unknown; id?: string }[]): Promise<void> {
  await postJson(`${baseUrl}/v1/publish`, { messages }, API_KEY);
}
