/**
 * `rt.refresh()` and the presence leave grace, against a fake BFF and the in-memory
 * transport: refresh while disconnected, refused or unreachable, on a closed client,
 * with a session that changes while a token request is under way; and the member list
 * the app sees for any sequence of provider reports.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type PresenceMember, type Realtime } from '../../src/client/index.js';
import { SwitchboardError } from '../../src/core/errors.js';
import type { ClientTokenInfo } from '../../providers/types.js';
import { createFakeTransport } from '../conformance/fake-transport.js';
import { waitFor } from '../conformance/suite.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 25);

const answer = {
  token: 't',
  expiresAt: Date.now() + 3_600_000,
  tenant: 'acme',
  user: 'alice',
  caps: { 'chat:*': ['subscribe', 'publish', 'presence'] },
  provider: { name: 'local' },
  namespaces: { chat: { presence: true, history: false, clientEvents: [], maxPayloadBytes: 1024 } },
};

interface FakeBff {
  fetch: typeof fetch;
  /** Bearer sessions of the token requests, in order. */
  sessions: string[];
  /** Answer token requests with this status (200: a token). */
  status: number;
  /** Token requests fail at the network level. */
  unreachable: boolean;
}

function fakeBff(): FakeBff {
  const bff: FakeBff = {
    sessions: [],
    status: 200,
    unreachable: false,
    fetch: async (input, init) => {
      if (bff.unreachable) throw new TypeError('fetch failed');
      const session = new Headers(init?.headers).get('authorization')?.replace('Bearer ', '') ?? '';
      bff.sessions.push(session);
      if (bff.status !== 200) return Response.json({ code: 'unauthenticated', detail: 'session ended' }, { status: bff.status });
      return Response.json({ ...answer, token: `t-${session}` });
    },
  };
  return bff;
}

const clients: Realtime[] = [];
afterEach(() => {
  for (const rt of clients.splice(0)) rt.close();
});

function start(bff: FakeBff, session: () => string, presenceLeaveGraceMs?: number) {
  const { factory, transports } = createFakeTransport();
  const tokensSeen: ClientTokenInfo[] = [];
  const rt = connect({
    url: 'http://bff',
    session,
    fetch: bff.fetch,
    reconnect: { baseMs: 10, maxMs: 20 },
    // These cases are about the provider transport: no switch to the SSE fallback while it is down.
    fallbackAfterAttempts: 0,
    transports: {
      local: (token, context) => {
        const transport = factory(token, context);
        transport.updateToken = (next) => tokensSeen.push(next);
        return transport;
      },
    },
    ...(presenceLeaveGraceMs !== undefined ? { presenceLeaveGraceMs } : {}),
  });
  clients.push(rt);
  return { rt, transports, tokensSeen };
}

