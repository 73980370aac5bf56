/**
 * The browser build of `switchboard/react`: React stays the app's (external, never
 * bundled), and what a page downloads before connecting — the bindings plus the client
 * they build on — stays within the client's budget plus 3 KB min+gzip.
 */
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { clientBuildOptions, measureClientBundle, REACT_ENTRY } from '../../scripts/client-build.js';

const CLIENT_BUDGET_BYTES = 15 * 1024;
const REACT_EXTRA_BYTES = 3 * 1024;

describe('React bindings browser bundle', () => {
  it(`adds at most ${REACT_EXTRA_BYTES} bytes min+gzip to the client, React not included`, async () => {
    const [client, react] = await Promise.all([measureClientBundle(), measureClientBundle({ 'switchboard-react': REACT_ENTRY })]);
    console.log(`react entry: initial ${react.initialGzipBytes} B min+gzip (${react.initialMinBytes} B min) including the client; client alone ${client.initialGzipBytes} B`);
    expect(react.initialGzipBytes).toBeLessThanOrEqual(CLIENT_BUDGET_BYTES + REACT_EXTRA_BYTES);
    expect(react.initialGzipBytes - client.initialGzipBytes).toBeLessThanOrEqual(REACT_EXTRA_BYTES);
  });

  it('imports react from the app instead of bundling it', async () => {
    const result = await build(clientBuildOptions({ entryPoints: { 'switchboard-react': REACT_ENTRY }, outdir: '/virtual', write: false, metafile: true, external: ['react'] }));
    const inputs = Object.keys(result.metafile?.inputs ?? {});
    expect(inputs.some((input) => input.includes('node_modules/react'))).toBe(false);
    const imports = Object.values(result.metafile?.outputs ?? {}).flatMap((output) => output.imports);
    expect(imports).toContainEqual(expect.objectContaining({ path: 'react', external: true }));
  });
});
