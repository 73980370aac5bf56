/**
 * Builds the browser pages: public/build/demo.js (the demo at `/`) and
 * public/build/admin.js (`/admin`), served under `/assets/`. Code splitting keeps
 * provider SDKs (pusher-js) and the SSE transport in chunks loaded on demand.
 * Run: npx tsx scripts/build-web.ts   (also part of `npm run build`; the e2e tests call buildWeb()).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, type Metafile } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));

export const WEB_OUTDIR = path.join(root, 'public', 'build');

const ENTRIES = {
  demo: path.join(root, 'src', 'web', 'demo.ts'),
  admin: path.join(root, 'src', 'web', 'admin.ts'),
};

/**
 * One esbuild run per page: with several entries in one run, modules they share land in
 * shared chunks built from the union of what the pages use, so one page's untreeshakeable
 * import (e.g. `import { z } from 'zod/mini'`, which keeps all of zod) would bloat the other.
 */
async function buildPage(name: keyof typeof ENTRIES): Promise<Metafile> {
  const result = await build({
    absWorkingDir: root,
    entryPoints: { [name]: ENTRIES[name] },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    splitting: true,
    outdir: WEB_OUTDIR,
    chunkNames: 'chunks/[name]-[hash]',
    minify: true,
    sourcemap: true,
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
    // The client imports src/core, whose classic-zod schemas the browser never runs (see client-build.ts).
  });
  return result.metafile;
}

/** Builds every page into public/build; answers the merged metafile. */
export async function buildWeb(): Promise<Metafile> {
  const metafiles = await Promise.all((Object.keys(ENTRIES) as Array<keyof typeof ENTRIES>).map(buildPage));
  return {
    inputs: Object.assign({}, ...metafiles.map((metafile) => metafile.inputs)),
    outputs: Object.assign({}, ...metafiles.map((metafile) => metafile.outputs)),
  };
}

function report(metafile: Metafile): void {
  for (const [file, output] of Object.entries(metafile.outputs)) {
    if (!file.endsWith('.js')) continue;
    // Metafile paths are relative to absWorkingDir.
    const gzipped = gzipSync(readFileSync(path.resolve(root, file)), { level: 9 }).byteLength;
    const page = output.entryPoint !== undefined && Object.values(ENTRIES).includes(path.resolve(root, output.entryPoint));
    console.log(`${page ? 'page ' : 'chunk'} ${file}  ${(output.bytes / 1024).toFixed(1)} KB min, ${(gzipped / 1024).toFixed(1)} KB gzip`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  report(await buildWeb());
}
