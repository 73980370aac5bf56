/**
 * `channel.history({ limit })`, the client's read of a channel's newest events (what
 * `useEvents({ history })` renders first): against a real BFF, the newest `limit` events,
 * oldest first, only the channel's own tenant's; limits outside 1..1000 are refused.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Realtime } from '../../src/client/index.js';
import { publishAsTenant, startBff, type TestBff } from '../helpers/bff.js';
import { createFakeTransport } from '../conformance/fake-transport.js';

const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 40);

describe('channel.history()', () => {
  let bff: TestBff;
  let rt: Realtime;

  beforeAll(async () => {
    bff = await startBff();
    const session = await bff.devSession('acme', 'ana');
    rt = connect({ url: bff.url, session, transports: { local: createFakeTransport().factory } });
    for (let index = 1; index <= 30; index++) await publishAsTenant(bff, 'acme', 'orders:7', index % 2 ? 'status' : 'note', { index });
    await publishAsTenant(bff, 'globex', 'orders:7', 'status', { index: 'globex' });
  });

  afterAll(async () => {
    rt?.close();
    await bff?.close();
  });

  it('answers the newest events, oldest first, with their meta', async () => {
    const events = await rt.channel('orders:7').history({ limit: 5 });
    expect(events.map((event) => event.meta.seq)).toEqual([26, 27, 28, 29, 30]);
    expect(events.map((event) => event.data)).toEqual([26, 27, 28, 29, 30].map((index) => ({ index })));
    expect(events[0]).toMatchObject({ event: 'note', meta: { channel: 'orders:7', event: 'note', seq: 26 } });
    expect((await rt.channel('orders:7').history()).map((event) => event.meta.seq)).toEqual(Array.from({ length: 30 }, (_, index) => index + 1));
    expect(await rt.channel('orders:empty').history({ limit: 3 })).toEqual([]);
  });

  it('refuses limits that are not an integer from 1 to 1000', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 1001 }), fc.double().filter((value) => !Number.isInteger(value))),
        async (limit) => {
          await expect(rt.channel('orders:7').history({ limit })).rejects.toMatchObject({ code: 'invalid_request' });
        },
      ),
      { numRuns: FUZZ_RUNS },
    );
    expect(await rt.channel('orders:7').history({ limit: 1000 })).toHaveLength(30);
    expect(await rt.channel('orders:7').history({ limit: 1 })).toHaveLength(1);
  });
});
