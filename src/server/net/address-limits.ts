/**
 * Per-address admission: how many connections one address (see client-address.ts) may
 * hold open, and how fast it may open new ones (a token bucket: `burst` at once, then
 * `ratePerSecond`). Entries disappear once an address holds nothing and its bucket is
 * full again, so the table stays as small as the set of recent addresses.
 */

export interface AddressLimitOptions {
  maxOpen: number;
  /** Unset: no rate limit, only the open count. */
  rate?: { perSecond: number; burst: number };
}

export type AddressRefusal = 'address_limit' | 'rate_limited';

interface Entry {
  open: number;
  tokens: number;
  at: number;
}

export class AddressLimits {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly options: AddressLimitOptions) {}

  /** Counts a new connection of `key`, or says why it is refused (nothing is counted then). */
  admit(key: string, now: number): AddressRefusal | undefined {
    const { rate, maxOpen } = this.options;
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { open: 0, tokens: rate?.burst ?? 0, at: now };
      this.entries.set(key, entry);
    }
    if (entry.open >= maxOpen) return 'address_limit';
    if (rate) {
      entry.tokens = Math.min(rate.burst, entry.tokens + (Math.max(0, now - entry.at) * rate.perSecond) / 1000);
      entry.at = now;
      if (entry.tokens < 1) return 'rate_limited';
      entry.tokens -= 1;
    }
    entry.open += 1;
    return undefined;
  }

  release(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    if (entry.open > 0) entry.open -= 1;
    // Without a rate there is nothing left to remember; with one, prune() waits for the bucket to refill.
    if (entry.open === 0 && !this.options.rate) this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Forgets addresses that hold nothing and could open a full burst again. */
  prune(now: number): void {
    const { rate } = this.options;
    for (const [key, entry] of this.entries) {
      if (entry.open > 0) continue;
      const refilled = !rate || entry.tokens + (Math.max(0, now - entry.at) * rate.perSecond) / 1000 >= rate.burst;
      if (refilled) this.entries.delete(key);
    }
  }
}
