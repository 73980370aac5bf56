/** Results: one JSON file per benchmark, a markdown summary of the run, and a console table. */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BENCH_DIR, hasTaskset } from './proc.js';

export interface Table {
  columns: string[];
  rows: string[][];
}

export interface TargetCheck {
  what: string;
  target: string;
  actual: string;
  /** null when it could not be measured (e.g. Redis absent). */
  met: boolean | null;
}

export interface BenchResult {
  name: string;
  title: string;
  params: Record<string, string | number | boolean>;
  table: Table;
  targets: TargetCheck[];
  notes: string[];
  /** Raw measurements, for anyone who wants to recompute. */
  raw: unknown;
}

export interface Machine {
  cpu: string;
  cores: number;
  node: string;
  os: string;
  date: string;
  taskset: boolean;
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    date: new Date().toISOString(),
    taskset: hasTaskset(),
  };
}

export function resultsDir(quick: boolean): string {
  return quick ? path.join(BENCH_DIR, 'results', 'quick') : path.join(BENCH_DIR, 'results');
}

function pad(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - [...text].length));
}

export function textTable(table: Table): string {
  const widths = table.columns.map((column, index) => Math.max([...column].length, ...table.rows.map((row) => [...(row[index] ?? '')].length)));
  const line = (cells: string[]): string => cells.map((cell, index) => pad(cell, widths[index] ?? 0)).join('  ').trimEnd();
  return [line(table.columns), widths.map((width) => '-'.repeat(width)).join('  '), ...table.rows.map(line)].join('\n');
}

function markdownTable(table: Table): string {
  const escape = (cell: string): string => cell.replaceAll('|', '\\|');
  return [
    `| ${table.columns.map(escape).join(' | ')} |`,
    `|${table.columns.map(() => '---').join('|')}|`,
    ...table.rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ].join('\n');
}

function verdict(met: boolean | null): string {
  return met === null ? 'n/a' : met ? 'met' : 'MISSED';
}

export function targetsTable(results: BenchResult[]): Table {
  return {
    columns: ['benchmark', 'target', 'goal', 'actual', 'verdict'],
    rows: results.flatMap((result) => result.targets.map((target) => [result.name, target.what, target.target, target.actual, verdict(target.met)])),
  };
}

export function printResult(result: BenchResult): void {
  console.log(`\n## ${result.title}\n`);
  console.log(textTable(result.table));
  for (const target of result.targets) console.log(`target: ${target.what} ${target.target} -> ${target.actual} (${verdict(target.met)})`);
  for (const note of result.notes) console.log(`note: ${note}`);
}

export async function writeResult(result: BenchResult, host: Machine, quick: boolean): Promise<string> {
  const dir = resultsDir(quick);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${result.name}.json`);
  await writeFile(file, `${JSON.stringify({ ...result, quick, machine: host }, null, 2)}\n`);
  return file;
}

export async function writeMarkdown(results: BenchResult[], host: Machine, quick: boolean, elapsedSeconds: number): Promise<string> {
  const dir = resultsDir(quick);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'latest.md');
  const parts = [
    `# Switchboard benchmarks${quick ? ' (--quick: reduced sizes, not for comparison)' : ''}`,
    '',
    `- machine: ${host.cpu}, ${host.cores} cores, ${host.os}`,
    `- Node ${host.node}; pinning with taskset: ${host.taskset ? 'yes (server on core 0, load on core 1)' : 'no (taskset missing)'}`,
    `- date: ${host.date}; whole run ${elapsedSeconds.toFixed(0)} s`,
    '- Every benchmark ran its peers in this same run on this machine: read the ratios, the absolute numbers are noise.',
    '',
    '## Targets',
    '',
    markdownTable(targetsTable(results)),
  ];
  for (const result of results) {
    parts.push('', `## ${result.title}`, '', markdownTable(result.table));
    const params = Object.entries(result.params).map(([key, value]) => `${key}=${String(value)}`);
    if (params.length > 0) parts.push('', `Parameters: ${params.join(', ')}.`);
    if (result.notes.length > 0) parts.push('', ...result.notes.map((note) => `- ${note}`));
  }
  await writeFile(file, `${parts.join('\n')}\n`);
  return file;
}
