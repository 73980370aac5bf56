/**
 * Memory per connection: N connections, server RSS delta / N, after a forced GC
 * (`--expose-gc`). A few hundred warm-up connections are opened first so the baseline
 * already includes the code and buffers that every connection path needs.
 *
 * Two shapes: `idle` (one private channel each; every peer) and, for local only, `busy`:
 * each connection on three private channels and one presence channel of up to 50 members
 * (user info and an allowed whisper name signed, as the BFF signs them).
 *
 * RSS splits into the V8 heap (used, and reserved), external (Buffers) and native (the
 * rest: C++ socket wraps, malloc). The young generation is shown apart: V8 grows it under
 * allocation bursts and keeps it, a per-process cost that a delta without GC counts as
 * per-connection. BENCH_MEMORY_SNAPSHOTS=1 adds a local idle run that writes heap snapshots
 * before and after the connections and lists what each connection costs by constructor
 * (bench/tools/heapsnapshot-diff.ts).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { toPusherChannel } from '../../src/core/provider-names.js';
import type { ConnectedMessage, ConnectCommand, GcDoneMessage, HeapStatsMessage, PeerKind } from '../lib/messages.js';
import { processRssBytes, sleep, spawnChild, type Child } from '../lib/proc.js';
import type { BenchResult } from '../lib/report.js';
import { APP_KEY, APP_SECRET, PROFILE_DIR, startServer, TENANT, type BenchContext, type RunningServer } from '../lib/servers.js';
import { fmt, ratio } from '../lib/stats.js';
import { heapSnapshotDiff } from '../tools/heapsnapshot-diff.js';

const TARGET_KB = 8;
const GENERATORS = 2;

type Shape = 'idle' | 'busy';

/** Members per presence room in the `busy` shape (local's default cap is 100). */
const ROOM_SIZE = 50;

interface MemoryRun {
  peer: PeerKind;
  shape: Shape;
  label: string;
  connections: number;
  connectMs: number;
  rssBefore: number;
  rssAfter: number;
  heapBefore: number;
  heapAfter: number;
  heapTotalBefore: number;
  heapTotalAfter: number;
  externalBefore: number;
  externalAfter: number;
  /** Committed young generation (V8 new space) after the connections, bytes. */
  youngAfter: number;
  gcExposed: boolean;
  snapshots?: { before: string; after: string };
}

const LABELS: Record<PeerKind, string> = { pusher: 'switchboard local', socketio: 'Socket.IO 4.8', ws: 'plain ws' };

async function settle(server: RunningServer, pauseMs: number): Promise<GcDoneMessage> {
  await sleep(pauseMs);
  server.child.send({ cmd: 'gc' });
  await server.child.next<GcDoneMessage>('gc-done', 10_000);
  await sleep(pauseMs);
  server.child.send({ cmd: 'gc' });
  return server.child.next<GcDoneMessage>('gc-done', 10_000);
}

function pusherSetup(shape: Shape, total: number): NonNullable<ConnectCommand['pusher']> {
  const base = { appKey: APP_KEY, appSecret: APP_SECRET, channel: toPusherChannel(TENANT, 'orders:bench', false) };
  if (shape === 'idle') return base;
  const rooms = Math.max(1, Math.ceil(total / ROOM_SIZE));
  return {
    ...base,
    extraChannels: [toPusherChannel(TENANT, 'dashboard:bench', false), toPusherChannel(TENANT, 'notifications:bench', false)],
    presenceChannels: Array.from({ length: rooms }, (_, room) => toPusherChannel(TENANT, `chat:room-${room}`, true)),
  };
}

function connectCommand(peer: PeerKind, baseUrl: string, count: number, shape: Shape = 'idle', total = count): ConnectCommand {
  return {
    cmd: 'connect',
    kind: peer,
    baseUrl,
    count,
    sample: 0,
    concurrency: 100,
    timeoutMs: 120_000,
    pusher: peer === 'pusher' ? pusherSetup(shape, total) : undefined,
  };
}

