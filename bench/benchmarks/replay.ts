/**
 * Replay: a client catching up on N events via `GET /v1/history` in pages of 1000,
 * from the sqlite and the redis event stores. Timed from the first request to the last
 * page parsed, by a client in the orchestrator process (the server runs separately).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { isRecord } from '../lib/messages.js';
import type { BenchResult } from '../lib/report.js';
import { capabilityToken, devSession, publishBatch, startServer, TENANT, type BenchContext } from '../lib/servers.js';
import { fmt, median, min, max } from '../lib/stats.js';

const TARGET_MS = 100;
const PAGE = 1000;
const PUBLISH_BATCH = 100;
const PUBLISH_PARALLEL = 4;
/** A Redis database of its own, so the benchmark never touches the keys of other users of this Redis. */
const REDIS_URL = 'redis://127.0.0.1:6379/9';

type Store = 'sqlite' | 'redis';

interface ReplayRun {
  store: Store;
  skipped?: string;
  events: number;
  pages: number;
  runsMs: number[];
  seedMs: number;
}

async function redisAvailable(): Promise<string | undefined> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
    return undefined;
  } catch (error) {
    return `Redis at 127.0.0.1:6379 not reachable (${error instanceof Error ? error.message : String(error)})`;
  } finally {
    redis.disconnect();
  }
}

/** Deletes this run's keys (`sb:{bench}:<channel>:*`) from the benchmark's own Redis database. */
async function cleanRedis(channel: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  try {
    const pattern = `sb:{${TENANT}}:${channel}*`;
    let cursor = '0';
    for (let round = 0; round < 1000; round++) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
    await redis.srem('sb:pending', JSON.stringify([TENANT, channel]));
  } finally {
    redis.disconnect();
  }
}

async function seed(baseUrl: string, channel: string, total: number): Promise<void> {
  const batches = Math.ceil(total / PUBLISH_BATCH);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < batches) {
      const batch = next++;
      const messages = Array.from({ length: Math.min(PUBLISH_BATCH, total - batch * PUBLISH_BATCH) }, (_, offset) => {
        const index = batch * PUBLISH_BATCH + offset;
        return { channel, event: 'tick', data: { i: index, p: 'x'.repeat(80) } };
      });
      await publishBatch(baseUrl, messages);
    }
  };
  // Order between batches does not matter: the log assigns seq.
  await Promise.all(Array.from({ length: PUBLISH_PARALLEL }, worker));
}

/** One full catch-up from seq 0; checks the events are complete and in order. */
async function catchUp(baseUrl: string, token: string, channel: string, total: number): Promise<{ ms: number; pages: number }> {
  const started = performance.now();
  let since = 0;
  let pages = 0;
  let received = 0;
  const maxPages = Math.ceil(total / PAGE) + 5;
  while (pages < maxPages) {
    const response = await fetch(`${baseUrl}/v1/history?channel=${encodeURIComponent(channel)}&since=${since}&limit=${PAGE}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const body: unknown = await response.json();
    pages++;
    if (!response.ok || !isRecord(body) || !Array.isArray(body.events)) throw new Error(`GET /v1/history answered ${response.status}: ${JSON.stringify(body).slice(0, 300)}`);
    const events = body.events as unknown[];
    for (const event of events) {
      const seq = isRecord(event) ? event.seq : undefined;
      if (seq !== since + 1) throw new Error(`history out of order: expected seq ${since + 1}, got ${String(seq)}`);
      since = seq;
    }
    received += events.length;
    const lastSeq = typeof body.lastSeq === 'number' ? body.lastSeq : Number.NaN;
    if (events.length === 0 || since >= lastSeq) break;
  }
  const ms = performance.now() - started;
  if (received !== total) throw new Error(`catch-up got ${received} events, expected ${total}`);
  return { ms, pages };
}

async function runStore(ctx: BenchContext, store: Store, total: number, repeats: number): Promise<ReplayRun> {
  if (store === 'redis') {
    const reason = await redisAvailable();
    if (reason) return { store, skipped: reason, events: 0, pages: 0, runsMs: [], seedMs: 0 };
  }
  const channel = `orders:replay-${randomBytes(4).toString('hex')}`;
  const server = await startServer(ctx, 'switchboard', {
    cpus: '0',
    store,
    redisUrl: REDIS_URL,
    cpuProfile: ctx.cpuProf ? `replay-${store}-${Date.now()}` : undefined,
    // History must keep every seeded event; the TTL lets Redis drop leftovers of an interrupted run.
    config: { namespaces: { orders: { history: { size: total * 2, ttlSeconds: 3600 } } } },
  });
  try {
    const seedStart = Date.now();
    await seed(server.baseUrl, channel, total);
    const seedMs = Date.now() - seedStart;
    const token = await capabilityToken(server.baseUrl, await devSession(server.baseUrl));
    const runsMs: number[] = [];
    let pages = 0;
    for (let run = 0; run < repeats; run++) {
      const result = await catchUp(server.baseUrl, token, channel, total);
      runsMs.push(result.ms);
      pages = result.pages;
    }
    ctx.log(`replay ${store}: median ${median(runsMs).toFixed(1)} ms for ${total} events`);
    return { store, events: total, pages, runsMs, seedMs };
  } finally {
    await server.stop();
    if (store === 'redis') await cleanRedis(channel).catch(() => undefined);
  }
}

export async function runReplay(ctx: BenchContext): Promise<BenchResult> {
  const total = ctx.quick ? 2000 : 10_000;
  const repeats = ctx.quick ? 3 : 7;
  const runs = [await runStore(ctx, 'sqlite', total, repeats), await runStore(ctx, 'redis', total, repeats)];
  return {
    name: 'replay',
    title: `Replay: catch-up of ${total} events via GET /v1/history, pages of ${PAGE}`,
    params: { events: total, pageSize: PAGE, repeats },
    table: {
      columns: ['store', 'first ms (cold)', 'median ms', 'best ms', 'worst ms', 'pages', 'events/s (median)', 'seed ms'],
      rows: runs.map((run) =>
        run.skipped
          ? [run.store, 'skipped', '–', '–', '–', '–', '–', '–']
          : [
              run.store,
              fmt(run.runsMs[0], 1),
              fmt(median(run.runsMs), 1),
              fmt(min(run.runsMs), 1),
              fmt(max(run.runsMs), 1),
              String(run.pages),
              fmt((run.events / median(run.runsMs)) * 1000, 0),
              String(run.seedMs),
            ],
      ),
    },
    targets: runs.map((run) => ({
      what: `${run.store} catch-up of ${total} events (median)`,
      target: `< ${TARGET_MS} ms`,
      actual: run.skipped ? 'skipped' : `${fmt(median(run.runsMs), 1)} ms`,
      met: run.skipped ? null : median(run.runsMs) < TARGET_MS,
    })),
    notes: [
      `Events seeded through POST /v1/publish (batches of ${PUBLISH_BATCH}); each catch-up checks seq 1..${total} arrive complete and in order; ${repeats} catch-ups, the first one is reported separately.`,
      `Redis runs use database 9 of 127.0.0.1:6379 and delete their keys afterwards.${runs.some((run) => run.skipped) ? ` ${runs.find((run) => run.skipped)?.skipped ?? ''}` : ''}`,
    ],
    raw: runs,
  };
}
