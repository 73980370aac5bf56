/**
 * Verifies and normalizes Ably webhooks (ably-docs platform/integrations/webhooks): batched,
 * enveloped requests `{items: [...]}` signed with "Sign with key": `X-Ably-Key` names the
 * key (appId.keyId) and `X-Ably-Signature` is the base64 HMAC-SHA256 of the raw body with
 * that key's secret. Events become the same `WebhookEvent`s as Pusher's.
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
import { WHISPER_PREFIX } from './shared.js';

/** Presence actions as numbers (protocol) or names (some integrations). */
const presenceAction = z.union([z.number().int(), z.enum(['absent', 'present', 'enter', 'leave', 'update'])]);

const itemSchema = z.object({
  source: z.string(),
  name: z.string().optional(),
  data: z.object({
    channelId: z.string(),
    messages: z.array(z.object({ name: z.string().optional(), clientId: z.string().optional(), data: z.unknown().optional(), encoding: z.string().optional() })).optional(),
    presence: z.array(z.object({ clientId: z.string().optional(), action: presenceAction })).optional(),
  }),
});
const bodySchema = z.object({ items: z.array(itemSchema).max(10_000) });

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

export function parseAblyWebhook(key: AblyKey, request: WebhookRequest): WebhookEvent[] {
  const keyName = header(request.headers, 'x-ably-key');
  const signature = header(request.headers, 'x-ably-signature');
  const expected = createHmac('sha256', key.secret).update(request.rawBody).digest('base64');
  if (keyName === undefined || signature === undefined || !safeEqual(keyName, key.keyName) || !safeEqual(signature, expected)) {
    throw new SwitchboardError('forbidden', 'Ably webhook signature is missing or invalid (enable "Sign with key" on a batched, enveloped rule)');
  }
  let json: unknown;
  try {
    json = JSON.parse(request.rawBody.toString('utf8'));
  } catch {
    throw new SwitchboardError('invalid_request', 'Ably webhook body is not JSON');
  }
  const body = bodySchema.safeParse(json);
  if (!body.success) throw new SwitchboardError('invalid_request', 'Ably webhook body must be a batched, enveloped {items: [...]}');

  const events: WebhookEvent[] = [];
  for (const item of body.data.items) {
    // Channels Switchboard never produces (other uses of the same Ably app) are ignored.
    const target = fromAblyChannel(item.data.channelId);
    if (!target) continue;
    const base = { tenant: target.tenant, channel: target.channel };
    if (item.source === 'channel.lifecycle') {
      if (item.name === 'channel.opened') events.push({ kind: 'channel_occupied', ...base });
      if (item.name === 'channel.closed') events.push({ kind: 'channel_vacated', ...base });
    } else if (item.source === 'channel.presence') {
      for (const member of item.data.presence ?? []) {
        if (member.clientId === undefined) continue;
        if (member.action === 2 || member.action === 'enter') events.push({ kind: 'member_added', ...base, userId: member.clientId });
        if (member.action === 3 || member.action === 'leave') events.push({ kind: 'member_removed', ...base, userId: member.clientId });
      }
    } else if (item.source === 'channel.message') {
      // Only whispers: server events have no clientId; client messages always carry the token's.
      for (const message of item.data.messages ?? []) {
        if (message.clientId === undefined || !message.name?.startsWith(WHISPER_PREFIX)) continue;
        events.push({
          kind: 'client_event',
          ...base,
          event: message.name.slice(WHISPER_PREFIX.length),
          data: messageData(message.data, message.encoding),
          userId: message.clientId,
        });
      }
    }
  }
  return events;
}
