/**
 * esbuild settings for the browser build of `switchboard/client`, shared by
 * scripts/build-client.ts and the bundle-size test.
 */
import type { BuildOptions } from 'esbuild';

export const CLIENT_ENTRY = new URL('../src/client/index.ts', import.meta.url).pathname;
export const REACT_ENTRY = new URL('../src/react/index.ts', import.meta.url).pathname;

export function clientBuildOptions(overrides: BuildOptions = {}): BuildOptions {
  return {
    entryPoints: { 'switchboard-client': CLIENT_ENTRY },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    legalComments: 'none',
    ...overrides,
  };
}

export interface BundleSize {
  /** Entry plus every chunk it imports statically: what a page downloads before connecting. */
  initialMinBytes: number;
  initialGzipBytes: number;
  /** All chunks loaded later with import(), e.g. the Pusher transport. */
  lazyGzipBytes: number;
  files: Record<string, { minBytes: number; gzipBytes: number; initial: boolean }>;
}

/**
 * Builds in memory (provider SDKs and React external: the app has them) and sums gzip -9
 * sizes per file, as a browser downloads them. `entryPoints`: e.g. `{ 'switchboard-react': REACT_ENTRY }`.
 */
export async function measureClientBundle(entryPoints: BuildOptions['entryPoints'] = { 'switchboard-client': CLIENT_ENTRY }): Promise<BundleSize> {
  const { build } = await import('esbuild');
  const { gzipSync } = await import('node:zlib');
  const { resolve } = await import('node:path');
  const result = await build(
    clientBuildOptions({
      entryPoints,
      outdir: '/virtual',
      write: false,
      metafile: true,
      external: ['pusher-js', 'ably', '@supabase/supabase-js', '@supabase/realtime-js', 'ws', 'react', 'react-dom'],
    }),
  );
  // Metafile paths are relative to the working directory; output files carry absolute ones.
  const outputs = new Map(Object.entries(result.metafile?.outputs ?? {}).map(([file, output]) => [resolve(file), output]));
  const entry = [...outputs].find(([, output]) => output.entryPoint !== undefined)?.[0];
  const initial = new Set<string>();
  const visit = (file: string) => {
    if (initial.has(file)) return;
    initial.add(file);
    for (const imported of outputs.get(file)?.imports ?? []) {
      if (imported.kind === 'import-statement' && !imported.external) visit(resolve(imported.path));
    }
  };
  if (entry) visit(entry);
  const size: BundleSize = { initialMinBytes: 0, initialGzipBytes: 0, lazyGzipBytes: 0, files: {} };
  for (const file of result.outputFiles ?? []) {
    const relative = file.path.slice(file.path.indexOf('/virtual/') + '/virtual/'.length);
    if (!relative.endsWith('.js')) continue;
    const gzipBytes = gzipSync(file.contents, { level: 9 }).byteLength;
    const isInitial = initial.has(file.path);
    size.files[relative] = { minBytes: file.contents.byteLength, gzipBytes, initial: isInitial };
    if (isInitial) {
      size.initialMinBytes += file.contents.byteLength;
      size.initialGzipBytes += gzipBytes;
    } else size.lazyGzipBytes += gzipBytes;
  }
  return size;
}
