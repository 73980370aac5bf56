/**
 * Supabase Realtime. Publishes through the REST broadcast endpoint as private messages
 * with the service role; gives browsers a Realtime JWT whose claims the RLS policies of
 * policies.sql check when they join (tenant, caps, namespace rules).
 *
 * Presence and occupancy queries are not offered: Realtime has no REST for them, and a
 * server-side observer would have to join every channel of every tenant to answer. The
 * BFF's `/v1/channels/:channel/presence` and `/occupancy` answer `not_found` for this
 * provider; live presence works in the client wrapper (Realtime presence).
 */
import { largestEnvelope, type Envelope } from '../../src/core/envelope.js';
import { SwitchboardError } from '../../src/core/errors.js';
import { DEFAULT_NAMESPACES } from '../../src/core/namespaces.js';
import { toSupabaseTopic } from '../../src/core/provider-names.js';
import type { ProviderClientConfig } from '../../src/core/token-response.js';
import { ProviderPublishError } from '../publish-error.js';
import type { ClientGrant, ProviderMessage, ServerProvider } from '../types.js';
import { BroadcastApi, type BroadcastMessage } from './broadcast-api.js';
import type { SupabaseProviderOptions } from './options.js';
import { MessagePacer } from './pacer.js';
import { createRealtimeJwtSigner } from './realtime-jwt.js';
import { externalSizeBound } from './term-size.js';

/**
 * Free plan: 256 KB (`max_payload_size_in_kb * 1000`); paid plans raise it with
 * SUPABASE_MAX_PAYLOAD_KB. Realtime measures the Erlang term size (term-size.ts), which
 * exceeds the JSON size for float arrays and small strings; events are checked against an
 * upper bound of it before the call.
 */
export const SUPABASE_DEFAULT_MAX_PAYLOAD_BYTES = 256_000;
/** Messages per REST call; Realtime rate-limits a batch as a whole against the project's events/s. */
export const SUPABASE_BATCH_MESSAGES = 50;
/** The Free plan's messages per second. */
export const SUPABASE_DEFAULT_MESSAGES_PER_SECOND = 100;
const BATCH_BODY_BYTES = 1_000_000;

export interface SupabaseProvider extends ServerProvider {
  readonly name: 'supabase';
}

interface Prepared {
  message: BroadcastMessage;
  bytes: number;
}

