/**
 * Verifies and normalizes Ably webhooks (ably-docs platform/integrations/webhooks): batched,
 * enveloped requests `{items: [...]}` signed with "Sign with key": `X-Ably-Key` names the
 * key and `X-Ably-Signature` is the base64 HMAC-SHA256 of the raw body with that key's
 * secret. Occupancy and presence items go through the channel tracker (channel-tracker.ts),
 * which gives them Switchboard's meaning; events become the same `WebhookEvent`s as Pusher's.
 */
import { createHmac } from 'node:crypto';
import { z } from 'zod';
import type { JsonValue } from '../../src/core/envelope.js';
import { SwitchboardError } from '../../src/core/errors.js';
import { fromAblyChannel } from '../../src/core/provider-names.js';
import { safeEqual } from '../pusher-protocol/index.js';
import type { WebhookEvent, WebhookRequest } from '../types.js';
import { anyJson, untrustedJson } from './json.js';
import type { AblyKey } from './key.js';
import type { AblyChannelTracker, PresenceChange } from './channel-tracker.js';
import { userOfClientId, WHISPER_PREFIX } from './shared.js';

/** Ably sends at most 1,000 events per batched request; more is not Ably. */
export const ABLY_MAX_WEBHOOK_ITEMS = 1000;

/** Presence actions as numbers (protocol) or names (some integrations). */
const PRESENCE_ACTIONS = ['absent', 'present', 'enter', 'leave', 'update'] as const;
const presenceAction = z.union([z.number().int(), z.enum(PRESENCE_ACTIONS).transform((name) => PRESENCE_ACTIONS.indexOf(name))]);
const presenceSchema = z.object({ clientId: z.string(), connectionId: z.string().optional(), action: presenceAction });
const messageSchema = z.object({ name: z.string().optional(), clientId: z.string().optional(), data: z.unknown().optional(), encoding: z.string().optional() });
const metricsSchema = z.object({ subscribers: z.number().int().min(0) });

const itemSchema = z.object({
  source: z.string(),
  name: z.string().optional(),
  serial: z.string().optional(),
  timestamp: z.number().optional(),
  data: z.object({
    channelId: z.string(),
    messages: z.array(z.unknown()).optional(),
    presence: z.array(z.unknown()).optional(),
    // Occupancy as ChannelDetails (`status.occupancy.metrics`, documented for lifecycle items) or bare.
    status: z.object({ occupancy: z.object({ metrics: z.unknown() }).optional() }).optional(),
    occupancy: z.object({ metrics: z.unknown() }).optional(),
    metrics: z.unknown().optional(),
  }),
});
const bodySchema = z.object({ items: z.array(z.unknown()).max(ABLY_MAX_WEBHOOK_ITEMS) });
type Item = z.infer<typeof itemSchema>;

