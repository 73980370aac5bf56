/**
 * `npm run soak`: two BFF nodes on Redis (local provider scaled out, Redis event log and
 * webhook outbox) under connect / subscribe / whisper / publish churn for SOAK_SECONDS
 * (default 600), with random SIGKILLs (a node comes back a second later), provider faults
 * (calls that fail, hang past the timeout, or are taken and then hang) and webhook
 * endpoint faults (500s, no answer, down). Then it checks:
 *
 * - no loss: the provider took every acknowledged publish, each with a seq of its own, and
 *   every logged event (delivery cursors caught up);
 * - no duplicate beyond the timeout-ambiguous class: an event a connection received twice
 *   was taken by a provider call whose answer was lost, or delivered just before a SIGKILL;
 * - bounded memory: a node's heap in the second half of its life stays within 1.5× (+16 MB)
 *   of the first half (nodes that lived at least 40 s);
 * - webhooks consistent with who was really there: per channel, joined/left per user and
 *   occupied/vacated alternate, and once things settle the members and channels they
 *   describe are exactly the sockets still subscribed (and none after everyone left).
 *
 * Loopback only; needs Redis at REDIS_URL. SOAK_USERS (default 16) simulated users.
 */
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { WebSocket } from 'ws';
import { z } from 'zod';
import { createLocalProvider } from '../providers/local/index.js';
import { toPusherChannel } from '../src/core/provider-names.js';
import { RedisEventStore } from '../src/server/log/redis-store.js';
import { spawnLifecycleNode, type LifecycleNodeConfig } from '../test/helpers/lifecycle-node.js';
import { testSecret, WebhookReceiver, type ReceiverMode } from '../test/helpers/webhook-receiver.js';

const SECONDS = z.coerce.number().positive().parse(process.env.SOAK_SECONDS ?? 600);
const USERS = z.coerce.number().int().min(2).max(200).parse(process.env.SOAK_USERS ?? 16);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const TENANT = 'soak';
const API_KEY = 'soak-publish-key-0123456789';
const ROOMS = ['chat:room-0', 'chat:room-1', 'chat:room-2', 'chat:room-3'];
const NODE_TTL_MS = 3000;
const SECRET = testSecret('soak');
const prefix = `sbsoak:${process.pid}:${Date.now()}:`;
const faultKey = `${prefix}faults`;

const random = (max: number) => Math.floor(Math.random() * max);
const pick = <T>(items: readonly T[]): T => items[random(items.length)] as T;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (message: string) => console.log(`[soak ${((Date.now() - startedAt) / 1000).toFixed(1)}s] ${message}`);
const startedAt = Date.now();
let running = true;

// ---------------------------------------------------------------- nodes

interface Slot {
  name: string;
  child: ChildProcess | undefined;
  port: number;
  startedAt: number;
}

const app = await WebhookReceiver.start(SECRET);
const nodeConfig: LifecycleNodeConfig = {
  redisUrl: REDIS_URL,
  storePrefix: `${prefix}store:`,
  providerPrefix: `${prefix}local:`,
  webhookUrl: app.url,
  secret: SECRET,
  nodeTtlMs: NODE_TTL_MS,
  tenantKeys: `${TENANT}:${API_KEY}`,
  providerFaults: { failRate: 0.03, hangRate: 0.01, ambiguousRate: 0.01, redisKey: faultKey },
  senderTuning: { timeoutMs: 1000, pollMs: 50 },
};
const kills: { at: number; slot: string }[] = [];
const heap = new Map<number, { slot: string; samples: [number, number][] }>();

async function startSlot(slot: Slot): Promise<void> {
  const { child, port } = await spawnLifecycleNode(nodeConfig);
  slot.port = port;
  slot.child = child;
  slot.startedAt = Date.now();
}

const slots: Slot[] = [
  { name: 'A', child: undefined, port: 0, startedAt: 0 },
  { name: 'B', child: undefined, port: 0, startedAt: 0 },
];
await Promise.all(slots.map(startSlot));
const livePorts = () => slots.filter((slot) => slot.child).map((slot) => slot.port);
log(`nodes up on ports ${livePorts().join(', ')}; Redis prefix ${prefix}; ${SECONDS} s, ${USERS} users`);

async function killer(): Promise<void> {
  const gap = () => Math.min(40_000, Math.max(8_000, (SECONDS * 1000) / 5)) * (0.6 + Math.random() * 0.8);
  for (await sleep(gap()); running; await sleep(gap())) {
    const slot = pick(slots);
    if (!slot.child || livePorts().length < 2) continue;
    kills.push({ at: Date.now(), slot: slot.name });
    slot.child.kill('SIGKILL');
    slot.child = undefined;
    log(`SIGKILL node ${slot.name}`);
    await sleep(1000);
    await startSlot(slot);
    log(`node ${slot.name} back on port ${slot.port}`);
  }
}

