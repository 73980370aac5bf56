/**
 * Whether the provider is taking events, from the delivery outcomes: a run of failed
 * attempts or refusals with no delivery in between (bad credentials, wrong host, provider
 * down) makes it not ready, with the last reason, until the next event goes through.
 */
import type { DeliveryObserver } from './publish/delivery.js';
import type { ComponentHealth } from '../core/health.js';

/** Failures in a row before the provider counts as failing: one timeout or refusal is not an outage. */
export const PROVIDER_FAILURE_THRESHOLD = 3;

const reasonOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

export class ProviderHealth {
  private failures = 0;
  private failingSince: number | undefined;
  private lastReason = '';

  constructor(
    private readonly provider: string,
    private readonly threshold = PROVIDER_FAILURE_THRESHOLD,
  ) {}

  /** Passes every outcome on to `observer` and learns from it. */
  watching(observer: DeliveryObserver): DeliveryObserver {
    return {
      delivered: (messages) => {
        this.failures = 0;
        this.failingSince = undefined;
        observer.delivered(messages);
      },
      failed: (messages, attempt, error) => {
        this.failed(reasonOf(error));
        observer.failed(messages, attempt, error);
      },
      undeliverable: (failure) => {
        this.failed(failure.reason);
        observer.undeliverable?.(failure);
      },
    };
  }

  health(): ComponentHealth {
    if (this.failures < this.threshold || this.failingSince === undefined) return { ready: true };
    return {
      ready: false,
      detail: `the ${this.provider} provider has not taken an event in ${this.failures} attempts in a row; last: ${this.lastReason}`,
      since: this.failingSince,
    };
  }

  private failed(reason: string): void {
    this.failures += 1;
    this.failingSince ??= Date.now();
    this.lastReason = reason;
  }
}