describe('rt.refresh()', () => {
  it('hands the transport a token from the session as it is now, also while disconnected', async () => {
    const bff = fakeBff();
    let session = 's1';
    const { rt, transports, tokensSeen } = start(bff, () => session);
    await rt.ready();
    const states: string[] = [];
    rt.connection.on('change', (state) => states.push(state));
    const transport = transports[0];
    transport?.failNext.push(...Array.from({ length: 5 }, () => new SwitchboardError('provider_unavailable', 'still down')));
    transport?.drop();
    // Seen through the events: a poll can miss a state that lasts a few milliseconds.
    await waitFor(() => states.includes('reconnecting'), 'reconnecting');
    session = 's2';
    await rt.refresh();
    expect(tokensSeen.at(-1)?.token).toBe('t-s2');
    await waitFor(() => rt.connection.state === 'connected', 'reconnected');
    expect(bff.sessions.at(-1)).toBe('s2');
  });

  it('does not join a token request that read the session before it changed; a burst makes two requests', async () => {
    const bff = fakeBff();
    let session = 'old';
    const { rt, tokensSeen } = start(bff, () => session);
    await rt.ready();
    const requestsBefore = bff.sessions.length;
    const first = rt.refresh();
    session = 'new';
    const burst = Array.from({ length: 20 }, () => rt.refresh());
    await Promise.all([first, ...burst]);
    expect(bff.sessions.slice(requestsBefore)).toEqual(['old', 'new']);
    expect(tokensSeen.at(-1)?.token).toBe('t-new');
  });

  it('rejects with the BFF reason and changes nothing when the session is refused or the BFF unreachable', async () => {
    const bff = fakeBff();
    const { rt, tokensSeen } = start(bff, () => 's');
    const chat = rt.channel('chat:1');
    const me = await chat.presence.enter();
    bff.status = 401;
    await expect(rt.refresh()).rejects.toMatchObject({ code: 'unauthenticated', message: expect.stringContaining('session ended') });
    bff.status = 200;
    bff.unreachable = true;
    await expect(rt.refresh()).rejects.toMatchObject({ code: 'provider_unavailable' });
    expect(tokensSeen).toEqual([]);
    expect(rt.connection.state).toBe('connected');
    expect(rt.identity).toEqual({ user: 'alice', tenant: 'acme' });
    expect(await chat.presence.enter()).toEqual(me);
  });

  it('rejects on a closed client', async () => {
    const { rt } = start(fakeBff(), () => 's');
    await rt.ready();
    rt.close();
    await expect(rt.refresh()).rejects.toBeInstanceOf(SwitchboardError);
  });
});

describe('presence leave grace', () => {
  const GRACE_MS = 20;

  it('refuses a grace that is not a number of milliseconds from 0 to 60 s', () => {
    fc.assert(
      fc.property(fc.oneof(fc.double({ max: -Number.MIN_VALUE }), fc.double({ min: 60_000.001 }), fc.constantFrom(Number.NaN, Infinity)), (grace) => {
        expect(() => connect({ url: 'http://bff', session: 's', fetch: fakeBff().fetch, presenceLeaveGraceMs: grace })).toThrow(
          expect.objectContaining({ code: 'invalid_request' }),
        );
      }),
      { numRuns: RUNS },
    );
  });

  const member = fc.record({ id: fc.constantFrom('alice', 'bob', 'carol', '__proto__'), info: fc.record({ name: fc.constantFrom('A', 'B') }) });
  /** One provider report: its member list, deduplicated by user as transports report it. */
  const report = fc.uniqueArray(member, { selector: (entry) => entry.id, maxLength: 4 });

  function byId(members: readonly PresenceMember[]): Map<string, unknown> {
    return new Map(members.map((entry) => [entry.id, entry.info]));
  }

  function sorted(members: readonly PresenceMember[]): string {
    return JSON.stringify([...members].sort((a, b) => (a.id < b.id ? -1 : 1)));
  }

  it('shows joins and new info at once, a leave-and-return within the grace as nothing, and every real leave after it', async () => {
    const bff = fakeBff();
    const { rt, transports } = start(bff, () => 's', GRACE_MS);
    const chat = rt.channel('chat:grace');
    await chat.presence.enter();
    const handlers = transports[0]?.subscriptions.get('chat:grace')?.handlers;
    if (!handlers) throw new Error('not subscribed');
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(report, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 3 }), async (bursts) => {
        const shown: string[] = [];
        const off = chat.presence.onChange((members) => shown.push(JSON.stringify(members)));
        try {
          for (const burst of bursts) {
            const before = new Set(chat.presence.members().map((entry) => entry.id));
            // Reports in one tick: within the grace, so nobody listed before may disappear.
            for (const list of burst) {
              handlers.onPresence(list);
              const now = byId(chat.presence.members());
              for (const entry of list) expect(now.get(entry.id)).toEqual(entry.info);
              for (const id of before) expect(now.has(id)).toBe(true);
            }
            const last = sorted(burst.at(-1) ?? []);
            await waitFor(() => sorted(chat.presence.members()) === last, 'leaves after the grace', 2000);
          }
          for (let index = 1; index < shown.length; index++) expect(shown[index]).not.toBe(shown[index - 1]);
        } finally {
          off();
        }
      }),
      { numRuns: RUNS },
    );
  }, 60_000);
});
