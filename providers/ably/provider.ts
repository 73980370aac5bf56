/**
 * Ably, through the official `ably` SDK's REST client (the key stays on the BFF):
 * - clients get TokenRequests signed locally (`auth.createTokenRequest`) whose capability
 *   is the grant's caps with Ably channel names (capability.ts), `clientId` = user id,
 *   `ttl` ≤ the capability token's remaining life; served at `POST /v1/auth/ably`;
 * - envelopes go out in one REST batch call per delivery batch (publish.ts);
 * - presence members, occupancy and the admin view come from the REST API;
 * - webhooks are verified with the key secret (webhook.ts).
 */
import * as Ably from 'ably';
import { z } from 'zod';
import type { JsonValue } from '../../src/core/envelope.js';
import { SwitchboardError } from '../../src/core/errors.js';
import { DEFAULT_NAMESPACES, resolveChannel } from '../../src/core/namespaces.js';
import { fromAblyChannel, toAblyChannel } from '../../src/core/provider-names.js';
import type { AblyTokenRequest, ProviderClientConfig } from '../../src/core/token-response.js';
import { ablyTokenRequestSchema } from '../../src/core/token-response.js';
import type { ClientGrant, Occupancy, PresenceMember, ProviderMessage, ServerProvider, TenantStats, WebhookEvent, WebhookRequest } from '../types.js';
import { toAblyCapability } from './capability.js';
import { isJsonObject, untrustedJson } from './json.js';
import { parseAblyKey } from './key.js';
import { ABLY_DEFAULT_MAX_MESSAGE_BYTES, type AblyProviderOptions } from './options.js';
import { ablyMessageBytes, publishBatch, toAblyMessage, type AblyBatchSpec } from './publish.js';
import { ABLY_AUTH_ENDPOINT, onePerClient } from './shared.js';
import { parseAblyWebhook } from './webhook.js';
import { cachedQuery } from '../cached-query.js';

/** Room for the envelope around `data` (id ≤128, channel ≤200, event ≤64 twice, seq, ts, keys). */
const ENVELOPE_HEADROOM_BYTES = 1024;
/** Ably refuses token TTLs under a second; a capability token closer to expiry gets no provider token. */
const MIN_TOKEN_TTL_MS = 1000;
/** Ably's default token TTL (ably.d.ts TokenParams.ttl), the upper bound here too. */
const MAX_TOKEN_TTL_MS = 60 * 60 * 1000;
/** Presence pages read per query (1,000 members each; Ably's default presence limit is 200 per channel). */
const MAX_PRESENCE_PAGES = 5;

const presenceItemSchema = z.object({ clientId: z.string(), data: z.unknown().optional() });
const metricsSchema = z.object({
  connections: z.number().int().min(0).optional(),
  presenceMembers: z.number().int().min(0).optional(),
  subscribers: z.number().int().min(0).optional(),
});
const channelDetailsSchema = z.object({
  channelId: z.string(),
  status: z.object({ isActive: z.boolean().optional(), occupancy: z.object({ metrics: metricsSchema }).optional() }).optional(),
});

export interface AblyProvider extends ServerProvider {
  readonly name: 'ably';
  ablyTokenRequest(grant: ClientGrant): Promise<AblyTokenRequest>;
  presence(tenant: string, channel: string): Promise<PresenceMember[]>;
  occupancy(tenant: string, channel: string): Promise<Occupancy>;
  stats(): Promise<TenantStats[]>;
  parseWebhook(request: WebhookRequest): WebhookEvent[];
}

function infoOf(data: unknown): Record<string, JsonValue> {
  return untrustedJson<Record<string, JsonValue>>(data, {}, isJsonObject);
}

