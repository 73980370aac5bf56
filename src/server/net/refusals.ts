/**
 * Connections refused by admission control (capacity, per-address limits, sign-in
 * deadline): counted for `/metrics` and logged at most once per interval, so a flood
 * neither goes unnoticed nor floods the log.
 */

export type RefusalKind = 'websocket' | 'http';

export type RefusalReason =
  /** The connection cap (derived from the open-files limit, or configured). */
  | 'over_capacity'
  /** Too many connections open from one address. */
  | 'address_limit'
  /** One address opening connections faster than its rate. */
  | 'rate_limited'
  /** The share of the cap not-yet-authenticated connections may hold is full. */
  | 'unauthenticated_limit'
  /** Neither subscribed nor signed in before the deadline. */
  | 'auth_timeout';

export interface RefusalLogger {
  warn(details: object, message: string): void;
}

const REFUSAL_LOG_INTERVAL_MS = 10_000;

export class Refusals {
  private readonly totals = new Map<string, number>();
  private sinceLog = new Map<string, number>();
  private lastLog = -Infinity;

  constructor(
    private readonly logger: RefusalLogger | undefined,
    private readonly intervalMs = REFUSAL_LOG_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  record(kind: RefusalKind, reason: RefusalReason): void {
    const key = `${kind}:${reason}`;
    this.totals.set(key, (this.totals.get(key) ?? 0) + 1);
    this.sinceLog.set(key, (this.sinceLog.get(key) ?? 0) + 1);
    const now = this.now();
    if (now - this.lastLog < this.intervalMs) return;
    this.lastLog = now;
    const refused = Object.fromEntries(this.sinceLog);
    this.sinceLog = new Map();
    this.logger?.warn({ refused }, 'connections refused by admission control (counts since the last such message)');
  }

  /** Totals since start, per kind and reason. */
  counts(): { kind: RefusalKind; reason: RefusalReason; count: number }[] {
    return [...this.totals].map(([key, count]) => {
      const [kind, reason] = key.split(':') as [RefusalKind, RefusalReason];
      return { kind, reason, count };
    });
  }
}
