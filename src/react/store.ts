/**
 * What the hooks share: a small external store per hook instance for
 * `useSyncExternalStore` (attached to the client only while React is subscribed, so
 * unmounting releases everything and StrictMode's subscribe/unsubscribe/subscribe leaves
 * one listener), a ref that always holds the latest callback, and channel acquisition.
 */
import { useInsertionEffect, useRef, useState, useSyncExternalStore, type DependencyList } from 'react';
import { SwitchboardError, isSwitchboardError, type Channel, type Schema } from '../client/index.js';
import type { ClientHolder } from './client-holder.js';

export abstract class HookStore<S> {
  private readonly listeners = new Set<() => void>();
  private detach: (() => void) | undefined;
  protected snapshot: S;

  constructor(private readonly initial: S) {
    this.snapshot = initial;
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.detach = this.attach();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size > 0) return;
      this.detach?.();
      this.detach = undefined;
    };
  };

  readonly getSnapshot = (): S => this.snapshot;
  /** The server (and hydration) render: the state before anything connected. */
  readonly getServerSnapshot = (): S => this.initial;

  protected publish(next: S): void {
    this.snapshot = next;
    for (const listener of [...this.listeners]) listener();
  }

  /** Connects to the client; answers how to disconnect. */
  protected abstract attach(): () => void;
}

/**
 * `create()` once per component instance and again when `deps` change (compared with
 * Object.is). Unlike useMemo, React never drops the value to save memory, which would
 * start a store (and its event list) over.
 */
export function useKeyed<T>(create: () => T, deps: DependencyList): T {
  const [held, setHeld] = useState(() => ({ deps, value: create() }));
  if (held.deps.length === deps.length && held.deps.every((dep, index) => Object.is(dep, deps[index]))) return held.value;
  // Updating this component's own state while rendering: React renders again at once with it.
  const next = { deps, value: create() };
  setHeld(next);
  return next.value;
}

/** One store per hook instance and `deps`, read with `useSyncExternalStore`. */
export function useStore<T extends HookStore<unknown>>(create: () => T, deps: DependencyList): [ReturnType<T['getSnapshot']>, T] {
  const store = useKeyed(create, deps);
  return [useSyncExternalStore(store.subscribe, store.getSnapshot, store.getServerSnapshot) as ReturnType<T['getSnapshot']>, store];
}

/** A ref holding the value of the latest render, for callbacks that must not resubscribe when it changes. */
export function useLatest<T>(value: T): { readonly current: T } {
  const ref = useRef(value);
  // Before any layout effect or event the commit could trigger; no warning on the server.
  useInsertionEffect(() => {
    ref.current = value;
  });
  return ref;
}

export function asSwitchboardError(error: unknown): SwitchboardError {
  return isSwitchboardError(error) ? error : new SwitchboardError('invalid_request', error instanceof Error ? error.message : String(error));
}

/**
 * Holds the client and a channel view while `use` is attached; channel errors (refused,
 * invalid name, recovery gaps) go to `onError`. Answers the detach function.
 */
export function attachChannel(holder: ClientHolder, name: string, onError: (error: SwitchboardError) => void, use: (channel: Channel) => () => void): () => void {
  const rt = holder.acquire();
  let detach = () => undefined as void;
  try {
    const channel = rt.channel(name);
    const offError = channel.on('error', onError);
    const release = use(channel);
    detach = () => {
      release();
      offError();
    };
  } catch (error) {
    onError(asSwitchboardError(error));
  }
  return () => {
    detach();
    holder.release();
  };
}

/** Data checked against an optional schema (zod, zod/mini, …): undefined when it does not match. */
export function parseWith<T>(schema: Schema<T> | undefined, data: unknown): { value: T } | undefined {
  if (!schema) return { value: data as T };
  const result = schema.safeParse(data);
  return result.success ? { value: result.data } : undefined;
}
