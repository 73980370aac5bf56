/**
 * `npm run load:abuse`: issue 18's flood at full size on loopback, bounded in count and
 * time. One address (127.0.0.2) opens 10,000 WebSockets that never subscribe and 20,000
 * half-open HTTP requests against `switchboard serve` with its default limits, while 50
 * clients from 127.0.0.3-7 sign in, subscribe and wait for a publish, and /healthz is
 * probed throughout. Exits non-zero when a real client was not served.
 *
 *   npm run load:abuse -- [--ws 10000] [--half-open 20000] [--clients 50] [--seconds 50]
 */
import { parseArgs } from 'node:util';
import { runFlood, startServerProcess } from './abuse-flood.js';

const { values } = parseArgs({
  options: {
    ws: { type: 'string', default: '10000' },
    'half-open': { type: 'string', default: '20000' },
    clients: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '50' },
  },
});
const count = (name: string, value: string | undefined, max: number) => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > max) throw new Error(`--${name} must be a whole number from 0 to ${max}`);
  return parsed;
};
const options = {
  floodSockets: count('ws', values.ws, 50_000),
  halfOpenRequests: count('half-open', values['half-open'], 50_000),
  legitClients: count('clients', values.clients, 1_000),
  timeLimitMs: count('seconds', values.seconds, 120) * 1000,
};

const server = await startServerProcess({});
try {
  console.log(`switchboard serve on 127.0.0.1:${server.port} with its default limits; flooding from 127.0.0.2 …`);
  const result = await runFlood({ port: server.port, floodAddress: '127.0.0.2', inFlight: 500, legitAddresses: ['127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7'], ...options });
  const rows: [string, string][] = [
    ['flood WebSockets attempted', String(result.flood.attempted)],
    ['  established (per-address share)', String(result.flood.established)],
    ['  refused, by pusher:error code', JSON.stringify(result.flood.refused)],
    ['  failed (closed before an answer)', String(result.flood.failed)],
    ['  still open at the end', String(result.flood.stillOpen)],
    ['half-open HTTP requests attempted', String(result.halfOpen.attempted)],
    ['  closed by the server at once', String(result.halfOpen.closedByServer)],
    ['  held by the server at the end', String(result.halfOpen.stillOpen)],
    ['real clients (other addresses)', String(result.legit.clients)],
    ['  connected / subscribed / received', `${result.legit.connected} / ${result.legit.subscribed} / ${result.legit.received}`],
    ['  refused', JSON.stringify(result.legit.refused)],
    ['  closed by the server, by close code', JSON.stringify(result.legit.closed)],
    ['  slowest connect (token + WebSocket)', `${Math.round(result.legit.connectMsMax)} ms`],
    ['/healthz during the flood ok / failed', `${result.healthz.ok} / ${result.healthz.failed} (slowest ${Math.round(result.healthz.maxMs)} ms)`],
    ['duration', `${result.seconds.toFixed(1)} s`],
  ];
  for (const [label, value] of rows) console.log(`${label.padEnd(40)} ${value}`);
  const served = result.legit.received === result.legit.clients && result.healthz.failed === 0;
  console.log(served ? 'OK: every real client was connected and served during the flood.' : 'FAILED: real clients were not all served.');
  process.exitCode = served ? 0 : 1;
} finally {
  await server.stop();
}
