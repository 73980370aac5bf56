/**
 * Scale: N subscribers of one channel, spread over several load-generator processes (each
 * from its own 127.0.0.x source address), against Switchboard `local` running
 * SWITCHBOARD_WORKERS processes on one port (Redis store, joined as a cluster) and the
 * plain ws peer (one process, so at most what one process's descriptor limit allows).
 *
 * Per N: connect rate, server RSS per connection, idle CPU, the time one broadcast takes to
 * reach every subscriber (median and max of several), control-plane latency (GET /healthz
 * and POST /v1/token) while broadcasts run, and sustained deliveries/s with per-delivery
 * p50/p99 at 1, 5, 10 and 20 broadcasts/s. The generators' own CPU is printed so a
 * saturated generator is visible; they are in C (bench/load/epoll-clients.c) when gcc
 * builds it, else in Node (bench/lib/scale-generators.ts).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { toPusherChannel } from '../../src/core/provider-names.js';
import { processCpuMs, processCpuSplitMs, processRssBytes, sleep, type Child } from '../lib/proc.js';
import { chooseGenerator, spawnGenerator, type GeneratorKind } from '../lib/scale-generators.js';
import type { CollectResult, EventArrivals, ScaleConnect } from '../lib/scale-protocol.js';
import type { BenchResult, TargetCheck } from '../lib/report.js';
import { API_KEY, APP_KEY, APP_SECRET, devSession, startServer, TENANT, type BenchContext, type RunningServer } from '../lib/servers.js';
import { fmt, max, median, percentile, ratio } from '../lib/stats.js';

/**
 * Per run: the event log lives in Redis under tenant + channel, so two runs at once (other
 * engineers on the machine) with one name would deliver each other's broadcasts.
 */
const CHANNEL = `dashboard:scale-${process.pid}-${Date.now().toString(36)}`;
const PER_GENERATOR = 12_500;
/** One process cannot hold more sockets than its open-files limit (20,000 here, not raisable). */
const PER_WORKER = 17_000;
const RATES = [1, 5, 10, 20];
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

interface Plan {
  sizes: number[];
  broadcasts: number;
  sustainedMs: number;
  /** Sustained runs only up to this many subscribers: above, one broadcast alone takes most of a second. */
  sustainedUpTo: number;
}

function plan(quick: boolean): Plan {
  const base = quick
    ? { sizes: [2_000], broadcasts: 3, sustainedMs: 2_000, sustainedUpTo: 2_000 }
    : { sizes: [10_000, 19_500, 50_000, 100_000], broadcasts: 5, sustainedMs: 8_000, sustainedUpTo: 19_500 };
  // BENCH_SCALE_SIZES=10000,20000 for a partial run.
  const sizes = (process.env.BENCH_SCALE_SIZES ?? '').split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);
  return sizes.length > 0 ? { ...base, sizes } : base;
}

function openFilesLimit(): number {
  const match = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return match ? Number(match[1]) : Number.NaN;
}

interface ServerUnderTest {
  label: string;
  kind: 'pusher' | 'ws';
  server: RunningServer;
  pids(): number[];
  publishUrl: string;
  publishAuth?: string;
  channel: string;
  session?: string;
}

interface Measurement {
  peer: string;
  subscribers: number;
  workers: number;
  connectMs: number;
  rssPerConnection: number;
  idleCpuPct: number;
  reachMs: number[];
  controlPlaneMs: number[];
  sustained: { rate: number; deliveriesPerSecond: number; p50: number; p99: number; delivered: number; expected: number; serverCpuPct: number; generatorCpuPct: number }[];
  /** Median over the broadcasts: a round that times out polls for 20 s and is not typical. */
  generatorCpuMsPerBroadcast: number;
  /** Server CPU (all processes) per broadcast round, median, and its kernel share. */
  serverCpuMsPerBroadcast: number;
  serverKernelShare: number;
}