/** One entry per user, sorted by id. */
function members(items: Array<{ clientId: string; data?: unknown }>): PresenceMember[] {
  return onePerClient(items)
    .map((item) => ({ id: item.clientId, info: infoOf(item.data) }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function unavailable(what: string, error: unknown): SwitchboardError {
  const text = error instanceof Error ? error.message : String(error);
  return new SwitchboardError('provider_unavailable', `Ably ${what} failed: ${text.slice(0, 200)}`);
}

export function createAblyProvider(options: AblyProviderOptions): AblyProvider {
  const key = parseAblyKey(options.apiKey);
  const namespaces = options.namespaces ?? DEFAULT_NAMESPACES;
  const maxMessageBytes = options.maxMessageBytes ?? ABLY_DEFAULT_MAX_MESSAGE_BYTES;
  const rest = new Ably.Rest({
    key: options.apiKey,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.port === undefined ? {} : options.tls ? { tlsPort: options.port } : { port: options.port }),
    tls: options.tls,
    // JSON keeps every request readable in logs and by the test emulator; Ably accepts both.
    useBinaryProtocol: false,
    // Errors reach the pipeline as rejections; the SDK's console logging would duplicate them.
    logLevel: 0,
  });
  const clientEvents = Object.fromEntries(Object.entries(namespaces).map(([namespace, rules]) => [namespace, rules.clientEvents]));

  async function presenceItems(name: string): Promise<Array<z.infer<typeof presenceItemSchema>>> {
    const items: Array<z.infer<typeof presenceItemSchema>> = [];
    let page = await rest.channels.get(name).presence.get({ limit: 1000 });
    for (let pages = 1; ; pages++) {
      for (const raw of page.items) {
        const item = presenceItemSchema.safeParse(raw);
        if (item.success) items.push(item.data);
      }
      if (!page.hasNext() || pages >= MAX_PRESENCE_PAGES) return items;
      const next = await page.next();
      if (!next) return items;
      page = next;
    }
  }

  async function fetchStats(): Promise<TenantStats[]> {
    // Channel enumeration with details (ably-docs api/rest-api.mdx "Enumerate all active channels").
    const response = await rest.request('get', '/channels', 3, { by: 'value', limit: 1000 }, undefined, {});
    if (!response.success) throw new SwitchboardError('provider_unavailable', `Ably channel enumeration answered ${response.statusCode}`);
    const tenants = new Map<string, TenantStats>();
    for (const raw of response.items) {
      const details = channelDetailsSchema.safeParse(raw);
      if (!details.success) continue;
      const target = fromAblyChannel(details.data.channelId);
      if (!target) continue;
      const metrics = details.data.status?.occupancy?.metrics;
      const row = tenants.get(target.tenant) ?? { tenant: target.tenant, channels: [] };
      row.channels.push({
        channel: target.channel,
        ...(metrics?.subscribers === undefined ? {} : { subscribers: metrics.subscribers }),
        ...(metrics?.presenceMembers ? { presenceMembers: metrics.presenceMembers } : {}),
      });
      tenants.set(target.tenant, row);
    }
    return [...tenants.values()].sort((a, b) => a.tenant.localeCompare(b.tenant));
  }

  return {
    name: 'ably',
    limits: { maxPayloadBytes: maxMessageBytes - ENVELOPE_HEADROOM_BYTES, maxBatchSize: 100 },

    channelName: (tenant: string, channel: string) => toAblyChannel(tenant, channel),

    async publish(messages: ProviderMessage[], signal: AbortSignal): Promise<void> {
      signal.throwIfAborted();
      const items = messages.map(({ tenant, envelope }): AblyBatchSpec | Error => {
        try {
          const message = toAblyMessage(envelope);
          const bytes = ablyMessageBytes(message);
          if (bytes > maxMessageBytes) {
            return new SwitchboardError('payload_too_large', `Event ${envelope.id} is ${bytes} bytes, over Ably's message size limit of ${maxMessageBytes}`);
          }
          return { channels: [toAblyChannel(tenant, envelope.channel)], messages: [message] };
        } catch (error) {
          return error instanceof Error ? error : new Error(String(error));
        }
      });
      await publishBatch(items, (specs) => rest.batchPublish(specs), signal);
    },

    async clientConfig(grant: ClientGrant): Promise<ProviderClientConfig> {
      return {
        name: 'ably',
        authEndpoint: ABLY_AUTH_ENDPOINT,
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        ...(options.port === undefined ? {} : { port: options.port }),
        tls: options.tls,
        clientId: grant.user,
        presenceData: grant.info,
        clientEvents,
      };
    },

    async ablyTokenRequest(grant: ClientGrant): Promise<AblyTokenRequest> {
      const ttl = Math.min(MAX_TOKEN_TTL_MS, grant.expiresAt - Date.now());
      if (ttl < MIN_TOKEN_TTL_MS) throw new SwitchboardError('token_expired', 'Capability token expires too soon for an Ably token');
      const capability = toAblyCapability(grant.tenant, grant.caps, namespaces);
      if (Object.keys(capability).length === 0) throw new SwitchboardError('forbidden', 'The capability token grants no channel Ably can carry');
      const signed = await rest.auth.createTokenRequest({ capability: JSON.stringify(capability), clientId: grant.user, ttl: Math.floor(ttl) }, { key: options.apiKey });
      return ablyTokenRequestSchema.parse(signed);
    },

    async presence(tenant: string, channel: string): Promise<PresenceMember[]> {
      try {
        return members(await presenceItems(toAblyChannel(tenant, channel)));
      } catch (error) {
        throw error instanceof SwitchboardError ? error : unavailable('presence query', error);
      }
    },

    async occupancy(tenant: string, channel: string): Promise<Occupancy> {
      const name = toAblyChannel(tenant, channel);
      try {
        const [details, items] = await Promise.all([
          rest.channels.get(name).status(),
          resolveChannel(namespaces, channel).rules.presence ? presenceItems(name) : undefined,
        ]);
        const metrics = channelDetailsSchema.parse(details).status?.occupancy?.metrics;
        const subscribers = metrics?.subscribers ?? 0;
        return items === undefined ? { subscribers } : { subscribers, presenceMembers: onePerClient(items).length };
      } catch (error) {
        throw error instanceof SwitchboardError ? error : unavailable('occupancy query', error);
      }
    },

    stats: cachedQuery(fetchStats),

    parseWebhook(request: WebhookRequest): WebhookEvent[] {
      return parseAblyWebhook(key, request);
    },

    async close(): Promise<void> {
      // The REST client holds no connection or timer.
    },
  };
}
