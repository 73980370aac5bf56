/** Listeners grouped by a key (a channel, a user), each added with its own remove function. */
export class KeyedListeners<L> {
  private readonly byKey = new Map<string, Set<L>>();

  add(key: string, listener: L): () => void {
    let listeners = this.byKey.get(key);
    if (!listeners) {
      listeners = new Set();
      this.byKey.set(key, listeners);
    }
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0 && this.byKey.get(key) === listeners) this.byKey.delete(key);
    };
  }

  /** Keys with at least one listener. */
  get size(): number {
    return this.byKey.size;
  }

  clear(): void {
    this.byKey.clear();
  }

  /** A copy: listeners may remove themselves while being called. */
  get(key: string): L[] {
    return [...(this.byKey.get(key) ?? [])];
  }
}
