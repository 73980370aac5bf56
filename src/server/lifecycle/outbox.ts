/**
 * The durable webhook outbox: lifecycle events waiting for the app's endpoint, kept in the
 * same store as the event log (sqlite file / Redis) so nothing is lost across restarts or
 * while the app is down. Implementations: memory (tests), sqlite, redis; one contract suite
 * (test/unit/webhook-outbox-contract.test.ts) runs against all of them.
 *
 * Order: entries with the same `orderKey` (one tenant channel) form a FIFO queue and only
 * its head is ever handed out, so the app sees a channel's events in order. A handed-out
 * head is leased (its due time moves `leaseMs` ahead): a sender that crashes mid-request
 * loses nothing, the head is handed out again once the lease runs out (at-least-once).
 */

export interface OutboxMessage {
  /** The event id, sent as `webhook-id`; unique per message. */
  id: string;
  orderKey: string;
  tenant: string;
  /** The JSON body, exactly as signed and sent. */
  payload: string;
  queuedAt: number;
}

export interface PendingMessage extends OutboxMessage {
  /** Delivery attempts so far. */
  attempts: number;
  lastError?: string;
}

export interface DeadLetter extends OutboxMessage {
  attempts: number;
  lastError: string;
  deadAt: number;
}

/**
 * How many heads of each tenant one claim may hand out, so that one tenant's slow or
 * failing endpoint handler never takes every slot of the sender.
 */
export interface ClaimRoom {
  /** For a tenant not listed in `tenants`. */
  perTenant: number;
  /** Tenants with less room (requests already in flight, or waiting for a probe); 0 = none. */
  tenants: ReadonlyMap<string, number>;
}

/** Due heads looked at per claim when tenants are skipped for lack of room. */
export const MAX_CLAIM_SCAN = 2000;

export interface WebhookOutbox {
  /** Appends to the tail of each message's queue, in the order given. An id already pending is ignored. */
  enqueue(messages: OutboxMessage[]): Promise<void>;
  /**
   * Heads of queues due at `now`, oldest due first, at most `limit` and at most the room of
   * each tenant; each is leased until `now + leaseMs`.
   */
  claimDue(now: number, limit: number, leaseMs: number, room?: ClaimRoom): Promise<PendingMessage[]>;
  /**
   * The endpoint answers this tenant's events again: every head of the tenant waiting for a
   * retry (not one leased for a request in flight) is due at `now`. Returns how many.
   */
  releaseRetries(tenant: string, now: number): Promise<number>;
  /** The app took it: removes the head; the next in its queue is due at once. */
  delivered(id: string): Promise<void>;
  /** Failed attempt: counts it and makes the head due again at `retryAt`. */
  retryLater(id: string, retryAt: number, error: string): Promise<void>;
  /** Gives up on the head: it moves to the dead-letter list and its queue moves on. */
  deadLetter(id: string, error: string, now: number): Promise<void>;
  /** Dead letters, newest first, optionally of one tenant. */
  deadLetters(tenant: string | undefined, limit: number): Promise<{ total: number; letters: DeadLetter[] }>;
  /**
   * Moves dead letters back to the tail of their queues with fresh attempts and retry window (same id, so
   * the app can still dedupe). `ids` undefined = every dead letter (of `tenant` when given).
   * Returns how many moved.
   */
  redeliver(tenant: string | undefined, ids: string[] | undefined, now: number): Promise<number>;
  close(): Promise<void>;
}

/** Room left for `tenant` in a claim that has already taken `taken` of its heads. */
export function roomFor(room: ClaimRoom | undefined, tenant: string, taken: number): number {
  if (!room) return Number.POSITIVE_INFINITY;
  return (room.tenants.get(tenant) ?? room.perTenant) - taken;
}

/** Longest `lastError` kept; receivers' error pages can be large. */
export const MAX_ERROR_LENGTH = 300;

/** Unpaired UTF-16 surrogates: text stores (SQLite, Redis) keep UTF-8, where they cannot be written. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** An error text as kept with a message: bounded, and well-formed so every store keeps it as it is. */
export function clipError(error: string): string {
  const clipped = error.length > MAX_ERROR_LENGTH ? `${error.slice(0, MAX_ERROR_LENGTH)}…` : error;
  return clipped.replace(LONE_SURROGATE, '\uFFFD');
}

/** A dead letter as the admin API shows it: the event as sent, and why it was given up. */
export function deadLetterView(letter: DeadLetter) {
  return {
    id: letter.id,
    tenant: letter.tenant,
    attempts: letter.attempts,
    lastError: letter.lastError,
    queuedAt: letter.queuedAt,
    deadAt: letter.deadAt,
    event: JSON.parse(letter.payload) as unknown,
  };
}
