/**
 * Load generator for the scale benchmark: holds its share of subscriber connections from
 * its own source address (127.0.0.x, so many generators do not run out of ephemeral
 * ports), counts every delivery, and keeps, per event, how many connections got it and
 * when the first and last did. Every connection of one event receives the same bytes, so
 * a frame is parsed only when it differs from the previous one.
 *
 * bench/load/epoll-clients.c does the same in C, answering in the same shape
 * (bench/lib/scale-protocol.ts); the benchmark uses it when it compiles.
 *
 * Kinds: `pusher` (Switchboard local, protocol 7, channel authorization signed here with
 * the app secret) and `ws` (the plain ws peer).
 */
import { WebSocket, type RawData } from 'ws';
import { hasCmd, isRecord } from '../lib/messages.js';
import { signLocally, toBuffer } from '../lib/pusher-wire.js';
import { HISTOGRAM_BUCKETS, sparseHistogram, type CollectedWire, type EventArrivals, type ScaleCommand, type ScaleConnect } from '../lib/scale-protocol.js';

const EVENT_PATTERN = /\\?"i\\?":(\d+),\\?"bt\\?":(\d+(?:\.\d+)?)/;

const sockets: WebSocket[] = [];
let arrivals = new Map<number, EventArrivals>();
let histogram = new Array<number>(HISTOGRAM_BUCKETS).fill(0);
let deliveries = 0;
let lastFrame: Buffer | undefined;
let lastEvent: EventArrivals | undefined;
let cpuMark = process.cpuUsage();

function reply(message: object): void {
  if (process.connected) process.send?.(message);
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

function eventOf(frame: Buffer): EventArrivals | undefined {
  if (lastFrame && lastEvent && frame.equals(lastFrame)) return lastEvent;
  const match = EVENT_PATTERN.exec(frame.toString('utf8'));
  if (!match) return undefined;
  const i = Number(match[1]);
  let event = arrivals.get(i);
  if (!event) {
    event = { i, sentAt: Number(match[2]), received: 0, first: Number.POSITIVE_INFINITY, last: 0 };
    arrivals.set(i, event);
  }
  lastFrame = frame;
  lastEvent = event;
  return event;
}

function onFrame(data: RawData): boolean {
  const frame = toBuffer(data);
  const event = frame.length > 60 ? eventOf(frame) : undefined;
  if (!event) return false;
  const at = now();
  event.received++;
  if (at < event.first) event.first = at;
  if (at > event.last) event.last = at;
  const bucket = Math.min(HISTOGRAM_BUCKETS - 1, Math.max(0, Math.floor(at - event.sentAt)));
  histogram[bucket] = (histogram[bucket] ?? 0) + 1;
  deliveries++;
  return true;
}

function open(command: ScaleConnect): Promise<void> {
  return new Promise((resolve, reject) => {
    const url = command.kind === 'pusher' ? `${command.baseUrl.replace(/^http/, 'ws')}/app/${command.appKey}?protocol=7&client=js&version=8.6.0` : command.baseUrl.replace(/^http/, 'ws');
    const ws = new WebSocket(url, { perMessageDeflate: false, localAddress: command.localAddress });
    let live = false;
    const timer = setTimeout(() => fail(new Error('connection timed out')), 30_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      ws.terminate();
      if (!live) reject(error);
    };
    ws.on('open', () => {
      if (command.kind === 'ws') ws.send(JSON.stringify({ event: 'subscribe', channel: 'bench' }));
    });
    ws.on('message', (data) => {
      if (live) {
        if (!onFrame(data) && toBuffer(data).includes('pusher:ping')) ws.send('{"event":"pusher:pong","data":{}}');
        return;
      }
      const text = toBuffer(data).toString('utf8');
      let message: unknown;
      try {
        message = JSON.parse(text);
      } catch {
        return;
      }
      if (!isRecord(message)) return;
      if (message.event === 'pusher:connection_established' && typeof message.data === 'string') {
        const handshake: unknown = JSON.parse(message.data);
        const socketId = isRecord(handshake) && typeof handshake.socket_id === 'string' ? handshake.socket_id : '';
        const signed = signLocally(command, socketId, command.channel, { userId: `u${socketId}`, info: {}, clientEvents: [] });
        ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: command.channel, ...signed } }));
      } else if (message.event === 'pusher_internal:subscription_succeeded' || message.event === 'subscribed') {
        live = true;
        clearTimeout(timer);
        sockets.push(ws);
        resolve();
      } else if (message.event === 'pusher:error' || message.event === 'pusher:subscription_error') {
        fail(new Error(`${String(message.event)}: ${JSON.stringify(message.data)}`));
      }
    });
    ws.on('error', fail);
    ws.on('close', (code) => fail(new Error(`closed (code ${code})`)));
  });
}

async function connect(command: ScaleConnect): Promise<void> {
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < command.count) {
      next++;
      await open(command);
    }
  };
  await Promise.all(Array.from({ length: Math.min(command.concurrency, command.count) }, worker));
  reply({ type: 'connected', connections: sockets.length, ms: performance.now() - started });
}

function collect(): void {
  const cpu = process.cpuUsage(cpuMark);
  const result: CollectedWire = {
    type: 'collected',
    events: [...arrivals.values()],
    latency: sparseHistogram(histogram),
    deliveries,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
  reply(result);
  arrivals = new Map();
  histogram = new Array<number>(HISTOGRAM_BUCKETS).fill(0);
  deliveries = 0;
  lastFrame = undefined;
  lastEvent = undefined;
  cpuMark = process.cpuUsage();
}

process.on('message', (message: unknown) => {
  if (!hasCmd<ScaleCommand>(message)) return;
  if (message.cmd === 'connect') connect(message).catch((error: unknown) => reply({ type: 'error', message: error instanceof Error ? error.message : String(error) }));
  else if (message.cmd === 'collect') collect();
  else {
    for (const ws of sockets.splice(0)) ws.terminate();
    setTimeout(() => process.exit(0), 100);
  }
});
process.on('disconnect', () => process.exit(0));
