/**
 * The two interfaces every provider implements.
 *
 * Server side (`ServerProvider`): used by the BFF. It never decides access itself: the
 * BFF checks capabilities (src/core/capabilities.ts) and hands the provider a verified
 * `ClientGrant`, from which each provider derives its own credentials:
 *   - local / pusher: HMAC channel-authorization signatures (`authorizeChannel`);
 *   - ably: a TokenRequest whose capability is the grant's caps with Ably channel names;
 *   - supabase: a Realtime JWT whose claims the shipped RLS policies check.
 * Publishing receives envelopes that are already in the event log; a provider only has
 * to deliver them (the pipeline retries and orders them).
 *
 * Client side (`ClientTransport`): used by the wrapper in src/client/. It wraps the
 * provider's own SDK (pusher-js, ably, supabase-js), loaded lazily, and speaks in
 * provider channel names produced by src/core/provider-names.ts.
 */
import type { Server as HttpServer } from 'node:http';
import type { Router } from 'express';
import type { Capabilities } from '../src/core/capabilities.js';
import type { Envelope, JsonValue } from '../src/core/envelope.js';
import type { ProviderClientConfig } from '../src/core/token-response.js';

export type ProviderName = 'local' | 'pusher' | 'ably' | 'supabase';

export interface ProviderLimits {
  /** Largest JSON-encoded `data` the provider carries in one event (after envelope overhead). */
  maxPayloadBytes: number;
  /** Most envelopes one `publish` call may carry. */
  maxBatchSize: number;
}

/** What a verified capability token grants; the only input providers derive credentials from. */
export interface ClientGrant {
  tenant: string;
  user: string;
  info: Record<string, JsonValue>;
  caps: Capabilities;
  /** Epoch ms; provider credentials must not outlive it. */
  expiresAt: number;
}

export interface ProviderMessage {
  tenant: string;
  envelope: Envelope;
  /** Pusher-protocol connection to leave out of the fan-out (the publisher's own socket). */
  excludeSocketId?: string;
}

export interface PusherChannelAuthorization {
  auth: string;
  channel_data?: string;
}

export interface ChannelAuthorizationRequest {
  grant: ClientGrant;
  socketId: string;
  /** Tenant-relative channel the caps were checked against. */
  channel: string;
  /** Provider channel name, e.g. `presence-chat.acme.general`. */
  providerChannel: string;
  presence: boolean;
  /** Client event names (without `client-`) this subscriber may send on the channel. */
  clientEvents: string[];
}

export interface PresenceMember {
  id: string;
  info: Record<string, JsonValue>;
}

export interface Occupancy {
  /** Connections subscribed to the channel. */
  subscribers: number;
  /** Distinct presence users, for presence channels. */
  presenceMembers?: number;
}

export type WebhookEvent =
  | { kind: 'channel_occupied' | 'channel_vacated'; tenant: string; channel: string }
  | { kind: 'member_added' | 'member_removed'; tenant: string; channel: string; userId: string }
  | { kind: 'client_event'; tenant: string; channel: string; event: string; data: JsonValue; userId?: string };

export interface WebhookRequest {
  headers: Record<string, string | undefined>;
  rawBody: Buffer;
}

export interface ServerProvider {
  readonly name: ProviderName;
  readonly limits: ProviderLimits;
  /** Provider channel name for a tenant channel (one of the pure mappings in src/core/provider-names.ts). */
  channelName(tenant: string, channel: string, presence: boolean): string;
  /**
   * Delivers envelopes in the order given. Resolves only when the provider has taken all
   * of them; rejects otherwise (the pipeline retries the whole batch, ids make it idempotent
   * where the provider dedupes). Must honour `signal` (timeout / shutdown).
   */
  publish(messages: ProviderMessage[], signal: AbortSignal): Promise<void>;
  /** The provider part of the `/v1/token` answer (SDK options, provider token). */
  clientConfig(grant: ClientGrant, context: { publicUrl: string }): Promise<ProviderClientConfig>;
  /** Pusher-protocol providers: signs a subscription the BFF has already authorized. */
  authorizeChannel?(request: ChannelAuthorizationRequest): PusherChannelAuthorization;
  /** Current presence members of a presence channel, deduplicated by user. */
  presence?(tenant: string, channel: string): Promise<PresenceMember[]>;
  occupancy?(tenant: string, channel: string): Promise<Occupancy>;
  /** Verifies a provider webhook's signature and normalizes it; throws `forbidden` when it is not genuine. */
  parseWebhook?(request: WebhookRequest): WebhookEvent[];
  /** Embedded providers serve their WebSocket endpoint on the BFF's own HTTP server. */
  attach?(server: HttpServer): void;
  /** Extra HTTP routes the provider serves at the BFF root (local: the Pusher HTTP API). */
  routes?(): Router;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------
// Client side

export type TransportState = 'connecting' | 'connected' | 'disconnected' | 'failed';

export interface TransportChannelHandlers {
  /** A server-published event; `payload` is the wire form of the envelope. */
  onEvent(event: string, payload: unknown): void;
  /** A client event (whisper) from another member; `event` has no `client-` prefix. */
  onClientEvent(event: string, data: unknown, userId: string | undefined): void;
  /** The full member list after every change, deduplicated by user id. */
  onPresence(members: PresenceMember[]): void;
  onSubscribed(): void;
  onError(error: { code: string; message: string }): void;
}

export interface TransportSubscription {
  whisper(event: string, data: JsonValue): void;
  unsubscribe(): void;
}

export interface ClientTransport {
  readonly state: TransportState;
  onStateChange(listener: (state: TransportState, error?: Error) => void): () => void;
  subscribe(providerChannel: string, presence: boolean, handlers: TransportChannelHandlers): TransportSubscription;
  /** Swaps in fresh provider credentials after a token refresh, keeping subscriptions. */
  updateConfig(config: ProviderClientConfig): void;
  /** Drops and re-opens the connection (used after network changes and in tests). */
  reconnect(): void;
  close(): void;
}

export interface TransportContext {
  /** BFF base URL, for channel authorization. */
  baseUrl: string;
  /** Current capability token (refreshed by the wrapper). */
  token(): Promise<string>;
  fetch: typeof fetch;
}

export type TransportFactory = (config: ProviderClientConfig, context: TransportContext) => Promise<ClientTransport>;
