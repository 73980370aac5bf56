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
import { SwitchboardError } from '../../src/core/errors.js';
import { DEFAULT_NAMESPACES } from '../../src/core/namespaces.js';
import { toSupabaseTopic } from '../../src/core/provider-names.js';
import type { ProviderClientConfig } from '../../src/core/token-response.js';
import { isPermanentHttpStatus, ProviderPublishError } from '../publish-error.js';
import type { ClientGrant, ProviderMessage, ServerProvider } from '../types.js';
import { BroadcastApi, type BroadcastMessage } from './broadcast-api.js';
import type { SupabaseProviderOptions } from './options.js';
import { createRealtimeJwtSigner } from './realtime-jwt.js';

/**
 * Free plan: 256 KB (`max_payload_size_in_kb * 1000`); paid plans raise it with
 * SUPABASE_MAX_PAYLOAD_KB. Realtime measures the Erlang term size, which can exceed the
 * JSON size for key-heavy data: what it still refuses comes back as a permanent 422.
 */
export const SUPABASE_DEFAULT_MAX_PAYLOAD_BYTES = 256_000;
/** Room for the envelope around `data` (id ≤128, channel ≤200, event ≤64, seq, ts, keys). */
const ENVELOPE_HEADROOM_BYTES = 1024;
/** Messages per REST call; Realtime rate-limits a batch as a whole against the project's events/s. */
export const SUPABASE_BATCH_MESSAGES = 50;
const BATCH_BODY_BYTES = 1_000_000;

export interface SupabaseProvider extends ServerProvider {
  readonly name: 'supabase';
}

interface Prepared {
  message: BroadcastMessage;
  bytes: number;
}

/** Groups prepared messages into REST calls by count and body size, keeping their order. */
function chunk(prepared: Prepared[], bodyBudget: number): Prepared[][] {
  const chunks: Prepared[][] = [];
  let current: Prepared[] = [];
  let bytes = 0;
  for (const item of prepared) {
    if (current.length > 0 && (current.length >= SUPABASE_BATCH_MESSAGES || bytes + item.bytes > bodyBudget)) {
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
 * A refusal that is about the message rather than the BFF: 401/403 mean the service role
 * key is wrong or the project is suspended, which no message can fix; retrying keeps
 * the events pending until the configuration is fixed (and trips the breaker meanwhile).
 */
function refusesMessage(status: number): boolean {
  return isPermanentHttpStatus(status) && status !== 401 && status !== 403;
}

export function createSupabaseProvider(options: SupabaseProviderOptions): SupabaseProvider {
  const namespaces = options.namespaces ?? DEFAULT_NAMESPACES;
  const maxPayloadBytes = options.maxPayloadBytes ?? SUPABASE_DEFAULT_MAX_PAYLOAD_BYTES;
  const api = new BroadcastApi(options);
  const signer = createRealtimeJwtSigner(options, namespaces);
  const clientEvents = Object.fromEntries(Object.entries(namespaces).map(([name, rules]) => [name, rules.clientEvents]));

  function prepare({ tenant, envelope }: ProviderMessage): Prepared {
    const payload = { ...envelope };
    const bytes = Buffer.byteLength(JSON.stringify(payload), 'utf8');
    if (bytes > maxPayloadBytes) {
      throw new SwitchboardError('payload_too_large', `Event ${envelope.id} is ${bytes} bytes, over Supabase's ${maxPayloadBytes}-byte broadcast limit`);
    }
    return { message: { topic: toSupabaseTopic(tenant, envelope.channel), event: envelope.event, payload, private: true }, bytes };
  }

  /** Sends one chunk; on a refusal of a multi-message chunk, finds the refused message by sending them one by one. */
  async function sendChunk(items: Prepared[], takenBefore: number, signal: AbortSignal): Promise<void> {
    let outcome;
    try {
      outcome = await api.send(items.map((item) => item.message), signal);
    } catch (error) {
      throw new ProviderPublishError(`Supabase broadcast failed: ${(error as Error).message}`, takenBefore, false, { cause: error });
    }
    if (outcome.ok) return;
    if (refusesMessage(outcome.status) && items.length > 1) {
      // Realtime validates a batch all or nothing, so none of this chunk was sent.
      for (const [index, item] of items.entries()) await sendChunk([item], takenBefore + index, signal);
      return;
    }
    throw new ProviderPublishError(`Supabase broadcast answered ${outcome.detail}`, takenBefore, refusesMessage(outcome.status));
  }

  return {
    name: 'supabase',
    limits: { maxPayloadBytes: maxPayloadBytes - ENVELOPE_HEADROOM_BYTES, maxBatchSize: 100 },

    channelName: (tenant: string, channel: string) => toSupabaseTopic(tenant, channel),

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
      for (const items of chunk(prepared, Math.max(BATCH_BODY_BYTES, maxPayloadBytes + 4096))) {
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

    async close(): Promise<void> {},
  };
}
