/**
 * Events per second per tenant over a sliding window, for the admin page's chart: what was
 * published, and what the provider took (delivered). A ring of per-second buckets per
 * tenant and kind: O(1) per event, bounded memory per tenant.
 */
import type { DeliveryObserver } from '../publish/delivery.js';

export type RateKind = 'publishes' | 'deliveries';

interface Ring {
  second: number[];
  count: number[];
}

export class RateTracker {
  private readonly buckets: Record<RateKind, Map<string, Ring>> = { publishes: new Map(), deliveries: new Map() };

  constructor(
    private readonly windowSeconds = 300,
    private readonly now: () => number = Date.now,
  ) {}

  record(tenant: string, events = 1, kind: RateKind = 'publishes'): void {
    const second = Math.floor(this.now() / 1000);
    const rings = this.buckets[kind];
    let ring = rings.get(tenant);
    if (!ring) {
      ring = { second: new Array<number>(this.windowSeconds).fill(-1), count: new Array<number>(this.windowSeconds).fill(0) };
      rings.set(tenant, ring);
    }
    const slot = second % this.windowSeconds;
    if (ring.second[slot] !== second) {
      ring.second[slot] = second;
      ring.count[slot] = 0;
    }
    ring.count[slot] = (ring.count[slot] ?? 0) + events;
  }

  /** Counts per second for the last `seconds` seconds, oldest first (the current second included). */
  series(tenant: string, seconds = 120, kind: RateKind = 'publishes'): number[] {
    const span = Math.min(seconds, this.windowSeconds);
    const current = Math.floor(this.now() / 1000);
    const ring = this.buckets[kind].get(tenant);
    return Array.from({ length: span }, (_, index) => {
      const second = current - span + 1 + index;
      const slot = second % this.windowSeconds;
      return ring && ring.second[slot] === second ? (ring.count[slot] ?? 0) : 0;
    });
  }

  tenants(): string[] {
    return [...new Set([...this.buckets.publishes.keys(), ...this.buckets.deliveries.keys()])];
  }
}

/** Wraps a delivery observer so every batch the provider takes also counts as deliveries per tenant. */
export function countingDeliveries(rates: RateTracker, observer: DeliveryObserver): DeliveryObserver {
  return {
    ...observer,
    delivered(messages) {
      observer.delivered(messages);
      const perTenant = new Map<string, number>();
      for (const { tenant } of messages) perTenant.set(tenant, (perTenant.get(tenant) ?? 0) + 1);
      for (const [tenant, count] of perTenant) rates.record(tenant, count, 'deliveries');
    },
  };
}
