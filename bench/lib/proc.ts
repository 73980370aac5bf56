/**
 * Child processes for the benchmarks: servers under test and load generators, each its
 * own Node process (the machine has few cores), optionally pinned to a core with
 * `taskset` and with a raised open-files limit, talking to the orchestrator over IPC.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { hasType, isRecord } from './messages.js';

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = path.resolve(BENCH_DIR, '..');

let clockTicks: number | undefined;

/** `getconf CLK_TCK` (100 on Linux). */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

let tasksetPath: string | null | undefined;

export function hasTaskset(): boolean {
  if (tasksetPath === undefined) {
    tasksetPath = ['/usr/bin/taskset', '/bin/taskset', '/usr/local/bin/taskset'].find((file) => existsSync(file)) ?? null;
  }
  return tasksetPath !== null;
}

/** utime + stime of a whole process (all threads) in ms, from /proc/<pid>/stat. */
export function processCpuMs(pid: number): number {
  const { userMs, systemMs } = processCpuSplitMs(pid);
  return userMs + systemMs;
}

/** User and kernel CPU time of a process in ms. */
export function processCpuSplitMs(pid: number): { userMs: number; systemMs: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces; fields after it start past the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so utime (14) and stime (15) are at 11 and 12.
  const toMs = (ticks: number) => (ticks * 1000) / clockTicksPerSecond();
  return { userMs: toMs(Number(fields[11])), systemMs: toMs(Number(fields[12])) };
}

/** Busy and total CPU time of the whole machine (all cores) in ms, from /proc/stat. */
export function machineCpuMs(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest time is already in user)
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = user + nice + system + irq + softirq + steal;
  const scale = 1000 / clockTicksPerSecond();
  return { busy: busy * scale, total: (busy + idle + iowait) * scale };
}

/**
 * Waits (bounded) until the machine is nearly idle: other processes (e.g. test runs in
 * the same working tree) would otherwise steal the cores the latency numbers depend on.
 * Returns the busy share seen in the last sample (0..1 of all cores) and the time waited.
 */
export async function waitForQuiet(maxWaitMs: number, threshold = 0.15, sampleMs = 1000): Promise<{ busy: number; waitedMs: number }> {
  const started = Date.now();
  if (maxWaitMs <= 0) return { busy: Number.NaN, waitedMs: 0 };
  let busy = 1;
  for (let round = 0; round < 1000; round++) {
    const before = machineCpuMs();
    await sleep(sampleMs);
    const after = machineCpuMs();
    busy = (after.busy - before.busy) / Math.max(1, after.total - before.total);
    if (busy <= threshold || Date.now() - started >= maxWaitMs) break;
  }
  return { busy, waitedMs: Date.now() - started };
}

/** Resident set size in bytes, from /proc/<pid>/status VmRSS. */
export function processRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`No VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

export interface SpawnOptions {
  /** Script path relative to bench/, run by Node with IPC. */
  script?: string;
  /** Or a native program: commands as JSON lines on its stdin, answers as JSON lines on its stdout. */
  executable?: string;
  args?: string[];
  env?: Record<string, string>;
  /** CPU core list for `taskset -c`, when taskset exists. */
  cpus?: string;
  /** Extra node flags, e.g. `--expose-gc`, `--cpu-prof`. */
  nodeFlags?: string[];
  /** Raise the soft open-files limit (to 65536, or the hard limit if lower). */
  raiseFdLimit?: boolean;
  /** Checks every message from the child; what it returns is what `next` sees. */
  parse?: (message: unknown) => unknown;
  label: string;
}

export class Child {
  private readonly inbox: unknown[] = [];
  private waiters: ((message: unknown) => void)[] = [];
  private exitError: Error | undefined;

  constructor(
    readonly process: ChildProcess,
    readonly label: string,
    private readonly parse: (message: unknown) => unknown = (message) => message,
  ) {
    if (process.stdout) {
      // A native child: one JSON message per line.
      createInterface({ input: process.stdout }).on('line', (line) => {
        let message: unknown;
        try {
          message = JSON.parse(line);
        } catch {
          message = { type: 'error', message: `not JSON: ${line.slice(0, 100)}` };
        }
        this.deliver(message);
      });
      process.stdin?.on('error', () => undefined);
    } else process.on('message', (message: unknown) => this.deliver(message));
    process.on('exit', (code, signal) => {
      this.exitError = new Error(`${label} exited (code ${code}, signal ${signal})`);
      for (const waiter of this.waiters.splice(0)) waiter({ type: 'error', message: this.exitError.message });
    });
  }

  private deliver(raw: unknown): void {
    const message = this.parse(raw);
    const waiter = this.waiters.shift();
    if (waiter) waiter(message);
    else this.inbox.push(message);
  }

  send(message: object): void {
    const stdin = this.process.stdin;
    if (stdin) {
      if (stdin.writable) stdin.write(`${JSON.stringify(message)}\n`);
    } else if (this.process.connected) this.process.send(message);
  }

  /** Next message of the given type; an `error` message or exit rejects. */
  async next<T extends { type: string }>(type: T['type'], timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`${this.label}: no "${type}" message within ${timeoutMs} ms`);
      const message = await this.receive(remaining);
      if (message === undefined) continue;
      if (hasType<T>(message, type)) return message;
      if (isRecord(message) && message.type === 'error') throw new Error(`${this.label}: ${String(message.message)}`);
    }
  }

  private receive(timeoutMs: number): Promise<unknown> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.exitError) return Promise.reject(this.exitError);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== deliver);
        resolve(undefined);
      }, timeoutMs);
      const deliver = (message: unknown): void => {
        clearTimeout(timer);
        resolve(message);
      };
      this.waiters.push(deliver);
    });
  }

  /** Asks the child to exit, then kills it (by its own pid) if it does not. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.process.once('exit', () => resolve()));
    this.send({ cmd: 'exit' });
    this.send({ cmd: 'close' });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      exited.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.process.kill('SIGKILL');
      await exited;
    }
  }
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * Starts `node --import tsx <bench/script>` (or a native executable) through `bash -c` so
 * the open-files limit can be raised and `taskset` applied; both `exec`, so the child's pid
 * is the program's.
 */
export function spawnChild(options: SpawnOptions): Child {
  const native = options.executable !== undefined;
  let program: string[];
  if (options.executable !== undefined) program = [options.executable, ...(options.args ?? [])];
  else if (options.script !== undefined) program = [process.execPath, ...(options.nodeFlags ?? []), '--import', 'tsx', path.join(BENCH_DIR, options.script), ...(options.args ?? [])];
  else throw new Error(`${options.label}: neither a script nor an executable`);
  const pinned = options.cpus !== undefined && hasTaskset() ? ['taskset', '-c', options.cpus, ...program] : program;
  const ulimit = options.raiseFdLimit ? 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; ' : '';
  const command = `${ulimit}exec ${pinned.map(shellQuote).join(' ')}`;
  const child = spawn('bash', ['-c', command], {
    cwd: REPO_DIR,
    env: { ...process.env, ...options.env },
    stdio: native ? ['pipe', 'pipe', 'inherit'] : ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Child(child, options.label, options.parse);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
