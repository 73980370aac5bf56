/**
 * The normalized lifecycle stream the app receives, whichever provider is behind: as HTTP
 * webhooks (Standard Webhooks, see sender.ts) and through the in-process `onWebhook` callback.
 *
 * Every event is `{ id, type, timestamp, data }`; `id` is unique and doubles as the
 * `webhook-id` header, stable across retries. Channels are always tenant-relative.
 */
import { ulid } from 'ulid';
import type { WebhookEvent } from '../../../providers/types.js';

export const LIFECYCLE_EVENT_TYPES = ['channel.occupied', 'channel.vacated', 'presence.joined', 'presence.left', 'delivery.failed'] as const;
export type LifecycleEventType = (typeof LIFECYCLE_EVENT_TYPES)[number];

interface ChannelData {
  tenant: string;
  /** Tenant-relative, e.g. `chat:general`. */
  channel: string;
}

export type LifecycleEventData =
  | { type: 'channel.occupied' | 'channel.vacated'; data: ChannelData }
  | { type: 'presence.joined' | 'presence.left'; data: ChannelData & { user: string } }
  | {
      type: 'delivery.failed';
      /** The logged event the provider refused for good: its id, seq and name, and why. */
      data: ChannelData & { eventId: string; seq: number; event: string; reason: string };
    };

export type LifecycleEvent = LifecycleEventData & {
  id: string;
  /** ISO 8601, when Switchboard learned of it. */
  timestamp: string;
};

export function newLifecycleEvent(input: LifecycleEventData, now: number = Date.now()): LifecycleEvent {
  return { ...input, id: `evt_${ulid(now)}`, timestamp: new Date(now).toISOString() };
}

/**
 * The one place provider events (`WebhookEvent`: hosted webhooks and the local server alike)
 * become lifecycle events. Client events are ephemeral and not part of the stream.
 */
export function fromProviderEvent(event: WebhookEvent): LifecycleEventData | undefined {
  const base = { tenant: event.tenant, channel: event.channel };
  switch (event.kind) {
    case 'channel_occupied':
      return { type: 'channel.occupied', data: base };
    case 'channel_vacated':
      return { type: 'channel.vacated', data: base };
    case 'member_added':
      return { type: 'presence.joined', data: { ...base, user: event.userId } };
    case 'member_removed':
      return { type: 'presence.left', data: { ...base, user: event.userId } };
    case 'client_event':
      return undefined;
  }
}

/** Events of one channel are delivered in order; this is their queue. */
export function orderKey(event: LifecycleEvent): string {
  return `${event.data.tenant}\u0000${event.data.channel}`;
}
