import { DeliveryFailureLog } from './publish/delivery-failures.js';
import type { Server as HttpServer } from 'node:http';
import express, { type Express } from 'express';
import type { AppConfig } from '../core/config.js';
import { SwitchboardError } from '../core/errors.js';
import type { ServerProvider, WebhookEvent } from '../../providers/types.js';
import type { ApiKeys } from './auth/api-keys.js';
import { combineSessionVerifiers, DevSessions, type SessionVerifier } from './auth/session.js';
import { appAuthenticator, type Authenticate } from './auth/app-authenticate.js';
import type { ResolveIdentity, SwitchboardContext } from './context.js';
import { bearerToken } from './http/bearer.js';
import { notFound, problemHandler } from './http/problem.js';
import { fromProviderEvent } from './lifecycle/events.js';
import type { LifecycleTracker } from './lifecycle/subjects.js';
import { webhookMetrics } from './lifecycle/metrics.js';
import { atomicWebhooksFor, createLifecycle, withDeliveryFailures, type LifecycleListener, type WebhookEndpointOptions } from './lifecycle/index.js';
import { createEventHub } from './log/hub.js';
import { DEFAULT_READER_LIMITS, ReaderLimits, type ReaderLimitOptions } from './log/reader-limits.js';
import type { EventStore } from './log/store.js';
import type { Logger } from './logger.js';
import { deliveryMetrics, Metrics } from './metrics.js';
import { refuseOverCapacity } from './net/http-guard.js';
import { guardHttpServer } from './net/http-guard.js';
import { createNetwork, type Network } from './net/network.js';
import { countingDeliveries, RateTracker } from './stats/rate.js';
import type { DeliveryTuning } from './publish/delivery.js';
import { createPublishPipeline, type PublishOutcome } from './publish/pipeline.js';
import { publishFromServer, type ServerPublish } from './publish/server-publish.js';
import { providerCredentialRoutes } from './routes/provider-credentials.js';
import { adminRoutes } from './routes/admin.js';
import { channelInfoRoutes } from './routes/channel-info.js';
import { demoRoutes } from './routes/demo.js';
import { metricsRoutes } from './routes/metrics.js';
import { openApiRoutes } from './routes/openapi.js';
import { webRoutes } from './routes/web.js';
import { lifecycleRoutes } from './routes/lifecycle.js';
import { webhookRoutes } from './routes/webhooks.js';
import { devSessionRoutes } from './routes/dev-session.js';
import { healthRoutes, readiness } from './routes/health.js';
import { ProviderHealth } from './provider-health.js';
import { historyRoutes } from './routes/history.js';
import { DEFAULT_POLL_OPTIONS, pollRoutes, type PollOptions } from './routes/poll.js';
import { publishRoutes } from './routes/publish.js';
import { pusherAuthRoutes } from './routes/pusher-auth.js';
import { DEFAULT_STREAM_OPTIONS, streamRoutes, type StreamOptions } from './routes/stream.js';
import { tokenRoutes } from './routes/token.js';
import { userRoutes } from './routes/users.js';
import { CapabilityTokens } from './tokens/capability-token.js';
import type { TokenRevocations } from './tokens/revocations.js';
import type { SigningKeys } from './tokens/signing-keys.js';

