/**
 * Sends the outbox to the app's endpoint, signed per Standard Webhooks (`webhook-id`,
 * `webhook-timestamp`, `webhook-signature`) with the `standardwebhooks` reference library.
 * With two secrets (rotation) every request carries both signatures, so the app may verify
 * with either. The id is the event's and never changes; timestamp and signature are fresh
 * on each attempt (receivers reject stale timestamps).
 *
 * Each queue's head is sent alone (per-channel order); heads of different channels go out
 * concurrently, at most `perTenantConcurrency` of one tenant's, so an app handler stuck on
 * one tenant's data leaves the other slots to other tenants. A failed attempt (non-2xx,
 * redirect, timeout, network error) is retried with full-jitter exponential backoff until
 * `retryForMs` after it was queued (default 26 hours), then it becomes a dead letter and its
 * channel's queue moves on.
 *
 * After `probeAfterFailures` failures in a row of one tenant's events, that tenant gets one
 * request at a time (a probe, `probeBackoff` apart); the first one taken makes every head of
 * the tenant that waits out its own backoff due again, so after an outage the backlog
 * drains at the endpoint's pace instead of each channel waiting out its backoff.
 */
import { Webhook } from 'standardwebhooks';
import { deadline } from '../../core/deadline.js';
import type { Logger } from '../logger.js';
import { fullJitterDelay, type BackoffOptions } from '../publish/backoff.js';
import type { ClaimRoom, PendingMessage, WebhookOutbox } from './outbox.js';

export interface WebhookSenderTuning {
  /** One request may take this long. */
  timeoutMs: number;
  backoff: BackoffOptions;
  /** Retries stop this long after a message was queued (at least a day by default). */
  retryForMs: number;
  /** Outbox polling when idle (other nodes' events, due retries). */
  pollMs: number;
  /** Requests in flight at once (each for a different channel). */
  concurrency: number;
  /** Requests in flight at once for one tenant's events, so one tenant's hanging handler leaves the rest to others. */
  perTenantConcurrency: number;
  /** Failed attempts in a row, with no success between, after which a tenant's events wait for a probe. */
  probeAfterFailures: number;
  /** Between probes of a tenant whose events keep failing (one request at a time). */
  probeBackoff: BackoffOptions;
  /** On close, requests in flight may finish for this long before they are aborted (and sent again after a restart). */
  closeGraceMs: number;
}

export const DEFAULT_SENDER_TUNING: WebhookSenderTuning = {
  timeoutMs: 10_000,
  backoff: { baseMs: 5_000, capMs: 60 * 60_000 },
  retryForMs: 26 * 60 * 60_000,
  pollMs: 1_000,
  concurrency: 16,
  perTenantConcurrency: 4,
  probeAfterFailures: 3,
  probeBackoff: { baseMs: 1_000, capMs: 60_000 },
  closeGraceMs: 10_000,
};

export type WebhookAttemptResult = 'delivered' | 'failed' | 'dead';

/** Told how each attempt ended, for metrics. */
export interface WebhookSenderObserver {
  attempted(result: WebhookAttemptResult): void;
}

export interface WebhookSenderOptions {
  url: string;
  /** `whsec_…`; the first is current, a second one is the one being rotated in or out. */
  secrets: string[];
  outbox: WebhookOutbox;
  logger: Logger;
  tuning?: Partial<WebhookSenderTuning>;
  observer?: WebhookSenderObserver;
  now?: () => number;
  random?: () => number;
}

/** How one tenant's events have been faring at the endpoint. */
interface TenantHealth {
  inFlight: number;
  /** Failed attempts since the last success. */
  failures: number;
  /** Set once `probeAfterFailures` is reached: one request at a time, from `probeAt` on. */
  probing: boolean;
  probes: number;
  probeAt: number;
}

export class WebhookSender {
  private readonly signers: Webhook[];
  private readonly tuning: WebhookSenderTuning;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly inFlight = new Set<Promise<void>>();
  /** Stops claiming. */
  private readonly closing = new AbortController();
  /** Aborts requests in flight (once the close grace is over). */
  private readonly aborting = new AbortController();
  private readonly tenants = new Map<string, TenantHealth>();
  private wakeUp: (() => void) | undefined;
  /** A wake-up that came while the loop was busy, so its next sleep is skipped. */
  private woken = false;
  private loop: Promise<void> | undefined;

