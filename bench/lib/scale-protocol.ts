/**
 * What the scale benchmark's load generators (bench/load/scale-clients.ts in Node,
 * bench/load/epoll-clients.c in C) are told and what they answer. Both answer in the same
 * wire shape, parsed here, so the orchestrator merges their results with one piece of code.
 */
import { z } from 'zod';

export interface ScaleConnect {
  cmd: 'connect';
  kind: 'pusher' | 'ws';
  baseUrl: string;
  localAddress: string;
  count: number;
  concurrency: number;
  appKey: string;
  appSecret: string;
  channel: string;
}
export type ScaleCommand = ScaleConnect | { cmd: 'collect' } | { cmd: 'close' };

/** Per-delivery latency histogram: index = whole milliseconds, last bucket = that or more. */
export const HISTOGRAM_BUCKETS = 30_000;

const eventArrivals = z.object({
  i: z.number().int().nonnegative(),
  /** Publisher's send time, ms since the epoch (from the frame). */
  sentAt: z.number(),
  received: z.number().int().nonnegative(),
  /** First and last receive time across this generator's connections, ms since the epoch. */
  first: z.number(),
  last: z.number(),
});
export type EventArrivals = z.infer<typeof eventArrivals>;

/** The histogram travels as [bucket, count] pairs of its non-empty buckets (a few dozen of 30,000). */
const collectedWire = z.object({
  type: z.literal('collected'),
  events: z.array(eventArrivals),
  latency: z.array(z.tuple([z.number().int().min(0).max(HISTOGRAM_BUCKETS - 1), z.number().int().nonnegative()])),
  deliveries: z.number().int().nonnegative(),
  cpuMs: z.number().nonnegative(),
});
export type CollectedWire = z.infer<typeof collectedWire>;

export interface CollectResult {
  type: 'collected';
  events: EventArrivals[];
  /** Dense: index = whole milliseconds. */
  latencyMs: number[];
  deliveries: number;
  /** The generator's own CPU (user + system) since its previous collect. */
  cpuMs: number;
}

const generatorReply = z.discriminatedUnion('type', [
  z.object({ type: z.literal('connected'), connections: z.number().int().nonnegative(), ms: z.number() }),
  collectedWire.transform(({ latency, ...rest }): CollectResult => {
    const latencyMs = new Array<number>(HISTOGRAM_BUCKETS).fill(0);
    for (const [bucket, count] of latency) latencyMs[bucket] = (latencyMs[bucket] ?? 0) + count;
    return { ...rest, latencyMs };
  }),
  z.object({ type: z.literal('error'), message: z.string() }),
]);

/** A generator's answer, or an `error` message saying why it could not be read. */
export function parseGeneratorReply(message: unknown): z.infer<typeof generatorReply> {
  const parsed = generatorReply.safeParse(message);
  return parsed.success ? parsed.data : { type: 'error', message: `unreadable generator reply: ${parsed.error.issues[0]?.message ?? 'invalid'}` };
}

/** The wire form of a dense histogram. */
export function sparseHistogram(histogram: number[]): [number, number][] {
  const pairs: [number, number][] = [];
  histogram.forEach((count, bucket) => {
    if (count > 0) pairs.push([bucket, count]);
  });
  return pairs;
}
