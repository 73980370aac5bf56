/**
 * Load generator: holds N subscriber connections of one kind and publishes to them.
 *
 *  - `pusher`: raw `ws` speaking Pusher protocol 7 to the Switchboard `local` provider
 *    (connection_established -> channel authorization -> pusher:subscribe);
 *  - `socketio`: `socket.io-client` 4.8, websocket transport only, joining one room;
 *  - `ws`: raw `ws` clients of the plain ws peer.
 *
 * Every delivery is counted; only `sample` connections, spread evenly over the
 * connection order, look inside frames
 * (a regex for the embedded send time), so the generator stays cheap per frame.
 * Publishing happens from this process too, so send and receive times share one clock.
 */
import { io, type Socket } from 'socket.io-client';
import { WebSocket, type RawData } from 'ws';
import {
  hasCmd,
  isRecord,
  type ConnectCommand,
  type DriveCommand,
  type GeneratorToParent,
  type ParentToGenerator,
  type PublishTarget,
  type PusherSetup,
  type SteadyCommand,
} from '../lib/messages.js';
import { machineCpuMs, processCpuMs } from '../lib/proc.js';
import { signLocally, toBuffer, type Authorization } from '../lib/pusher-wire.js';

const EVENT = 'tick';
/** Event frames carry a 100-byte payload; control frames (ping, pong) are far smaller. */
const MIN_EVENT_FRAME_BYTES = 100;
const MAX_LATENCY_SAMPLES = 200_000;
const BATCH_TIMEOUT_MS = 20_000;
/** `"bt":123.4` inside the payload, possibly inside a JSON-encoded string (`\"bt\":`). */
const SEND_TIME = /\\?"bt\\?":(\d+(?:\.\d+)?)/;

interface Closeable {
  close(): void;
}

const state = {
  received: 0,
  target: Number.POSITIVE_INFINITY,
  wake: undefined as (() => void) | undefined,
  recording: false,
  latencies: [] as number[],
  frameBytes: 0,
};

const connections: Closeable[] = [];

function reply(message: GeneratorToParent): void {
  if (process.connected) process.send?.(message);
}

function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

function delivered(): void {
  state.received++;
  if (state.received >= state.target && state.wake) {
    const wake = state.wake;
    state.wake = undefined;
    wake();
  }
}

function recordSendTime(sentAt: number): void {
  if (state.recording && state.latencies.length < MAX_LATENCY_SAMPLES) state.latencies.push(nowMs() - sentAt);
}

function recordFrame(text: string): void {
  const match = SEND_TIME.exec(text);
  if (match) recordSendTime(Number(match[1]));
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_resolve, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms))),
  ]);
}

function wsUrl(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/^http/, 'ws')}${path}`;
}

/** The channels connection `index` subscribes to: the main one first. */
function channelsFor(setup: PusherSetup, index: number): string[] {
  const presence = setup.presenceChannels ?? [];
  return [setup.channel, ...(setup.extraChannels ?? []), ...(presence.length > 0 ? [presence[index % presence.length] as string] : [])];
}

async function authorizeViaBff(setup: PusherSetup, socketId: string): Promise<Authorization> {
  if (!setup.bffAuth) throw new Error('no BFF auth configured');
  const response = await fetch(setup.bffAuth.url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${setup.bffAuth.capabilityToken}` },
    body: new URLSearchParams({ socket_id: socketId, channel_name: setup.channel }).toString(),
  });
  const body: unknown = await response.json();
  if (!response.ok || !isRecord(body) || typeof body.auth !== 'string') {
    throw new Error(`POST /v1/auth/pusher answered ${response.status}: ${JSON.stringify(body).slice(0, 300)}`);
  }
  return typeof body.channel_data === 'string' ? { auth: body.auth, channel_data: body.channel_data } : { auth: body.auth };
}

