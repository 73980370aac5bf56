/**
 * One-way transport over the BFF's `/v1/stream` (Server-Sent Events from the event log):
 * for feeds that never whisper or use presence, and as the fallback when the provider
 * cannot be reached. One stream carries every subscribed channel; it is reopened when
 * the set changes, and each (re)open counts as a resubscribe, so the wrapper recovers
 * whatever the reopen may have missed from history.
 */
import * as z from 'zod/mini';
import { SwitchboardError } from '../../core/errors.js';
import type { ClientTransport, TransportChannelHandlers, TransportFactory } from '../../../providers/types.js';
import { bffUrl } from '../http.js';
import { openEventStream, type EventStream } from './stream.js';

const routedSchema = z.object({ channel: z.string() });

export const createSseTransport: TransportFactory = (_initial, context): ClientTransport => {
  const subscriptions = new Map<string, TransportChannelHandlers>();
  const dropListeners = new Set<(error: SwitchboardError) => void>();
  let stream: EventStream | undefined;
  let connected = false;
  let reopenQueued = false;
  let lastEventId: string | undefined;
  let lastChannels = '';

  function drop(error: SwitchboardError): void {
    if (!connected) return;
    connected = false;
    for (const listener of [...dropListeners]) listener(error);
  }

  function route(data: string): void {
    let payload: unknown;
    try {
      payload = JSON.parse(data);
    } catch {
      return;
    }
    const target = routedSchema.safeParse(payload);
    if (target.success) subscriptions.get(target.data.channel)?.onEvent(payload);
  }

  async function open(): Promise<void> {
    const channels = [...subscriptions.keys()].sort().join(',');
    if (channels === '') return;
    const { token } = await context.token();
    const query = new URLSearchParams({ channels });
    // The cursor replays what the stream missed; it only means something for the same channels.
    if (channels === lastChannels && lastEventId !== undefined) query.set('lastEventId', lastEventId);
    await new Promise<void>((resolve, reject) => {
      let opened = false;
      const timer = setTimeout(() => {
        current.close();
        fail(new SwitchboardError('provider_unavailable', 'Event stream timed out'));
      }, context.connectTimeoutMs);
      const fail = (error: SwitchboardError) => {
        clearTimeout(timer);
        if (stream === current) stream = undefined;
        if (opened) drop(error);
        else reject(error);
      };
      const current = openEventStream(
        bffUrl(context, `/v1/stream?${query}`),
        { fetch: context.fetch, token },
        {
          onOpen() {
            opened = true;
            clearTimeout(timer);
            lastChannels = channels;
            resolve();
            for (const handlers of subscriptions.values()) handlers.onSubscribed();
          },
          onMessage(message) {
            if (message.id !== undefined) lastEventId = message.id;
            if (message.data !== undefined) route(message.data);
          },
          onClose: fail,
        },
      );
      stream = current;
    });
  }

  function reopen(): void {
    if (reopenQueued || !connected) return;
    reopenQueued = true;
    queueMicrotask(() => {
      reopenQueued = false;
      if (!connected) return;
      stream?.close();
      stream = undefined;
      open().catch((error: unknown) =>
        drop(error instanceof SwitchboardError ? error : new SwitchboardError('provider_unavailable', String(error))),
      );
    });
  }

  return {
    kind: 'sse',
    features: { presence: false, clientEvents: false, presenceInfo: 'token' },
    async connect() {
      await open();
      connected = true;
    },
    disconnect() {
      connected = false;
      stream?.close();
      stream = undefined;
    },
    onDrop(listener) {
      dropListeners.add(listener);
      return () => dropListeners.delete(listener);
    },
    subscribe(target, handlers) {
      if (subscriptions.has(target.channel)) throw new SwitchboardError('invalid_request', `Already subscribed to ${target.channel}`);
      subscriptions.set(target.channel, handlers);
      reopen();
      return {
        whisper: () => false,
        unsubscribe() {
          if (subscriptions.get(target.channel) !== handlers) return;
          subscriptions.delete(target.channel);
          reopen();
        },
      };
    },
    updateToken() {
      // The token is read again on the next (re)open.
    },
    close() {
      connected = false;
      subscriptions.clear();
      dropListeners.clear();
      stream?.close();
      stream = undefined;
    },
  };
};
