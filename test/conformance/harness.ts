/**
 * What the conformance suite needs from a provider: a real listening BFF wired to it.
 * Each provider supplies one harness (local here; Ably and Supabase later, against
 * their emulators or, with credentials in the environment, the hosted services).
 */
import type { JsonValue } from '../../src/core/envelope.js';

export interface HarnessOptions {
  tokenTtlSeconds?: number;
}

export interface RunningBff {
  bffUrl: string;
  /** An app session for a user of a tenant (dev login). */
  session(tenant: string, user: string, name?: string): Promise<string>;
  /** Server-side publish with the tenant's API key; answers the assigned seq. */
  publish(tenant: string, channel: string, event: string, data: JsonValue): Promise<{ id: string; seq: number }>;
  /** Drops every client connection the way a network failure would; absent if the provider cannot. */
  dropConnections?(): void;
  close(): Promise<void>;
}

export interface ProviderHarness {
  name: string;
  /** Skip the suite (with this reason) when the provider cannot run here, e.g. missing credentials. */
  skip?: string;
  /**
   * How clients get channel access: `bff` = a BFF call per subscription (Pusher protocol,
   * the default); `token` = the provider credentials in the `/v1/token` answer (Supabase).
   */
  channelAccess?: 'bff' | 'token';
  /** The `/v1/token` answer's provider config rewritten to point where nothing listens; defaults to `wsPort: 1`. */
  unreachable?(provider: Record<string, unknown>): Record<string, unknown>;
  start(options?: HarnessOptions): Promise<RunningBff>;
}