async function heapStats(server: RunningServer, snapshotPath?: string): Promise<HeapStatsMessage> {
  server.child.send({ cmd: 'heap-stats', snapshotPath });
  return server.child.next<HeapStatsMessage>('heap-stats', 120_000);
}

async function runPeer(ctx: BenchContext, peer: PeerKind, total: number, warm: number, shape: Shape = 'idle', snapshotDir?: string): Promise<MemoryRun> {
  const server = await startServer(ctx, peer === 'pusher' ? 'switchboard' : peer, { cpus: '0', exposeGc: true, raiseFdLimit: true, store: 'memory' });
  const generators: Child[] = [];
  try {
    for (let index = 0; index < GENERATORS; index++) {
      generators.push(spawnChild({ script: 'load/subscribers.ts', cpus: '1', raiseFdLimit: true, label: `${peer} idle subscribers ${index}` }));
    }
    const [first] = generators as [Child];
    first.send(connectCommand(peer, server.baseUrl, warm, shape, total + warm));
    await first.next<ConnectedMessage>('connected', 60_000);
    const before = await settle(server, ctx.quick ? 200 : 500);
    const rssBefore = processRssBytes(server.pid);
    const snapshots = snapshotDir ? { before: path.join(snapshotDir, 'before.heapsnapshot'), after: path.join(snapshotDir, 'after.heapsnapshot') } : undefined;
    if (snapshots) await heapStats(server, snapshots.before);

    const started = Date.now();
    const share = Math.ceil(total / GENERATORS);
    const counts = generators.map((_, index) => Math.max(0, Math.min(share, total - index * share)));
    generators.forEach((generator, index) => generator.send(connectCommand(peer, server.baseUrl, counts[index] ?? 0, shape, total + warm)));
    const connected = await Promise.all(generators.map((generator) => generator.next<ConnectedMessage>('connected', 150_000)));
    const connectMs = Date.now() - started;
    // The first generator's count includes the warm-up connections.
    const connections = connected.reduce((sum, message) => sum + message.connections, 0) - warm;
    const after = await settle(server, ctx.quick ? 200 : 500);
    const rssAfter = processRssBytes(server.pid);
    const young = (await heapStats(server, snapshots?.after)).spaces.new_space?.committed ?? Number.NaN;
    ctx.log(`${LABELS[peer]}: ${connections} ${shape} connections, RSS +${((rssAfter - rssBefore) / 1024 / 1024).toFixed(1)} MB`);
    return {
      peer,
      shape,
      label: LABELS[peer],
      connections,
      connectMs,
      rssBefore,
      rssAfter,
      heapBefore: before.heapUsed,
      heapAfter: after.heapUsed,
      heapTotalBefore: before.heapTotal,
      heapTotalAfter: after.heapTotal,
      externalBefore: before.external,
      externalAfter: after.external,
      youngAfter: young,
      gcExposed: after.gcExposed,
      snapshots,
    };
  } finally {
    await Promise.all(generators.map((generator) => generator.stop(5000)));
    await server.stop();
  }
}