/** Cluster workers of a server run under tsx (not the esbuild processes tsx may have started). */
function childPids(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid), '-f', 'import tsx'], { encoding: 'utf8' }).split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
const cpuOf = (pids: number[]) => sum(pids.map((pid) => processCpuMs(pid)));
/** Total and kernel CPU of the processes, from one read of each one's /proc stat. */
function cpuSplitOf(pids: number[]): { total: number; kernel: number } {
  const splits = pids.map((pid) => processCpuSplitMs(pid));
  return { total: sum(splits.map((split) => split.userMs + split.systemMs)), kernel: sum(splits.map((split) => split.systemMs)) };
}
const rssOf = (pids: number[]) => sum(pids.map((pid) => processRssBytes(pid)));

async function startPeer(ctx: BenchContext, kind: 'pusher' | 'ws', subscribers: number): Promise<ServerUnderTest> {
  if (kind === 'ws') {
    const server = await startServer(ctx, 'ws', { raiseFdLimit: true });
    return { label: 'plain ws', kind, server, pids: () => [server.pid], publishUrl: `${server.baseUrl}/publish`, channel: 'bench' };
  }
  const workers = Math.max(2, Math.ceil(subscribers / PER_WORKER));
  const server = await startServer(ctx, 'switchboard-workers', {
    store: 'redis',
    redisUrl: REDIS_URL,
    raiseFdLimit: true,
    // Every worker inherits the flag and writes its own profile.
    cpuProfile: ctx.cpuProf ? `scale-${subscribers}-${Date.now()}` : undefined,
    env: { SWITCHBOARD_WORKERS: String(workers), LOCAL_APP_ID: `scale${process.pid}${Date.now().toString(36)}` },
  });
  const session = await devSession(server.baseUrl);
  return {
    label: `switchboard local, ${workers} workers`,
    kind,
    server,
    pids: () => [server.pid, ...childPids(server.pid)],
    publishUrl: `${server.baseUrl}/v1/publish`,
    publishAuth: `Bearer ${API_KEY}`,
    channel: toPusherChannel(TENANT, CHANNEL, false),
    session,
  };
}

/** Returns the server's answer (for the log when a broadcast does not arrive). */
async function publishOne(peer: ServerUnderTest, i: number): Promise<string> {
  const data = { i, bt: Math.round((performance.timeOrigin + performance.now()) * 1000) / 1000, p: 'x'.repeat(60) };
  const body = peer.kind === 'pusher' ? { channel: CHANNEL, event: 'tick', data } : { messages: [{ event: 'tick', data }] };
  const response = await fetch(peer.publishUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(peer.publishAuth ? { authorization: peer.publishAuth } : {}) },
    body: JSON.stringify(body),
  });
  const answer = await response.text();
  if (!response.ok) throw new Error(`publish answered ${response.status}`);
  return answer.slice(0, 200);
}

async function collect(generators: Child[]): Promise<CollectResult[]> {
  for (const generator of generators) generator.send({ cmd: 'collect' });
  return Promise.all(generators.map((generator) => generator.next<CollectResult>('collected', 30_000)));
}

function mergeEvents(results: CollectResult[]): Map<number, EventArrivals> {
  const merged = new Map<number, EventArrivals>();
  for (const result of results) {
    for (const event of result.events) {
      const seen = merged.get(event.i);
      if (!seen) merged.set(event.i, { ...event });
      else {
        seen.received += event.received;
        seen.first = Math.min(seen.first, event.first);
        seen.last = Math.max(seen.last, event.last);
      }
    }
  }
  return merged;
}

function histogramPercentile(histogram: number[], p: number): number {
  const total = sum(histogram);
  let seen = 0;
  for (let bucket = 0; bucket < histogram.length; bucket++) {
    seen += histogram[bucket] ?? 0;
    if (seen >= (p / 100) * total) return bucket + 0.5;
  }
  return Number.NaN;
}

/** Polls the control plane every 10 ms until `done` resolves; returns each request's latency. */
async function probeControlPlane(peer: ServerUnderTest, done: Promise<unknown>): Promise<number[]> {
  const latencies: number[] = [];
  let finished = false;
  void done.finally(() => (finished = true));
  let turn = 0;
  while (!finished) {
    const started = performance.now();
    const token = peer.session !== undefined && turn++ % 2 === 1;
    const response = token
      ? await fetch(`${peer.server.baseUrl}/v1/token`, { method: 'POST', headers: { authorization: `Bearer ${peer.session}` } })
      : await fetch(`${peer.server.baseUrl}/healthz`);
    await response.text();
    latencies.push(performance.now() - started);
    await sleep(10);
  }
  return latencies;
}

