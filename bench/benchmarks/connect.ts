/**
 * Connection set-up cost: server CPU per connection while N sockets connect and subscribe,
 * Switchboard `local` (one process, memory store: handshake, pusher:connection_established,
 * a locally signed private-channel subscribe) against the plain ws peer (handshake and a
 * subscribe message). One load generator (load/scale-clients.ts), the peers alternating
 * for several rounds so that a change in machine load hits both alike.
 *
 *   npm run bench -- connect            BENCH_CONNECT_COUNT (5,000) sockets, BENCH_CONNECT_ROUNDS (3) rounds
 *   npm run bench -- connect --cpu-prof profiles the Switchboard server of each round
 */
import type { ScaleConnect } from '../lib/scale-protocol.js';
import { toPusherChannel } from '../../src/core/provider-names.js';
import { processCpuMs, sleep, spawnChild } from '../lib/proc.js';
import type { BenchResult } from '../lib/report.js';
import { APP_KEY, APP_SECRET, startServer, TENANT, type BenchContext } from '../lib/servers.js';
import { fmt, median, ratio } from '../lib/stats.js';

const PEERS = [
  { label: 'switchboard local', server: 'switchboard', kind: 'pusher', channel: toPusherChannel(TENANT, 'dashboard:connect', false) },
  { label: 'plain ws', server: 'ws', kind: 'ws', channel: 'bench' },
] as const;

type Peer = (typeof PEERS)[number];

interface Round {
  peer: string;
  round: number;
  connections: number;
  connectMs: number;
  serverCpuUsPerConnection: number;
  generatorCpuUsPerConnection: number;
}

function positiveInt(text: string | undefined, fallback: number): number {
  const value = Number(text);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}

async function measure(ctx: BenchContext, peer: Peer, count: number, round: number): Promise<Round> {
  const server = await startServer(ctx, peer.server, {
    raiseFdLimit: true,
    ...(ctx.cpuProf && peer.server === 'switchboard' ? { cpuProfile: `connect-${round}` } : {}),
  });
  const generator = spawnChild({ script: 'load/scale-clients.ts', raiseFdLimit: true, label: 'connect generator' });
  try {
    // Both processes finish starting (module loading, JIT warm-up of start-up code) before the count.
    await sleep(1_000);
    const serverStart = processCpuMs(server.pid);
    const generatorStart = processCpuMs(generator.process.pid ?? 0);
    const started = performance.now();
    const command: ScaleConnect = {
      cmd: 'connect',
      kind: peer.kind,
      baseUrl: server.baseUrl,
      localAddress: '127.0.0.1',
      count,
      concurrency: 100,
      appKey: APP_KEY,
      appSecret: APP_SECRET,
      channel: peer.channel,
    };
    generator.send(command);
    await generator.next('connected', 120_000);
    const connectMs = performance.now() - started;
    // The last subscriptions' writes and the generator's last acknowledgements settle.
    await sleep(300);
    const result: Round = {
      peer: peer.label,
      round,
      connections: count,
      connectMs,
      serverCpuUsPerConnection: ((processCpuMs(server.pid) - serverStart) * 1000) / count,
      generatorCpuUsPerConnection: ((processCpuMs(generator.process.pid ?? 0) - generatorStart) * 1000) / count,
    };
    ctx.log(`${peer.label} round ${round}: ${count} in ${fmt(connectMs, 0)} ms, server ${fmt(result.serverCpuUsPerConnection, 0)} µs/connection`);
    return result;
  } finally {
    await generator.stop(3000);
    await server.stop();
  }
}

export async function runConnect(ctx: BenchContext): Promise<BenchResult> {
  const count = positiveInt(process.env.BENCH_CONNECT_COUNT, ctx.quick ? 1_000 : 5_000);
  const rounds = positiveInt(process.env.BENCH_CONNECT_ROUNDS, ctx.quick ? 1 : 3);
  const results: Round[] = [];
  for (let round = 1; round <= rounds; round++) for (const peer of PEERS) results.push(await measure(ctx, peer, count, round));
  const of = (label: string) => results.filter((result) => result.peer === label);
  const serverCpu = (label: string) => median(of(label).map((result) => result.serverCpuUsPerConnection));
  const local = serverCpu(PEERS[0].label);
  const ws = serverCpu(PEERS[1].label);
  return {
    name: ctx.quick ? 'connect-quick' : 'connect',
    title: `Connection set-up: server CPU per connection, ${count} connect + subscribe, ${rounds} round(s)`,
    params: { connections: count, rounds, concurrency: 100 },
    table: {
      columns: ['server', 'server CPU µs/connection (median)', 'per round', 'connects/s (median)', 'generator CPU µs/connection', 'vs plain ws'],
      rows: PEERS.map((peer) => [
        peer.label,
        fmt(serverCpu(peer.label), 0),
        of(peer.label)
          .map((result) => fmt(result.serverCpuUsPerConnection, 0))
          .join(' / '),
        fmt(median(of(peer.label).map((result) => (result.connections / result.connectMs) * 1000)), 0),
        fmt(median(of(peer.label).map((result) => result.generatorCpuUsPerConnection)), 0),
        ratio(serverCpu(peer.label), ws),
      ]),
    },
    targets: [],
    notes: [
      `Server CPU = utime + stime of the server process from the first connect to 300 ms after the last subscription succeeded, divided by ${count}.`,
      'Switchboard: the channel authorization is signed by the generator with the app secret (what POST /v1/auth/pusher answers), so no HTTP request is counted.',
      `Ratio local / plain ws of the medians: ${ratio(local, ws)}.`,
    ],
    raw: results,
  };
}
