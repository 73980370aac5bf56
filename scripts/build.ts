/**
 * `npm run build` (and `prepack`, so every packed tarball is fresh): compiles src/ and
 * providers/ into dist/ (JavaScript, declarations, source maps with their sources), the
 * admin and demo pages into public/build/, and the browser build of the client into
 * dist/browser/. Earlier output is removed first so no stale file reaches a package.
 */
import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { buildClient } from './build-client.js';
import { buildWeb, WEB_OUTDIR } from './build-web.js';

const root = fileURLToPath(new URL('..', import.meta.url));

await Promise.all([rm(new URL('../dist', import.meta.url), { recursive: true, force: true }), rm(WEB_OUTDIR, { recursive: true, force: true })]);
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
await Promise.all([buildWeb(), buildClient()]);
