// @vitest-environment happy-dom
/**
 * The React bindings in a DOM (happy-dom) over the client with an in-memory transport:
 * what React's rules demand (release on unmount, one subscription under StrictMode, the
 * latest callback without resubscribing), throttled renders, history seeding, presence
 * and typing. The same hooks run against a real BFF in Chromium in test/e2e/react-app.test.ts.
 */
import { act, createElement as h, Profiler, StrictMode, useState, type ReactNode } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { connect, type EventMeta } from '../../src/client/index.js';
import { SwitchboardProvider, useChannelEvent, useConnectionState, useEvents, usePresence, useTyping } from '../../src/react/index.js';
import { createFakeTransport, type FakeTransport } from '../conformance/fake-transport.js';
import { waitFor } from '../conformance/suite.js';

const token = {
  token: 't',
  expiresAt: Date.now() + 3_600_000,
  tenant: 'acme',
  user: 'ana',
  caps: { 'chat:*': ['subscribe', 'presence', 'publish', 'history'], 'dashboard:*': ['subscribe', 'history'] },
  provider: { name: 'local' },
  namespaces: {
    chat: { presence: true, history: { size: 50 }, clientEvents: ['typing'], maxPayloadBytes: 1024 },
    dashboard: { presence: false, history: { size: 20 }, clientEvents: [], maxPayloadBytes: 1024 },
    orders: { presence: false, history: false, clientEvents: [], maxPayloadBytes: 1024 },
  },
};

interface Envelope {
  id: string;
  channel: string;
  event: string;
  data: unknown;
  seq: number;
  ts: number;
}

const envelope = (channel: string, seq: number, event = 'message', data: unknown = { n: seq }): Envelope => ({ id: `${channel}-${seq}`, channel, event, data, seq, ts: 1 });

/** A BFF answering /v1/token and /v1/history from `log`. */
function fakeBff(log: Envelope[] = []): { fetch: typeof fetch; requests: string[] } {
  const requests: string[] = [];
  return {
    requests,
    fetch: async (input) => {
      const url = new URL(String(input));
      requests.push(url.pathname);
      if (url.pathname !== '/v1/history') return Response.json(token);
      const channel = url.searchParams.get('channel');
      const since = Number(url.searchParams.get('since'));
      const limit = Number(url.searchParams.get('limit'));
      const events = log.filter((event) => event.channel === channel);
      return Response.json({ channel, events: events.filter((event) => event.seq > since).slice(0, limit), lastSeq: events.at(-1)?.seq ?? 0 });
    },
  };
}

/** The fake transport, counting subscribe calls per channel. */
function countingTransport() {
  const { factory, transports } = createFakeTransport();
  const subscribes: string[] = [];
  const counted: typeof factory = (info, context) => {
    const transport = factory(info, context);
    const subscribe = transport.subscribe.bind(transport);
    transport.subscribe = (target, handlers, presenceInfo) => {
      subscribes.push(target.channel);
      return subscribe(target, handlers, presenceInfo);
    };
    return transport;
  };
  return { factory: counted, transports, subscribes };
}

let root: Root | undefined;
let container: HTMLElement;

beforeAll(() => {
  Object.assign(globalThis, { IS_REACT_ACT_ENVIRONMENT: true });
});

afterEach(async () => {
  await act(async () => root?.unmount());
  root = undefined;
});

async function render(node: ReactNode): Promise<void> {
  container = document.createElement('div');
  root = createRoot(container);
  await act(async () => root?.render(node));
}

/** Waits for a condition while letting React commit whatever the client delivered. */
async function until(condition: () => boolean, what: string): Promise<void> {
  await act(async () => waitFor(condition, what));
}

function live(transports: FakeTransport[], channel: string) {
  const subscription = transports[0]?.subscriptions.get(channel);
  if (!subscription) throw new Error(`${channel} is not subscribed`);
  return subscription.handlers;
}

const setup = (log: Envelope[] = []) => {
  const transport = countingTransport();
  const bff = fakeBff(log);
  const options = { url: 'http://bff.test', session: 's', fetch: bff.fetch, transports: { local: transport.factory } };
  return { ...transport, bff, options };
};

