/**
 * Summarizes a V8 `.cpuprofile` (from `npm run bench -- <name> --cpu-prof`, written to
 * bench/results/profiles/): self time by area (package / repo folder / node internals)
 * and the top functions by self and by inclusive time.
 *
 *   npx tsx bench/tools/cpuprofile-summary.ts bench/results/profiles/<run>[/<file>.cpuprofile] [top=25]
 *
 * Given a directory, reads its largest profile: with `--import tsx` the module loader
 * runs in a worker thread that writes its own, small, profile.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { REPO_DIR } from '../lib/proc.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function isProfile(value: unknown): value is Profile {
  return typeof value === 'object' && value !== null && 'nodes' in value && 'samples' in value && 'timeDeltas' in value;
}

function relative(url: string): string {
  const file = url.startsWith('file://') ? new URL(url).pathname : url;
  return file.startsWith(REPO_DIR) ? path.relative(REPO_DIR, file) : file;
}

/** Where the time goes, coarsely: an npm package, a repo folder, node internals or V8 itself. */
function area(frame: CallFrame): string {
  const file = relative(frame.url);
  if (file === '') return frame.functionName.startsWith('(') ? frame.functionName : '(native / V8 builtins)';
  if (file.startsWith('node:')) return 'node internals';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  if (pkg) return `npm ${pkg[1] ?? ''}`;
  const parts = file.split('/');
  return parts.length > 2 ? parts.slice(0, 2).join('/') : file;
}

function key(frame: CallFrame): string {
  const file = relative(frame.url);
  return `${frame.functionName || '(anonymous)'} ${file ? `${file}:${frame.lineNumber + 1}` : ''}`.trim();
}

function table(rows: [string, number][], total: number, top: number): string {
  return rows
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, micros]) => `${((micros / total) * 100).toFixed(1).padStart(5)}%  ${(micros / 1000).toFixed(0).padStart(7)} ms  ${name}`)
    .join('\n');
}

function pickFile(target: string): string {
  if (!statSync(target).isDirectory()) return target;
  const files = readdirSync(target)
    .filter((name) => name.endsWith('.cpuprofile'))
    .map((name) => path.join(target, name))
    .sort((a, b) => statSync(b).size - statSync(a).size);
  if (!files[0]) throw new Error(`no .cpuprofile in ${target}`);
  return files[0];
}

function main(): void {
  const [target, topArg] = process.argv.slice(2);
  if (!target) {
    console.error('usage: tsx bench/tools/cpuprofile-summary.ts <file.cpuprofile> [top]');
    process.exit(2);
  }
  const top = Number(topArg ?? 25);
  const file = pickFile(target);
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!isProfile(parsed)) throw new Error(`${file} is not a V8 cpuprofile`);
  const byId = new Map(parsed.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of parsed.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const areas = new Map<string, number>();
  let total = 0;
  let idle = 0;
  parsed.samples.forEach((id, index) => {
    const delta = parsed.timeDeltas[index] ?? 0;
    const node = byId.get(id);
    if (!node) return;
    if (node.callFrame.functionName === '(idle)') {
      idle += delta;
      return;
    }
    total += delta;
    const name = key(node.callFrame);
    self.set(name, (self.get(name) ?? 0) + delta);
    const where = area(node.callFrame);
    areas.set(where, (areas.get(where) ?? 0) + delta);
    const seen = new Set<string>();
    for (let current: number | undefined = id, depth = 0; current !== undefined && depth < 500; current = parent.get(current), depth++) {
      const frame = byId.get(current)?.callFrame;
      if (!frame) break;
      const frameKey = key(frame);
      if (seen.has(frameKey)) continue;
      seen.add(frameKey);
      inclusive.set(frameKey, (inclusive.get(frameKey) ?? 0) + delta);
    }
  });
  inclusive.delete('(root)');
  console.log(`${path.basename(file)}: ${(total / 1000).toFixed(0)} ms busy, ${(idle / 1000).toFixed(0)} ms idle\n`);
  console.log(`Self time by area\n${table([...areas], total, top)}\n`);
  console.log(`Top functions by self time\n${table([...self], total, top)}\n`);
  console.log(`Top functions by inclusive time\n${table([...inclusive], total, top)}`);
}

main();
