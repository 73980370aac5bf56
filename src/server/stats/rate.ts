/**
 * Events per second per tenant over a sliding window, for the admin page's chart.
 * A ring of per-second buckets: O(1) per publish, bounded memory per tenant.
 */
export class RateTracker {
  private readonly buckets = new Map<string, { second: number[]; count: number[] }>();

  constructor(
    private readonly windowSeconds = 300,
    private readonly now: () => number = Date.now,
  ) {}

  record(tenant: string, events = 1): void {
    const second = Math.floor(this.now() / 1000);
    let ring = this.buckets.get(tenant);
    if (!ring) {
      ring = { second: new Array<number>(this.windowSeconds).fill(-1), count: new Array<number>(this.windowSeconds).fill(0) };
      this.buckets.set(tenant, ring);
    }
    const slot = second % this.windowSeconds;
    if (ring.second[slot] !== second) {
      ring.second[slot] = second;
      ring.count[slot] = 0;
    }
    ring.count[slot] = (ring.count[slot] ?? 0) + events;
  }

  /** Counts per second for the last `seconds` seconds, oldest first (the current second included). */
  series(tenant: string, seconds = 120): number[] {
    const span = Math.min(seconds, this.windowSeconds);
    const current = Math.floor(this.now() / 1000);
    const ring = this.buckets.get(tenant);
    return Array.from({ length: span }, (_, index) => {
      const second = current - span + 1 + index;
      const slot = second % this.windowSeconds;
      return ring && ring.second[slot] === second ? (ring.count[slot] ?? 0) : 0;
    });
  }

  tenants(): string[] {
    return [...this.buckets.keys()];
  }
}
