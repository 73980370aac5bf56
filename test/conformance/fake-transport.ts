/** An in-memory ClientTransport for unit tests of the wrapper (no provider, no network). */
import type { JsonValue } from '../../src/core/envelope.js';
import { SwitchboardError } from '../../src/core/errors.js';
import type { ClientTransport, TransportChannelHandlers, TransportFactory, TransportTarget } from '../../providers/types.js';

export interface FakeTransport extends ClientTransport {
  readonly subscriptions: Map<string, { target: TransportTarget; handlers: TransportChannelHandlers }>;
  readonly whispers: Array<{ channel: string; event: string; data: JsonValue }>;
  connects: number;
  /** Make the next connect() calls fail with this error. */
  failNext: SwitchboardError[];
  drop(error?: SwitchboardError): void;
}

export function createFakeTransport(): { factory: TransportFactory; transports: FakeTransport[] } {
  const transports: FakeTransport[] = [];
  const factory: TransportFactory = () => {
    const dropListeners = new Set<(error: SwitchboardError) => void>();
    let connected = false;
    const transport: FakeTransport = {
      kind: 'fake',
      features: { presence: true, clientEvents: true, presenceInfo: 'token' },
      subscriptions: new Map(),
      whispers: [],
      connects: 0,
      failNext: [],
      async connect() {
        transport.connects++;
        const failure = transport.failNext.shift();
        if (failure) throw failure;
        connected = true;
        for (const { handlers } of transport.subscriptions.values()) queueMicrotask(() => handlers.onSubscribed());
      },
      disconnect() {
        connected = false;
      },
      onDrop(listener) {
        dropListeners.add(listener);
        return () => dropListeners.delete(listener);
      },
      subscribe(target, handlers) {
        transport.subscriptions.set(target.channel, { target, handlers });
        if (connected) queueMicrotask(() => handlers.onSubscribed());
        return {
          whisper(event, data) {
            transport.whispers.push({ channel: target.channel, event, data });
            return connected;
          },
          unsubscribe() {
            transport.subscriptions.delete(target.channel);
          },
        };
      },
      updateToken() {},
      close() {
        connected = false;
      },
      drop(error = new SwitchboardError('provider_unavailable', 'dropped')) {
        connected = false;
        for (const listener of [...dropListeners]) listener(error);
      },
    };
    transports.push(transport);
    return transport;
  };
  return { factory, transports };
}