export interface ServerOptions {
  config: AppConfig;
  provider: ServerProvider;
  store: EventStore;
  signingKeys: SigningKeys;
  apiKeys: ApiKeys;
  logger: Logger;
  tokenTtlSeconds?: number;
  /** Where terminated users' token revocations live; in memory (this node only) by default. */
  revocations?: TokenRevocations;
  /** Verifies the app's session JWT (see createAppSessionVerifier). */
  sessionVerifier?: SessionVerifier;
  /** Enables `POST /v1/dev/session`; never in production. */
  devAuth?: boolean;
  /** Replaces session-JWT verification with the library user's own authentication (see Authenticate for how to reject). */
  authenticate?: Authenticate;
  publicUrl?: string;
  /** When set, GET /metrics requires it as a Bearer token. */
  metricsToken?: string;
  /** Without a token, is GET /metrics open (default) or closed (production)? */
  metricsOpen?: boolean;
  /**
   * Receives the lifecycle stream in-process (channel.occupied/vacated, presence.joined/left,
   * delivery.failed): the same events, with the same ids, the webhook endpoint gets.
   */
  onWebhook?: LifecycleListener;
  /** Sends the lifecycle stream to the app's endpoint, signed, from a durable outbox. */
  webhooks?: WebhookEndpointOptions;
  /**
   * The embedded server's occupancy and presence events beyond one process: cluster-wide
   * for several nodes (LifecycleCluster, Redis), or reported after a crash for one node
   * (SqliteLifecycleLedger).
   */
  lifecycleCluster?: LifecycleTracker;
  /** Provider delivery: timeout, retry backoff, circuit breaker (see publish/delivery.ts). */
  delivery?: Partial<DeliveryTuning>;
  /** Client addresses, HTTP limits and descriptor budget; defaults (this process's open-files limit) when unset. */
  network?: Network;
  /** SSE / long-poll: heartbeat, poll timeout, open streams per user and tenant. */
  logReaders?: { stream?: Partial<StreamOptions>; poll?: Partial<PollOptions>; limits?: Partial<ReaderLimitOptions> };
}

export type SwitchboardApp = Express & {
  switchboard: SwitchboardContext;
  /**
   * Publishes from the app's server code, in-process: the same validation, event log and
   * outcome (`delivered`, `accepted`, `refused`, `duplicate`) as `POST /v1/publish`.
   */
  publish(message: ServerPublish): Promise<PublishOutcome>;
  /**
   * Readies `server`, the app's own HTTP server when the app is mounted into another Express
   * app: request timeouts, per-address socket limits and the descriptor cap (see
   * net/http-guard.ts), and the embedded server's (`local`) WebSocket upgrades. `listen` calls it.
   */
  attach(server: HttpServer): void;
  /** Stops accepting work, flushes the pipeline and closes provider and store. */
  shutdown(): Promise<void>;
};

function sessionAuthenticator(verify: SessionVerifier): ResolveIdentity {
  return async (req) => verify(bearerToken(req));
}