describe('switchboard/react hooks', () => {
  it('subscribes once under StrictMode, delivers each event once, and releases everything on unmount', async () => {
    const { options, transports, subscribes } = setup();
    const seen: number[] = [];
    function Feed(): ReactNode {
      const { events } = useEvents('chat:lobby', { event: 'message', throttleMs: 0 });
      useChannelEvent<{ n: number }>('chat:lobby', 'message', (data) => seen.push(data.n));
      return h('ul', null, events.map((event) => h('li', { key: event.meta.id }, event.meta.seq)));
    }
    function App(): ReactNode {
      const [shown, setShown] = useState(true);
      return h('div', null, h('button', { onClick: () => setShown(false) }, 'hide'), shown ? h(Feed) : null);
    }
    await render(h(StrictMode, null, h(SwitchboardProvider, { options }, h(App))));
    await until(() => transports[0]?.subscriptions.has('chat:lobby') === true, 'subscribed');
    await act(async () => {
      for (const seq of [1, 2, 3]) live(transports, 'chat:lobby').onEvent(envelope('chat:lobby', seq));
    });
    await until(() => container.querySelectorAll('li').length === 3, 'three events');
    expect(subscribes).toEqual(['chat:lobby']);
    expect(transports).toHaveLength(1);
    expect(seen).toEqual([1, 2, 3]);

    await act(async () => container.querySelector('button')?.click());
    await until(() => transports[0]?.subscriptions.size === 0, 'unsubscribed after unmount');
    // The provider keeps the connection; unmounting it closes the client.
    expect(transports[0]?.connects).toBe(1);
    await act(async () => root?.unmount());
    root = undefined;
    await waitFor(() => transports[0]?.subscriptions.size === 0, 'closed');
  });

  it('calls the latest handler without resubscribing when it changes', async () => {
    const { options, transports, subscribes } = setup();
    const calls: string[] = [];
    let bump: () => void = () => undefined;
    function Counter(): ReactNode {
      const [count, setCount] = useState(0);
      bump = () => setCount((value) => value + 1);
      useChannelEvent('chat:lobby', 'message', (_data: unknown, meta: EventMeta) => calls.push(`${count}:${meta.seq}`));
      return h('span', null, count);
    }
    await render(h(SwitchboardProvider, { options }, h(Counter)));
    await until(() => transports[0]?.subscriptions.has('chat:lobby') === true, 'subscribed');
    await act(async () => live(transports, 'chat:lobby').onEvent(envelope('chat:lobby', 1)));
    await act(async () => bump());
    await act(async () => bump());
    await act(async () => live(transports, 'chat:lobby').onEvent(envelope('chat:lobby', 2)));
    expect(calls).toEqual(['0:1', '2:2']);
    expect(subscribes).toEqual(['chat:lobby']);
  });

  it('renders a burst of 50 events a few times, not 50 times, and keeps the newest `limit`', async () => {
    const { options, transports } = setup();
    let commits = 0;
    function Dashboard(): ReactNode {
      const { events } = useEvents<{ n: number }>('dashboard:ops', { event: 'tick', limit: 10, throttleMs: 200 });
      return h('output', null, events.map((event) => event.data.n).join(','));
    }
    await render(h(SwitchboardProvider, { options }, h(Profiler, { id: 'dash', onRender: () => commits++ }, h(Dashboard))));
    await until(() => transports[0]?.subscriptions.has('dashboard:ops') === true, 'subscribed');
    const before = commits;
    await act(async () => {
      for (let seq = 1; seq <= 50; seq++) live(transports, 'dashboard:ops').onEvent(envelope('dashboard:ops', seq, 'tick'));
    });
    await until(() => container.textContent === '41,42,43,44,45,46,47,48,49,50', 'the newest ten');
    // The first event renders at once, the rest of the burst together after the throttle window.
    expect(commits - before).toBeLessThanOrEqual(3);
  });

  it('seeds the first render from history and merges live events without duplicates or gaps', async () => {
    const log = [1, 2, 3, 4].map((seq) => envelope('chat:lobby', seq, seq === 2 ? 'other' : 'message'));
    const { options, transports } = setup(log);
    const loading: boolean[] = [];
    function Feed(): ReactNode {
      const state = useEvents<{ n: number }>('chat:lobby', { event: 'message', history: 3, throttleMs: 0 });
      loading.push(state.loading);
      return h('output', null, state.events.map((event) => event.meta.seq).join(','));
    }
    await render(h(SwitchboardProvider, { options }, h(Feed)));
    expect(loading[0]).toBe(true);
    await until(() => container.textContent === '3,4', 'history: the newest three of which two are messages');
    // seq 4 again (published between the subscription and the history read) and 5 live.
    await act(async () => {
      live(transports, 'chat:lobby').onEvent(envelope('chat:lobby', 4));
      live(transports, 'chat:lobby').onEvent(envelope('chat:lobby', 5));
    });
    await until(() => container.textContent === '3,4,5', 'live after history');
    expect(loading.at(-1)).toBe(false);
  });

  it('drops events that do not match the schema and reports them', async () => {
    const { options, transports } = setup();
    const schema = z.object({ n: z.number() });
    function Feed(): ReactNode {
      const { events, error } = useEvents('chat:lobby', { event: 'message', schema, throttleMs: 0 });
      return h('output', null, `${events.map((event) => event.data.n).join(',')}|${error?.code ?? ''}`);
    }
    await render(h(SwitchboardProvider, { options }, h(Feed)));
    await until(() => transports[0]?.subscriptions.has('chat:lobby') === true, 'subscribed');
    await act(async () => {
      live(transports, 'chat:lobby').onEvent(envelope('chat:lobby', 1));
      live(transports, 'chat:lobby').onEvent(envelope('chat:lobby', 2, 'message', { n: 'two' }));
    });
    await until(() => container.textContent === '1|invalid_event', 'valid event kept, invalid one reported');
  });

  it('moves to another channel when the prop changes, releasing the old one, and starts its list afresh', async () => {
    const { options, transports } = setup();
    let switchTo: (name: string) => void = () => undefined;
    function Feed(): ReactNode {
      const [channel, setChannel] = useState('dashboard:a');
      switchTo = setChannel;
      const { events } = useEvents(channel, { throttleMs: 0 });
      return h('output', null, events.map((event) => `${event.meta.channel}#${event.meta.seq}`).join(','));
    }
    await render(h(StrictMode, null, h(SwitchboardProvider, { options }, h(Feed))));
    await until(() => transports[0]?.subscriptions.has('dashboard:a') === true, 'a subscribed');
    await act(async () => live(transports, 'dashboard:a').onEvent(envelope('dashboard:a', 1)));
    await until(() => container.textContent === 'dashboard:a#1', 'event on a');
    await act(async () => switchTo('dashboard:b'));
    await until(() => transports[0]?.subscriptions.has('dashboard:b') === true && !transports[0]?.subscriptions.has('dashboard:a'), 'moved to b');
    expect(container.textContent).toBe('');
    await act(async () => live(transports, 'dashboard:b').onEvent(envelope('dashboard:b', 1)));
    await until(() => container.textContent === 'dashboard:b#1', 'event on b');
  });

  it('reports a channel the capability token does not allow, and leaves a client passed in open', async () => {
    const { options, transports } = setup();
    const rt = connect(options);
    await rt.ready();
    function Orders(): ReactNode {
      const { error } = useEvents('orders:1');
      return h('output', null, error?.code ?? 'none');
    }
    await render(h(SwitchboardProvider, { client: rt }, h(Orders)));
    await until(() => container.textContent !== 'none', 'an error');
    expect(container.textContent).toBe('forbidden');
    await act(async () => root?.unmount());
    root = undefined;
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(rt.connection.state).toBe('connected');
    expect(transports).toHaveLength(1);
    rt.close();
  });

  it('shows presence and who is typing; typing expires and stops', async () => {
    const { options, transports } = setup();
    let typingApi: ReturnType<typeof useTyping> | undefined;
    function Room(): ReactNode {
      const { members } = usePresence('chat:lobby');
      typingApi = useTyping('chat:lobby', { showForMs: 150, sendEveryMs: 1000 });
      const { state } = useConnectionState();
      return h('output', null, `${state}|${members.map((member) => member.id).join(',')}|${typingApi.typing.join(',')}`);
    }
    await render(h(StrictMode, null, h(SwitchboardProvider, { options }, h(Room))));
    await until(() => container.textContent === 'connected||', 'connected');
    const handlers = live(transports, 'chat:lobby');
    await act(async () => handlers.onPresence([{ id: 'ana', info: {} }, { id: 'bo', info: {} }]));
    await until(() => container.textContent === 'connected|ana,bo|', 'members');

    await act(async () => handlers.onClientEvent('typing', { on: true }, 'bo'));
    await until(() => container.textContent === 'connected|ana,bo|bo', 'bo typing');
    await until(() => container.textContent === 'connected|ana,bo|', 'expired after showForMs');
    await act(async () => handlers.onClientEvent('typing', { name: 'Bo' }, 'bo'));
    await until(() => container.textContent.endsWith('|bo'), 'any other payload counts as typing');
    await act(async () => handlers.onClientEvent('typing', { on: false }, 'bo'));
    await until(() => container.textContent.endsWith('|'), 'stopped');

    // Sending: one whisper per sendEveryMs however often notify() is called, one stop.
    await act(async () => {
      for (let key = 0; key < 5; key++) typingApi?.notify();
      typingApi?.stop();
      typingApi?.stop();
    });
    expect(transports[0]?.whispers.map((whisper) => whisper.data)).toEqual([{ on: true }, { on: false }]);
  });

  it('leaves presence when the component unmounts', async () => {
    const { options, transports } = setup();
    let hide: () => void = () => undefined;
    function Member(): ReactNode {
      usePresence('chat:lobby');
      return null;
    }
    function App(): ReactNode {
      const [shown, setShown] = useState(true);
      hide = () => setShown(false);
      return shown ? h(Member) : null;
    }
    await render(h(StrictMode, null, h(SwitchboardProvider, { options }, h(App))));
    await until(() => transports[0]?.subscriptions.get('chat:lobby')?.target.presence === true, 'entered');
    await act(async () => hide());
    await until(() => !transports[0]?.subscriptions.has('chat:lobby'), 'left: the presence subscription is gone');
  });
});