/** Connection `index` is user `u{index}`; on presence channels named, and allowed to whisper `typing`. */
function signFor(setup: PusherSetup, socketId: string, index: number, channel = setup.channel): Authorization {
  const presence = channel.startsWith('presence-');
  return signLocally(setup, socketId, channel, { userId: `u${index}`, info: presence ? { name: `User ${index}` } : {}, clientEvents: presence ? ['typing'] : [] });
}

function connectPusher(baseUrl: string, setup: PusherSetup, index: number, sampled: boolean, viaBff: boolean): Promise<Closeable> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(baseUrl, `/app/${encodeURIComponent(setup.appKey)}?protocol=7&client=js&version=8.6.0&flash=false`), {
      perMessageDeflate: false,
    });
    let live = false;
    const channels = channelsFor(setup, index);
    let pendingSubscriptions = channels.length;
    const fail = (error: Error): void => {
      ws.terminate();
      reject(error);
    };
    ws.on('message', (data: RawData) => {
      const bytes = toBuffer(data);
      if (live && bytes.length >= MIN_EVENT_FRAME_BYTES) {
        if (sampled) {
          if (state.frameBytes === 0) state.frameBytes = bytes.length;
          if (state.recording) recordFrame(bytes.toString('utf8'));
        }
        delivered();
        return;
      }
      let message: unknown;
      try {
        message = JSON.parse(bytes.toString('utf8'));
      } catch {
        return;
      }
      if (!isRecord(message)) return;
      const event = message.event;
      if (event === 'pusher:ping') {
        ws.send('{"event":"pusher:pong","data":{}}');
      } else if (event === 'pusher:connection_established' && typeof message.data === 'string') {
        const handshake: unknown = JSON.parse(message.data);
        const socketId = isRecord(handshake) && typeof handshake.socket_id === 'string' ? handshake.socket_id : '';
        const authorization = viaBff ? authorizeViaBff(setup, socketId) : Promise.resolve(signFor(setup, socketId, index));
        authorization.then(
          (signed) => {
            ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: setup.channel, ...signed } }));
            for (const channel of channels.slice(1)) {
              ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel, ...signFor(setup, socketId, index, channel) } }));
            }
          },
          (error: unknown) => fail(error instanceof Error ? error : new Error(String(error))),
        );
      } else if (event === 'pusher_internal:subscription_succeeded') {
        pendingSubscriptions -= 1;
        if (pendingSubscriptions > 0) return;
        live = true;
        resolve({ close: () => ws.terminate() });
      } else if (event === 'pusher:error' || event === 'pusher:subscription_error') {
        fail(new Error(`${String(event)}: ${JSON.stringify(message.data)}`));
      }
    });
    ws.on('error', fail);
    ws.on('close', (code) => {
      if (!live) reject(new Error(`closed before subscribing (code ${code})`));
    });
  });
}

function connectWs(baseUrl: string, sampled: boolean): Promise<Closeable> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(baseUrl, '/'), { perMessageDeflate: false });
    let live = false;
    ws.on('open', () => ws.send(JSON.stringify({ event: 'subscribe', channel: 'bench' })));
    ws.on('message', (data: RawData) => {
      const bytes = toBuffer(data);
      if (live) {
        if (bytes.length < MIN_EVENT_FRAME_BYTES) return;
        if (sampled) {
          if (state.frameBytes === 0) state.frameBytes = bytes.length;
          if (state.recording) recordFrame(bytes.toString('utf8'));
        }
        delivered();
        return;
      }
      if (bytes.toString('utf8').includes('"subscribed"')) {
        live = true;
        resolve({ close: () => ws.terminate() });
      }
    });
    ws.on('error', (error) => {
      ws.terminate();
      reject(error);
    });
    ws.on('close', (code) => {
      if (!live) reject(new Error(`closed before subscribing (code ${code})`));
    });
  });
}

