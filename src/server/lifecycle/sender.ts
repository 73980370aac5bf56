/**
 * Sends the outbox to the app's endpoint, signed per Standard Webhooks (`webhook-id`,
 * `webhook-timestamp`, `webhook-signature`) with the `standardwebhooks` reference library.
 * With two secrets (rotation) every request carries both signatures, so the app may verify
 * with either. The id is the event's and never changes; timestamp and signature are fresh
 * on each attempt (receivers reject stale timestamps).
 *
 * Each queue's head is sent alone (per-channel order); heads of different channels go out
 * concurrently. A failed attempt (non-2xx, redirect, timeout, network error) is retried
 * with full-jitter exponential backoff until `retryForMs` after it was queued (default 26
 * hours), then it becomes a dead letter and its channel's queue moves on.
 */
import { Webhook } from 'standardwebhooks';
import type { Logger } from '../logger.js';
import { fullJitterDelay, type BackoffOptions } from '../publish/backoff.js';
import type { PendingMessage, WebhookOutbox } from './outbox.js';

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
}

export const DEFAULT_SENDER_TUNING: WebhookSenderTuning = {
  timeoutMs: 10_000,
  backoff: { baseMs: 5_000, capMs: 60 * 60_000 },
  retryForMs: 26 * 60 * 60_000,
  pollMs: 1_000,
  concurrency: 8,
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

export class WebhookSender {
  private readonly signers: Webhook[];
  private readonly tuning: WebhookSenderTuning;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly closing = new AbortController();
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

  private async run(): Promise<void> {
    const { concurrency, pollMs, timeoutMs } = this.tuning;
    while (!this.closing.signal.aborted) {
      const free = concurrency - this.inFlight.size;
      let claimed: PendingMessage[] = [];
      if (free > 0) {
        try {
          // The lease outlives the request, so no other node sends the head meanwhile.
          claimed = await this.options.outbox.claimDue(this.now(), free, timeoutMs + 5_000);
        } catch (error) {
          this.options.logger.error({ err: error }, 'webhook outbox unavailable');
        }
      }
      for (const message of claimed) {
        const attempt = this.attempt(message).finally(() => {
          this.inFlight.delete(attempt);
          this.wake();
        });
        this.inFlight.add(attempt);
      }
      if (claimed.length === 0 || this.inFlight.size >= concurrency) await this.sleep(pollMs);
    }
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

  private async attempt(message: PendingMessage): Promise<void> {
    const error = await this.post(message);
    const { outbox, logger, observer } = this.options;
    try {
      if (error === undefined) {
        observer?.attempted('delivered');
        await outbox.delivered(message.id);
        return;
      }
      const now = this.now();
      if (this.closing.signal.aborted) {
        // Not the app's fault: due again at once after the restart.
        await outbox.retryLater(message.id, now, error);
        return;
      }
      const attempts = message.attempts + 1;
      const retryAt = now + fullJitterDelay(attempts, this.tuning.backoff, this.random);
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

  /** One POST; undefined when the app took it, else why not. */
  private async post(message: PendingMessage): Promise<string | undefined> {
    const signal = AbortSignal.any([this.closing.signal, AbortSignal.timeout(this.tuning.timeoutMs)]);
    try {
      const response = await fetch(this.options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'Switchboard-Webhooks', ...this.sign(message.id, message.payload, new Date(this.now())) },
        body: message.payload,
        // A redirect is not an acceptance; following it would send the signed event elsewhere.
        redirect: 'manual',
        signal,
      });
      await response.body?.cancel().catch(() => undefined);
      return response.status >= 200 && response.status < 300 ? undefined : `HTTP ${response.status}`;
    } catch (error) {
      if (signal.aborted) return this.closing.signal.aborted ? 'shutting down' : `no answer within ${this.tuning.timeoutMs} ms`;
      return error instanceof Error ? `${error.name}: ${error.message}` : 'request failed';
    }
  }

  /** Stops claiming; requests in flight are aborted and their leases let them go out again later. */
  async close(): Promise<void> {
    this.closing.abort();
    await this.loop;
    await Promise.allSettled([...this.inFlight]);
  }
}