export function createServer(options: ServerOptions): SwitchboardApp {
  const devSessions = options.devAuth ? new DevSessions(options.signingKeys) : undefined;
  if (!options.authenticate && !options.sessionVerifier && !devSessions) {
    throw new Error('No end-user authentication configured: set AUTH_JWKS_URL or AUTH_JWT_SECRET, or pass authenticate');
  }
  const hub = createEventHub(options.store, options.logger);
  const network = options.network ?? createNetwork({ logger: options.logger });
  const metrics = new Metrics(options.provider.name, options.provider.stats?.bind(options.provider));
  metrics.observeNetwork(network);
  const rates = new RateTracker();
  const deliveryFailures = new DeliveryFailureLog();
  const providerHealth = new ProviderHealth(options.provider.name);
  const lifecycle = createLifecycle({ endpoint: options.webhooks, listener: options.onWebhook, logger: options.logger, observer: webhookMetrics(metrics.registry) });
  const emitProviderEvent = (event: WebhookEvent) => {
    const input = fromProviderEvent(event);
    if (input) lifecycle.stream.emit([input]);
  };
  const recordProviderEvent = async (event: WebhookEvent) => {
    const input = fromProviderEvent(event);
    if (input) await lifecycle.stream.publish([input]);
  };
  const { lifecycleCluster } = options;
  if (lifecycleCluster && options.provider.onLifecycle) {
    lifecycleCluster.start(recordProviderEvent, atomicWebhooksFor(lifecycle));
    options.provider.onLifecycle((event) => lifecycleCluster.report(event));
  } else {
    options.provider.onLifecycle?.(emitProviderEvent);
  }
  let accepting = true;
  const readerLimits = new ReaderLimits({ ...DEFAULT_READER_LIMITS, ...options.logReaders?.limits });
  const ctx: SwitchboardContext = {
    config: options.config,
    provider: options.provider,
    store: options.store,
    pipeline: createPublishPipeline({
      store: options.store,
      provider: options.provider,
      namespaces: options.config.namespaces,
      logger: options.logger,
      hub,
      tuning: options.delivery,
      observer: providerHealth.watching(
        countingDeliveries(rates, withDeliveryFailures(deliveryMetrics(metrics, options.provider.name, deliveryFailures), lifecycle.stream)),
      ),
      onPublished(tenant, outcomes) {
        for (const { status } of outcomes) metrics.publishes.inc({ tenant, provider: options.provider.name, status });
        rates.record(tenant, outcomes.filter((outcome) => outcome.status !== 'duplicate').length);
      },
    }),
    hub,
    metrics,
    rates,
    deliveryFailures,
    readiness: () => readiness({ accepting, store: options.store.health?.(), provider: providerHealth.health(), fanOut: options.provider.fanOutHealth?.() }),
    lifecycle,
    signingKeys: options.signingKeys,
    tokens: new CapabilityTokens(options.signingKeys, options.tokenTtlSeconds ?? 3600, options.revocations),
    authenticate: options.authenticate ? appAuthenticator(options.authenticate) : sessionAuthenticator(combineSessionVerifiers(options.sessionVerifier, devSessions)),
    devSessions,
    apiKeys: options.apiKeys,
    logger: options.logger,
    publicUrl: options.publicUrl,
    network,
  };

  options.provider.useEventLog?.({
    async last(tenant, channel) {
      const seq = await options.store.lastSeq(tenant, channel);
      if (seq === 0) return undefined;
      const [envelope] = await options.store.read(tenant, channel, seq - 1, 1);
      return envelope;
    },
  });

  options.provider.useRevocations?.((tenant, user, issuedAt) => ctx.tokens.isRevoked(tenant, user, issuedAt));
  const app = express();
  app.disable('x-powered-by');
  // API answers are per-token and no-store; hashing every history page for an ETag only costs CPU.
  app.set('etag', false);
  // req.ip, req.protocol and req.hostname believe X-Forwarded-* only from the proxies the
  // admission code trusts (SWITCHBOARD_TRUSTED_PROXIES): a client on loopback is no proxy.
  app.set('trust proxy', (address: string) => network.addresses.peerIsTrustedProxy(address));
  app.use((_req, _res, next) => {
    next(accepting ? undefined : new SwitchboardError('provider_unavailable', 'Server is shutting down'));
  });
  app.use(healthRoutes(ctx.readiness));
  app.use(refuseOverCapacity(network.refusals));
  app.use(tokenRoutes(ctx));
  app.use(pusherAuthRoutes(ctx));
  app.use(providerCredentialRoutes(ctx));
  app.use(publishRoutes(ctx));
  app.use(userRoutes(ctx));
  app.use(historyRoutes(ctx));
  app.use(streamRoutes(ctx, hub, readerLimits, { ...DEFAULT_STREAM_OPTIONS, ...options.logReaders?.stream }));
  app.use(pollRoutes(ctx, hub, readerLimits, { ...DEFAULT_POLL_OPTIONS, ...options.logReaders?.poll }));
  app.use(channelInfoRoutes(ctx));
  app.use(adminRoutes(ctx));
  app.use(metricsRoutes(metrics, { token: options.metricsToken, open: options.metricsOpen ?? true }));
  app.use(openApiRoutes());
  app.use(webhookRoutes(ctx));
  app.use(lifecycleRoutes(ctx));
  app.use(webRoutes({ demo: devSessions !== undefined }));
  if (devSessions) app.use(devSessionRoutes(devSessions), demoRoutes(ctx));
  if (options.provider.routes) app.use(options.provider.routes());
  app.use(notFound);
  app.use(problemHandler(options.logger, (req, problem) => {
    if (problem.status === 401 || problem.status === 403) metrics.authFailures.inc({ route: req.route?.path ?? 'unmatched', code: problem.code });
  }));

  return Object.assign(app, {
    switchboard: ctx,
    publish: (message: ServerPublish) => {
      if (!accepting) return Promise.reject(new SwitchboardError('provider_unavailable', 'Server is shutting down'));
      return publishFromServer(ctx.pipeline, message);
    },
    attach: (server: HttpServer) => {
      network.servers.push(guardHttpServer(server, network.http, network.addresses, network.refusals));
      options.provider.attach?.(server);
    },
    async shutdown() {
      accepting = false;
      await ctx.pipeline.close();
      await hub.close();
      await ctx.provider.close();
      // After the provider: its last vacated / left events still reach the outbox.
      await lifecycleCluster?.close();
      await lifecycle.close();
      await ctx.store.close();
      await ctx.tokens.close();
    },
  });
}
