/**
 * `switchboard serve` with SWITCHBOARD_WORKERS=2: two processes on one port, sharing state
 * through Redis. Clients land on both workers (checked with `ss`, which names the process
 * owning each accepted socket) and see one cluster: presence, publishes, terminate, caps.
 * Needs Redis (skipped with a notice when unreachable, failing under CI=true).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Realtime } from '../../src/client/index.js';
import { eventuallyValue } from '../helpers/eventually.js';
import { servePrimaryWorkers } from '../helpers/serve-process.js';
import { acceptedSockets } from '../helpers/worker-placement.js';
import { REDIS_URL, redisCheck, requireService } from '../helpers/services.js';

const decision = await redisCheck();
const runId = `w${process.pid}${Date.now().toString(36)}`;
const tenant = `wk${runId}`;
const ADMIN_KEY = 'workers-admin-key-000001';

let serve: ChildProcess | undefined;
let dataDir = '';
let baseUrl = '';
let port = 0;
const clients: Realtime[] = [];

/** PIDs of the workers holding this port's accepted connections. */
function serverPidsWithConnections(): Set<number> {
  return new Set([...acceptedSockets(port, servePrimaryWorkers(serve!.pid!)).values()].flat());
}

async function session(user: string): Promise<string> {
  const response = await fetch(`${baseUrl}/v1/dev/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant, user, name: user }) });
  const body = (await response.json()) as { token: string };
  return body.token;
}

async function client(user: string): Promise<Realtime> {
  const token = await session(user);
  const rt = connect({ url: baseUrl, session: token, reconnect: { baseMs: 50, maxMs: 200 } });
  clients.push(rt);
  await rt.ready();
  return rt;
}

async function publish(channel: string, event: string, data: unknown): Promise<Response> {
  return fetch(`${baseUrl}/v1/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'switchboard-tenant': tenant, 'content-type': 'application/json' },
    body: JSON.stringify({ channel, event, data }),
  });
}

describe.skipIf(decision === 'skip')('serve with several workers on one port', () => {
  beforeAll(async () => {
    requireService(decision, 'Redis');
    dataDir = await mkdtemp(path.join(tmpdir(), 'switchboard-workers-'));
    serve = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve'], {
      env: {
        ...process.env,
        NODE_ENV: 'test',
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        SWITCHBOARD_WORKERS: '2',
        SWITCHBOARD_STORE: 'redis',
        REDIS_URL,
        SWITCHBOARD_DATA_DIR: dataDir,
        SWITCHBOARD_ADMIN_KEYS: ADMIN_KEY,
        LOCAL_APP_ID: runId,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: serve.stdout! });
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('serve did not report listening')), 60_000);
      lines.on('line', (line) => {
        const match = /"url":"http:\/\/localhost:(\d+)\/".*"workers":2/.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      serve!.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
    });
    baseUrl = `http://127.0.0.1:${port}`;
  }, 90_000);

  afterAll(async () => {
    for (const rt of clients.splice(0)) rt.close();
    if (serve && serve.exitCode === null) {
      const exited = new Promise((resolve) => serve!.once('exit', resolve));
      serve.kill('SIGTERM');
      await exited;
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, 40_000);

  it('spreads connections over both workers, and they act as one cluster: presence, publish, terminate', async () => {
    const users = ['ana', 'bo', 'cy', 'di'];
    const rts = await Promise.all(users.map((user) => client(user)));
    expect((await eventuallyValue(() => (serverPidsWithConnections().size >= 2 ? serverPidsWithConnections() : undefined))).size).toBe(2);

    const channels = rts.map((rt) => rt.channel('chat:lobby'));
    const received = channels.map(() => [] as unknown[]);
    channels.forEach((channel, index) => channel.subscribe('note', (data) => received[index]?.push(data)));
    await Promise.all(channels.map((channel) => channel.presence.enter()));
    for (const channel of channels) {
      await eventuallyValue(() => (channel.presence.members().length === users.length ? true : undefined));
      expect(channel.presence.members().map((member) => member.id).sort()).toEqual([...users].sort());
    }

    expect((await publish('chat:lobby', 'note', { n: 1 })).status).toBe(200);
    await eventuallyValue(() => (received.every((list) => list.length === 1) ? true : undefined));
    expect(received).toEqual(users.map(() => [{ n: 1 }]));

    const terminated = await fetch(`${baseUrl}/v1/users/bo/terminate`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'switchboard-tenant': tenant } });
    expect(terminated.status).toBeLessThan(300);
    await eventuallyValue(() => (channels[0]!.presence.members().length === users.length - 1 ? true : undefined));
    expect(channels[0]!.presence.members().map((member) => member.id)).not.toContain('bo');
  }, 60_000);

  it('replaces a worker that dies, and keeps serving meanwhile', async () => {
    const before = serverPidsWithConnections();
    const victim = [...before][0]!;
    process.kill(victim, 'SIGKILL');
    await eventuallyValue(async () => ((await fetch(`${baseUrl}/healthz`).catch(() => undefined))?.ok ? true : undefined));
    // Keep-alive connections to the dead worker are reset: a client retries on a fresh one.
    await eventuallyValue(() => session('eve').then(() => true, () => undefined));
    const rt = await client('eve');
    const channel = rt.channel('chat:lobby');
    const got: unknown[] = [];
    channel.subscribe('note', (data) => got.push(data));
    await channel.presence.enter();
    expect((await publish('chat:lobby', 'note', { n: 2 })).status).toBe(200);
    // The dead worker may have held the channel's delivery lease (3 s), and its replacement compiles meanwhile.
    await eventuallyValue(() => (got.length > 0 ? true : undefined), 40_000);
    expect(got).toEqual([{ n: 2 }]);
    // The primary forks a replacement, and new connections reach it.
    const workers = () => new Set(servePrimaryWorkers(serve!.pid!));
    const replacement = await eventuallyValue(() => [...workers()].find((pid) => !before.has(pid) && pid !== victim), 30_000);
    await eventuallyValue(async () => {
      // Bounded per attempt: the check is which process accepted the socket, not how fast this client got ready.
      await Promise.race([client(`late-${clients.length}`).catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 5_000))]);
      return serverPidsWithConnections().has(replacement) ? true : undefined;
      // A replacement starts (and compiles, under tsx) before it listens: slow on a loaded machine.
    }, 90_000);
  }, 150_000);
});
