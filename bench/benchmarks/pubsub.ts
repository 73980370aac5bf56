/**
 * Fan-out cost and publish-to-deliver latency: one channel, N subscribers in a load
 * generator process, events published over HTTP. Same setup for the three peers:
 *   local     Switchboard BFF (`POST /v1/publish`, memory store) + its embedded Pusher-protocol server
 *   socketio  Socket.IO 4.8 room broadcast, websocket transport, socket.io-client subscribers
 *   ws        plain `ws` server, `client.send(sameString)` per client
 */
import { toPusherChannel } from '../../src/core/provider-names.js';
import type { ConnectedMessage, DriveResult, PeerKind, PublishTarget, SteadyResult } from '../lib/messages.js';
import { spawnChild, waitForQuiet } from '../lib/proc.js';
import type { BenchResult } from '../lib/report.js';
import { API_KEY, APP_KEY, APP_SECRET, capabilityToken, devSession, startServer, TENANT, type BenchContext } from '../lib/servers.js';
import { fmt, max, percentile, ratio } from '../lib/stats.js';

const CHANNEL = 'orders:bench';
const PAYLOAD_BYTES = 100;
const FANOUT_TARGET_US = 3;
const FANOUT_TARGET_RATIO = 5;
const LATENCY_TARGET_P99_MS = 25;
/** Above this much CPU used by other processes during a latency run, it is repeated once. */
const MAX_FOREIGN_CORES = 0.15;

interface Sizes {
  subscribers: number;
  sample: number;
  batch: number;
  warmupMs: number;
  windowMs: number;
  maxBatches: number;
  rate: number;
  steadyMs: number;
}

function sizes(quick: boolean): Sizes {
  return quick
    ? { subscribers: 200, sample: 20, batch: 50, warmupMs: 700, windowMs: 1500, maxBatches: 400, rate: 50, steadyMs: 1500 }
    : { subscribers: 1000, sample: 50, batch: 100, warmupMs: 3000, windowMs: 10_000, maxBatches: 2000, rate: 50, steadyMs: 10_000 };
}

interface PeerRun {
  peer: PeerKind;
  label: string;
  connected: ConnectedMessage;
  drive?: DriveResult;
  steady?: SteadyResult;
}

const LABELS: Record<PeerKind, string> = {
  pusher: 'switchboard local',
  socketio: 'Socket.IO 4.8',
  ws: 'plain ws',
};

