/**
 * One address floods the server — WebSockets that never subscribe, and half-open HTTP
 * requests — while real clients from other addresses sign in, subscribe, receive a
 * publish and reach /healthz. Runs `switchboard serve` as its own process (optionally
 * with a lowered open-files limit) on loopback; distinct addresses are 127.0.0.x source
 * addresses. Used by `npm run load:abuse` (full size) and by
 * test/integration/abuse-flood.test.ts (small).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';

const REPO_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FLOOD_API_KEY = 'flood-test-publish-key-0001';
const APP_KEY = 'switchboard-key';

export interface ServerProcess {
  port: number;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `switchboard serve` in its own process, with `ulimit -n openFiles` when given; resolves once /healthz answers. */
export async function startServerProcess(env: Record<string, string>, openFiles?: number, timeoutMs = 60_000): Promise<ServerProcess> {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sb-flood-'));
  // The built-in namespaces and roles (a named config file must exist).
  writeFileSync(path.join(dataDir, 'switchboard.config.json'), '{}');
  const command = `${openFiles === undefined ? '' : `ulimit -n ${openFiles} && `}exec node --import tsx src/cli.ts serve`;
  const child = spawn('bash', ['-c', command], {
    cwd: REPO_DIR,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'development',
      PORT: String(port),
      HOST: '127.0.0.1',
      SWITCHBOARD_PROVIDER: 'local',
      SWITCHBOARD_STORE: 'memory',
      SWITCHBOARD_DATA_DIR: dataDir,
      SWITCHBOARD_CONFIG: path.join(dataDir, 'switchboard.config.json'),
      SWITCHBOARD_API_KEYS: `acme:${FLOOD_API_KEY}`,
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
    rmSync(dataDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`switchboard serve exited (${child.exitCode}):\n${output}`);
    const status = await request(port, '127.0.0.1', 'GET', '/healthz').then((r) => r.status, () => 0);
    if (status === 200) return { port, child, output: () => output, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`switchboard serve did not answer /healthz within ${timeoutMs} ms:\n${output}`);
    }
    await sleep(100);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Answer {
  status: number;
  body: string;
  ms: number;
}

/** One HTTP request from `localAddress` on a fresh socket (no keep-alive). */
export function request(port: number, localAddress: string, method: string, urlPath: string, body?: unknown, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        localAddress,
        method,
        path: urlPath,
        agent: false,
        timeout: timeoutMs,
        headers: { ...(payload === undefined ? {} : { 'content-type': typeof body === 'string' ? 'application/x-www-form-urlencoded' : 'application/json' }), ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, ms: performance.now() - started }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(payload);
  });
}

export interface FloodOptions {
  port: number;
  floodAddress: string;
  /** WebSockets the flood opens (never subscribing), at most `inFlight` handshakes at a time. */
  floodSockets: number;
  /** Half-open HTTP requests (a request line and one header, then silence). */
  halfOpenRequests: number;
  inFlight: number;
  legitAddresses: string[];
  legitClients: number;
  /** The whole scenario is cut off after this. */
  timeLimitMs: number;
}

export interface FloodResult {
  flood: { attempted: number; established: number; refused: Record<string, number>; failed: number; stillOpen: number };
  /** `stillOpen`: half-open requests the server holds at the end of the flood. */
  halfOpen: { attempted: number; stillOpen: number; closedByServer: number };
  legit: { clients: number; connected: number; subscribed: number; received: number; refused: Record<string, number>; closed: Record<string, number>; connectMsMax: number };
  healthz: { ok: number; failed: number; maxMs: number };
  seconds: number;
}

interface LegitClient {
  ws: WebSocket;
  /** Whether the publish arrives within `ms`. */
  receive(ms: number): Promise<boolean>;
  close(): void;
}

