/** A minimal typed event emitter; a listener that throws does not stop the others. */
export type Listener<A extends unknown[]> = (...args: A) => void;

export class Emitter<Events extends Record<string, unknown[]>> {
  private readonly listeners: { [K in keyof Events]?: Set<Listener<Events[K]>> } = {};

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const set = (this.listeners[event] ??= new Set());
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  /** Forgets every listener (the owner was closed). */
  clear(): void {
    for (const set of Object.values(this.listeners)) set?.clear();
  }

  count<K extends keyof Events>(event: K): number {
    return this.listeners[event]?.size ?? 0;
  }

  emit<K extends keyof Events>(event: K, ...args: Events[K]): void {
    for (const listener of [...(this.listeners[event] ?? [])]) {
      try {
        listener(...args);
      } catch (error) {
        reportListenerError(error);
      }
    }
  }
}

/** An app's listener threw: surface it (uncaught, as the platform reports it) without breaking delivery. */
export function reportListenerError(error: unknown): void {
  setTimeout(() => {
    throw error;
  });
}
