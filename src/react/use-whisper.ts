/**
 * Whispers (client events between the members of a channel) in React, and a typing
 * indicator built on them: the sender whispers at most once per `sendEveryMs` while
 * typing and once when it stops; receivers show a user until they stop or for
 * `showForMs` after their last whisper, so an indicator never sticks when a stop is lost.
 */
import { useCallback, useEffect, useRef } from 'react';
import { SwitchboardError, type Channel, type JsonValue } from '../client/index.js';
import type { ClientHolder } from './client-holder.js';
import { useHolder } from './provider.js';
import { attachChannel, HookStore, useLatest, useStore } from './store.js';

export interface WhisperOptions {
  /** A refused channel. */
  onError?: (error: SwitchboardError) => void;
}

function notMounted(channel: string): SwitchboardError {
  return new SwitchboardError('invalid_request', `Cannot whisper on ${channel} before the component has mounted`);
}

/**
 * Listens for `event` whispers on `channel` while mounted and answers a stable `send`.
 * `send` throws like `channel.whisper()` (namespace or caps forbid it, payload too large).
 */
export function useWhisper(
  channel: string,
  event: string,
  handler?: (data: unknown, from: string | undefined) => void,
  options: WhisperOptions = {},
): (data: JsonValue) => void {
  const holder = useHolder('useWhisper');
  const latest = useLatest({ handler, ...options });
  const view = useRef<Channel | undefined>(undefined);
  useEffect(
    () =>
      attachChannel(holder, channel, (error) => latest.current.onError?.(error), (attached) => {
        view.current = attached;
        // Listening also holds the subscription, which sending needs.
        const off = attached.onWhisper(event, (data, from) => latest.current.handler?.(data, from));
        return () => {
          off();
          if (view.current === attached) view.current = undefined;
        };
      }),
    [holder, channel, event, latest],
  );
  return useCallback(
    (data: JsonValue) => {
      if (!view.current) throw notMounted(channel);
      view.current.whisper(event, data);
    },
    [channel, event],
  );
}

export interface TypingOptions {
  /** The whisper's name; the namespace must list it in `clientEvents`. Default `typing`. */
  event?: string;
  /** While typing, whisper at most this often. Default 1000 ms. */
  sendEveryMs?: number;
  /** How long others show a user after their last typing whisper. Default 3000 ms. */
  showForMs?: number;
}

export interface Typing {
  /** User ids of the others typing now, sorted. */
  typing: ReadonlyArray<string>;
  /** Call on every keystroke; whispers only when due. */
  notify(): void;
  /** Call when the text was sent or cleared; whispers a stop if others may still show you typing. */
  stop(): void;
}

/** `{ on: false }` ends typing; anything else (also other clients' `{ name }`) is typing. */
function isStop(data: unknown): boolean {
  return typeof data === 'object' && data !== null && 'on' in data && data.on === false;
}

class TypingStore extends HookStore<ReadonlyArray<string>> {
  private readonly expiry = new Map<string, ReturnType<typeof setTimeout>>();
  private channel: Channel | undefined;
  private lastSent = -Infinity;

  constructor(
    private readonly holder: ClientHolder,
    private readonly name: string,
    private readonly event: string,
    private readonly sendEveryMs: number,
    private readonly showForMs: number,
  ) {
    super([]);
  }

  protected attach(): () => void {
    return attachChannel(this.holder, this.name, () => undefined, (channel) => {
      this.channel = channel;
      const off = channel.onWhisper(this.event, (data, from) => {
        if (from === undefined) return;
        if (isStop(data)) this.remove(from);
        else this.show(from);
      });
      return () => {
        off();
        this.channel = undefined;
        for (const timer of this.expiry.values()) clearTimeout(timer);
        this.expiry.clear();
        this.publish([]);
      };
    });
  }

  notify(): void {
    const now = performance.now();
    if (now - this.lastSent < this.sendEveryMs) return;
    if (this.send({ on: true })) this.lastSent = now;
  }

  stop(): void {
    // Others stop showing it by themselves once showForMs has passed.
    if (performance.now() - this.lastSent >= this.showForMs) return;
    this.lastSent = -Infinity;
    this.send({ on: false });
  }

  /** Typing indicators are best effort: not on the SSE fallback, nor over the whisper rate limit. */
  private send(data: JsonValue): boolean {
    if (!this.channel) return false;
    try {
      this.channel.whisper(this.event, data);
      return true;
    } catch {
      return false;
    }
  }

  private show(user: string): void {
    clearTimeout(this.expiry.get(user));
    const known = this.expiry.has(user);
    this.expiry.set(
      user,
      setTimeout(() => this.remove(user), this.showForMs),
    );
    if (!known) this.publishUsers();
  }

  private remove(user: string): void {
    if (!this.expiry.has(user)) return;
    clearTimeout(this.expiry.get(user));
    this.expiry.delete(user);
    this.publishUsers();
  }

  private publishUsers(): void {
    this.publish([...this.expiry.keys()].sort());
  }
}

/**
 * Who else is typing on `channel`, and the two calls that tell the others about you.
 *
 * ```tsx
 * const { typing, notify, stop } = useTyping('chat:lobby');
 * <input onChange={(e) => { setText(e.target.value); notify(); }} />
 * ```
 */
export function useTyping(channel: string, options: TypingOptions = {}): Typing {
  const holder = useHolder('useTyping');
  const { event = 'typing', sendEveryMs = 1000, showForMs = 3000 } = options;
  const [typing, store] = useStore(() => new TypingStore(holder, channel, event, sendEveryMs, showForMs), [holder, channel, event, sendEveryMs, showForMs]);
  const notify = useCallback(() => store.notify(), [store]);
  const stop = useCallback(() => store.stop(), [store]);
  return { typing, notify, stop };
}
