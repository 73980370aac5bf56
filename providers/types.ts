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
 * provider's own SDK (pusher-js, ably, supabase-js), loaded lazily, and maps
 * tenant-relative names with src/core/provider-names.ts (see the notes further down).
 */
import type { Server as HttpServer } from 'node:http';
import type { Router } from 'express';
import type { Capabilities } from '../src/core/capabilities.js';
import type { Envelope, JsonValue } from '../src/core/envelope.js';
import type { ComponentHealth } from '../src/core/health.js';
import type { SwitchboardError } from '../src/core/errors.js';
import type { AblyTokenRequest, ProviderClientConfig, TokenResponse } from '../src/core/token-response.js';

export type ProviderName = 'local' | 'pusher' | 'ably' | 'supabase';

export interface ProviderLimits {
  /** The provider's size limit; `data` alone never exceeds it, `payloadProblem` checks the envelope around it exactly. */
  maxPayloadBytes: number;
  /** Most envelopes one `publish` call may carry. */
  maxBatchSize: number;
  /** Largest webhook request body the provider sends (default 1 MiB). */
  maxWebhookBodyBytes?: number;
}

/** What a verified capability token grants; the only input providers derive credentials from. */
export interface ClientGrant {
  tenant: string;
  user: string;
  info: Record<string, JsonValue>;
  caps: Capabilities;
  /** Epoch ms; provider credentials must not outlive it. */
  expiresAt: number;
  /**
   * Issuance stamp of the capability token (epoch µs, see src/server/tokens/issue-stamp.ts):
   * credentials derived from it stop working once the user is terminated after it.
   */
  issuedAt?: number;
  /** Holder has the `admin` role: may watch its own tenant on the admin page. */
  admin?: boolean;
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

export interface PusherUserAuthentication {
  auth: string;
  user_data: string;
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
  /** Presence channels: the namespace's limits (the BFF already checked the grant's info against `maxInfoBytes`). */
  presenceLimits?: { maxMembers: number; maxInfoBytes: number };
  /** The namespace is a cache namespace: the subscriber first gets the channel's last event. */
  cache?: boolean;
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

export interface TenantStats {
  tenant: string;
  /** Connections subscribed to at least one channel of the tenant; undefined where the provider cannot tell (hosted APIs). */
  connections?: number;
  /** Occupied channels; `subscribers` is undefined where the provider only reports occupancy. */
  channels: { channel: string; subscribers?: number; presenceMembers?: number }[];
}

export type WebhookEvent =
  | { kind: 'channel_occupied' | 'channel_vacated'; tenant: string; channel: string }
  | { kind: 'member_added' | 'member_removed'; tenant: string; channel: string; userId: string }
  | { kind: 'client_event'; tenant: string; channel: string; event: string; data: JsonValue; userId?: string };

export interface WebhookRequest {
  headers: Record<string, string | undefined>;
  rawBody: Buffer;
}

/** Read access to the BFF's event log, for providers that replay from it (cache namespaces). */
export type RevocationCheck = (tenant: string, user: string, issuedAt: number) => Promise<boolean>;

export interface EventLogReader {
  /** The channel's latest retained envelope. */
  last(tenant: string, channel: string): Promise<Envelope | undefined>;
}

export interface ServerProvider {
  readonly name: ProviderName;
  readonly limits: ProviderLimits;
  /** Provider channel name for a tenant channel (one of the pure mappings in src/core/provider-names.ts). */
  channelName(tenant: string, channel: string, presence: boolean): string;
  /**
   * Delivers envelopes in the order given. Resolves only when the provider has taken all
   * of them. On failure it rejects with a `ProviderPublishError` (providers/publish-error.ts)
   * saying how many leading messages were taken and whether the next one is refused for
   * good; any other rejection means "retry the whole call". Must honour `signal`
   * (timeout / shutdown). Names the provider can never carry must already fail in
   * `channelName` (`invalid_channel`, with the limit), so the BFF rejects them at publish.
   */
  publish(messages: ProviderMessage[], signal: AbortSignal): Promise<void>;
  /**
   * Why the provider would refuse this event for its size, measured as `publish` measures it:
   * the whole envelope with its escaped event and channel names (`limits.maxPayloadBytes`
   * bounds `data` alone), Supabase's Erlang term size. The BFF asks before an event is
   * logged and refuses it with `payload_too_large` (413), so `publish` must never refuse for
   * size what this let through: answer for `largestEnvelope(event)` (any id, seq and ts).
   */
  payloadProblem?(event: Pick<Envelope, 'channel' | 'event' | 'data'>): string | undefined;
  /** The provider part of the `/v1/token` answer (SDK options, provider token). */
  clientConfig(grant: ClientGrant, context: { publicUrl: string }): Promise<ProviderClientConfig>;
  /** Pusher-protocol providers: signs a subscription the BFF has already authorized. */
  authorizeChannel?(request: ChannelAuthorizationRequest): PusherChannelAuthorization;
  /** Pusher-protocol providers: signs `pusher:signin` user data for the grant's tenant-scoped user (`toPusherUserId`). */
  authenticateUser?(request: { grant: ClientGrant; socketId: string }): PusherUserAuthentication;
  /** Sends one event to every signed-in connection of a user of `tenant` (Pusher `#server-to-user-…`). */
  sendToUser?(tenant: string, user: string, event: string, data: JsonValue): Promise<void>;
  /** Closes every connection of a user of `tenant` (signed in, or holding that user's channel authorizations). */
  terminateUser?(tenant: string, user: string): Promise<void>;
  /** Ably: a TokenRequest signed for the grant, served at `POST /v1/auth/ably` to the SDK's authCallback. */
  ablyTokenRequest?(grant: ClientGrant): Promise<AblyTokenRequest>;
  /** Supabase: a fresh short-lived Realtime JWT for the grant, served at `POST /v1/auth/supabase`. */
  supabaseAccessToken?(grant: ClientGrant): Promise<string>;
  /** Current presence members of a presence channel, deduplicated by user. */
  presence?(tenant: string, channel: string): Promise<PresenceMember[]>;
  occupancy?(tenant: string, channel: string): Promise<Occupancy>;
  /** Live per-tenant view for the admin page and metrics: in-process for embedded providers, from the occupancy API for hosted ones. */
  stats?(): TenantStats[] | Promise<TenantStats[]>;
  /** Verifies a provider webhook's signature and normalizes it; throws `forbidden` when it is not genuine. */
  parseWebhook?(request: WebhookRequest): WebhookEvent[];
  /**
   * Webhooks signed with a time: older (or further in the future) than this are refused by
   * `parseWebhook`, and the BFF refuses a body it has already taken for this long (replays).
   */
  readonly webhookMaxAgeMs?: number;
  /** Embedded providers: the BFF hands over its event log once, at start. */
  useEventLog?(log: EventLogReader): void;
  /**
   * Embedded providers: how to tell whether a user was terminated after a capability token
   * (by its issuance stamp) was issued, so authorizations signed under it are refused.
   */
  useRevocations?(isRevoked: RevocationCheck): void;
  /** Embedded providers report occupancy and presence changes themselves (the BFF's lifecycle stream listens here). */
  onLifecycle?(listener: (event: WebhookEvent) => void): void;
  /** Embedded providers serve their WebSocket endpoint on the BFF's own HTTP server. */
  attach?(server: HttpServer): void;
  /** Extra HTTP routes the provider serves at the BFF root (local: the Pusher HTTP API). */
  routes?(): Router;
  /** Embedded providers spread over several nodes (local: its Redis fan-out): whether this node reaches the others. */
  fanOutHealth?(): ComponentHealth;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------
// Client side
//
// A transport wraps one provider SDK (pusher-js, ably, supabase-js) or the BFF's own SSE
// stream. It is deliberately thin: the wrapper in src/client/ owns everything that must
// behave the same on every provider — reconnection with backoff, token refresh, event
// validation, ordering and recovery from history, early access checks. So a transport:
//   - never retries a lost connection by itself: it reports the drop, and the wrapper
//     calls `connect()` again after its backoff (disable or cancel the SDK's own retry);
//   - keeps its subscriptions across `disconnect()`/`connect()` and re-establishes them
//     on every connect, calling `onSubscribed` each time (the wrapper then recovers
//     missed events from history);
//   - maps tenant-relative names to provider names with the pure functions of
//     src/core/provider-names.ts, exactly as the server does;
//   - hands over server events unparsed (`onEvent(payload)`): the wrapper validates them;
//   - must only be loaded lazily (`await import('pusher-js')` inside `connect()`), so
//     the SDK stays out of the wrapper's main bundle.

/**
 * The part of `POST /v1/token`'s answer a transport needs. The wrapper checks only the
 * provider's `name`; each transport parses its own options (`providerClientConfigSchema`'s
 * branch for it) in its lazily loaded chunk.
 */
export type ClientTokenInfo = Pick<TokenResponse, 'token' | 'expiresAt' | 'tenant' | 'user'> & {
  provider: { name: ProviderName; [option: string]: unknown };
};

export interface TransportTarget {
  /** Tenant-relative name, e.g. `chat:general`. */
  channel: string;
  /** The namespace has presence (Pusher: a `presence-` channel; Ably/Supabase: presence enabled). */
  presence: boolean;
}

export interface TransportChannelHandlers {
  /** A server-published event: the envelope as it came off the wire, not yet validated. */
  onEvent(payload: unknown): void;
  /** A client event (whisper) from another member; `event` has no `client-` prefix. */
  onClientEvent(event: string, data: unknown, from: string | undefined): void;
  /** The full member list after the initial sync and after every change, deduplicated by user id. */
  onPresence(members: PresenceMember[]): void;
  /** The subscription is live: after the first subscribe and again after every reconnect. */
  onSubscribed(): void;
  /** The provider refused or lost the subscription; the transport does not retry it. */
  onError(error: SwitchboardError): void;
}

export interface TransportSubscription {
  /** Sends a client event (name without `client-`); false when the subscription is not live. */
  whisper(event: string, data: JsonValue): boolean;
  unsubscribe(): void;
}

export interface TransportFeatures {
  presence: boolean;
  clientEvents: boolean;
  /**
   * Where a presence member's `info` comes from: `token` = the BFF signs it from the
   * capability token (Pusher protocol; the client cannot add to it); `client` = the
   * client sends it when entering (Ably, Supabase).
   */
  presenceInfo: 'token' | 'client';
}

export interface ClientTransport {
  /** e.g. `pusher`, `sse`; shown as `rt.connection.transport`. */
  readonly kind: string;
  readonly features: TransportFeatures;
  /**
   * Opens the connection; resolves once connected, rejects with a SwitchboardError when it
   * could not. Subscriptions made before are (re)established once connected. Errors with
   * code `forbidden` mean the provider refused this client for good (bad key, app
   * disabled): the wrapper stops retrying. Any other code is retried with backoff.
   */
  connect(): Promise<void>;
  /** Drops the connection, keeping subscriptions registered for the next `connect()`. */
  disconnect(): void;
  /** An established connection was lost (not reported after `disconnect()`/`close()`). Codes as for `connect()`. */
  onDrop(listener: (error: SwitchboardError) => void): () => void;
  /** The provider refused something without dropping the connection (e.g. client events over the rate limit). */
  onWarning?(listener: (error: SwitchboardError) => void): () => void;
  /** `presenceInfo` is only used by transports whose `features.presenceInfo` is `client`. */
  subscribe(target: TransportTarget, handlers: TransportChannelHandlers, presenceInfo?: Record<string, JsonValue>): TransportSubscription;
  /** A refreshed token: Ably re-authorizes, Supabase calls `setAuth`; Pusher authorizes per subscribe, so nothing. */
  updateToken(token: ClientTokenInfo): void;
  close(): void;
}

export interface TransportContext {
  /** BFF base URL, e.g. `https://app.example/rt`, no trailing slash. */
  baseUrl: string;
  /** The current capability token; `refresh` forces a new one (after a 401). */
  token(refresh?: boolean): Promise<ClientTokenInfo>;
  fetch: typeof fetch;
  /** How long one connection attempt may take before `connect()` rejects. */
  connectTimeoutMs: number;
}

export type TransportFactory = (token: ClientTokenInfo, context: TransportContext) => ClientTransport;
