/**
 * Token issuance: `POST /v1/token` on the BFF (verify the app session JWT, resolve caps,
 * sign the capability token, provider client config) beside a bare Express handler
 * that only signs a JWT with jose, same algorithm (EdDSA). Server on core 0,
 * autocannon in its own process on core 1.
 */
import type { HttpLoadCommand, HttpLoadResult } from '../lib/messages.js';
import { hasTaskset, machineCpuMs, processCpuMs, spawnChild, waitForQuiet } from '../lib/proc.js';
import type { BenchResult } from '../lib/report.js';
import { devSession, startServer, type BenchContext, type PeerServer } from '../lib/servers.js';
import { fmt, ratio } from '../lib/stats.js';

const TARGET_PER_SECOND = 5000;
const CONNECTIONS = 20;

interface Measured {
  result: HttpLoadResult;
  wallMs: number;
  serverCpuMs: number;
  /** CPU of everything else on the machine (not the server, not autocannon). */
  otherCpuMs: number;
}

interface TokenRun extends Measured {
  label: string;
  server: PeerServer;
}

async function load(command: Omit<HttpLoadCommand, 'cmd'>, serverPid: number): Promise<Measured> {
  const child = spawnChild({ script: 'load/http-load.ts', cpus: '1', label: 'autocannon' });
  try {
    const loadPid = child.process.pid ?? 0;
    const machineStart = machineCpuMs().busy;
    const serverStart = processCpuMs(serverPid);
    const loadStart = processCpuMs(loadPid);
    const wallStart = performance.now();
    child.send({ cmd: 'http-load', ...command });
    const result = await child.next<HttpLoadResult>('http-load-done', (command.durationSeconds + 30) * 1000);
    const wallMs = performance.now() - wallStart;
    const serverCpuMs = processCpuMs(serverPid) - serverStart;
    const loadCpuMs = processCpuMs(loadPid) - loadStart;
    const otherCpuMs = Math.max(0, machineCpuMs().busy - machineStart - serverCpuMs - loadCpuMs);
    return { result, wallMs, serverCpuMs, otherCpuMs };
  } finally {
    await child.stop(2000);
  }
}

async function runPeer(ctx: BenchContext, kind: PeerServer, warmSeconds: number, seconds: number): Promise<TokenRun> {
  const server = await startServer(ctx, kind, {
    cpus: '0',
    store: 'memory',
    cpuProfile: ctx.cpuProf && kind === 'switchboard' ? `tokens-${Date.now()}` : undefined,
  });
  try {
    let request: Omit<HttpLoadCommand, 'cmd' | 'durationSeconds'>;
    if (kind === 'switchboard') {
      const session = await devSession(server.baseUrl);
      request = {
        url: `${server.baseUrl}/v1/token`,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${session}` },
        body: '{}',
        connections: CONNECTIONS,
      };
    } else {
      request = { url: `${server.baseUrl}/token`, headers: { 'content-type': 'application/json' }, body: '{}', connections: CONNECTIONS };
    }
    await load({ ...request, durationSeconds: warmSeconds }, server.pid);
    const { busy, waitedMs } = await waitForQuiet(ctx.quick ? 0 : 15_000);
    if (waitedMs > 1500 || busy > 0.15) ctx.log(`waited ${(waitedMs / 1000).toFixed(1)} s for a quiet machine; now ${(busy * 100).toFixed(0)}% busy`);
    const measured = await load({ ...request, durationSeconds: seconds }, server.pid);
    const label = kind === 'switchboard' ? 'switchboard POST /v1/token' : 'bare Express + jose sign';
    ctx.log(`${label}: ${measured.result.requestsPerSecond.toFixed(0)} tokens/s`);
    return { label, server: kind, ...measured };
  } finally {
    await server.stop();
  }
}

export async function runTokens(ctx: BenchContext): Promise<BenchResult> {
  const warm = ctx.quick ? 1 : 3;
  const seconds = ctx.quick ? 2 : 10;
  const runs = [await runPeer(ctx, 'switchboard', warm, seconds), await runPeer(ctx, 'express-jwt', warm, seconds)];
  const bff = runs[0] as TokenRun;
  const bare = runs[1] as TokenRun;
  const rate = bff.result.requestsPerSecond;
  return {
    name: 'tokens',
    title: `Token issuance: autocannon, ${CONNECTIONS} connections, ${seconds} s (after ${warm} s warm-up)`,
    params: { connections: CONNECTIONS, seconds, warmupSeconds: warm, pinned: hasTaskset() },
    table: {
      columns: ['server', 'tokens/s', 'vs bare', 'p50 ms', 'p99 ms', '2xx', 'non-2xx', 'errors', 'server CPU µs/token', 'server CPU %', 'other load (cores)'],
      rows: runs.map((run) => [
        run.label,
        fmt(run.result.requestsPerSecond, 0),
        ratio(run.result.requestsPerSecond, bare.result.requestsPerSecond),
        fmt(run.result.latencyP50, 1),
        fmt(run.result.latencyP99, 1),
        String(run.result.total2xx),
        String(run.result.non2xx),
        String(run.result.errors),
        fmt((run.serverCpuMs * 1000) / Math.max(1, run.result.total2xx), 0),
        fmt((run.serverCpuMs / run.wallMs) * 100, 0),
        fmt(run.otherCpuMs / run.wallMs, 2),
      ]),
    },
    targets: [{ what: 'POST /v1/token throughput', target: `≥ ${TARGET_PER_SECOND}/s`, actual: `${fmt(rate, 0)}/s`, met: rate >= TARGET_PER_SECOND && bff.result.non2xx === 0 }],
    notes: [
      'Each /v1/token request verifies the app session JWT (the dev login HS256 session), resolves and narrows caps, signs an EdDSA capability token and builds the provider client config; the bare peer only signs.',
      'Only 2xx answers count towards tokens/s.',
    ],
    raw: runs,
  };
}