async function endpointFaults(): Promise<void> {
  while (running) {
    await sleep(8_000 + random(8_000));
    if (!running) break;
    const mode = pick<ReceiverMode | 'down'>(['error', 'hang', 'down']);
    log(`webhook endpoint: ${mode}`);
    if (mode === 'down') await app.down();
    else app.mode = mode;
    await sleep(2_000 + random(4_000));
    if (mode === 'down') await app.up();
    app.mode = 'ok';
  }
}

async function sampleMemory(): Promise<void> {
  while (running) {
    for (const slot of slots) {
      const pid = slot.child?.pid;
      if (pid === undefined) continue;
      try {
        const text = await (await fetch(`http://127.0.0.1:${slot.port}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
        const used = /^switchboard_nodejs_heap_size_used_bytes (\d+(?:\.\d+)?)/m.exec(text);
        if (!used) continue;
        const entry = heap.get(pid) ?? { slot: slot.name, samples: [] };
        entry.samples.push([Date.now(), Number(used[1])]);
        heap.set(pid, entry);
      } catch {
        // killed meanwhile
      }
    }
    await sleep(2_000);
  }
}

// ---------------------------------------------------------------- users

const signer = createLocalProvider({ logger: { info() {}, error() {} } });
let connectionCount = 0;
const duplicates: { id: string; connection: number }[] = [];
let received = 0;
let whispersSent = 0;
let whispersReceived = 0;

const envelopeSchema = z.object({ id: z.string(), seq: z.number(), channel: z.string() });
const frameSchema = z.object({ event: z.string(), channel: z.string().optional(), data: z.unknown().optional() });

class User {
  ws: WebSocket | undefined;
  /** Rooms whose subscription succeeded on the current connection. */
  readonly rooms = new Set<string>();
  private socketId = '';
  private connection = 0;
  private seen = new Set<string>();

  constructor(readonly name: string) {}

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN && this.socketId !== '';
  }

  async connect(): Promise<void> {
    const ports = livePorts();
    if (ports.length === 0) return;
    const ws = new WebSocket(`ws://127.0.0.1:${pick(ports)}/app/switchboard-key?protocol=7&client=js&version=8.6.0`, { perMessageDeflate: false });
    this.ws = ws;
    this.connection = ++connectionCount;
    this.seen = new Set();
    this.socketId = '';
    ws.on('error', () => undefined);
    ws.on('close', () => {
      if (this.ws === ws) {
        this.ws = undefined;
        this.socketId = '';
        this.rooms.clear();
      }
    });
    ws.on('message', (raw: Buffer) => this.onFrame(raw.toString('utf8')));
    await new Promise<void>((resolve) => {
      const done = () => resolve();
      ws.once('close', done);
      const check = setInterval(() => {
        if (this.socketId !== '' || ws.readyState > WebSocket.OPEN) {
          clearInterval(check);
          resolve();
        }
      }, 10);
    });
  }

  private onFrame(text: string): void {
    const frame = frameSchema.safeParse(JSON.parse(text));
    if (!frame.success) return;
    const { event, channel, data } = frame.data;
    if (event === 'pusher:connection_established') {
      this.socketId = z.object({ socket_id: z.string() }).parse(JSON.parse(String(data))).socket_id;
    } else if (event === 'pusher_internal:subscription_succeeded' && channel) {
      const room = ROOMS.find((name) => toPusherChannel(TENANT, name, true) === channel);
      if (room) this.rooms.add(room);
    } else if (event === 'status' && typeof data === 'string') {
      const envelope = envelopeSchema.parse(JSON.parse(data));
      received++;
      if (this.seen.has(envelope.id)) duplicates.push({ id: envelope.id, connection: this.connection });
      this.seen.add(envelope.id);
    } else if (event === 'client-typing') {
      whispersReceived++;
    }
  }

  subscribe(room: string): void {
    if (!this.connected || this.rooms.has(room)) return;
    const providerChannel = toPusherChannel(TENANT, room, true);
    const grant = { tenant: TENANT, user: this.name, info: {}, caps: { '*': ['subscribe' as const, 'publish' as const, 'presence' as const] }, expiresAt: Date.now() + 3600_000 };
    const auth = signer.authorizeChannel({ grant, socketId: this.socketId, channel: room, providerChannel, presence: true, clientEvents: ['typing'] });
    this.ws?.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: providerChannel, ...auth } }));
  }

  unsubscribe(room: string): void {
    if (!this.connected || !this.rooms.has(room)) return;
    this.rooms.delete(room);
    this.ws?.send(JSON.stringify({ event: 'pusher:unsubscribe', data: { channel: toPusherChannel(TENANT, room, true) } }));
  }

  whisper(): void {
    const room = [...this.rooms][0];
    if (!this.connected || !room) return;
    whispersSent++;
    this.ws?.send(JSON.stringify({ event: 'client-typing', channel: toPusherChannel(TENANT, room, true), data: { on: true } }));
  }

  disconnect(): void {
    const ws = this.ws;
    this.ws = undefined;
    this.socketId = '';
    this.rooms.clear();
    ws?.terminate();
  }

  /** One random step of churn. */
  async step(): Promise<void> {
    if (!this.connected) {
      if (!this.ws) {
        await this.connect();
        this.subscribe(pick(ROOMS));
      }
      return;
    }
    const roll = Math.random();
    if (roll < 0.05) this.disconnect();
    else if (roll < 0.2) this.unsubscribe(pick(ROOMS));
    else if (roll < 0.4) this.subscribe(pick(ROOMS));
    else if (roll < 0.6) this.whisper();
  }
}

