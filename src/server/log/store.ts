/**
 * The per-channel event log. Implementations: memory (tests), sqlite (embedded
 * default), redis (several BFF nodes). One contract suite runs against all of them.
 *
 * Besides the events, every store keeps per (tenant, channel) a provider delivery
 * cursor (`deliveredSeq`): events with a higher seq are still pending for the provider.
 * The cursor is persisted with the log, so the publish pipeline resumes after a restart,
 * and retention never drops an event above it (a pending event is kept until delivered).
 *
 * Dedupe window: an `id` is recognised for as long as its event is kept, i.e. within the
 * namespace retention (size / ttl), plus for as long as it is still pending delivery.
 */
import type { ComponentHealth } from '../../core/health.js';
import type { Envelope, JsonValue } from '../../core/envelope.js';

export interface Retention {
  /** Keep at most this many events per channel (history.size, or a recovery minimum). */
  size: number;
  /** Drop events older than this. */
  ttlSeconds?: number;
}

export interface AppendRequest {
  tenant: string;
  id: string;
  channel: string;
  event: string;
  data: JsonValue;
  ts: number;
  retention: Retention;
}

export interface Appended {
  envelope: Envelope;
  /** True when `id` was already in the log: the original envelope is returned and nothing is appended. */
  duplicate: boolean;
}

export interface ChannelRef {
  tenant: string;
  channel: string;
}

/** Tells readers that (tenant, channel) has events up to `seq`; `envelope` is included when known in-process. */
export interface AppendNotice extends ChannelRef {
  seq: number;
  envelope?: Envelope;
}

export interface EventStore {
  /** Whether the store can be reached now (stores over the network); always ready when absent. */
  health?(): ComponentHealth;
  /** Assigns the next `seq` for (tenant, channel): strictly increasing, no holes. */
  append(request: AppendRequest): Promise<Appended>;
  /** Events with `seq > afterSeq`, oldest first, at most `limit`. */
  read(tenant: string, channel: string, afterSeq: number, limit: number): Promise<Envelope[]>;
  /** The highest seq ever assigned on the channel (0 when none), even if that event is no longer kept. */
  lastSeq(tenant: string, channel: string): Promise<number>;
  /** The provider delivery cursor: every event up to it has been taken by the provider. */
  deliveredSeq(tenant: string, channel: string): Promise<number>;
  /** Moves the delivery cursor forward (never back) and applies retention to what is now delivered. */
  markDelivered(tenant: string, channel: string, seq: number): Promise<void>;
  /** Channels whose delivery cursor is behind their last seq. */
  pendingChannels(): Promise<ChannelRef[]>;
  /**
   * Claims (or renews) the right to deliver a channel's events, so only one BFF node hands a
   * channel to the provider at a time and per-channel order holds across nodes. Single-process
   * stores always grant it.
   */
  claimDelivery(tenant: string, channel: string, owner: string, ttlMs: number): Promise<boolean>;
  releaseDelivery(tenant: string, channel: string, owner: string): Promise<void>;
  /** Appends made by other processes sharing the store (redis); in-process stores leave this out. */
  watchAppends?(listener: (notice: AppendNotice) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export function channelKey(tenant: string, channel: string): string {
  return `${tenant}\u0000${channel}`;
}
