/**
 * Writes the browser build of the client: public/build/switchboard-client.js, plus
 * lazily loaded chunks (the Pusher transport with pusher-js) under public/build/chunks/.
 * Run: npx tsx scripts/build-client.ts
 */
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { clientBuildOptions } from './client-build.js';

const outdir = new URL('../public/build/', import.meta.url).pathname;
const result = await build(clientBuildOptions({ outdir, write: true, metafile: true }));
for (const [file, output] of Object.entries(result.metafile?.outputs ?? {})) {
  if (!file.endsWith('.js')) continue;
  const { readFileSync } = await import('node:fs');
  const gzipped = gzipSync(readFileSync(file), { level: 9 }).byteLength;
  console.log(`${file}  ${(output.bytes / 1024).toFixed(1)} KB min, ${(gzipped / 1024).toFixed(1)} KB min+gzip`);
}