/** Groups prepared messages into REST calls by count and body size, keeping their order. */
function chunk(prepared: Prepared[], bodyBudget: number, maxMessages: number): Prepared[][] {
  const chunks: Prepared[][] = [];
  let current: Prepared[] = [];
  let bytes = 0;
  for (const item of prepared) {
    if (current.length > 0 && (current.length >= maxMessages || bytes + item.bytes > bodyBudget)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += item.bytes;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/**
 * Realtime refuses messages with 422 and its changeset errors only. Every other answer is
 * about the request as a whole, not an event: 401/403 a wrong key or a suspended project,
 * 404 a wrong SUPABASE_URL or a project that does not exist, 400/413 a gateway in the way,
 * 429 the project's message rate, 5xx an outage. Those keep the events pending and are
 * retried (tripping the breaker) until the project answers again or the configuration is
 * fixed, instead of failing every event for good.
 */
function requestProblem(status: number): string {
  if (status === 401 || status === 403) return 'check SUPABASE_SERVICE_ROLE_KEY (and that the project is not paused)';
  if (status === 404) return 'check SUPABASE_URL: no Realtime broadcast endpoint there';
  if (status === 429) return "the project's messages-per-second quota is used up";
  if (status >= 500) return 'Supabase is unavailable';
  return 'the request was refused as a whole';
}

export function createSupabaseProvider(options: SupabaseProviderOptions): SupabaseProvider {
  const namespaces = options.namespaces ?? DEFAULT_NAMESPACES;
  const maxPayloadBytes = options.maxPayloadBytes ?? SUPABASE_DEFAULT_MAX_PAYLOAD_BYTES;
  const api = new BroadcastApi(options);
  const signer = createRealtimeJwtSigner(options, namespaces);
  const pacer = new MessagePacer(options.maxMessagesPerSecond ?? SUPABASE_DEFAULT_MESSAGES_PER_SECOND);
  // Realtime refuses a batch larger than what is left of the second's quota.
  const batchMessages = Math.max(1, Math.min(SUPABASE_BATCH_MESSAGES, Math.floor(pacer.perSecond / 2)));
  const clientEvents = Object.fromEntries(Object.entries(namespaces).map(([name, rules]) => [name, rules.clientEvents]));

  /** Why Realtime would refuse `payload` for its size: its JSON bytes or its Erlang term size (bound) over the limit. */
  function sizeProblem(payload: Envelope): { problem?: string; bytes: number } {
    const json = JSON.stringify(payload);
    const bytes = Buffer.byteLength(json, 'utf8');
    const termBytes = externalSizeBound(json);
    if (Math.max(bytes, termBytes) <= maxPayloadBytes) return { bytes };
    return { problem: `up to ${termBytes} bytes as Realtime measures it (${bytes} bytes of JSON), over Supabase's ${maxPayloadBytes}-byte broadcast limit`, bytes };
  }

  function prepare({ tenant, envelope }: ProviderMessage): Prepared {
    const payload = { ...envelope };
    const { problem, bytes } = sizeProblem(payload);
    if (problem) throw new SwitchboardError('payload_too_large', `Event ${envelope.id} is ${problem}`);
    return { message: { topic: toSupabaseTopic(tenant, envelope.channel), event: envelope.event, payload, private: true }, bytes };
  }

  /** Sends one chunk; on a refusal of a multi-message chunk, finds the refused message by sending them one by one. */
  async function sendChunk(items: Prepared[], takenBefore: number, signal: AbortSignal): Promise<void> {
    let outcome;
    try {
      await pacer.take(items.length, signal);
      outcome = await api.send(items.map((item) => item.message), signal);
    } catch (error) {
      throw new ProviderPublishError(`Supabase broadcast failed: ${(error as Error).message}`, takenBefore, false, { cause: error });
    }
    if (outcome.ok) return;
    if (outcome.invalid && items.length > 1) {
      // Realtime validates a batch all or nothing, so none of this chunk was sent.
      for (const [index, item] of items.entries()) await sendChunk([item], takenBefore + index, signal);
      return;
    }
    const refused = outcome.invalid;
    throw new ProviderPublishError(`Supabase broadcast answered ${outcome.detail}${refused ? '' : ` (${requestProblem(outcome.status)})`}`, takenBefore, refused);
  }

  return {
    name: 'supabase',
    limits: { maxPayloadBytes, maxBatchSize: 100 },

    channelName: (tenant: string, channel: string) => toSupabaseTopic(tenant, channel),

    payloadProblem: (event) => sizeProblem(largestEnvelope(event)).problem,

    async publish(messages: ProviderMessage[], signal: AbortSignal): Promise<void> {
      signal.throwIfAborted();
      const prepared: Prepared[] = [];
      let refusal: SwitchboardError | undefined;
      for (const message of messages) {
        try {
          prepared.push(prepare(message));
        } catch (error) {
          refusal = error instanceof SwitchboardError ? error : new SwitchboardError('invalid_request', String(error));
          break;
        }
      }
      let taken = 0;
      for (const items of chunk(prepared, Math.max(BATCH_BODY_BYTES, maxPayloadBytes + 4096), batchMessages)) {
        await sendChunk(items, taken, signal);
        taken += items.length;
      }
      if (refusal) throw new ProviderPublishError(refusal.message, taken, true, { cause: refusal });
    },

    async clientConfig(grant: ClientGrant): Promise<ProviderClientConfig> {
      return {
        name: 'supabase',
        url: options.url,
        anonKey: options.anonKey,
        accessToken: await signer.sign(grant),
        member: { id: grant.user, info: grant.info },
        clientEvents,
      };
    },

    supabaseAccessToken: (grant: ClientGrant) => signer.sign(grant),

    async terminateUser(tenant: string, user: string): Promise<void> {
      const outcome = await api.terminate(tenant, user, Math.floor(Date.now() / 1000), AbortSignal.timeout(10_000));
      if (!outcome.ok) {
        throw new SwitchboardError(
          'provider_unavailable',
          `Supabase did not record the termination (${outcome.detail}): apply providers/supabase/policies.sql; the user's Realtime JWTs still expire within their lifetime`,
        );
      }
    },

    async close(): Promise<void> {},
  };
}