async function runPeer(ctx: BenchContext, peer: PeerKind, size: Sizes, phases: { fanout: boolean; latency: boolean }): Promise<PeerRun> {
  const serverKind = peer === 'pusher' ? 'switchboard' : peer;
  const server = await startServer(ctx, serverKind, {
    cpus: '0',
    store: 'memory',
    cpuProfile: ctx.cpuProf && peer === 'pusher' ? `local-fanout-${Date.now()}` : undefined,
  });
  const generator = spawnChild({ script: 'load/subscribers.ts', cpus: '1', raiseFdLimit: true, label: `${peer} subscribers` });
  try {
    const pusherChannel = toPusherChannel(TENANT, CHANNEL, false);
    let publish: PublishTarget;
    if (peer === 'pusher') {
      const session = await devSession(server.baseUrl);
      const token = await capabilityToken(server.baseUrl, session);
      generator.send({
        cmd: 'connect',
        kind: peer,
        baseUrl: server.baseUrl,
        count: size.subscribers,
        sample: size.sample,
        concurrency: 50,
        timeoutMs: 60_000,
        pusher: {
          appKey: APP_KEY,
          appSecret: APP_SECRET,
          channel: pusherChannel,
          bffAuth: { url: `${server.baseUrl}/v1/auth/pusher`, capabilityToken: token },
        },
      });
      publish = { url: `${server.baseUrl}/v1/publish`, channel: CHANNEL, authorization: `Bearer ${API_KEY}` };
    } else {
      generator.send({ cmd: 'connect', kind: peer, baseUrl: server.baseUrl, count: size.subscribers, sample: size.sample, concurrency: 50, timeoutMs: 60_000 });
      publish = { url: `${server.baseUrl}/publish` };
    }
    const connected = await generator.next<ConnectedMessage>('connected', 70_000);
    ctx.log(`${LABELS[peer]}: ${connected.connections} subscribers in ${connected.ms} ms`);
    const run: PeerRun = { peer, label: LABELS[peer], connected };
    const quietMs = ctx.quick ? 0 : 15_000;
    if (phases.fanout) {
      await quiet(ctx, quietMs);
      generator.send({
        cmd: 'drive',
        publish,
        batch: size.batch,
        warmupMs: size.warmupMs,
        windowMs: size.windowMs,
        maxBatches: size.maxBatches,
        serverPid: server.pid,
        payloadBytes: PAYLOAD_BYTES,
      });
      run.drive = await generator.next<DriveResult>('drive-done', size.warmupMs + size.windowMs + 120_000);
      ctx.log(`${LABELS[peer]}: ${run.drive.deliveries} deliveries, server CPU ${run.drive.cpuMs.toFixed(0)} ms`);
    }
    if (phases.latency) {
      // Wall-clock latency suffers from other processes on the machine: one more attempt
      // when they took a noticeable share, keeping the attempt they disturbed least.
      const attempts = ctx.quick ? 1 : 2;
      for (let attempt = 0; attempt < attempts; attempt++) {
        await quiet(ctx, quietMs);
        generator.send({ cmd: 'steady', publish, ratePerSecond: size.rate, durationMs: size.steadyMs, payloadBytes: PAYLOAD_BYTES, serverPid: server.pid });
        const result = await generator.next<SteadyResult>('steady-done', size.steadyMs + 30_000);
        const other = foreignCores(result.machineBusyMs, result.serverCpuMs, result.generatorCpuMs, result.wallMs);
        const best = run.steady;
        if (!best || other < foreignCores(best.machineBusyMs, best.serverCpuMs, best.generatorCpuMs, best.wallMs)) run.steady = result;
        if (other <= MAX_FOREIGN_CORES) break;
        if (attempt + 1 < attempts) ctx.log(`${LABELS[peer]}: other processes used ${other.toFixed(2)} cores during the latency run; once more`);
      }
      const steady = run.steady as SteadyResult;
      ctx.log(
        `${LABELS[peer]}: latency p50 ${percentile(steady.latencies, 50).toFixed(2)} p99 ${percentile(steady.latencies, 99).toFixed(2)} ms; ` +
          `sent ${steady.sent} skipped ${steady.skipped}; CPU server ${((steady.serverCpuMs / steady.wallMs) * 100).toFixed(0)}% generator ${((steady.generatorCpuMs / steady.wallMs) * 100).toFixed(0)}%`,
      );
    }
    return run;
  } finally {
    await generator.stop(3000);
    await server.stop();
  }
}

/** Other processes on this machine (e.g. test runs) skew wall-clock numbers: wait for a quiet moment, bounded. */
async function quiet(ctx: BenchContext, maxWaitMs: number): Promise<void> {
  const { busy, waitedMs } = await waitForQuiet(maxWaitMs);
  if (waitedMs > 1500 || busy > 0.15) ctx.log(`waited ${(waitedMs / 1000).toFixed(1)} s for a quiet machine; now ${(busy * 100).toFixed(0)}% busy`);
}

/** CPU used by processes other than the server and the generator, in cores (1.0 = one core busy). */
function foreignCores(machineBusyMs: number, serverCpuMs: number, generatorCpuMs: number, wallMs: number): number {
  return Math.max(0, machineBusyMs - serverCpuMs - generatorCpuMs) / wallMs;
}