const users = Array.from({ length: USERS }, (_, index) => new User(`user-${index}`));

async function churn(user: User): Promise<void> {
  while (running) {
    await user.step().catch(() => undefined);
    await sleep(200 + random(400));
  }
}

// ---------------------------------------------------------------- publishes

const acknowledged = new Map<string, { channel: string; seq: number }>();
let publishFailures = 0;
let published = 0;
const outcomeSchema = z.object({ id: z.string(), seq: z.number(), status: z.string() });

async function publisher(worker: number): Promise<void> {
  for (let n = 0; running; n++) {
    const id = `w${worker}-${n}`;
    const channel = pick(ROOMS);
    for (let attempt = 0; attempt < 5; attempt++) {
      const ports = livePorts();
      if (ports.length === 0) {
        await sleep(200);
        continue;
      }
      try {
        const response = await fetch(`http://127.0.0.1:${pick(ports)}/v1/publish`, {
          method: 'POST',
          headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ channel, event: 'status', data: { n }, id }),
          signal: AbortSignal.timeout(15_000),
        });
        if (response.status === 200 || response.status === 202) {
          const outcome = outcomeSchema.parse(await response.json());
          acknowledged.set(id, { channel, seq: outcome.seq });
          published++;
          break;
        }
        publishFailures++;
      } catch {
        publishFailures++;
      }
      await sleep(100);
    }
    await sleep(50 + random(150));
  }
}

// ---------------------------------------------------------------- run

const tasks = [killer(), endpointFaults(), sampleMemory(), ...users.map(churn), publisher(0), publisher(1)];
const progress = setInterval(() => log(`${published} published, ${received} received, ${duplicates.length} duplicate deliveries, ${app.unique().length} webhooks, ${kills.length} kills`), 15_000);
await sleep(SECONDS * 1000);
running = false;
clearInterval(progress);
// Each fault ends its current round (endpoint back up, killed node restarted).
await Promise.allSettled(tasks);
for (const slot of slots) if (!slot.child) await startSlot(slot);
log(`churn stopped: ${published} published, ${publishFailures} publish attempts failed (retried), ${received} received, ${whispersSent} whispers sent, ${whispersReceived} received`);

const failures: string[] = [];
const check = (ok: boolean, message: string) => {
  console.log(`${ok ? 'PASS' : 'FAIL'} ${message}`);
  if (!ok) failures.push(message);
};

// No loss: what the provider took, and the delivery cursors. (The log itself keeps each
// namespace's history size, so older events are no longer in it.)
const redis = new Redis(REDIS_URL);
const store = new RedisEventStore({ url: REDIS_URL, keyPrefix: nodeConfig.storePrefix });
const caughtUpBy = Date.now() + 60_000;
let behind: string[] = [];
do {
  behind = [];
  for (const room of ROOMS) if ((await store.deliveredSeq(TENANT, room)) < (await store.lastSeq(TENANT, room))) behind.push(room);
  if (behind.length > 0) await sleep(500);
} while (behind.length > 0 && Date.now() < caughtUpBy);
check(behind.length === 0, `the provider got every logged event (delivery cursors caught up${behind.length ? `; behind: ${behind.join(', ')}` : ''})`);
const taken = new Set(await redis.smembers(`${faultKey}:taken`));
const lost = [...acknowledged.keys()].filter((id) => !taken.has(id));
const seqs = new Set([...acknowledged.values()].map(({ channel, seq }) => `${channel} ${seq}`));
check(lost.length === 0, `no loss: the provider took all ${acknowledged.size} acknowledged publishes (${lost.length} never reached it)`);
check(seqs.size === acknowledged.size, `each acknowledged publish has a seq of its own (${acknowledged.size - seqs.size} shared)`);

