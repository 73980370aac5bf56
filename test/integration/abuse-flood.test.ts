/**
 * Issue 18's proof, small: one address floods `switchboard serve` with WebSockets that
 * never subscribe and with half-open HTTP requests, in a process allowed only 400 open
 * files; clients from other addresses still connect, subscribe, receive a publish, and
 * /healthz answers throughout. `npm run load:abuse` runs the same at full size.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFlood, startServerProcess, type ServerProcess } from '../load/abuse-flood.js';

describe('a flood from one address (small)', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess(
      {
        SWITCHBOARD_RESERVED_DESCRIPTORS: '128',
        SWITCHBOARD_MAX_SOCKETS_PER_ADDRESS: '40',
        LOCAL_MAX_CONNECTIONS_PER_ADDRESS: '40',
        LOCAL_AUTH_TIMEOUT_SECONDS: '5',
      },
      400,
    );
  }, 90_000);
  afterAll(() => server?.stop());

  it('leaves other addresses connected and served', async () => {
    const result = await runFlood({
      port: server.port,
      floodAddress: '127.0.0.2',
      floodSockets: 300,
      halfOpenRequests: 400,
      inFlight: 50,
      legitAddresses: ['127.0.0.3', '127.0.0.4'],
      legitClients: 10,
      timeLimitMs: 40_000,
    });
    expect(result.legit).toMatchObject({ connected: 10, subscribed: 10, received: 10, refused: {} });
    expect(result.healthz.failed).toBe(0);
    expect(result.healthz.ok).toBeGreaterThan(0);
    // The flood got its per-address share and no more; the rest was refused cleanly (4100) or closed at once.
    expect(result.flood.established).toBeLessThanOrEqual(40);
    // Which of the two depends on whether the half-open requests already hold the address's HTTP sockets.
    const refusedCleanly = result.flood.refused['4100'] ?? 0;
    expect(Object.keys(result.flood.refused).filter((code) => code !== '4100')).toEqual([]);
    expect(refusedCleanly + result.flood.failed).toBeGreaterThan(0);
    expect(result.halfOpen.stillOpen).toBeLessThanOrEqual(40);
    expect(result.halfOpen.closedByServer).toBeGreaterThan(0);
  }, 60_000);
});
