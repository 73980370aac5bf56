/** Verifies and normalizes Pusher webhooks (pusher-docs server_api/webhooks.md). */
import { z } from 'zod';
import type { JsonValue } from '../../src/core/envelope.js';
import { isJsonValue, jsonValueProblem } from '../../src/core/json-limits.js';
import { SwitchboardError } from '../../src/core/errors.js';
import { fromPusherChannel } from '../../src/core/provider-names.js';
import { safeEqual, verifyWebhookSignature, type PusherCredentials } from '../pusher-protocol/index.js';
import type { WebhookEvent, WebhookRequest } from '../types.js';

const userId = z.union([z.string(), z.number()]).transform(String);

const webhookBodySchema = z.object({
  time_ms: z.number(),
  events: z.array(
    z.object({
      name: z.string(),
      channel: z.string().optional(),
      user_id: userId.optional(),
      event: z.string().optional(),
      data: z.unknown().optional(),
    }),
  ),
});

function header(headers: WebhookRequest['headers'], name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

function clientData(data: unknown): JsonValue {
  if (typeof data !== 'string') return (data ?? null) as JsonValue;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return data;
  }
  // Client data is hostile: nesting past the limit is handed on as the text it came as.
  return isJsonValue(parsed) ? parsed : data;
}

/** Pusher webhooks older than this (by their signed `time_ms`) are refused unless configured otherwise. */
export const DEFAULT_WEBHOOK_MAX_AGE_MS = 5 * 60_000;

export interface WebhookFreshness {
  /** Refused when `time_ms` is further than this from `now`, either way (a replay, or a clock far off). */
  maxAgeMs: number;
  now: number;
}

export function parsePusherWebhook(
  credentials: PusherCredentials,
  request: WebhookRequest,
  freshness: WebhookFreshness = { maxAgeMs: DEFAULT_WEBHOOK_MAX_AGE_MS, now: Date.now() },
): WebhookEvent[] {
  const key = header(request.headers, 'x-pusher-key');
  const signature = header(request.headers, 'x-pusher-signature');
  if (key === undefined || signature === undefined || !safeEqual(key, credentials.key) || !verifyWebhookSignature(credentials.secret, request.rawBody, signature)) {
    throw new SwitchboardError('forbidden', 'Pusher webhook signature is missing or invalid');
  }
  const contentType = header(request.headers, 'content-type') ?? '';
  if (!contentType.toLowerCase().startsWith('application/json')) throw new SwitchboardError('invalid_request', 'Pusher webhooks must be application/json');
  let json: unknown;
  try {
    json = JSON.parse(request.rawBody.toString('utf8'));
  } catch {
    throw new SwitchboardError('invalid_request', 'Pusher webhook body is not JSON');
  }
  const depthProblem = jsonValueProblem(json);
  if (depthProblem) throw new SwitchboardError('invalid_request', `Pusher webhook body refused: ${depthProblem}`);
  const body = webhookBodySchema.safeParse(json);
  if (!body.success) throw new SwitchboardError('invalid_request', 'Pusher webhook body must be {time_ms, events: [...]}');
  if (!(Math.abs(freshness.now - body.data.time_ms) <= freshness.maxAgeMs)) {
    throw new SwitchboardError('forbidden', `Pusher webhook refused: its time_ms is more than ${Math.round(freshness.maxAgeMs / 1000)} s from now`);
  }

  const events: WebhookEvent[] = [];
  for (const event of body.data.events) {
    // Channels Switchboard never produces (other apps on the same Pusher app) are ignored.
    const channel = event.channel === undefined ? undefined : fromPusherChannel(event.channel);
    if (!channel) continue;
    const base = { tenant: channel.tenant, channel: channel.channel };
    switch (event.name) {
      case 'channel_occupied':
      case 'channel_vacated':
        events.push({ kind: event.name, ...base });
        break;
      case 'member_added':
      case 'member_removed':
        if (event.user_id !== undefined) events.push({ kind: event.name, ...base, userId: event.user_id });
        break;
      case 'client_event':
        if (event.event?.startsWith('client-')) {
          events.push({
            kind: 'client_event',
            ...base,
            event: event.event.slice('client-'.length),
            data: clientData(event.data),
            ...(event.user_id === undefined ? {} : { userId: event.user_id }),
          });
        }
        break;
      default:
        break;
    }
  }
  return events;
}