  constructor(private readonly options: WebhookSenderOptions) {
    if (options.secrets.length === 0) throw new Error('A webhook secret is required');
    this.signers = options.secrets.map((secret) => new Webhook(secret));
    this.tuning = { ...DEFAULT_SENDER_TUNING, ...options.tuning };
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  start(): void {
    this.loop ??= this.run().catch((error: unknown) => {
      this.options.logger.error({ err: error }, 'webhook sender stopped');
    });
  }

  /** New work was queued, or an attempt ended: look at the outbox now. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** Headers for one attempt: the signature covers id, timestamp and body. */
  sign(id: string, payload: string, at: Date): Record<string, string> {
    return {
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': this.signers.map((signer) => signer.sign(id, at, payload)).join(' '),
    };
  }

  private health(tenant: string): TenantHealth {
    let health = this.tenants.get(tenant);
    if (!health) {
      health = { inFlight: 0, failures: 0, probing: false, probes: 0, probeAt: 0 };
      this.tenants.set(tenant, health);
    }
    return health;
  }

  /** Tenants with less than the default room: requests in flight, or waiting for their next probe. */
  private claimRoom(now: number): ClaimRoom {
    const { perTenantConcurrency } = this.tuning;
    const tenants = new Map<string, number>();
    for (const [tenant, health] of this.tenants) {
      const room = health.probing ? (health.inFlight === 0 && health.probeAt <= now ? 1 : 0) : perTenantConcurrency - health.inFlight;
      if (room < perTenantConcurrency) tenants.set(tenant, Math.max(0, room));
    }
    return { perTenant: perTenantConcurrency, tenants };
  }

  private async run(): Promise<void> {
    const { concurrency, pollMs, timeoutMs } = this.tuning;
    while (!this.closing.signal.aborted) {
      const free = concurrency - this.inFlight.size;
      let claimed: PendingMessage[] = [];
      if (free > 0) {
        try {
          const now = this.now();
          // The lease outlives the request, so no other node sends the head meanwhile.
          claimed = await this.options.outbox.claimDue(now, free, timeoutMs + 5_000, this.claimRoom(now));
        } catch (error) {
          this.options.logger.error({ err: error }, 'webhook outbox unavailable');
        }
      }
      for (const message of claimed) {
        const health = this.health(message.tenant);
        health.inFlight += 1;
        const attempt = this.attempt(message, health).finally(() => {
          health.inFlight -= 1;
          if (health.inFlight === 0 && health.failures === 0) this.tenants.delete(message.tenant);
          this.inFlight.delete(attempt);
          this.wake();
        });
        this.inFlight.add(attempt);
      }
      if (claimed.length === 0 || this.inFlight.size >= concurrency) await this.sleep(this.nextWake(pollMs));
    }
  }

  /** Sleeps no longer than until the next probe is due. */
  private nextWake(pollMs: number): number {
    const now = this.now();
    let wait = pollMs;
    for (const health of this.tenants.values()) if (health.probing && health.inFlight === 0) wait = Math.min(wait, Math.max(0, health.probeAt - now));
    return wait;
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        this.woken = false;
        this.closing.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
      this.closing.signal.addEventListener('abort', done);
    });
  }

  private async attempt(message: PendingMessage, health: TenantHealth): Promise<void> {
    const error = await this.post(message);
    const { outbox, logger, observer } = this.options;
    try {
      if (error === undefined) {
        observer?.attempted('delivered');
        await outbox.delivered(message.id);
        await this.recovered(message.tenant, health);
        return;
      }
      const now = this.now();
      if (this.aborting.signal.aborted) {
        // Not the app's fault: due again at once after the restart.
        await outbox.retryLater(message.id, now, error);
        return;
      }
      this.failed(health, now);
      const attempts = message.attempts + 1;
      const backoff = now + fullJitterDelay(attempts, this.tuning.backoff, this.random);
      // While probing, a failed head is due again by the next probe, so there is always one to probe with.
      const retryAt = health.probing ? Math.min(backoff, health.probeAt) : backoff;
      if (retryAt - message.queuedAt > this.tuning.retryForMs) {
        observer?.attempted('dead');
        logger.warn({ webhookId: message.id, attempts, error }, 'webhook given up: now a dead letter');
        await outbox.deadLetter(message.id, error, now);
      } else {
        observer?.attempted('failed');
        logger.info({ webhookId: message.id, attempts, error }, 'webhook attempt failed; will retry');
        await outbox.retryLater(message.id, retryAt, error);
      }
    } catch (storeError) {
      // The lease runs out and the message is sent again: at-least-once.
      logger.error({ err: storeError, webhookId: message.id }, 'webhook outbox update failed');
    }
  }

  private failed(health: TenantHealth, now: number): void {
    health.failures += 1;
    if (health.failures < this.tuning.probeAfterFailures) return;
    health.probing = true;
    health.probes += 1;
    health.probeAt = now + fullJitterDelay(health.probes, this.tuning.probeBackoff, this.random);
  }

  /**
   * The endpoint took one of the tenant's events. After an outage every head that waits out
   * its own backoff is due again, so the backlog drains at the endpoint's pace.
   */
  private async recovered(tenant: string, health: TenantHealth): Promise<void> {
    const wasProbing = health.probing;
    health.failures = 0;
    health.probing = false;
    health.probes = 0;
    if (!wasProbing) return;
    const released = await this.options.outbox.releaseRetries(tenant, this.now());
    this.options.logger.info({ tenant, released }, 'webhook endpoint answers again: retries are due now');
  }

  /** One POST; undefined when the app took it, else why not. */
  private async post(message: PendingMessage): Promise<string | undefined> {
    const limit = deadline(this.tuning.timeoutMs, this.aborting.signal);
    try {
      const response = await fetch(this.options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'Switchboard-Webhooks', ...this.sign(message.id, message.payload, new Date(this.now())) },
        body: message.payload,
        // A redirect is not an acceptance; following it would send the signed event elsewhere.
        redirect: 'manual',
        signal: limit.signal,
      });
      await response.body?.cancel().catch(() => undefined);
      return response.status >= 200 && response.status < 300 ? undefined : `HTTP ${response.status}`;
    } catch (error) {
      if (limit.timedOut) return `no answer within ${this.tuning.timeoutMs} ms`;
      if (limit.signal.aborted) return 'shutting down';
      return error instanceof Error ? `${error.name}: ${error.message}` : 'request failed';
    } finally {
      limit.dispose();
    }
  }

  /**
   * Stops claiming; requests in flight get `closeGraceMs` to finish (so what the app took is
   * not sent again after a restart), then are aborted and due again at once after it.
   */
  async close(): Promise<void> {
    this.closing.abort();
    await this.loop;
    const grace = setTimeout(() => this.aborting.abort(new Error('webhook sender closed')), this.tuning.closeGraceMs);
    await Promise.allSettled([...this.inFlight]);
    clearTimeout(grace);
  }
}
