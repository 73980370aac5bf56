/**
 * Run with `node --expose-gc --import tsx`: the webhook sender and the publish pipeline (on
 * the Pusher provider's HTTP client) send to a server that never answers while garbage
 * collections are forced. Prints `{"webhook": n, "provider": n}`: how many requests each
 * made within the run. A timeout that held gives up on the first and retries (n >= 2).
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPusherProvider } from '../../providers/pusher/index.js';
import { DEFAULT_NAMESPACES } from '../../src/core/namespaces.js';
import { MemoryWebhookOutbox } from '../../src/server/lifecycle/memory-outbox.js';
import { WebhookSender } from '../../src/server/lifecycle/sender.js';
import { MemoryEventStore } from '../../src/server/log/memory-store.js';
import { createLogger } from '../../src/server/logger.js';
import { createPublishPipeline } from '../../src/server/publish/pipeline.js';

const TIMEOUT_MS = 300;
const RUN_MS = Number(process.argv[2] ?? 3000);

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const requests = { webhook: 0, provider: 0 };
const server = createServer((req: IncomingMessage) => {
  // Reads the request and never answers.
  if (req.url?.startsWith('/hooks')) requests.webhook++;
  else requests.provider++;
  req.resume();
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as AddressInfo;
const logger = createLogger('silent');

const outbox = new MemoryWebhookOutbox();
await outbox.enqueue([{ id: 'evt_1', orderKey: 'acme\u0000chat:lobby', tenant: 'acme', payload: '{}', queuedAt: Date.now() }]);
const sender = new WebhookSender({
  url: `http://127.0.0.1:${port}/hooks`,
  secrets: [`whsec_${Buffer.alloc(32, 1).toString('base64')}`],
  outbox,
  logger,
  tuning: { timeoutMs: TIMEOUT_MS, backoff: { baseMs: 1, capMs: 1 }, pollMs: 20, closeGraceMs: 0 },
});

const provider = createPusherProvider({ appId: '1', key: 'key', secret: 'secret', cluster: 'mt1', host: '127.0.0.1', port, useTLS: false });
const pipeline = createPublishPipeline({
  store: new MemoryEventStore(),
  provider,
  namespaces: DEFAULT_NAMESPACES,
  logger,
  tuning: { providerTimeoutMs: TIMEOUT_MS, backoff: { baseMs: 1, capMs: 1 }, closeGraceMs: 0 },
});

const collecting = setInterval(() => gc(), 5);
sender.start();
await pipeline.publish('acme', [{ channel: 'orders:1', event: 'status', data: 1 }]);
await new Promise((resolve) => setTimeout(resolve, RUN_MS));
clearInterval(collecting);
process.stdout.write(`${JSON.stringify(requests)}\n`);
process.exit(0);
