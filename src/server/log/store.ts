/**
 * The per-channel event log. Implementations: memory (tests), sqlite (embedded
 * default), redis (several BFF nodes). One contract suite runs against all of them.
 */
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

export interface EventStore {
  /** Assigns the next `seq` for (tenant, channel): strictly increasing, no holes. */
  append(request: AppendRequest): Promise<Appended>;
  /** Events with `seq > afterSeq`, oldest first, at most `limit`. */
  read(tenant: string, channel: string, afterSeq: number, limit: number): Promise<Envelope[]>;
  close(): Promise<void>;
}
