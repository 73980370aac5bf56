/**
 * Delivery of envelopes through Ably's REST batch publish (`POST /messages`, ably-docs
 * messages/batch.mdx), with the failure contract of providers/publish-error.ts.
 *
 * - One batch spec per envelope, its message `id` = the envelope id: Ably delivers only the
 *   first message with a given id, so a retry after a timeout is not a duplicate. (Several
 *   messages in one spec are published atomically and would need `<base>:<index>` ids,
 *   error 40031, which would tie an envelope's idempotency to its batch neighbours.)
 * - Ably's limits are checked before the call: message size (name + data), ≤ 100 channels
 *   and ≤ 2 MiB per request. A message over the size limit is refused for good after the
 *   ones before it were sent; a batch over the request limits is split into sequential calls.
 * - `taken` is the count of leading envelopes Ably accepted; `permanent` follows the HTTP
 *   status of the first refusal (4xx except 408/429, and a whole-request 401, see below).
 */
import { z } from 'zod';
import type { Envelope } from '../../src/core/envelope.js';
import { ProviderPublishError, isPermanentHttpStatus } from '../publish-error.js';

export const ABLY_MAX_BATCH_CHANNELS = 100;
export const ABLY_MAX_BATCH_BODY_BYTES = 2 * 1024 * 1024;

export interface AblyOutgoingMessage {
  id: string;
  name: string;
  /** The envelope as JSON; `encoding: 'json'` makes every Ably SDK hand subscribers the object. */
  data: string;
  encoding: 'json';
}

export interface AblyBatchSpec {
  channels: [string];
  messages: [AblyOutgoingMessage];
}

/** What the REST call needs to do: send the specs, answer Ably's per-spec results (unparsed) or throw its ErrorInfo. */
export type SendBatch = (specs: AblyBatchSpec[]) => Promise<unknown>;

const errorInfoSchema = z.object({ code: z.number().int().optional().nullable(), statusCode: z.number().int().optional().nullable(), message: z.string().optional().nullable() });
const batchResultsSchema = z.array(
  z.object({
    successCount: z.number().int(),
    failureCount: z.number().int(),
    results: z.array(z.union([z.object({ channel: z.string(), error: errorInfoSchema }), z.object({ channel: z.string(), messageId: z.string() })])),
  }),
);

type ErrorInfoLike = z.infer<typeof errorInfoSchema>;

const utf8 = new TextEncoder();

/** Ably's message size: name + data (+ clientId, extras: none here), in bytes (ably-js `getMessageSize`). */
export function ablyMessageBytes(message: Pick<AblyOutgoingMessage, 'name' | 'data'>): number {
  return utf8.encode(message.name).byteLength + utf8.encode(message.data).byteLength;
}

export function toAblyMessage(envelope: Envelope): AblyOutgoingMessage {
  return { id: envelope.id, name: envelope.event, data: JSON.stringify(envelope), encoding: 'json' };
}

function describe(error: ErrorInfoLike): string {
  return `${error.message ?? 'refused'}${error.code ? ` (Ably ${error.code}` : ' ('}${error.statusCode ? ` HTTP ${error.statusCode})` : ')'}`;
}

/**
 * A refusal is permanent when resending the same message can never succeed. A 401 for the
 * whole request is the exception: Ably answers it for a revoked or mistyped key, an outage
 * of the whole integration rather than a property of the message, so it is retried like a
 * 5xx. A 401 in one channel's result (the key's capability excludes that channel) is final.
 */
function isPermanent(error: ErrorInfoLike, wholeRequest: boolean): boolean {
  const status = error.statusCode ?? 0;
  return !(wholeRequest && status === 401) && isPermanentHttpStatus(status);
}

/** Splits specs into consecutive requests within Ably's per-request limits. */
function requests(specs: AblyBatchSpec[]): AblyBatchSpec[][] {
  const chunks: AblyBatchSpec[][] = [];
  let current: AblyBatchSpec[] = [];
  let channels = new Set<string>();
  let bytes = 2;
  for (const spec of specs) {
    const size = utf8.encode(JSON.stringify(spec)).byteLength + 1;
    const channel = spec.channels[0];
    const newChannel = !channels.has(channel);
    if (current.length > 0 && (bytes + size > ABLY_MAX_BATCH_BODY_BYTES || (newChannel && channels.size >= ABLY_MAX_BATCH_CHANNELS))) {
      chunks.push(current);
      current = [];
      channels = new Set();
      bytes = 2;
    }
    current.push(spec);
    channels.add(channel);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * Publishes `items` in order. Each item is either a spec or the reason it can never be
 * published (too large, bad name): everything before it is sent first, then it is reported
 * as a permanent refusal at its index.
 */
export async function publishBatch(items: Array<AblyBatchSpec | Error>, send: SendBatch, signal: AbortSignal): Promise<void> {
  const refusedAt = items.findIndex((item) => item instanceof Error);
  const sendable = (refusedAt < 0 ? items : items.slice(0, refusedAt)) as AblyBatchSpec[];
  let taken = 0;
  for (const chunk of requests(sendable)) {
    let answer: unknown;
    try {
      answer = await abortable(send(chunk), signal);
    } catch (error) {
      const info = errorInfoSchema.safeParse(error);
      if (signal.aborted || !info.success || !isPermanent(info.data, true)) {
        if (taken === 0) throw error;
        throw new ProviderPublishError(`Ably batch publish failed after ${taken} messages`, taken, false, { cause: error });
      }
      throw new ProviderPublishError(`Ably refused the batch: ${describe(info.data)}`, taken, true, { cause: error });
    }
    const results = batchResultsSchema.safeParse(answer);
    if (!results.success || results.data.length !== chunk.length) {
      // An answer we cannot read: nothing is known to be taken, and ids make a resend harmless.
      throw new ProviderPublishError('Ably batch publish answered an unexpected shape', taken, false);
    }
    for (const result of results.data) {
      const failure = result.results.find((entry) => 'error' in entry);
      if (failure && 'error' in failure) {
        throw new ProviderPublishError(`Ably refused a message on ${failure.channel}: ${describe(failure.error)}`, taken, isPermanent(failure.error, false));
      }
      taken++;
    }
  }
  if (refusedAt >= 0) {
    const reason = items[refusedAt] as Error;
    throw new ProviderPublishError(reason.message, taken, true, { cause: reason });
  }
}