function connectSocketIo(baseUrl: string, sampled: boolean, timeoutMs: number): Promise<Closeable> {
  return new Promise((resolve, reject) => {
    const socket: Socket = io(baseUrl, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: timeoutMs });
    socket.on(
      EVENT,
      sampled
        ? (data: unknown) => {
            if (state.frameBytes === 0) state.frameBytes = JSON.stringify([EVENT, data]).length + 2; // `42` + JSON
            if (state.recording && isRecord(data) && typeof data.bt === 'number') recordSendTime(data.bt);
            delivered();
          }
        : delivered,
    );
    socket.once('connect', () => {
      socket.emit('subscribe', 'bench', () => resolve({ close: () => socket.disconnect() }));
    });
    socket.once('connect_error', (error: Error) => {
      socket.disconnect();
      reject(error);
    });
  });
}

async function connect(command: ConnectCommand): Promise<void> {
  const started = Date.now();
  const deadline = started + command.timeoutMs;
  let next = 0;
  let viaBff = 0;
  const perConnectionMs = Math.min(15_000, command.timeoutMs);
  const worker = async (): Promise<void> => {
    while (next < command.count) {
      if (Date.now() > deadline) throw new Error(`connected ${connections.length}/${command.count} before the ${command.timeoutMs} ms deadline`);
      const index = next++;
      // Spread over the connection order: servers fan out in subscription order, so the
      // first connections would always be served first.
      const stride = Math.max(1, Math.floor(command.count / Math.max(1, command.sample)));
      const sampled = command.sample > 0 && index % stride === 0 && index / stride < command.sample;
      let pending: Promise<Closeable>;
      if (command.kind === 'pusher') {
        if (!command.pusher) throw new Error('pusher setup missing');
        const useBff = index === 0 && command.pusher.bffAuth !== undefined;
        if (useBff) viaBff++;
        pending = connectPusher(command.baseUrl, command.pusher, index, sampled, useBff);
      } else if (command.kind === 'ws') {
        pending = connectWs(command.baseUrl, sampled);
      } else {
        pending = connectSocketIo(command.baseUrl, sampled, perConnectionMs);
      }
      connections.push(await withTimeout(pending, perConnectionMs, `connection ${index}`));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(command.concurrency, command.count)) }, worker));
  reply({ type: 'connected', connections: connections.length, ms: Date.now() - started, viaBff });
}

function payload(index: number, bytes: number): { bt: number; i: number; p: string } {
  const data = { bt: Math.round(nowMs() * 1000) / 1000, i: index, p: '' };
  data.p = 'x'.repeat(Math.max(0, bytes - JSON.stringify(data).length));
  return data;
}

async function publish(target: PublishTarget, firstIndex: number, count: number, bytes: number): Promise<void> {
  const messages = Array.from({ length: count }, (_, offset) => {
    const data = payload(firstIndex + offset, bytes);
    return target.channel === undefined ? { event: EVENT, data } : { channel: target.channel, event: EVENT, data };
  });
  const response = await fetch(target.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(target.authorization ? { authorization: target.authorization } : {}) },
    body: JSON.stringify(messages.length === 1 && target.channel !== undefined ? messages[0] : { messages }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`publish answered ${response.status}: ${text.slice(0, 300)}`);
}

/** Resolves true once `received` reaches `target`, false on timeout. */
function waitForDeliveries(target: number, timeoutMs: number): Promise<boolean> {
  if (state.received >= target) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      state.wake = undefined;
      state.target = Number.POSITIVE_INFINITY;
      resolve(false);
    }, timeoutMs);
    state.target = target;
    state.wake = () => {
      clearTimeout(timer);
      state.target = Number.POSITIVE_INFINITY;
      resolve(true);
    };
  });
}

