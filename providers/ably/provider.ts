/**
 * Ably, through the official `ably` SDK's REST client (the key stays on the BFF):
 * - clients get TokenRequests signed locally (`auth.createTokenRequest`) whose capability
 *   is the grant's caps with Ably channel names (capability.ts), `clientId` = `{tenant}:{user}`,
 *   `ttl` ≤ the capability token's remaining life; served at `POST /v1/auth/ably`;
 * - envelopes go out in one REST batch call per delivery batch (publish.ts);
 * - presence members and occupancy of one channel come from the REST API (an app's explicit
 *   query; Ably activates the channel for it);
 * - the admin view lists channels with Ably's enumeration by id in the background
 *   (channel-list.ts) and counts subscribers and presence users from the webhooks;
 * - webhooks are verified with the key secret (webhook.ts) and given Switchboard's meaning
 *   (channel-tracker.ts);
 * - terminating a user revokes their Ably tokens (`POST /keys/{keyName}/revokeTokens`).
 */
import * as Ably from 'ably';
import { z } from 'zod';
import { largestEnvelope, type Envelope, type JsonValue } from '../../src/core/envelope.js';
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
import { ABLY_AUTH_ENDPOINT, onePerClient, toAblyClientId, userOfClientId } from './shared.js';
import { ABLY_MAX_WEBHOOK_ITEMS, parseAblyWebhook } from './webhook.js';
import { AblyChannelTracker } from './channel-tracker.js';
import { listChannels, refreshing } from './channel-list.js';

/** Ably refuses token TTLs under a second; a capability token closer to expiry gets no provider token. */
const MIN_TOKEN_TTL_MS = 1000;
/** Ably's default token TTL (ably.d.ts TokenParams.ttl), the upper bound here too. */
const MAX_TOKEN_TTL_MS = 60 * 60 * 1000;
/** Presence pages read per query (1,000 members each; Ably's default presence limit is 200 per channel). */
const MAX_PRESENCE_PAGES = 5;
/** Least time between two channel enumerations (Ably rate-limits them heavily). */
export const ABLY_STATS_INTERVAL_MS = 30_000;
/** Room per webhook item around its largest message or presence data. */
const WEBHOOK_ITEM_OVERHEAD_BYTES = 2048;

const presenceItemSchema = z.object({ clientId: z.string(), data: z.unknown().optional() });
const metricsSchema = z.object({ subscribers: z.number().int().min(0).optional() });
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

