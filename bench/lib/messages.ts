/**
 * IPC messages between the orchestrator (bench/run.ts) and its child processes:
 * servers under test (bench/servers/*) and load generators (bench/load/*).
 */

export type PeerKind = 'pusher' | 'socketio' | 'ws';

/** Server -> parent, once listening. `pid` is the process whose CPU/RSS we read. */
export interface ReadyMessage {
  type: 'ready';
  port: number;
  pid: number;
}

export interface GcDoneMessage {
  type: 'gc-done';
  heapUsed: number;
  /** V8 heap reserved (used + free pages it keeps). */
  heapTotal: number;
  /** Memory of Buffers/ArrayBuffers outside the V8 heap. */
  external: number;
  rss: number;
  gcExposed: boolean;
}

/** Server -> parent: memory as it is (no GC), per V8 heap space, optionally after writing a heap snapshot. */
export interface HeapStatsMessage {
  type: 'heap-stats';
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** V8 space name (new_space, old_space, ...) -> bytes used and committed (resident). */
  spaces: Record<string, { used: number; committed: number }>;
  snapshot: string | undefined;
}

export type ServerToParent = ReadyMessage | GcDoneMessage | HeapStatsMessage;

export type ParentToServer = { cmd: 'gc' } | { cmd: 'heap-stats'; snapshotPath?: string } | { cmd: 'exit' };

/** How a load generator publishes events. */
export interface PublishTarget {
  /** Full URL of the publish endpoint. */
  url: string;
  /** Switchboard needs `channel` on every message; peers ignore it. */
  channel?: string;
  authorization?: string;
}

export interface PusherSetup {
  appKey: string;
  /** Sign `socket_id:channel` locally with the app secret (spares the BFF during setup). */
  appSecret: string;
  channel: string;
  /** Further channels every connection subscribes to (private, shared by all). */
  extraChannels?: string[];
  /** Presence channels: connection i joins `presenceChannels[i % length]` as user `u{i}`. */
  presenceChannels?: string[];
  /** When set, the first connection of the generator is authorized through `POST /v1/auth/pusher` instead. */
  bffAuth?: { url: string; capabilityToken: string };
}

export interface ConnectCommand {
  cmd: 'connect';
  kind: PeerKind;
  /** `http://127.0.0.1:PORT` */
  baseUrl: string;
  count: number;
  /** This many connections, spread evenly over the connection order, parse their frames for latency. */
  sample: number;
  concurrency: number;
  timeoutMs: number;
  pusher?: PusherSetup;
}

export interface DriveCommand {
  cmd: 'drive';
  publish: PublishTarget;
  batch: number;
  warmupMs: number;
  windowMs: number;
  maxBatches: number;
  /** Server process whose utime+stime is read at the window edges. */
  serverPid: number;
  payloadBytes: number;
}

export interface SteadyCommand {
  cmd: 'steady';
  publish: PublishTarget;
  ratePerSecond: number;
  durationMs: number;
  payloadBytes: number;
  serverPid: number;
}

export type ParentToGenerator = ConnectCommand | DriveCommand | SteadyCommand | { cmd: 'close' };

export interface ConnectedMessage {
  type: 'connected';
  connections: number;
  ms: number;
  /** Subscriptions authorized through the BFF endpoint rather than signed locally. */
  viaBff: number;
}

export interface DriveResult {
  type: 'drive-done';
  events: number;
  deliveries: number;
  expectedDeliveries: number;
  wallMs: number;
  cpuMs: number;
  generatorCpuMs: number;
  /** Busy CPU time of the whole machine over the window (all cores), to see foreign load. */
  machineBusyMs: number;
  batches: number;
  /** Size of one delivered event frame as seen by a sampled subscriber. */
  frameBytes: number;
}

export interface SteadyResult {
  type: 'steady-done';
  sent: number;
  expectedDeliveries: number;
  deliveries: number;
  /** Publish-to-deliver latencies (ms) of the sampled connections. */
  latencies: number[];
  publishErrors: number;
  /** Publishes skipped because 20 requests were still in flight (the loop fell behind). */
  skipped: number;
  wallMs: number;
  /** CPU time over the steady phase: the server process, and this load generator itself. */
  serverCpuMs: number;
  generatorCpuMs: number;
  machineBusyMs: number;
}

export interface ErrorMessage {
  type: 'error';
  message: string;
}

export interface HttpLoadCommand {
  cmd: 'http-load';
  url: string;
  headers: Record<string, string>;
  body: string;
  connections: number;
  durationSeconds: number;
}

export interface HttpLoadResult {
  type: 'http-load-done';
  requestsPerSecond: number;
  total2xx: number;
  non2xx: number;
  errors: number;
  latencyP50: number;
  latencyP99: number;
  durationSeconds: number;
}

export type GeneratorToParent = ConnectedMessage | DriveResult | SteadyResult | ErrorMessage | { type: 'closed' };

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** IPC payloads come from our own child processes; this only checks the discriminant. */
export function hasType<T extends { type: string }>(value: unknown, type: T['type']): value is T {
  return isRecord(value) && value.type === type;
}

export function hasCmd<T extends { cmd: string }>(value: unknown): value is T {
  return isRecord(value) && typeof value.cmd === 'string';
}
