import { SwitchboardError } from '../../core/errors.js';

export interface ReaderLimitOptions {
  /** Open SSE streams + waiting long polls per (tenant, user). */
  perUser: number;
  perTenant: number;
}

export const DEFAULT_READER_LIMITS: ReaderLimitOptions = { perUser: 16, perTenant: 1000 };

/** Bounds the long-lived reads (SSE, long-poll) one user or tenant can hold open. */
export class ReaderLimits {
  private readonly byUser = new Map<string, number>();
  private readonly byTenant = new Map<string, number>();

  constructor(private readonly options: ReaderLimitOptions = DEFAULT_READER_LIMITS) {}

  /** Takes a slot or throws `rate_limited`; the returned function gives it back (once). */
  acquire(tenant: string, user: string): () => void {
    const userKey = `${tenant}\u0000${user}`;
    if ((this.byTenant.get(tenant) ?? 0) >= this.options.perTenant) {
      throw new SwitchboardError('rate_limited', 'Too many open streams for this tenant');
    }
    if ((this.byUser.get(userKey) ?? 0) >= this.options.perUser) {
      throw new SwitchboardError('rate_limited', `At most ${this.options.perUser} open streams per user`);
    }
    bump(this.byTenant, tenant, 1);
    bump(this.byUser, userKey, 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      bump(this.byTenant, tenant, -1);
      bump(this.byUser, userKey, -1);
    };
  }

  get open(): number {
    let total = 0;
    for (const count of this.byTenant.values()) total += count;
    return total;
  }
}

function bump(counts: Map<string, number>, key: string, delta: number): void {
  const next = (counts.get(key) ?? 0) + delta;
  if (next <= 0) counts.delete(key);
  else counts.set(key, next);
}