async function waitForAll(generators: Child[], i: number, expected: number, timeoutMs: number): Promise<CollectResult[]> {
  const deadline = Date.now() + timeoutMs;
  const results: CollectResult[] = [];
  for (;;) {
    results.push(...(await collect(generators)));
    const event = mergeEvents(results).get(i);
    if ((event?.received ?? 0) >= expected || Date.now() > deadline) return results;
    await sleep(20);
  }
}

async function measure(ctx: BenchContext, kind: 'pusher' | 'ws', subscribers: number, p: Plan, generatorKind: GeneratorKind): Promise<Measurement> {
  const peer = await startPeer(ctx, kind, subscribers);
  const generatorCount = Math.ceil(subscribers / PER_GENERATOR);
  const generators = Array.from({ length: generatorCount }, (_, index) => spawnGenerator(generatorKind, `scale generator ${index}`));
  try {
    await sleep(500);
    const rssBefore = rssOf(peer.pids());
    const connectStart = performance.now();
    generators.forEach((generator, index) => {
      const share = Math.floor(subscribers / generatorCount) + (index < subscribers % generatorCount ? 1 : 0);
      const command: ScaleConnect = {
        cmd: 'connect',
        kind,
        baseUrl: peer.server.baseUrl,
        localAddress: `127.0.0.${10 + index}`,
        count: share,
        concurrency: 100,
        appKey: APP_KEY,
        appSecret: APP_SECRET,
        channel: peer.channel,
      };
      generator.send(command);
    });
    await Promise.all(generators.map((generator) => generator.next('connected', 600_000)));
    const connectMs = performance.now() - connectStart;
    ctx.log(`${peer.label}: ${subscribers} subscribers in ${(connectMs / 1000).toFixed(1)} s`);
    await sleep(2_000);
    const idleStart = cpuOf(peer.pids());
    await sleep(5_000);
    const idleCpuPct = ((cpuOf(peer.pids()) - idleStart) / 5_000) * 100;
    const rssPerConnection = (rssOf(peer.pids()) - rssBefore) / subscribers;
    await collect(generators);

    const reachMs: number[] = [];
    const controlPlaneMs: number[] = [];
    const generatorCpu: number[] = [];
    const serverCpu: { total: number; kernel: number }[] = [];
    let index = 0;
    for (let round = 0; round < p.broadcasts; round++) {
      const i = index++;
      let answer = '';
      const serverCpuBefore = cpuSplitOf(peer.pids());
      const delivered = publishOne(peer, i).then((text) => {
        answer = text;
        return waitForAll(generators, i, subscribers, 20_000);
      });
      controlPlaneMs.push(...(await probeControlPlane(peer, delivered)));
      const results = await delivered;
      generatorCpu.push(sum(results.map((result) => result.cpuMs)));
      const serverCpuAfter = cpuSplitOf(peer.pids());
      serverCpu.push({ total: serverCpuAfter.total - serverCpuBefore.total, kernel: serverCpuAfter.kernel - serverCpuBefore.kernel });
      const event = mergeEvents(results).get(i);
      reachMs.push(event && event.received >= subscribers ? event.last - event.sentAt : Number.NaN);
      if ((event?.received ?? 0) !== subscribers) ctx.log(`${peer.label}: broadcast ${i} reached ${event?.received ?? 0} of ${subscribers} subscribers (publish answered ${answer})`);
      await sleep(300);
    }
    ctx.log(`${peer.label}: one broadcast reaches all in ${fmt(median(reachMs), 0)} ms (median), control plane p99 ${fmt(percentile(controlPlaneMs, 99), 1)} ms, server CPU ${serverCpu.map((round) => fmt(round.total, 0)).join('/')} ms, ${generatorKind} generators' CPU ${generatorCpu.map((ms) => fmt(ms, 0)).join('/')} ms per broadcast`);

    const sustained: Measurement['sustained'] = [];
    if (subscribers <= p.sustainedUpTo) {
      for (const rate of RATES) {
        const total = Math.round((rate * p.sustainedMs) / 1000);
        const firstIndex = index;
        const serverCpuStart = cpuOf(peer.pids());
        const started = performance.now();
        const publishes: Promise<unknown>[] = [];
        for (let n = 0; n < total; n++) {
          const wait = started + (n * 1000) / rate - performance.now();
          if (wait > 0) await sleep(wait);
          publishes.push(publishOne(peer, index++).catch(() => undefined));
        }
        await Promise.all(publishes);
        const results: CollectResult[] = [];
        const deadline = Date.now() + 15_000;
        while (Date.now() < deadline) {
          results.push(...(await collect(generators)));
          if (sum(results.map((result) => result.deliveries)) >= total * subscribers) break;
          await sleep(100);
        }
        const wallMs = performance.now() - started;
        const histogram = new Array<number>(results[0]?.latencyMs.length ?? 0).fill(0);
        for (const result of results) result.latencyMs.forEach((count, bucket) => (histogram[bucket] = (histogram[bucket] ?? 0) + count));
        const delivered = sum(results.map((result) => result.deliveries));
        const lastArrival = max([...mergeEvents(results).values()].filter((event) => event.i >= firstIndex).map((event) => event.last));
        const activeMs = Number.isFinite(lastArrival) ? lastArrival - (performance.timeOrigin + started) : wallMs;
        sustained.push({
          rate,
          deliveriesPerSecond: (delivered / activeMs) * 1000,
          p50: histogramPercentile(histogram, 50),
          p99: histogramPercentile(histogram, 99),
          delivered,
          expected: total * subscribers,
          serverCpuPct: ((cpuOf(peer.pids()) - serverCpuStart) / wallMs) * 100,
          generatorCpuPct: (sum(results.map((result) => result.cpuMs)) / wallMs) * 100,
        });
        const last = sustained.at(-1)!;
        ctx.log(`${peer.label}: ${rate}/s -> ${fmt(last.deliveriesPerSecond, 0)} deliveries/s, p50 ${fmt(last.p50, 1)} p99 ${fmt(last.p99, 1)} ms (${last.delivered}/${last.expected})`);
        await sleep(1_000);
      }
    }
    return {
      peer: peer.label,
      subscribers,
      workers: peer.pids().length - (kind === 'pusher' ? 1 : 0),
      connectMs,
      rssPerConnection,
      idleCpuPct,
      reachMs,
      controlPlaneMs,
      sustained,
      generatorCpuMsPerBroadcast: median(generatorCpu),
      serverCpuMsPerBroadcast: median(serverCpu.map((round) => round.total)),
      serverKernelShare: sum(serverCpu.map((round) => round.kernel)) / sum(serverCpu.map((round) => round.total)),
    };
  } finally {
    await Promise.all(generators.map((generator) => generator.stop(3000)));
    await peer.server.stop();
  }
}

