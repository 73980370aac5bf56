/**
 * Write coalescing: frames queued for a socket are written with a single `write`, so N
 * events cost one syscall per socket instead of N (the syscall dominates fan-out cost).
 *
 * After an idle period the flush runs on the next `setImmediate`, adding no latency.
 * While traffic keeps coming, the next flush waits as long as the previous one took,
 * capped at `maxDelayMs`: light load keeps sub-millisecond latency, heavy fan-out (one
 * flush = thousands of writes) gets batches of many events per write even when they are
 * published in separate macrotasks (HTTP requests, timers).
 *
 * A flush works in slices of at most `sliceMs` and yields to the event loop between them,
 * so a broadcast to tens of thousands of sockets does not hold up health checks, token
 * requests or other channels. Sockets not yet written keep collecting frames meanwhile,
 * which keeps the coalescing; a socket written earlier in the round waits for the next one.
 */
export interface Flushable {
  flush(): void;
}

export interface OutboxOptions {
  /** Longest wait before a flush under sustained traffic. */
  maxDelayMs: number;
  /** Longest stretch of writes before yielding to the event loop; Infinity = never yield. */
  sliceMs: number;
}

export class Outbox {
  /** The round being written, from `next` on; sockets that became dirty during it wait in `dirty`. */
  private round: Flushable[] = [];
  private next = 0;
  private dirty: Flushable[] = [];
  private scheduled = false;
  private closed = false;
  private roundStart = 0;
  private lastFlushEnd = Number.NEGATIVE_INFINITY;
  private lastFlushDuration = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: OutboxOptions) {}

  markDirty(target: Flushable): void {
    this.dirty.push(target);
    if (!this.scheduled) this.schedule();
  }

  private schedule(): void {
    if (this.closed) return;
    this.scheduled = true;
    const wait = this.lastFlushEnd + Math.min(this.options.maxDelayMs, this.lastFlushDuration) - performance.now();
    // Timers cannot wait less than 1 ms; shorter gaps are not worth batching for.
    if (wait < 1) setImmediate(this.run);
    else this.timer = setTimeout(this.run, wait);
  }

  close(): void {
    this.closed = true;
    this.round = [];
    this.next = 0;
    this.dirty = [];
    clearTimeout(this.timer);
  }

  private readonly run = (): void => {
    this.timer = undefined;
    if (this.closed) return;
    const sliceStart = performance.now();
    if (this.next >= this.round.length) {
      // Flushing can queue more frames (e.g. member_removed after a slow consumer is dropped);
      // those land in `dirty` and get the next round.
      this.round = this.dirty;
      this.dirty = [];
      this.next = 0;
      this.roundStart = sliceStart;
    }
    const deadline = sliceStart + this.options.sliceMs;
    const round = this.round;
    let index = this.next;
    // Checking the clock every 64 writes keeps its cost out of the per-socket path.
    while (index < round.length) {
      (round[index++] as Flushable).flush();
      if ((index & 63) === 0 && performance.now() >= deadline) break;
    }
    this.next = index;
    if (index < round.length) {
      setImmediate(this.run);
      return;
    }
    this.round = [];
    this.next = 0;
    this.scheduled = false;
    this.lastFlushEnd = performance.now();
    this.lastFlushDuration = this.lastFlushEnd - this.roundStart;
    if (this.dirty.length > 0) this.schedule();
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
