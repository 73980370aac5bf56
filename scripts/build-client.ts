/**
 * Writes the browser build of the client: dist/browser/switchboard-client.js (the package's
 * `switchboard/client/browser` export, for pages without a bundler), plus lazily loaded
 * chunks under dist/browser/chunks/ (the provider transports with their SDKs, the SSE
 * transport). Part of `npm run build`; alone: npx tsx scripts/build-client.ts
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { clientBuildOptions } from './client-build.js';

const root = fileURLToPath(new URL('..', import.meta.url));

export const CLIENT_OUTDIR = path.join(root, 'dist', 'browser');

/** Builds into dist/browser; answers each JavaScript file with its size in bytes, min and min+gzip. */
export async function buildClient(): Promise<{ file: string; minBytes: number; gzipBytes: number }[]> {
  // Chunk names carry content hashes: drop the previous build's so stale files do not pile up.
  await rm(CLIENT_OUTDIR, { recursive: true, force: true });
  const result = await build(clientBuildOptions({ absWorkingDir: root, outdir: CLIENT_OUTDIR, write: true, metafile: true, sourcemap: true }));
  const files = Object.entries(result.metafile?.outputs ?? {}).filter(([file]) => file.endsWith('.js'));
  return Promise.all(
    files.map(async ([file, output]) => ({ file, minBytes: output.bytes, gzipBytes: gzipSync(await readFile(path.resolve(root, file)), { level: 9 }).byteLength })),
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const { file, minBytes, gzipBytes } of await buildClient()) {
    console.log(`${file}  ${(minBytes / 1024).toFixed(1)} KB min, ${(gzipBytes / 1024).toFixed(1)} KB min+gzip`);
  }
}
