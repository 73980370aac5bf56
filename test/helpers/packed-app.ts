/**
 * The package as a user gets it: `npm pack` of a copy of this repository (so the build
 * that `prepack` runs never touches the working tree other tests serve pages from), then
 * `npm ci --offline --omit=dev` of the tarball into a fresh app outside the repository.
 * The app's lockfile takes the package's dependency tree (and the app's own extra
 * dependencies) from this repository's lockfile, so npm installs from its cache, without a registry.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Output of builds and runs (stale files must not reach the package under test), local secrets, and what packing never needs. */
const NOT_COPIED = new Set(['node_modules', 'dist', '.git', '.env', 'data', 'test', 'bench', 'examples', path.join('public', 'build')]);

const lockEntrySchema = z.looseObject({
  version: z.string().optional(),
  dependencies: z.record(z.string(), z.string()).optional(),
  optionalDependencies: z.record(z.string(), z.string()).optional(),
  peerDependencies: z.record(z.string(), z.string()).optional(),
  peerDependenciesMeta: z.record(z.string(), z.object({ optional: z.boolean().optional() })).optional(),
});
const lockSchema = z.object({ packages: z.record(z.string(), lockEntrySchema) });
type LockEntry = z.infer<typeof lockEntrySchema>;

/** Where Node would find `name` from the package at `from`: its own node_modules, then each parent's. */
function resolveInLock(packages: Record<string, LockEntry>, from: string, name: string): string | undefined {
  for (let dir = from; ; dir = dir.slice(0, Math.max(0, dir.lastIndexOf('/node_modules/')))) {
    const candidate = `${dir === '' ? '' : `${dir}/`}node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (dir === '') return undefined;
  }
}

/** The lock entries `roots` need, as this repository's lockfile lays them out, marked as production packages. */
function productionTree(packages: Record<string, LockEntry>, roots: string[]): Record<string, LockEntry> {
  const tree: Record<string, LockEntry> = {};
  const queue = roots.map((name) => ({ from: '', name }));
  for (let next = queue.shift(); next; next = queue.shift()) {
    const location = resolveInLock(packages, next.from, next.name);
    if (!location || tree[location]) continue;
    const { dev: _dev, devOptional: _devOptional, ...entry } = packages[location] as LockEntry & { dev?: boolean; devOptional?: boolean };
    tree[location] = entry;
    const optionalPeers = new Set(Object.entries(entry.peerDependenciesMeta ?? {}).filter(([, meta]) => meta.optional).map(([name]) => name));
    const needed = [...Object.keys(entry.dependencies ?? {}), ...Object.keys(entry.optionalDependencies ?? {}), ...Object.keys(entry.peerDependencies ?? {}).filter((name) => !optionalPeers.has(name))];
    queue.push(...needed.map((name) => ({ from: location, name })));
  }
  return tree;
}
const manifestSchema = z.object({
  name: z.string(),
  version: z.string(),
  dependencies: z.record(z.string(), z.string()),
  engines: z.record(z.string(), z.string()).optional(),
  bin: z.record(z.string(), z.string()).optional(),
  exports: z.record(z.string(), z.union([z.string(), z.object({ types: z.string(), default: z.string() })])),
});
const packSchema = z.array(z.object({ filename: z.string(), files: z.array(z.object({ path: z.string() })) }));

export type Manifest = z.infer<typeof manifestSchema>;

export interface Packed {
  tarball: string;
  /** Paths inside the package, e.g. `dist/src/cli.js`. */
  files: string[];
  manifest: Manifest;
}

/** Runs a command to completion; failures carry its output. */
export function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: options.cwd, env: options.env ?? process.env, timeout: options.timeoutMs ?? 240_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

const readJson = async (file: string): Promise<unknown> => JSON.parse(await readFile(file, 'utf8'));

export async function packRepository(work: string): Promise<Packed> {
  const source = path.join(work, 'source');
  await cp(REPO_ROOT, source, { recursive: true, filter: (from) => !NOT_COPIED.has(path.relative(REPO_ROOT, from)) });
  await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(source, 'node_modules'), 'dir');
  const output = await run('npm', ['pack', '--json', '--pack-destination', work, '--loglevel', 'error'], { cwd: source });
  // prepack's build logs to stdout before npm's JSON.
  const [result] = packSchema.parse(JSON.parse(output.slice(output.indexOf('\n[') + 1)));
  if (!result) throw new Error('npm pack made no tarball');
  return {
    tarball: path.join(work, result.filename),
    files: result.files.map((file) => file.path),
    manifest: manifestSchema.parse(await readJson(path.join(source, 'package.json'))),
  };
}

/**
 * better-sqlite3 installs a prebuilt binary when one is offered and compiles (minutes) when
 * not. Without internet access its download fails, so the binary this repository's install
 * built is offered as a local prebuild, as a CI cache would.
 */
async function offerSqlitePrebuild(work: string): Promise<NodeJS.ProcessEnv> {
  const moduleDir = path.join(REPO_ROOT, 'node_modules', 'better-sqlite3');
  const { version } = z.object({ version: z.string() }).parse(await readJson(path.join(moduleDir, 'package.json')));
  const prebuilds = path.join(work, 'prebuilds');
  await mkdir(prebuilds, { recursive: true });
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  await run('tar', ['-czf', path.join(prebuilds, name), '-C', moduleDir, 'build/Release/better_sqlite3.node'], { cwd: work });
  // prebuild-install's per-package setting; npm passes npm_config_* through to install scripts.
  return { npm_config_better_sqlite3_local_prebuilds: prebuilds };
}

/** A fresh app depending on the tarball and on `extra` packages (at this repository's versions), installed for production. */
export async function installApp(work: string, packed: Packed, extra: string[]): Promise<string> {
  const app = path.join(work, 'app');
  await mkdir(app, { recursive: true });
  const tarball = `file:../${path.basename(packed.tarball)}`;
  const repoLock = lockSchema.parse(await readJson(path.join(REPO_ROOT, 'package-lock.json')));
  const versionOf = (name: string) => repoLock.packages[`node_modules/${name}`]?.version ?? 'not in package-lock.json';
  const dependencies = { [packed.manifest.name]: tarball, ...Object.fromEntries(extra.map((name) => [name, versionOf(name)])) };
  const manifest = { name: 'switchboard-user-app', version: '1.0.0', private: true, type: 'module', dependencies, allowScripts: { 'better-sqlite3': true } };
  const integrity = `sha512-${createHash('sha512').update(await readFile(packed.tarball)).digest('base64')}`;
  const packages: Record<string, unknown> = {
    '': { name: manifest.name, version: manifest.version, dependencies },
    [`node_modules/${packed.manifest.name}`]: {
      version: packed.manifest.version,
      resolved: tarball,
      integrity,
      dependencies: packed.manifest.dependencies,
      engines: packed.manifest.engines,
      bin: Object.fromEntries(Object.entries(packed.manifest.bin ?? {}).map(([name, file]) => [name, file.replace(/^\.\//, '')])),
    },
    ...productionTree(repoLock.packages, [...Object.keys(packed.manifest.dependencies), ...extra]),
  };
  await writeFile(path.join(app, 'package.json'), JSON.stringify(manifest, null, 2));
  await writeFile(path.join(app, 'package-lock.json'), JSON.stringify({ name: manifest.name, version: manifest.version, lockfileVersion: 3, requires: true, packages }, null, 2));
  const env = { ...process.env, ...(await offerSqlitePrebuild(work)) };
  await run('npm', ['ci', '--offline', '--omit=dev', '--no-audit', '--no-fund', '--loglevel', 'error'], { cwd: app, env });
  return app;
}

/** Type declarations the app's TypeScript needs, as a user's devDependencies would bring them (linked from this repository unless installed already). */
export async function linkTypes(app: string, names: string[]): Promise<void> {
  await mkdir(path.join(app, 'node_modules', '@types'), { recursive: true });
  for (const name of names) {
    const target = path.join(app, 'node_modules', '@types', name);
    if (!existsSync(target)) await symlink(path.join(REPO_ROOT, 'node_modules', '@types', name), target, 'dir');
  }
}

export interface RunningProcess {
  child: ChildProcess;
  /** The first match of `ready` in its output. */
  match: RegExpMatchArray;
  output(): string;
  stop(): Promise<void>;
}

/** Starts a long-running command and waits until its output (stdout or stderr) matches `ready`. */
export function startProcess(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; ready: RegExp; timeoutMs?: number }): Promise<RunningProcess> {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    }
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${command} ${args.join(' ')} did not print ${options.ready} within ${options.timeoutMs ?? 60_000} ms:\n${output}`));
    }, options.timeoutMs ?? 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = options.ready.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.stdout?.on('data', (more: Buffer) => (output += more.toString()));
      child.stderr?.on('data', (more: Buffer) => (output += more.toString()));
      resolve({ child, match, output: () => output, stop });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} ${args.join(' ')} exited (${code}) before printing ${options.ready}:\n${output}`));
    });
  });
}
