/**
 * Server rendering: importing `switchboard/react` and rendering every hook with
 * react-dom/server opens no connection and asks the BFF nothing; the HTML shows the
 * state before connecting, which is also what the browser hydrates from.
 */
import { createElement as h, type ReactNode } from 'react';
import { renderToString } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { SwitchboardProvider, useChannelEvent, useConnectionState, useEvents, usePresence, useTyping, useWhisper } from '../../src/react/index.js';
import type { ClientTransport } from '../../src/client/index.js';

function Everything(): ReactNode {
  const { state } = useConnectionState();
  const { events, loading } = useEvents('chat:lobby', { event: 'message', history: 20 });
  const { members } = usePresence('chat:lobby');
  const { typing } = useTyping('chat:lobby');
  useWhisper('chat:lobby', 'typing', () => undefined);
  useChannelEvent('orders:1', 'status', () => undefined);
  return h('p', null, `${state} events=${events.length} loading=${String(loading)} members=${members.length} typing=${typing.length}`);
}

describe('switchboard/react on the server', () => {
  it('renders without connecting, fetching or creating a transport', async () => {
    const calls: string[] = [];
    const fetchSpy: typeof fetch = async (input) => {
      calls.push(String(input));
      return Response.json({});
    };
    const transport = (): ClientTransport => {
      calls.push('transport');
      throw new Error('no transport on the server');
    };
    const WebSocketBefore = globalThis.WebSocket;
    Object.assign(globalThis, {
      WebSocket: class {
        constructor() {
          calls.push('WebSocket');
        }
      },
    });
    try {
      const html = renderToString(
        h(SwitchboardProvider, { options: { url: 'http://bff.test', session: () => (calls.push('session'), 's'), fetch: fetchSpy, transports: { local: transport } } }, h(Everything)),
      );
      expect(html).toBe('<p>connecting events=0 loading=true members=0 typing=0</p>');
      // Anything started during rendering would have run by now.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(calls).toEqual([]);
    } finally {
      Object.assign(globalThis, { WebSocket: WebSocketBefore });
    }
  });
});