export async function runMemory(ctx: BenchContext): Promise<BenchResult> {
  const total = ctx.quick ? 600 : 10_000;
  const warm = ctx.quick ? 60 : 500;
  const runs: MemoryRun[] = [];
  const snapshotDir = process.env.BENCH_MEMORY_SNAPSHOTS === '1' ? path.join(PROFILE_DIR, `memory-${new Date().toISOString().replaceAll(':', '-')}`) : undefined;
  if (snapshotDir) await mkdir(snapshotDir, { recursive: true });
  for (const peer of ['pusher', 'socketio', 'ws'] as const) runs.push(await runPeer(ctx, peer, total, warm));
  // A run of its own: writing a snapshot leaves the writer's memory resident, which would count as the connections'.
  const snapshotRun = snapshotDir ? await runPeer(ctx, 'pusher', total, warm, 'idle', snapshotDir) : undefined;
  runs.push(await runPeer(ctx, 'pusher', total, warm, 'busy'));
  const perConnection = (run: MemoryRun): number => (run.rssAfter - run.rssBefore) / run.connections / 1024;
  const local = runs.find((run) => run.peer === 'pusher' && run.shape === 'idle');
  const busy = runs.find((run) => run.peer === 'pusher' && run.shape === 'busy');
  const localKb = local ? perConnection(local) : Number.NaN;
  const native = (run: MemoryRun, side: 'Before' | 'After') => run[`rss${side}`] - run[`heapTotal${side}`] - run[`external${side}`];
  const snapshots = snapshotRun?.snapshots;
  const heapDiff = snapshots && snapshotRun ? heapSnapshotDiff(snapshots.before, snapshots.after, snapshotRun.connections) : undefined;
  const busyKb = busy ? perConnection(busy) : Number.NaN;
  return {
    name: 'memory',
    title: `Memory per connection: ${total} connections, idle (1 channel) and busy (3 private + 1 presence) (after ${warm} warm-up connections)`,
    params: { connections: total, warmupConnections: warm, generators: GENERATORS },
    table: {
      columns: ['server', 'shape', 'RSS KB/connection', 'vs local idle', 'heap used KB/conn', 'heap reserved KB/conn', 'external KB/conn', 'native KB/conn', 'young generation MB', 'RSS before MB', 'RSS after MB', 'connections', 'connect s'],
      rows: runs.map((run) => [
        run.label,
        run.shape === 'idle' ? '1 private channel' : `3 private + 1 presence (≤ ${ROOM_SIZE} members)`,
        fmt(perConnection(run), 2),
        ratio(perConnection(run), localKb),
        fmt((run.heapAfter - run.heapBefore) / run.connections / 1024, 2),
        fmt((run.heapTotalAfter - run.heapTotalBefore) / run.connections / 1024, 2),
        fmt((run.externalAfter - run.externalBefore) / run.connections / 1024, 2),
        fmt((native(run, 'After') - native(run, 'Before')) / run.connections / 1024, 2),
        fmt(run.youngAfter / 1024 / 1024, 1),
        fmt(run.rssBefore / 1024 / 1024, 1),
        fmt(run.rssAfter / 1024 / 1024, 1),
        String(run.connections),
        fmt(run.connectMs / 1000, 1),
      ]),
    },
    targets: [
      { what: 'local RSS per idle connection', target: `≤ ${TARGET_KB} KB`, actual: `${fmt(localKb, 2)} KB`, met: Number.isFinite(localKb) ? localKb <= TARGET_KB : null },
      { what: 'local RSS per busy connection (3 private + 1 presence)', target: `≤ ${TARGET_KB} KB`, actual: `${fmt(busyKb, 2)} KB`, met: Number.isFinite(busyKb) ? busyKb <= TARGET_KB : null },
    ],
    notes: [
      'RSS from /proc/<pid>/status VmRSS after global.gc() twice (server started with --expose-gc); RSS is resident user-space memory; kernel socket buffers are not in it.',
      `Connections held by ${GENERATORS} load-generator processes; local subscribers sign their channel authorization locally with the app secret.`,
      'native = RSS − heap reserved − external (C++ socket wraps, malloc); young generation = V8 new space committed after the connections (a per-process cost, in the heap reserved figures only as far as it grew between the two samples).',
      ...(heapDiff && snapshots
        ? [
            `Heap snapshots (a separate local idle run): ${path.dirname(snapshots.after)}; ${fmt(heapDiff.bytesPerConnection, 0)} bytes per connection by self size: ` +
              heapDiff.rows
                .slice(0, 16)
                .map((row) => `${row.kind} ${fmt(row.bytesPerConnection, 0)} B (${fmt(row.perConnection, 2)})`)
                .join(', '),
          ]
        : []),
    ],
    raw: runs,
  };
}
