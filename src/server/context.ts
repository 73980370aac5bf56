import type { DeliveryFailureLog } from './publish/delivery-failures.js';
import type { Request } from 'express';
import type { AppConfig } from '../core/config.js';
import type { ServerProvider } from '../../providers/types.js';
import type { ApiKeys } from './auth/api-keys.js';
import type { Identity } from './auth/identity.js';
import type { Readiness } from './routes/health.js';
import type { DevSessions } from './auth/session.js';
import type { Lifecycle } from './lifecycle/index.js';
import type { EventHub } from './log/hub.js';
import type { EventStore } from './log/store.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { Network } from './net/network.js';
import type { PublishPipeline } from './publish/pipeline.js';
import type { RateTracker } from './stats/rate.js';
import type { CapabilityTokens } from './tokens/capability-token.js';
import type { SigningKeys } from './tokens/signing-keys.js';

/** Resolves the end user behind a request to `/v1/token`; throws a SwitchboardError when there is none. */
export type ResolveIdentity = (req: Request) => Promise<Identity>;

/** Everything the routes share, built once by `createServer`. */
export interface SwitchboardContext {
  config: AppConfig;
  provider: ServerProvider;
  store: EventStore;
  pipeline: PublishPipeline;
  /** Wakes SSE and long-poll readers after appends. */
  hub: EventHub;
  metrics: Metrics;
  /** Publishes per second per tenant, for the admin page. */
  rates: RateTracker;
  /** Events the provider refused for good, for the admin view. */
  deliveryFailures: DeliveryFailureLog;
  /** Store and provider reachability, for /readyz and the admin view. */
  readiness(): Readiness;
  /** Lifecycle events to the app: the stream, and the webhook outbox when an endpoint is set. */
  lifecycle: Lifecycle;
  signingKeys: SigningKeys;
  tokens: CapabilityTokens;
  authenticate: ResolveIdentity;
  devSessions: DevSessions | undefined;
  apiKeys: ApiKeys;
  logger: Logger;
  /** Public origin for provider client config; the request's origin when undefined. */
  publicUrl: string | undefined;
  /** Client addresses, HTTP limits, descriptor budget, refusals (see net/). */
  network: Network;
}
