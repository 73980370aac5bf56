/**
 * Another service (a worker, a cron job) publishing through the BFF's HTTP API with a
 * tenant API key (SWITCHBOARD_API_KEYS=acme:<key> on the BFF). The id makes retries safe:
 * if an answer is lost and the publisher sends again, the event log answers "duplicate".
 * Run: SWITCHBOARD_URL=http://localhost:8080 SWITCHBOARD_API_KEY=… npx tsx publisher.ts 1001
 */
import { createPublisher } from 'switchboard/publisher';

const url = process.env.SWITCHBOARD_URL ?? 'http://localhost:8080';
const apiKey = process.env.SWITCHBOARD_API_KEY;
if (!apiKey) throw new Error('Set SWITCHBOARD_API_KEY to a tenant key');

const publisher = createPublisher({ url, apiKey, timeoutMs: 5000, retries: 4 });
const order = process.argv[2] ?? '1001';

const result = await publisher.publish({
  channel: `orders:${order}`,
  event: 'status',
  data: { status: 'out for delivery' },
  id: `order-${order}-out-for-delivery`, // derived from the business event, so a rerun is a duplicate too
});
console.log(JSON.stringify(result)); // { id, seq, status: 'delivered' | 'accepted' | 'refused' | 'duplicate', attempts }