async function legitClient(options: FloodOptions, index: number, result: FloodResult): Promise<LegitClient | undefined> {
  const address = options.legitAddresses[index % options.legitAddresses.length] ?? '127.0.0.1';
  const started = performance.now();
  const session = await request(options.port, address, 'POST', '/v1/dev/session', { tenant: 'acme', user: `user${index}` });
  const capability = await request(options.port, address, 'POST', '/v1/token', {}, { authorization: `Bearer ${(JSON.parse(session.body) as { token: string }).token}` });
  const token = (JSON.parse(capability.body) as { token: string }).token;
  const ws = new WebSocket(`ws://127.0.0.1:${options.port}/app/${APP_KEY}?protocol=7`, { localAddress: address, perMessageDeflate: false });
  ws.on('error', () => undefined);
  let closing = false;
  ws.on('close', (code) => {
    if (!closing) result.legit.closed[String(code)] = (result.legit.closed[String(code)] ?? 0) + 1;
  });
  const frames: { event: string; data?: string; channel?: string }[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (raw: Buffer) => {
    frames.push(JSON.parse(raw.toString()) as { event: string });
    for (const wake of waiters.splice(0)) wake();
  });
  const next = async (test: (frame: { event: string; data?: string; channel?: string }) => boolean, ms: number) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = frames.find(test);
      if (found) return found;
      if (Date.now() > deadline || ws.readyState > WebSocket.OPEN) return undefined;
      await Promise.race([new Promise<void>((resolve) => waiters.push(resolve)), sleep(100)]);
    }
  };
  const first = await next((frame) => frame.event === 'pusher:connection_established' || frame.event === 'pusher:error', 10_000);
  if (first?.event !== 'pusher:connection_established') {
    const code = first ? String((JSON.parse(first.data ?? '{}') as { code?: number }).code) : 'no answer';
    result.legit.refused[code] = (result.legit.refused[code] ?? 0) + 1;
    ws.terminate();
    return undefined;
  }
  result.legit.connected += 1;
  result.legit.connectMsMax = Math.max(result.legit.connectMsMax, performance.now() - started);
  const socketId = (JSON.parse(first.data ?? '{}') as { socket_id: string }).socket_id;
  const channel = 'private-orders.acme.flood';
  const auth = await request(options.port, address, 'POST', '/v1/auth/pusher', new URLSearchParams({ socket_id: socketId, channel_name: channel }).toString(), {
    authorization: `Bearer ${token}`,
  });
  ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel, ...(JSON.parse(auth.body) as object) } }));
  if (!(await next((frame) => frame.event === 'pusher_internal:subscription_succeeded', 10_000))) {
    return { ws, receive: async () => false, close: () => ((closing = true), ws.terminate()) };
  }
  result.legit.subscribed += 1;
  const receive = (ms: number) => next((frame) => frame.event === 'status' && frame.channel === channel, ms).then((frame) => frame !== undefined);
  return { ws, receive, close: () => ((closing = true), ws.terminate()) };
}