function otherLoad(machineBusyMs: number, serverCpuMs: number, generatorCpuMs: number, wallMs: number): string {
  return fmt(foreignCores(machineBusyMs, serverCpuMs, generatorCpuMs, wallMs), 2);
}

function usPerDelivery(drive: DriveResult | undefined): number {
  return drive && drive.deliveries > 0 ? (drive.cpuMs * 1000) / drive.deliveries : Number.NaN;
}

function fanoutResult(runs: PeerRun[], size: Sizes): BenchResult {
  const local = runs.find((run) => run.peer === 'pusher');
  const socketio = runs.find((run) => run.peer === 'socketio');
  const localUs = usPerDelivery(local?.drive);
  const socketioUs = usPerDelivery(socketio?.drive);
  const rows = runs.map((run) => {
    const drive = run.drive;
    const us = usPerDelivery(drive);
    return [
      run.label,
      fmt(us, 3),
      ratio(us, localUs),
      drive ? `${drive.deliveries}/${drive.expectedDeliveries}` : '–',
      drive ? fmt(drive.cpuMs, 0) : '–',
      drive ? fmt(drive.wallMs, 0) : '–',
      drive ? fmt((drive.deliveries / drive.wallMs) * 1000, 0) : '–',
      drive ? String(drive.frameBytes) : '–',
      drive ? fmt((drive.generatorCpuMs / drive.wallMs) * 100, 0) : '–',
      drive ? otherLoad(drive.machineBusyMs, drive.cpuMs, drive.generatorCpuMs, drive.wallMs) : '–',
    ];
  });
  const cheaper = socketioUs / localUs;
  return {
    name: 'fanout',
    title: `Fan-out cost: 1 channel, ${size.subscribers} subscribers, ${PAYLOAD_BYTES}-byte events in batches of ${size.batch}`,
    params: { subscribers: size.subscribers, batch: size.batch, payloadBytes: PAYLOAD_BYTES, warmupMs: size.warmupMs, windowMs: size.windowMs },
    table: {
      columns: ['server', 'server CPU µs/delivery', 'vs local', 'deliveries (got/expected)', 'server CPU ms', 'window ms', 'deliveries/s', 'frame bytes', 'generator CPU %', 'other load (cores)'],
      rows,
    },
    targets: [
      { what: 'local CPU per delivery', target: `≤ ${FANOUT_TARGET_US} µs`, actual: `${fmt(localUs, 3)} µs`, met: Number.isFinite(localUs) ? localUs <= FANOUT_TARGET_US : null },
      {
        what: 'local vs Socket.IO',
        target: `≥ ${FANOUT_TARGET_RATIO}× cheaper`,
        actual: `${fmt(cheaper, 2)}× cheaper`,
        met: Number.isFinite(cheaper) ? cheaper >= FANOUT_TARGET_RATIO : null,
      },
    ],
    notes: [
      'Server CPU = utime+stime of the server process (all threads) from /proc/<pid>/stat over the measurement window, divided by deliveries counted by the subscribers; it includes the HTTP publish request, validation and (local) the memory event-log append.',
      'Closed loop: each batch is published with one HTTP request and the next batch waits until every subscriber has received it, so no peer is measured while building an unbounded backlog.',
      'Subscribers of local are authorized by signing socket_id:channel with the app secret in the load generator; the first one of each run goes through POST /v1/auth/pusher to check that path.',
      'Frame sizes differ by design: local sends the Switchboard envelope (id, seq, ts, …) in a Pusher frame; Socket.IO sends 42["tick",{…}].',
    ],
    raw: runs.map(({ peer, connected, drive }) => ({ peer, connected, drive })),
  };
}

