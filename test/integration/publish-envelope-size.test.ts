/**
 * Size at publish is checked for the whole envelope the event travels in, exactly: an event
 * name of `"` or lone surrogates escapes to 2× / 6× in JSON, so a fixed headroom for the
 * envelope let events through that the provider refused later (`delivery.failed`) instead
 * of a 413 at `POST /v1/publish`. Checked on `local` and on hosted Pusher (proven against a
 * `local` server as the Pusher host, which refuses event data over 10 KB like Pusher).
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalProvider } from '../../providers/local/index.js';
import { createPusherProvider, PUSHER_MAX_DATA_BYTES } from '../../providers/pusher/index.js';
import type { ServerProvider } from '../../providers/types.js';
import { API_KEYS, startBff, type TestBff } from '../helpers/bff.js';
import { startLocal } from '../helpers/local-harness.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 40);
const LOCAL_LIMIT = 4096;
const HOST_APP = { appId: 'hosted-app', key: 'hosted-key', secret: 'hosted-secret' };
const CHANNEL = 'orders:1';

/** Characters JSON escapes (`"`, `\`, lone surrogates) or encodes in several bytes. */
const nameChar = fc.constantFrom('"', '\\', '\ud800', '\udfff', 'a', 'é', '😀');
const eventName = fc.array(nameChar, { minLength: 1, maxLength: 100 }).map((chars) => chars.join('').slice(0, 200));

/** Bytes of the largest envelope (id of 128, seq and ts of 16 digits) around `size` x's for `event`: what must fit. */
function largestBytes(event: string, size: number): number {
  const envelope = { id: 'x'.repeat(128), channel: CHANNEL, event, data: 'x'.repeat(size), seq: Number.MAX_SAFE_INTEGER, ts: Number.MAX_SAFE_INTEGER };
  return Buffer.byteLength(JSON.stringify(envelope), 'utf8');
}

/** The longest string of x's whose largest envelope fits `limit` (the envelope grows one byte per x). */
function largestFitting(event: string, limit: number): number {
  return limit - largestBytes(event, 0);
}

async function publish(bff: TestBff, message: Record<string, unknown>): Promise<{ status: number; outcome?: string }> {
  const response = await bff.post('/v1/publish', message, API_KEYS.acme);
  const body = (await response.json()) as { status?: string };
  return { status: response.status, ...(response.status === 200 ? { outcome: body.status } : {}) };
}

const providers: [string, number, () => Promise<ServerProvider>][] = [
  ['local', LOCAL_LIMIT, async () => createLocalProvider({ maxPayloadBytes: LOCAL_LIMIT })],
  [
    'pusher',
    PUSHER_MAX_DATA_BYTES,
    async () => {
      const host = await startLocal({ ...HOST_APP, clientEvents: 'any' });
      return createPusherProvider({ ...HOST_APP, cluster: 'mt1', host: '127.0.0.1', port: host.port, useTLS: false });
    },
  ],
];

describe.each(providers)('envelope size at publish on %s', (_name, limit, makeProvider) => {
  let bff: TestBff;
  // Per test: the Pusher host (local-harness) is closed after each test.
  beforeEach(async () => {
    bff = await startBff({ provider: await makeProvider() });
  });
  afterEach(async () => {
    await bff.close();
  });

  it('answers 413 for a 200-character escaped event name whose envelope outgrows the limit, and delivers the largest that fits', async () => {
    for (const [index, event] of ['"'.repeat(200), '\ud800'.repeat(200)].entries()) {
      const fits = largestFitting(event, limit);
      expect(largestBytes(event, fits)).toBe(limit);
      const over = await publish(bff, { channel: CHANNEL, event, data: 'x'.repeat(fits + 1) });
      expect(over.status).toBe(413);
      const exact = await publish(bff, { channel: CHANNEL, event, data: 'x'.repeat(fits), id: `${'i'.repeat(127)}${index}` });
      expect(exact).toEqual({ status: 200, outcome: 'delivered' });
    }
  });

  it('never lets the provider refuse for size what publish accepted', async () => {
    await fc.assert(
      fc.asyncProperty(
        eventName,
        fc.integer({ min: -64, max: 1400 }),
        fc.option(fc.stringMatching(/^[A-Za-z0-9_.:-]{1,128}$/), { nil: undefined }),
        async (event, shortOf, id) => {
          const size = Math.max(0, limit - 1400 + shortOf);
          const answer = await publish(bff, { channel: CHANNEL, event, data: 'x'.repeat(size), ...(id === undefined ? {} : { id }) });
          if (answer.status === 413) {
            expect(largestBytes(event, size)).toBeGreaterThan(limit);
            return;
          }
          expect(answer.status).toBe(200);
          expect(['delivered', 'duplicate']).toContain(answer.outcome);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