/** Closed loop: publish a batch, wait until every subscriber has it, repeat. */
async function drive(command: DriveCommand): Promise<void> {
  const live = connections.length;
  let expected = state.received;
  let index = 0;
  let batches = 0;
  const runBatch = async (): Promise<void> => {
    expected += command.batch * live;
    await publish(command.publish, index, command.batch, command.payloadBytes);
    index += command.batch;
    batches++;
    if (!(await waitForDeliveries(expected, BATCH_TIMEOUT_MS))) expected = state.received;
  };
  const warmupEnd = Date.now() + command.warmupMs;
  while (Date.now() < warmupEnd && batches < command.maxBatches) await runBatch();

  const cpuStart = processCpuMs(command.serverPid);
  const ownCpuStart = process.cpuUsage();
  const machineStart = machineCpuMs().busy;
  const receivedStart = state.received;
  const wallStart = performance.now();
  let windowBatches = 0;
  let windowEvents = 0;
  while (performance.now() - wallStart < command.windowMs && windowBatches < command.maxBatches) {
    await runBatch();
    windowBatches++;
    windowEvents += command.batch;
  }
  const wallMs = performance.now() - wallStart;
  const cpuMs = processCpuMs(command.serverPid) - cpuStart;
  const ownCpu = process.cpuUsage(ownCpuStart);
  reply({
    type: 'drive-done',
    events: windowEvents,
    deliveries: state.received - receivedStart,
    expectedDeliveries: windowEvents * live,
    wallMs,
    cpuMs,
    generatorCpuMs: (ownCpu.user + ownCpu.system) / 1000,
    machineBusyMs: machineCpuMs().busy - machineStart,
    batches: windowBatches,
    frameBytes: state.frameBytes,
  });
}

/** Open loop at a fixed rate, one event per request; sampled connections record latency. */
async function steady(command: SteadyCommand): Promise<void> {
  const live = connections.length;
  const total = Math.max(1, Math.round((command.ratePerSecond * command.durationMs) / 1000));
  const interval = 1000 / command.ratePerSecond;
  const receivedStart = state.received;
  state.latencies = [];
  state.recording = true;
  let sent = 0;
  let inFlight = 0;
  let publishErrors = 0;
  let skipped = 0;
  const serverCpuStart = processCpuMs(command.serverPid);
  const ownCpuStart = process.cpuUsage();
  const machineStart = machineCpuMs().busy;
  const start = performance.now();
  for (let index = 0; index < total; index++) {
    const wait = start + index * interval - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    if (inFlight >= 20) {
      skipped++;
      continue;
    }
    inFlight++;
    sent++;
    publish(command.publish, index, 1, command.payloadBytes).then(
      () => inFlight--,
      () => {
        inFlight--;
        publishErrors++;
      },
    );
  }
  await waitForDeliveries(receivedStart + sent * live, 5_000);
  state.recording = false;
  const wallMs = performance.now() - start;
  const ownCpu = process.cpuUsage(ownCpuStart);
  reply({
    type: 'steady-done',
    skipped,
    wallMs,
    serverCpuMs: processCpuMs(command.serverPid) - serverCpuStart,
    generatorCpuMs: (ownCpu.user + ownCpu.system) / 1000,
    machineBusyMs: machineCpuMs().busy - machineStart,
    sent,
    expectedDeliveries: sent * live,
    deliveries: state.received - receivedStart,
    latencies: state.latencies,
    publishErrors,
  });
}

function closeAll(): void {
  for (const connection of connections.splice(0)) connection.close();
}

async function handle(command: ParentToGenerator): Promise<void> {
  switch (command.cmd) {
    case 'connect':
      return connect(command);
    case 'drive':
      return drive(command);
    case 'steady':
      return steady(command);
    case 'close':
      closeAll();
      reply({ type: 'closed' });
      setTimeout(() => process.exit(0), 100);
  }
}

process.on('message', (message: unknown) => {
  if (!hasCmd<ParentToGenerator>(message)) return;
  handle(message).catch((error: unknown) => reply({ type: 'error', message: error instanceof Error ? error.message : String(error) }));
});
process.on('disconnect', () => {
  closeAll();
  process.exit(0);
});