/** One entry per user of `tenant`, sorted by id. */
function members(tenant: string, items: Array<{ clientId: string; data?: unknown }>): PresenceMember[] {
  return onePerClient(items)
    .flatMap((item) => {
      const user = userOfClientId(tenant, item.clientId);
      return user === undefined ? [] : [{ id: user, info: infoOf(item.data) }];
    })
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
  const tracker = new AblyChannelTracker();
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

  /** Active Switchboard channels per tenant; counts only where the webhooks reported them. */
  async function fetchStats(): Promise<TenantStats[]> {
    const tenants = new Map<string, TenantStats>();
    for (const name of await listChannels(rest, options.enumeration)) {
      const target = fromAblyChannel(name);
      if (!target) continue;
      const { subscribers, presenceUsers } = tracker.counts(name);
      const row = tenants.get(target.tenant) ?? { tenant: target.tenant, channels: [] };
      row.channels.push({
        channel: target.channel,
        ...(subscribers === undefined ? {} : { subscribers }),
        ...(presenceUsers === undefined ? {} : { presenceMembers: presenceUsers }),
      });
      tenants.set(target.tenant, row);
    }
    for (const row of tenants.values()) row.channels.sort((a, b) => a.channel.localeCompare(b.channel));
    return [...tenants.values()].sort((a, b) => a.tenant.localeCompare(b.tenant));
  }

  /** Ably's token revocation by clientId (ably-docs auth/revocation.mdx): the key needs "Revocable tokens". */
  async function revokeTokens(tenant: string, user: string): Promise<void> {
    const path = `/keys/${encodeURIComponent(key.keyName)}/revokeTokens`;
    let response: Awaited<ReturnType<typeof rest.request>>;
    try {
      response = await rest.request('post', path, 3, {}, { targets: [`clientId:${toAblyClientId(tenant, user)}`] }, {});
    } catch (error) {
      throw unavailable('token revocation', error);
    }
    if (response.success) return;
    const code = response.errorCode ?? undefined;
    const hint = code === 40121 || code === 40163 || code === 40164 ? ': enable "Revocable tokens" on the Ably key' : '';
    throw new SwitchboardError('provider_unavailable', `Ably token revocation answered ${response.statusCode}${code ? ` (Ably ${code})` : ''}${hint}`);
  }

  /** Why Ably would refuse `envelope` for its message size (name + data). */
  function sizeProblem(envelope: Envelope): string | undefined {
    const bytes = ablyMessageBytes(toAblyMessage(envelope));
    return bytes > maxMessageBytes ? `${bytes} bytes, over Ably's message size limit of ${maxMessageBytes}` : undefined;
  }

  return {
    name: 'ably',
    limits: {
      maxPayloadBytes: maxMessageBytes,
      maxBatchSize: 100,
      // Ably's largest batch: 1,000 items, each with up to a message's worth of data.
      maxWebhookBodyBytes: ABLY_MAX_WEBHOOK_ITEMS * (maxMessageBytes + WEBHOOK_ITEM_OVERHEAD_BYTES),
    },

    channelName: (tenant: string, channel: string) => toAblyChannel(tenant, channel),

    payloadProblem: (event) => sizeProblem(largestEnvelope(event)),

    async publish(messages: ProviderMessage[], signal: AbortSignal): Promise<void> {
      signal.throwIfAborted();
      const items = messages.map(({ tenant, envelope }): AblyBatchSpec | Error => {
        try {
          const tooLarge = sizeProblem(envelope);
          if (tooLarge) return new SwitchboardError('payload_too_large', `Event ${envelope.id} is ${tooLarge}`);
          const message = toAblyMessage(envelope);
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
        clientId: toAblyClientId(grant.tenant, grant.user),
        presenceData: grant.info,
        clientEvents,
      };
    },

    async ablyTokenRequest(grant: ClientGrant): Promise<AblyTokenRequest> {
      const ttl = Math.min(MAX_TOKEN_TTL_MS, grant.expiresAt - Date.now());
      if (ttl < MIN_TOKEN_TTL_MS) throw new SwitchboardError('token_expired', 'Capability token expires too soon for an Ably token');
      const capability = toAblyCapability(grant.tenant, grant.caps, namespaces);
      if (Object.keys(capability).length === 0) throw new SwitchboardError('forbidden', 'The capability token grants no channel Ably can carry');
      const signed = await rest.auth.createTokenRequest({ capability: JSON.stringify(capability), clientId: toAblyClientId(grant.tenant, grant.user), ttl: Math.floor(ttl) }, { key: options.apiKey });
      return ablyTokenRequestSchema.parse(signed);
    },

    async presence(tenant: string, channel: string): Promise<PresenceMember[]> {
      try {
        return members(tenant, await presenceItems(toAblyChannel(tenant, channel)));
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
        return items === undefined ? { subscribers } : { subscribers, presenceMembers: members(tenant, items).length };
      } catch (error) {
        throw error instanceof SwitchboardError ? error : unavailable('occupancy query', error);
      }
    },

    stats: refreshing(fetchStats, options.statsIntervalMs ?? ABLY_STATS_INTERVAL_MS),

    parseWebhook(request: WebhookRequest): WebhookEvent[] {
      return parseAblyWebhook(key, request, tracker);
    },

    /**
     * Revokes every Ably token of the user's (tenant-scoped) clientId issued so far: their
     * connections are disconnected at once (40141) and their renewal is refused by the BFF.
     */
    async terminateUser(tenant: string, user: string): Promise<void> {
      await revokeTokens(tenant, user);
    },

    async close(): Promise<void> {
      // The REST client holds no connection or timer.
    },
  };
}