function header(headers: WebhookRequest['headers'], name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

/** Message data as published: JSON-encoded when `encoding` says so. */
function messageData(data: unknown, encoding: string | undefined): JsonValue {
  let value = data;
  if (typeof data === 'string' && encoding === 'json') {
    try {
      value = JSON.parse(data) as unknown;
    } catch {
      value = data;
    }
  }
  return untrustedJson(value ?? null, null, anyJson);
}

/** The subscribers an item reports, if it carries occupancy; a `channel.closed` without metrics means none. */
function subscribersOf(item: Item): number | undefined {
  const raw = item.data.status?.occupancy?.metrics ?? item.data.occupancy?.metrics ?? item.data.metrics;
  const metrics = metricsSchema.safeParse(raw);
  if (metrics.success) return metrics.data.subscribers;
  return item.source === 'channel.lifecycle' && item.name === 'channel.closed' ? 0 : undefined;
}

/** Each entry on its own: one malformed entry does not hide the others. */
function entries<T>(raw: unknown[] | undefined, schema: z.ZodType<T>): T[] {
  return (raw ?? []).flatMap((entry) => {
    const parsed = schema.safeParse(entry);
    return parsed.success ? [parsed.data] : [];
  });
}

/** Whispers: server events have no clientId, client messages always carry the token's. */
function clientEvents(item: Item, base: { tenant: string; channel: string }): WebhookEvent[] {
  return entries(item.data.messages, messageSchema).flatMap((message): WebhookEvent[] => {
    const userId = message.clientId === undefined ? undefined : userOfClientId(base.tenant, message.clientId);
    if (userId === undefined || !message.name?.startsWith(WHISPER_PREFIX)) return [];
    return [{ kind: 'client_event', ...base, event: message.name.slice(WHISPER_PREFIX.length), data: messageData(message.data, message.encoding), userId }];
  });
}

/** Presence changes of the channel's tenant's users (clientId `{tenant}:{user}`), by user. */
function presenceChanges(item: Item, tenant: string): PresenceChange[] {
  return entries(item.data.presence, presenceSchema).flatMap(({ clientId, connectionId, action }) => {
    const user = userOfClientId(tenant, clientId);
    return user === undefined ? [] : [{ clientId: user, connectionId, action }];
  });
}

/** `X-Ably-Key` names the key: Ably's docs call it the keyId; `appId.keyId` is accepted too. Never a secret. */
function namesKey(header: string, key: AblyKey): boolean {
  const keyId = key.keyName.slice(key.keyName.indexOf('.') + 1);
  return safeEqual(header, key.keyName) || safeEqual(header, keyId);
}

/**
 * Verifies a batched, enveloped request and normalizes its items in order. A malformed item
 * or entry is skipped, not fatal: Ably retries a refused batch and then discards all of it,
 * so refusing would lose every good event with the bad one. Items of channels Switchboard
 * never produces (other uses of the same Ably app) are ignored.
 */
export function parseAblyWebhook(key: AblyKey, request: WebhookRequest, tracker: AblyChannelTracker): WebhookEvent[] {
  const keyHeader = header(request.headers, 'x-ably-key');
  const signature = header(request.headers, 'x-ably-signature');
  const expected = createHmac('sha256', key.secret).update(request.rawBody).digest('base64');
  if (keyHeader === undefined || signature === undefined || !namesKey(keyHeader, key) || !safeEqual(signature, expected)) {
    throw new SwitchboardError('forbidden', 'Ably webhook signature is missing or invalid (enable "Sign with key" on a batched, enveloped rule)');
  }
  let json: unknown;
  try {
    json = JSON.parse(request.rawBody.toString('utf8'));
  } catch {
    throw new SwitchboardError('invalid_request', 'Ably webhook body is not JSON');
  }
  const body = bodySchema.safeParse(json);
  if (!body.success) throw new SwitchboardError('invalid_request', `Ably webhook body must be a batched, enveloped {items: [...]} of at most ${ABLY_MAX_WEBHOOK_ITEMS}`);

  const events: WebhookEvent[] = [];
  for (const raw of body.data.items) {
    const parsed = itemSchema.safeParse(raw);
    if (!parsed.success) continue;
    const item = parsed.data;
    const target = fromAblyChannel(item.data.channelId);
    if (!target) continue;
    const base = { tenant: target.tenant, channel: target.channel };
    if (item.source === 'channel.message') {
      events.push(...clientEvents(item, base));
      continue;
    }
    const replayed = tracker.replay(item.serial);
    if (replayed) {
      events.push(...replayed);
      continue;
    }
    const produced =
      item.source === 'channel.presence'
        ? tracker.presence(item.data.channelId, base, presenceChanges(item, target.tenant))
        : (() => {
            const subscribers = subscribersOf(item);
            return subscribers === undefined ? [] : tracker.occupancy(item.data.channelId, base, subscribers, item.timestamp ?? Date.now());
          })();
    tracker.remember(item.serial, produced);
    events.push(...produced);
  }
  return events;
}