export async function runScale(ctx: BenchContext): Promise<BenchResult> {
  const p = plan(ctx.quick);
  const fdLimit = openFilesLimit();
  const generatorKind = chooseGenerator((message) => ctx.log(message));
  const measurements: Measurement[] = [];
  for (const subscribers of p.sizes) {
    for (const kind of ['pusher', 'ws'] as const) {
      if (kind === 'ws' && subscribers > fdLimit - 200) {
        ctx.log(`plain ws: skipped at ${subscribers} (one process, open-files limit ${fdLimit})`);
        continue;
      }
      try {
        measurements.push(await measure(ctx, kind, subscribers, p, generatorKind));
      } catch (error) {
        ctx.log(`${kind} at ${subscribers}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  const rows = measurements.map((m) => [
    m.peer,
    String(m.subscribers),
    fmt((m.subscribers / m.connectMs) * 1000, 0),
    fmt(m.rssPerConnection / 1024, 2),
    fmt(m.idleCpuPct, 1),
    fmt(median(m.reachMs), 0),
    fmt(max(m.reachMs), 0),
    fmt(percentile(m.controlPlaneMs, 50), 1),
    fmt(percentile(m.controlPlaneMs, 99), 1),
    `${fmt(m.serverCpuMsPerBroadcast, 0)} (${fmt(m.serverKernelShare * 100, 0)}% kernel)`,
    fmt(m.generatorCpuMsPerBroadcast, 0),
    ...RATES.map((rate) => {
      const run = m.sustained.find((s) => s.rate === rate);
      return run ? `${fmt(run.deliveriesPerSecond / 1000, 0)}k/s ${fmt(run.p50, 0)}/${fmt(run.p99, 0)} ms` : '–';
    }),
  ]);
  const best = (subscribers: number, kind: string) => measurements.find((m) => m.subscribers === subscribers && m.peer.startsWith(kind));
  const biggest = max(measurements.filter((m) => m.peer.startsWith('switchboard')).map((m) => m.subscribers));
  const top = best(biggest, 'switchboard');
  const at20 = p.sizes.includes(19_500) ? 19_500 : p.sizes[0]!;
  const rateOf = (m: Measurement | undefined) => max((m?.sustained ?? []).filter((s) => s.p99 <= 1000).map((s) => s.deliveriesPerSecond));
  const sustainedRatio = rateOf(best(at20, 'switchboard')) / rateOf(best(at20, 'plain ws'));
  const targets: TargetCheck[] = [
    { what: `largest run (${biggest} subscribers) RSS per connection`, target: '≤ 5 KB', actual: `${fmt((top?.rssPerConnection ?? Number.NaN) / 1024, 2)} KB`, met: top ? top.rssPerConnection <= 5 * 1024 : null },
    { what: `one broadcast reaches all ${biggest}`, target: '≤ 1000 ms', actual: `${fmt(median(top?.reachMs ?? []), 0)} ms median`, met: top ? median(top.reachMs) <= 1000 : null },
    { what: `control plane p99 during broadcasts (${biggest})`, target: '≤ 50 ms', actual: `${fmt(percentile(top?.controlPlaneMs ?? [], 99), 1)} ms`, met: top ? percentile(top.controlPlaneMs, 99) <= 50 : null },
    { what: `sustained deliveries/s at ${at20} with p99 ≤ 1 s, vs plain ws`, target: '≥ 3×', actual: ratio(sustainedRatio, 1), met: Number.isFinite(sustainedRatio) ? sustainedRatio >= 3 : null },
  ];
  return {
    // The small size gets its own file so that the whole-suite run never overwrites a full run.
    name: ctx.quick ? 'scale-quick' : 'scale',
    title: `Scale: one channel, ${p.sizes.join(' / ')} subscribers, Switchboard workers vs plain ws`,
    params: { sizes: p.sizes.join(','), generator: generatorKind, broadcasts: p.broadcasts, sustainedMs: p.sustainedMs, perGenerator: PER_GENERATOR, perWorker: PER_WORKER, openFilesLimit: fdLimit },
    table: {
      columns: ['server', 'subscribers', 'connects/s', 'RSS KB/conn', 'idle CPU %', 'reach all ms (median)', 'reach all ms (max)', 'control p50 ms', 'control p99 ms', 'server CPU ms/broadcast', 'generator CPU ms/broadcast', ...RATES.map((rate) => `${rate}/s: deliveries, p50/p99`)],
      rows,
    },
    targets,
    notes: [
      `Switchboard runs ceil(N / ${PER_WORKER}) workers (at least 2) on one port with the Redis store; plain ws is one process and stops at the open-files limit (${fdLimit}).`,
      'Reach = last subscriber\'s receive time minus the publish request\'s send time, across every generator (one clock: same machine).',
      'Control plane = GET /healthz and POST /v1/token (Switchboard) every 10 ms while each broadcast is in flight.',
      'Server CPU per broadcast = user + system CPU of every server process (primary and workers) over a broadcast round, control-plane probes included, median of the rounds; the kernel share is mostly the socket writes.',
      `Sustained runs only up to ${p.sustainedUpTo} subscribers; latency is per delivery, from the publish request to each receive.`,
      `Load generators: ${generatorKind === 'c' ? 'C (epoll, bench/load/epoll-clients.c)' : 'Node (ws, bench/load/scale-clients.ts)'}, ${PER_GENERATOR} connections each. Generator CPU per broadcast is the user + system CPU of all of them summed over a broadcast round (from the previous round's last collect to the last delivery, polling collects included), median of the rounds; on 2 cores it competes with the server.`,
    ],
    raw: measurements,
  };
}
