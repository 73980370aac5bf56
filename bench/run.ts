/**
 * `npm run bench [-- <name>...] [--quick] [--cpu-prof]`
 *
 * Benchmarks (not tests). Each one starts its servers and load generators as separate
 * processes, runs the peers one after another on this machine, and reports ratios.
 *   fanout   server CPU per delivered event: local vs Socket.IO vs plain ws
 *   latency  publish-to-deliver p50/p99/max at a steady rate (same setup as fanout)
 *   memory   server RSS per idle subscribed connection
 *   tokens   POST /v1/token per second vs a bare Express + jose signer
 *   replay   catch-up of 10k events via GET /v1/history, sqlite and redis stores
 *   react    React re-renders of a dashboard at 50 events/s in Chromium: useEvents vs a state update per event
 *   scale    10k-100k subscribers on workers vs plain ws: connect rate, memory, broadcast reach, control plane,
 *            sustained rates (the whole-suite run does its --quick size; `npm run bench -- scale` the full one)
 *   connect  server CPU per connection while 5,000 sockets connect and subscribe: local vs plain ws
 * Results: bench/results/<name>.json and bench/results/latest.md (--quick: bench/results/quick/).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runConnect } from './benchmarks/connect.js';
import { runMemory } from './benchmarks/memory.js';
import { runPubSub } from './benchmarks/pubsub.js';
import { runReact } from './benchmarks/react.js';
import { runReplay } from './benchmarks/replay.js';
import { runScale } from './benchmarks/scale.js';
import { runTokens } from './benchmarks/tokens.js';
import { machine, printResult, targetsTable, textTable, writeMarkdown, writeResult, type BenchResult } from './lib/report.js';
import type { BenchContext } from './lib/servers.js';

const NAMES = ['fanout', 'latency', 'memory', 'tokens', 'replay', 'react', 'scale', 'connect'] as const;
type Name = (typeof NAMES)[number];

function isName(value: string): value is Name {
  return (NAMES as readonly string[]).includes(value);
}

function usage(): string {
  return `usage: npm run bench [-- ${NAMES.join('|')} ...] [--quick] [--cpu-prof]`;
}

function parseArgs(argv: string[]): { names: Name[]; explicit: Name[]; quick: boolean; cpuProf: boolean } {
  const names: Name[] = [];
  let quick = false;
  let cpuProf = false;
  for (const arg of argv) {
    if (arg === '--quick') quick = true;
    else if (arg === '--cpu-prof') cpuProf = true;
    else if (arg === '--help' || arg === '-h') {
      console.log(usage());
      process.exit(0);
    } else if (isName(arg)) names.push(arg);
    else {
      console.error(`unknown argument "${arg}"\n${usage()}`);
      process.exit(2);
    }
  }
  return { names: names.length > 0 ? names : [...NAMES], explicit: names, quick, cpuProf };
}

async function main(): Promise<void> {
  const { names, explicit, quick, cpuProf } = parseArgs(process.argv.slice(2));
  const host = machine();
  const started = performance.now();
  const tmpDir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-bench-'));
  const ctx: BenchContext = {
    quick,
    cpuProf,
    tmpDir,
    log: (message) => console.log(`[${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s] ${message}`),
  };
  console.log(`Switchboard benchmarks${quick ? ' (--quick)' : ''}: ${names.join(', ')}`);
  console.log(`${host.cpu}, ${host.cores} cores, Node ${host.node}, ${host.date}`);
  const results: BenchResult[] = [];
  const failures: string[] = [];
  const run = async (label: string, body: () => Promise<BenchResult[]>): Promise<void> => {
    ctx.log(`${label}: starting`);
    try {
      for (const result of await body()) {
        results.push(result);
        printResult(result);
        await writeResult(result, host, quick);
      }
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      failures.push(`${label}: ${message}`);
      console.error(`${label} failed: ${message}`);
    }
  };
  try {
    const fanout = names.includes('fanout');
    const latency = names.includes('latency');
    if (fanout || latency) await run([fanout && 'fanout', latency && 'latency'].filter(Boolean).join('+'), () => runPubSub(ctx, { fanout, latency }));
    if (names.includes('memory')) await run('memory', async () => [await runMemory(ctx)]);
    if (names.includes('tokens')) await run('tokens', async () => [await runTokens(ctx)]);
    if (names.includes('replay')) await run('replay', async () => [await runReplay(ctx)]);
    if (names.includes('react')) await run('react', async () => [await runReact(ctx)]);
    // Hundreds of thousands of sockets take minutes: the whole-suite run measures the small size.
    if (names.includes('scale')) await run('scale', async () => [await runScale(explicit.includes('scale') ? ctx : { ...ctx, quick: true })]);
    if (names.includes('connect')) await run('connect', async () => [await runConnect(explicit.includes('connect') ? ctx : { ...ctx, quick: true })]);
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
  const elapsed = (performance.now() - started) / 1000;
  if (results.length > 0) {
    const file = await writeMarkdown(results, host, quick, elapsed);
    console.log(`\n## Targets\n\n${textTable(targetsTable(results))}`);
    console.log(`\nWrote ${path.relative(process.cwd(), file)} and ${results.map((result) => `${result.name}.json`).join(', ')} in ${elapsed.toFixed(1)} s`);
  }
  if (failures.length > 0) {
    console.error(`\n${failures.length} benchmark(s) failed:\n${failures.join('\n')}`);
    process.exitCode = 1;
  }
}

await main();