/** Opens the flood's WebSockets, `inFlight` at a time; the accepted ones stay open (they answer nothing). */
async function floodWebSockets(options: FloodOptions, result: FloodResult, held: WebSocket[], stopAt: number): Promise<void> {
  let next = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${options.port}/app/${APP_KEY}?protocol=7`, { localAddress: options.floodAddress, perMessageDeflate: false, handshakeTimeout: 10_000 });
      result.flood.attempted += 1;
      ws.once('message', (raw: Buffer) => {
        const frame = JSON.parse(raw.toString()) as { event: string; data?: string };
        if (frame.event === 'pusher:connection_established') {
          result.flood.established += 1;
          held.push(ws);
        } else {
          const code = String((JSON.parse(frame.data ?? '{}') as { code?: number }).code);
          result.flood.refused[code] = (result.flood.refused[code] ?? 0) + 1;
        }
        resolve();
      });
      ws.once('error', () => {
        result.flood.failed += 1;
        resolve();
      });
      ws.once('close', () => resolve());
    });
  await Promise.all(
    Array.from({ length: options.inFlight }, async () => {
      while (next < options.floodSockets && Date.now() < stopAt) {
        next += 1;
        await one();
      }
    }),
  );
}

type FloodSocket = net.Socket & { closedByUs?: boolean };

async function floodHalfOpen(options: FloodOptions, result: FloodResult, held: FloodSocket[], stopAt: number): Promise<void> {
  let next = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const socket: FloodSocket = net.connect({ port: options.port, host: '127.0.0.1', localAddress: options.floodAddress });
      result.halfOpen.attempted += 1;
      socket.on('error', () => undefined);
      // Read (and drop) what the server sends, so that its 408 and close are seen.
      socket.resume();
      socket.once('connect', () => {
        socket.write('POST /v1/publish HTTP/1.1\r\nHost: flood\r\n');
        held.push(socket);
        // Paces the flood; whether the server kept it is counted at the end.
        const timer = setTimeout(resolve, 200);
        socket.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      socket.once('close', () => {
        if (!socket.closedByUs) result.halfOpen.closedByServer += 1;
        resolve();
      });
    });
  await Promise.all(
    Array.from({ length: options.inFlight }, async () => {
      while (next < options.halfOpenRequests && Date.now() < stopAt) {
        next += 1;
        await one();
      }
    }),
  );
}

export async function runFlood(options: FloodOptions): Promise<FloodResult> {
  const started = Date.now();
  const stopAt = started + options.timeLimitMs;
  const result: FloodResult = {
    flood: { attempted: 0, established: 0, refused: {}, failed: 0, stillOpen: 0 },
    halfOpen: { attempted: 0, stillOpen: 0, closedByServer: 0 },
    legit: { clients: options.legitClients, connected: 0, subscribed: 0, received: 0, refused: {}, closed: {}, connectMsMax: 0 },
    healthz: { ok: 0, failed: 0, maxMs: 0 },
    seconds: 0,
  };
  const floodSockets: WebSocket[] = [];
  const halfOpen: FloodSocket[] = [];
  const legit: LegitClient[] = [];
  let flooding = true;
  const flood = Promise.all([floodWebSockets(options, result, floodSockets, stopAt), floodHalfOpen(options, result, halfOpen, stopAt)]).finally(() => (flooding = false));
  const probes = (async () => {
    while (flooding && Date.now() < stopAt) {
      const address = options.legitAddresses[0] ?? '127.0.0.1';
      const answer = await request(options.port, address, 'GET', '/healthz', undefined, {}, 5_000).catch(() => undefined);
      if (answer?.status === 200) {
        result.healthz.ok += 1;
        result.healthz.maxMs = Math.max(result.healthz.maxMs, answer.ms);
      } else result.healthz.failed += 1;
      await sleep(200);
    }
  })();
  try {
    // Real clients arrive while the flood is under way.
    await sleep(Math.min(1_000, options.timeLimitMs / 10));
    for (let i = 0; i < options.legitClients && Date.now() < stopAt; i += 10) {
      const batch = await Promise.all(Array.from({ length: Math.min(10, options.legitClients - i) }, (_, j) => legitClient(options, i + j, result).catch(() => undefined)));
      for (const client of batch) if (client) legit.push(client);
    }
    await request(options.port, options.legitAddresses[0] ?? '127.0.0.1', 'POST', '/v1/publish', { channel: 'orders:flood', event: 'status', data: { during: 'flood' } }, { authorization: `Bearer ${FLOOD_API_KEY}` });
    const received = await Promise.all(legit.map((client) => client.receive(15_000)));
    result.legit.received = received.filter(Boolean).length;
    await flood;
    await probes;
    // Sockets still waiting in the accept queue are closed moments later: let them settle.
    await sleep(1_000);
    result.flood.stillOpen = floodSockets.filter((ws) => ws.readyState === WebSocket.OPEN).length;
    result.halfOpen.stillOpen = halfOpen.filter((socket) => !socket.destroyed && !socket.readableEnded).length;
  } finally {
    result.seconds = (Date.now() - started) / 1000;
    for (const client of legit) client.close();
    for (const ws of floodSockets) ws.terminate();
    for (const socket of halfOpen) {
      socket.closedByUs = true;
      socket.destroy();
    }
  }
  return result;
}
