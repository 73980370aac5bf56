/**
 * Writes the browser build of the client: public/build/switchboard-client.js, plus
 * lazily loaded chunks under public/build/chunks/ (the Pusher transport with pusher-js,
 * the SSE transport). Run: npx tsx scripts/build-client.ts
 */
import { readFile, rm } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { clientBuildOptions } from './client-build.js';

const outdir = new URL('../public/build/', import.meta.url).pathname;
// Chunk names carry content hashes: drop the previous build's so stale files do not pile up.
await rm(`${outdir}chunks`, { recursive: true, force: true });
const result = await build(clientBuildOptions({ outdir, write: true, metafile: true }));
for (const [file, output] of Object.entries(result.metafile?.outputs ?? {})) {
  if (!file.endsWith('.js')) continue;
  const gzipped = gzipSync(await readFile(file), { level: 9 }).byteLength;
  console.log(`${file}  ${(output.bytes / 1024).toFixed(1)} KB min, ${(gzipped / 1024).toFixed(1)} KB min+gzip`);
}
