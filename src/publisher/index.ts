/**
 * `switchboard/publisher`: a small typed client of `POST /v1/publish` for services other
 * than the one the BFF runs in. Every message carries an idempotency id (given, or made
 * here once per message), so a resend after a timeout or a lost answer is answered
 * `duplicate` by the event log instead of being published twice. Retries network errors,
 * timeouts, 408, 429 and 5xx with full-jitter exponential backoff; other refusals throw at once.
 */
import * as z from 'zod/mini';
import { backoffDelay, type BackoffOptions } from '../client/backoff.js';
import { errorFromResponse } from '../client/errors.js';
import { SwitchboardError } from '../core/errors.js';
import type { JsonValue } from '../core/envelope.js';

export { SwitchboardError, isSwitchboardError, type ErrorCode } from '../core/errors.js';
export type { JsonValue } from '../core/envelope.js';

export interface PublisherOptions {
  /** The BFF's base URL, with the path it is mounted under, e.g. `https://app.example.com/realtime`. */
  url: string;
  /** A tenant key (`SWITCHBOARD_API_KEYS=tenant:key` on the server), or an admin key with `tenant`. */
  apiKey: string;
  /** With an admin key: the tenant to publish for (sent as `Switchboard-Tenant`). */
  tenant?: string;
  /** How long one attempt may take before it is abandoned and retried. Default 5 s. */
  timeoutMs?: number;
  /** Attempts after the first. Default 4. */
  retries?: number;
  /** Wait before retry n: random in [0, min(maxMs, baseMs * 2^n)]. Default 200 ms .. 5 s. */
  backoff?: Partial<BackoffOptions>;
  fetch?: typeof fetch;
  /** For tests: the jitter source. */
  random?: () => number;
}

export interface PublishMessage {
  /** Tenant-relative, e.g. `orders:1001`. */
  channel: string;
  event: string;
  data: JsonValue;
  /** Idempotency id, `[A-Za-z0-9_-:.]{1,128}`; a random one when left out. */
  id?: string;
}

/** `delivered` / `accepted` / `refused` as documented for POST /v1/publish; `duplicate`: the id was published before (by an earlier attempt, too). */
export interface PublishResult {
  id: string;
  seq: number;
  status: 'delivered' | 'accepted' | 'refused' | 'duplicate';
  /** How many requests it took (1 = no retry). */
  attempts: number;
}

export interface Publisher {
  publish(message: PublishMessage): Promise<PublishResult>;
  /** Up to 100 messages in one request, logged in order. */
  publishBatch(messages: PublishMessage[]): Promise<PublishResult[]>;
}

const outcomeSchema = z.object({ id: z.string(), seq: z.number(), status: z.enum(['delivered', 'accepted', 'refused', 'duplicate']) });
const batchSchema = z.object({ results: z.array(outcomeSchema) });

const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);
const MAX_RETRY_AFTER_MS = 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Retry-After in seconds (the only form the BFF sends), bounded; undefined when absent or unreadable. */
function retryAfterMs(response: Response): number | undefined {
  const seconds = Number(response.headers.get('retry-after') ?? Number.NaN);
  return Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds * 1000, MAX_RETRY_AFTER_MS) : undefined;
}

/** fetch() rejects with a TypeError whose cause names the network problem (ECONNREFUSED, …). */
function describeFailure(error: unknown, timeoutMs: number): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  return error.cause instanceof Error ? error.cause.message : error.message;
}

export function createPublisher(options: PublisherOptions): Publisher {
  const endpoint = `${options.url.replace(/\/+$/, '')}/v1/publish`;
  const backoff: BackoffOptions = { baseMs: 200, maxMs: 5000, ...options.backoff };
  const retries = options.retries ?? 4;
  const timeoutMs = options.timeoutMs ?? 5000;
  const doFetch = options.fetch ?? fetch;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    authorization: `Bearer ${options.apiKey}`,
    ...(options.tenant ? { 'switchboard-tenant': options.tenant } : {}),
  };

  /** Sends one body until it is answered or refused for good; the body (and so every id) is the same on every attempt. */
  async function send(body: string): Promise<{ json: unknown; attempts: number }> {
    let lastProblem = 'no attempt made';
    for (let attempt = 0; ; attempt += 1) {
      let wait: number | undefined;
      try {
        const response = await doFetch(endpoint, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs) });
        if (response.ok) return { json: await response.json(), attempts: attempt + 1 };
        const error = await errorFromResponse(response, 'Publish');
        if (!RETRY_STATUSES.has(response.status)) throw error;
        lastProblem = error.message;
        wait = retryAfterMs(response);
      } catch (error) {
        if (error instanceof SwitchboardError) throw error;
        lastProblem = describeFailure(error, timeoutMs);
      }
      if (attempt >= retries) throw new SwitchboardError('provider_unavailable', `Publish failed after ${attempt + 1} attempts: ${lastProblem}`);
      await sleep(Math.max(wait ?? 0, backoffDelay(attempt, backoff, options.random)));
    }
  }

  const withId = (message: PublishMessage): PublishMessage => ({ ...message, id: message.id ?? globalThis.crypto.randomUUID() });

  function parsed<T>(schema: z.ZodMiniType<T>, json: unknown): T {
    const result = schema.safeParse(json);
    if (!result.success) throw new SwitchboardError('provider_unavailable', 'Publish failed: unexpected answer from the BFF');
    return result.data;
  }

  return {
    async publish(message) {
      const { json, attempts } = await send(JSON.stringify(withId(message)));
      return { ...parsed(outcomeSchema, json), attempts };
    },
    async publishBatch(messages) {
      const { json, attempts } = await send(JSON.stringify({ messages: messages.map(withId) }));
      return parsed(batchSchema, json).results.map((outcome) => ({ ...outcome, attempts }));
    },
  };
}
