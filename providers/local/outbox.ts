/**
 * Write coalescing: frames queued for a socket are written with a single `write`, so N
 * events cost one syscall per socket instead of N (the syscall dominates fan-out cost).
 *
 * After an idle period the flush runs on the next `setImmediate`, adding no latency.
 * While traffic keeps coming, the next flush waits as long as the previous one took,
 * capped at `maxDelayMs`: light load keeps sub-millisecond latency, heavy fan-out (one
 * flush = thousands of writes) gets batches of many events per write even when they are
 * published in separate macrotasks (HTTP requests, timers).
 */
export interface Flushable {
  flush(): void;
}

export class Outbox {
  private dirty: Flushable[] = [];
  private scheduled = false;
  private closed = false;
  private lastFlushEnd = Number.NEGATIVE_INFINITY;
  private lastFlushDuration = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly maxDelayMs: number) {}

  markDirty(target: Flushable): void {
    this.dirty.push(target);
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    const wait = this.lastFlushEnd + Math.min(this.maxDelayMs, this.lastFlushDuration) - performance.now();
    // Timers cannot wait less than 1 ms; shorter gaps are not worth batching for.
    if (wait < 1) setImmediate(this.run);
    else this.timer = setTimeout(this.run, wait);
  }

  close(): void {
    this.closed = true;
    this.dirty = [];
    clearTimeout(this.timer);
  }

  private readonly run = (): void => {
    const start = performance.now();
    this.scheduled = false;
    this.timer = undefined;
    // Flushing can queue more frames (e.g. member_removed after a slow consumer is dropped);
    // those land in a fresh list and get their own turn.
    const batch = this.dirty;
    this.dirty = [];
    for (const target of batch) target.flush();
    this.lastFlushEnd = performance.now();
    this.lastFlushDuration = this.lastFlushEnd - start;
  };
}

/** Token bucket: `rate` events per second with a burst of `rate`. */
export class RateLimiter {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    now: number,
  ) {
    this.tokens = rate;
    this.last = now;
  }

  take(now: number): boolean {
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