describe('usePresence update()', () => {
  it("re-signs this user's info from the changed session; members and me show it as one change; a refusal changes nothing", async () => {
    const { factory, transports } = countingTransport();
    let refuse = false;
    const tokens: string[] = [];
    const fetchToken: typeof fetch = async (input, init) => {
      const session = new Headers(init?.headers).get('authorization') ?? '';
      if (String(input).endsWith('/v1/token') && refuse) return Response.json({ code: 'unauthenticated', detail: 'session ended' }, { status: 401 });
      return Response.json({ ...token, token: session });
    };
    let name = 'Ana';
    const options = {
      url: 'http://bff.test',
      session: () => `session-of-${name}`,
      fetch: fetchToken,
      transports: {
        local: ((info, context) => {
          const transport = factory(info, context);
          transport.updateToken = (next) => tokens.push(next.token);
          return transport;
        }) satisfies typeof factory,
      },
    };
    let api: ReturnType<typeof usePresence> | undefined;
    const updates = new Set<unknown>();
    let renders = 0;
    function Room(): ReactNode {
      api = usePresence('chat:lobby');
      updates.add(api.update);
      renders++;
      const { members, me } = api;
      return h('output', null, `${me?.info.name ?? '-'}|${members.map((member) => `${member.id}=${String(member.info.name)}`).join(',')}`);
    }
    await render(h(StrictMode, null, h(SwitchboardProvider, { options }, h(Room))));
    const handlers = await act(async () => {
      await waitFor(() => transports[0]?.subscriptions.has('chat:lobby'), 'subscribed');
      return live(transports, 'chat:lobby');
    });
    await act(async () => handlers.onPresence([{ id: 'ana', info: { name: 'Ana' } }, { id: 'bo', info: { name: 'Bo' } }]));
    await until(() => container.textContent === 'Ana|ana=Ana,bo=Bo', 'members and me');

    name = 'Ana Banana';
    await act(async () => api?.update());
    expect(tokens).toEqual(['Bearer session-of-Ana Banana']);
    // The provider re-enters: a leave and a join (Pusher protocol), shown as one change.
    const before = renders;
    await act(async () => {
      handlers.onPresence([{ id: 'bo', info: { name: 'Bo' } }]);
      handlers.onPresence([{ id: 'bo', info: { name: 'Bo' } }, { id: 'ana', info: { name: 'Ana Banana' } }]);
    });
    await until(() => container.textContent === 'Ana Banana|ana=Ana Banana,bo=Bo', 'the new name for members and me');
    expect(renders - before).toBeLessThanOrEqual(2); // one commit; StrictMode renders each twice

    refuse = true;
    name = 'Mallory';
    let failure: unknown;
    await act(async () => {
      await api?.update().catch((error: unknown) => (failure = error));
    });
    expect(failure).toMatchObject({ code: 'unauthenticated' });
    expect(tokens).toHaveLength(1);
    expect(container.textContent).toBe('Ana Banana|ana=Ana Banana,bo=Bo');
    expect(transports).toHaveLength(1);
    expect(updates.size).toBe(1);
  });
});
