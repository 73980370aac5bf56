/**
 * The browser build of `switchboard/client`: what a page downloads before connecting
 * (entry + static chunks, provider SDKs lazy) stays within 15 KB min+gzip, the build is
 * written like scripts/build-client.ts does, and the built bundle works. src/core keeps its
 * zod schemas in schemas.ts, so the pure functions the client uses bring no zod along.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { clientBuildOptions, measureClientBundle } from '../../scripts/client-build.js';
import type * as ClientModule from '../../src/client/index.js';
import { createFakeTransport } from '../conformance/fake-transport.js';

const BUDGET_BYTES = 15 * 1024;

const outdir = await mkdtemp(join(tmpdir(), 'switchboard-client-'));
afterAll(() => rm(outdir, { recursive: true, force: true }));

const tokenAnswer = {
  token: 'capability-token',
  expiresAt: Date.now() + 3_600_000,
  tenant: 'acme',
  user: 'alice',
  caps: { 'orders:*': ['subscribe'], 'notifications:alice': ['subscribe'] },
  provider: { name: 'local', key: 'k', cluster: 'local', forceTLS: false, authEndpoint: '/v1/auth/pusher' },
  namespaces: {
    orders: { presence: false, history: false, clientEvents: [], maxPayloadBytes: 1024 },
    notifications: { presence: false, history: false, clientEvents: [], maxPayloadBytes: 1024 },
  },
};

describe('client browser bundle', () => {
  it(`loads at most ${BUDGET_BYTES} bytes min+gzip before connecting`, async () => {
    const size = await measureClientBundle();
    console.log(`client bundle: initial ${size.initialGzipBytes} B min+gzip (${size.initialMinBytes} B min), lazy chunks ${size.lazyGzipBytes} B`);
    expect(size.initialGzipBytes).toBeLessThanOrEqual(BUDGET_BYTES);
    expect(Object.keys(size.files).some((file) => !size.files[file]?.initial)).toBe(true);
  });

  it('keeps the ably SDK in its own chunk, imported on demand by the Ably transport only', async () => {
    const result = await build(clientBuildOptions({ outdir: join(outdir, 'metafile-only'), write: false, metafile: true }));
    const outputs = Object.entries(result.metafile?.outputs ?? {});
    const sdk = outputs.filter(([, output]) => Object.keys(output.inputs).some((input) => input.includes('node_modules/ably/')));
    expect(sdk).toHaveLength(1);
    const [sdkFile, sdkOutput] = sdk[0] ?? ['', { inputs: {} }];
    expect(Object.keys(sdkOutput.inputs).every((input) => input.includes('node_modules/'))).toBe(true);
    const importers = outputs.filter(([, output]) => output.imports.some((imported) => imported.path === sdkFile));
    expect(importers.map(([, output]) => output.imports.find((imported) => imported.path === sdkFile)?.kind)).toEqual(['dynamic-import']);
    expect(Object.keys(importers[0]?.[1].inputs ?? {}).some((input) => input.endsWith('providers/ably/client.ts'))).toBe(true);
  });

  it('builds with pusher-js in a lazily loaded chunk, and the built client works', async () => {
    const result = await build(clientBuildOptions({ outdir, write: true, metafile: true }));
    expect(result.errors).toEqual([]);
    const entry = join(outdir, 'switchboard-client.js');
    const client = (await import(pathToFileURL(entry).href)) as typeof ClientModule;

    const { factory } = createFakeTransport();
    const fakeFetch: typeof fetch = async () => new Response(JSON.stringify(tokenAnswer), { status: 200 });
    const rt = client.connect({ url: 'http://bff.invalid', session: 'session', fetch: fakeFetch, transports: { local: factory } });
    try {
      expect(() => rt.channel('no spaces')).toThrow(expect.objectContaining({ code: 'invalid_channel' }));
      await rt.ready();
      expect(() => rt.channel('nope:1')).toThrow(expect.objectContaining({ code: 'unknown_namespace' }));
      expect(() => rt.channel('notifications:bob')).toThrow(expect.objectContaining({ code: 'forbidden' }));
      expect(rt.channel('orders:1').name).toBe('orders:1');
    } finally {
      rt.close();
    }
  });
});