function latencyResult(runs: PeerRun[], size: Sizes): BenchResult {
  const local = runs.find((run) => run.peer === 'pusher');
  const localP99 = local?.steady ? percentile(local.steady.latencies, 99) : Number.NaN;
  const rows = runs.map((run) => {
    const latencies = run.steady?.latencies ?? [];
    const p99 = percentile(latencies, 99);
    return [
      run.label,
      fmt(percentile(latencies, 50), 2),
      fmt(p99, 2),
      fmt(max(latencies), 2),
      ratio(p99, localP99),
      String(latencies.length),
      run.steady ? `${run.steady.deliveries}/${run.steady.expectedDeliveries}` : '–',
      run.steady ? `${run.steady.sent}/${run.steady.sent + run.steady.skipped}` : '–',
      run.steady ? fmt((run.steady.serverCpuMs / run.steady.wallMs) * 100, 0) : '–',
      run.steady ? fmt((run.steady.generatorCpuMs / run.steady.wallMs) * 100, 0) : '–',
      run.steady ? otherLoad(run.steady.machineBusyMs, run.steady.serverCpuMs, run.steady.generatorCpuMs, run.steady.wallMs) : '–',
    ];
  });
  return {
    name: 'latency',
    title: `Latency: ${size.rate} events/s for ${size.steadyMs / 1000} s to ${size.subscribers} subscribers (publish request sent -> frame received)`,
    params: { subscribers: size.subscribers, sampledSubscribers: size.sample, ratePerSecond: size.rate, durationMs: size.steadyMs, payloadBytes: PAYLOAD_BYTES },
    table: {
      columns: ['server', 'p50 ms', 'p99 ms', 'max ms', 'p99 vs local', 'samples', 'deliveries (got/expected)', 'events sent/scheduled', 'server CPU %', 'generator CPU %', 'other load (cores)'],
      rows,
    },
    targets: [
      { what: 'local p99 publish-to-deliver', target: `≤ ${LATENCY_TARGET_P99_MS} ms`, actual: `${fmt(localP99, 2)} ms`, met: Number.isFinite(localP99) ? localP99 <= LATENCY_TARGET_P99_MS : null },
    ],
    notes: [
      'The send time is embedded in the payload just before the HTTP publish request; the same load-generator process receives, so both ends read one clock. The sampled subscribers are spread evenly over the subscription order, so they include the last ones each fan-out loop reaches.',
      'Latency is wall-clock time: "other load" is the CPU other processes on this 2-core machine used during the run (in cores). With the server and the generator each near half a core, foreign load above ~0.2 cores preempts them and inflates p99; such runs are repeated once and the least disturbed one is kept.',
      'One event per HTTP request (no batching), so local latency includes the BFF route: auth, zod validation, event-log append, provider hand-off, write coalescing on setImmediate.',
    ],
    raw: runs.map(({ peer, steady }) => ({
      peer,
      sent: steady?.sent,
      skipped: steady?.skipped,
      wallMs: steady?.wallMs,
      serverCpuMs: steady?.serverCpuMs,
      generatorCpuMs: steady?.generatorCpuMs,
      machineBusyMs: steady?.machineBusyMs,
      deliveries: steady?.deliveries,
      expected: steady?.expectedDeliveries,
      publishErrors: steady?.publishErrors,
      p50: steady ? percentile(steady.latencies, 50) : null,
      p90: steady ? percentile(steady.latencies, 90) : null,
      p99: steady ? percentile(steady.latencies, 99) : null,
      p999: steady ? percentile(steady.latencies, 99.9) : null,
      max: steady ? max(steady.latencies) : null,
    })),
  };
}

export async function runPubSub(ctx: BenchContext, phases: { fanout: boolean; latency: boolean }): Promise<BenchResult[]> {
  const size = sizes(ctx.quick);
  const runs: PeerRun[] = [];
  for (const peer of ['pusher', 'socketio', 'ws'] as const) runs.push(await runPeer(ctx, peer, size, phases));
  const results: BenchResult[] = [];
  if (phases.fanout) results.push(fanoutResult(runs, size));
  if (phases.latency) results.push(latencyResult(runs, size));
  return results;
}
