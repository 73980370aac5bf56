/**
 * Bundles the React example app with esbuild into public/build/react-app-<mode>/, which the
 * BFF serves under /assets/ (same origin as its API): `development` (React's checks and
 * StrictMode's double effects: what the browser tests run) or `profiling` (production
 * React with the Profiler on: what `npm run bench -- react` measures).
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

const html = `<!doctype html>
<html lang="en">
  <head><meta charset="utf-8"><title>Switchboard React example</title></head>
  <body><div id="root"></div><script type="module" src="./main.js"></script></body>
</html>
`;

/** Builds the app; answers the page's path on the BFF, e.g. `/assets/react-app-development/index.html`. */
export async function buildReactApp(mode: 'development' | 'profiling'): Promise<string> {
  const name = `react-app-${mode}`;
  const outdir = path.join(root, 'public', 'build', name);
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  await build({
    absWorkingDir: root,
    entryPoints: { main: path.join(here, 'main.tsx') },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    jsx: 'automatic',
    minify: mode === 'profiling',
    outdir,
    logLevel: 'warning',
    define: { 'process.env.NODE_ENV': JSON.stringify(mode === 'development' ? 'development' : 'production') },
    alias: {
      // The package's public entry points, from source (the package need not be built).
      'switchboard/react': path.join(root, 'src/react/index.ts'),
      'switchboard/client': path.join(root, 'src/client/index.ts'),
      ...(mode === 'profiling' ? { 'react-dom/client': 'react-dom/profiling' } : {}),
    },
  });
  await writeFile(path.join(outdir, 'index.html'), html);
  return `/assets/${name}/index.html`;
}

// `npx tsx examples/react-app/build.ts [profiling]`: build it for a BFF started with `npm start` or `npm run dev`.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const page = await buildReactApp(process.argv[2] === 'profiling' ? 'profiling' : 'development');
  console.log(`built: open http://localhost:8080${page}?tenant=acme&user=ana&name=Ana`);
}
