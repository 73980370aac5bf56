/**
 * Deadlines for many small things (subscriptions authorized until their token expires),
 * kept in a timing wheel: one bucket per tick, one timer for all, so a deadline costs a
 * map entry rather than a timer each, and removing one is O(1).
 */
export const EXPIRY_TICK_MS = 250;

export class ExpiryWheel<K, V> {
  private readonly buckets = new Map<number, Map<K, V>>();
  private timer: NodeJS.Timeout | undefined;
  /** Last bucket index already processed. */
  private done: number;

  constructor(
    private readonly onExpired: (key: K, value: V) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.done = Math.floor(now() / EXPIRY_TICK_MS);
  }

  /** `key` expires at epoch ms `at` (at the first tick after it), unless removed before. */
  add(key: K, value: V, at: number): void {
    // Idle wheel: start counting from now, not from when it last ran.
    if (this.buckets.size === 0) this.done = Math.max(this.done, Math.floor(this.now() / EXPIRY_TICK_MS));
    const index = Math.max(this.index(at), this.done + 1);
    let bucket = this.buckets.get(index);
    if (!bucket) {
      bucket = new Map();
      this.buckets.set(index, bucket);
    }
    bucket.set(key, value);
    this.start();
  }

  remove(key: K, at: number): void {
    const index = Math.max(this.index(at), this.done + 1);
    const bucket = this.buckets.get(index);
    if (!bucket?.delete(key)) return;
    if (bucket.size === 0) this.buckets.delete(index);
    if (this.buckets.size === 0) this.stop();
  }

  get size(): number {
    let size = 0;
    for (const bucket of this.buckets.values()) size += bucket.size;
    return size;
  }

  close(): void {
    this.stop();
    this.buckets.clear();
  }

  private index(at: number): number {
    return Math.ceil(at / EXPIRY_TICK_MS);
  }

  private start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), EXPIRY_TICK_MS);
    this.timer.unref();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    // A bucket's deadline is its index times the tick: due once now has reached it.
    const due = Math.floor(this.now() / EXPIRY_TICK_MS);
    while (this.done < due) {
      this.done++;
      const bucket = this.buckets.get(this.done);
      if (!bucket) continue;
      this.buckets.delete(this.done);
      for (const [key, value] of bucket) this.onExpired(key, value);
    }
    if (this.buckets.size === 0) this.stop();
  }
}
