/**
 * What the embedded server's occupancy and presence events are about, as stored by the
 * trackers that outlive a process (Redis for a cluster, the sqlite file for one node): a
 * subject is the JSON array `["o", tenant, channel]` (an occupied channel) or
 * `["p", tenant, channel, user]` (a user present on a channel).
 */
import { z } from 'zod';
import type { WebhookEvent } from '../../../providers/types.js';
import type { AtomicWebhooks } from './cluster.js';

/**
 * Takes the embedded server's own occupancy and presence transitions and reports the
 * lifecycle events they mean, including those a crashed process could not report itself.
 */
export interface LifecycleTracker {
  /**
   * Events go to `listener`; a promise it returns settles once the event is recorded.
   * `atomic`: trackers on the outbox's Redis write webhooks together with the transitions.
   */
  start(listener: (event: WebhookEvent) => unknown, atomic?: AtomicWebhooks): void;
  report(event: WebhookEvent): void;
  /** After the provider reported its last leaves. */
  close(): Promise<void>;
}

const subjectSchema = z.union([z.tuple([z.literal('o'), z.string(), z.string()]), z.tuple([z.literal('p'), z.string(), z.string(), z.string()])]);
export type Subject = z.infer<typeof subjectSchema>;

export function subjectOf(event: WebhookEvent): Subject | undefined {
  switch (event.kind) {
    case 'channel_occupied':
    case 'channel_vacated':
      return ['o', event.tenant, event.channel];
    case 'member_added':
    case 'member_removed':
      return ['p', event.tenant, event.channel, event.userId];
    case 'client_event':
      return undefined;
  }
}

/** Whether the event starts its subject (occupied, joined) rather than ends it. */
export function isArrival(event: WebhookEvent): boolean {
  return event.kind === 'channel_occupied' || event.kind === 'member_added';
}

/** The event reported when a subject ended. */
export function goneEvent(subject: Subject): WebhookEvent {
  return subject[0] === 'o'
    ? { kind: 'channel_vacated', tenant: subject[1], channel: subject[2] }
    : { kind: 'member_removed', tenant: subject[1], channel: subject[2], userId: subject[3] };
}

/** The event reported when a subject started. */
export function cameEvent(subject: Subject): WebhookEvent {
  return subject[0] === 'o'
    ? { kind: 'channel_occupied', tenant: subject[1], channel: subject[2] }
    : { kind: 'member_added', tenant: subject[1], channel: subject[2], userId: subject[3] };
}

/** Members leave before their channel is vacated. */
export function leavingOrder(subjects: Subject[]): Subject[] {
  return [...subjects].sort((a, b) => (a[0] === b[0] ? 0 : a[0] === 'p' ? -1 : 1));
}

export function parseSubject(text: unknown): Subject | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    const parsed = subjectSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