// Duplicates: only the timeout-ambiguous class.
const ambiguous = new Set(await redis.smembers(`${faultKey}:ambiguous`));
const attempts = new Map<string, number[]>();
for (const entry of await redis.lrange(`${faultKey}:attempts`, 0, -1)) {
  const [id = '', at = '0'] = entry.split(' ');
  attempts.set(id, [...(attempts.get(id) ?? []), Number(at)]);
}
const nearKill = (id: string) => kills.some((kill) => (attempts.get(id) ?? []).some((at) => at <= kill.at + 1000 && at >= kill.at - 15_000));
const unexplained = duplicates.filter(({ id }) => !ambiguous.has(id) && !nearKill(id));
check(unexplained.length === 0, `no duplicate beyond the timeout-ambiguous class: ${duplicates.length} duplicate deliveries, ${ambiguous.size} ambiguous provider answers injected, ${unexplained.length} unexplained`);

// Memory.
const lived = [...heap.entries()].filter(([, entry]) => entry.samples.length >= 4 && (entry.samples.at(-1)?.[0] ?? 0) - (entry.samples[0]?.[0] ?? 0) >= 40_000);
for (const [pid, { slot, samples }] of lived) {
  const half = Math.floor(samples.length / 2);
  const first = Math.max(...samples.slice(0, half).map(([, bytes]) => bytes));
  const second = Math.max(...samples.slice(half).map(([, bytes]) => bytes));
  check(second <= first * 1.5 + 16 * 2 ** 20, `bounded memory: node ${slot} (pid ${pid}) heap ${(first / 2 ** 20).toFixed(1)} MB -> ${(second / 2 ** 20).toFixed(1)} MB over ${((samples.at(-1)![0] - samples[0]![0]) / 1000).toFixed(0)} s`);
}
if (lived.length === 0) console.log('NOTE bounded memory: no node lived 40 s between kills; run longer (SOAK_SECONDS) for this check');

// Webhooks against who was really there.
function webhookState(): { present: Set<string>; occupied: Set<string>; violations: string[] } {
  const present = new Set<string>();
  const occupied = new Set<string>();
  const violations: string[] = [];
  for (const { event } of app.unique()) {
    if (event.data.tenant !== TENANT) continue;
    const member = `${event.data.channel} ${event.data.user ?? ''}`;
    const flip = (set: Set<string>, key: string, on: boolean) => {
      if (set.has(key) === on) violations.push(`${event.type} ${key} twice in a row`);
      if (on) set.add(key);
      else set.delete(key);
    };
    if (event.type === 'presence.joined') flip(present, member, true);
    else if (event.type === 'presence.left') flip(present, member, false);
    else if (event.type === 'channel.occupied') flip(occupied, event.data.channel, true);
    else if (event.type === 'channel.vacated') flip(occupied, event.data.channel, false);
  }
  return { present, occupied, violations };
}
const truth = () => new Set(users.flatMap((user) => (user.connected ? [...user.rooms].map((room) => `${room} ${user.name}`) : [])));
const sameSet = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((key) => b.has(key));

async function settled(label: string): Promise<void> {
  const by = Date.now() + 60_000;
  let state = webhookState();
  while (!sameSet(state.present, truth()) && Date.now() < by) {
    await sleep(500);
    state = webhookState();
  }
  await sleep(NODE_TTL_MS); // nothing late arrives after agreement
  state = webhookState();
  const expected = truth();
  const rooms = new Set([...expected].map((key) => key.split(' ')[0] ?? ''));
  check(state.violations.length === 0, `${label}: joined/left and occupied/vacated alternate per channel (${state.violations.length} violations${state.violations.length ? `: ${state.violations.slice(0, 3).join('; ')}` : ''})`);
  check(sameSet(state.present, expected), `${label}: webhooks say ${state.present.size} members present, ${expected.size} really subscribed`);
  check(sameSet(state.occupied, rooms), `${label}: webhooks say ${state.occupied.size} channels occupied, ${rooms.size} really have subscribers`);
}

for (const user of users) if (Math.random() < 0.5) user.disconnect();
await settled('with half the users still there');
for (const user of users) user.disconnect();
await settled('after everyone left');

// ---------------------------------------------------------------- clean up

for (const slot of slots) slot.child?.kill('SIGKILL');
await store.close();
await signer.close();
await app.close();
const keys = await redis.keys(`${prefix}*`);
for (let index = 0; index < keys.length; index += 500) await redis.del(...keys.slice(index, index + 500));
redis.disconnect();
console.log(failures.length === 0 ? `soak passed (${SECONDS} s)` : `soak FAILED: ${failures.length} check(s)`);
process.exit(failures.length === 0 ? 0 : 1);
