/**
 * Issue 18: channel authorizations and sign-ins fetched before a terminate subscribed (and
 * signed in) afterwards. The local server now checks, when they are used, that their user
 * was not terminated after the token they were signed under was issued (`sb.iat`), and
 * closes such a connection with `pusher:error` 4009 then close code 4009.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Connection } from '../../providers/local/connection.js';
import { Hub } from '../../providers/local/hub.js';
import { DEFAULT_LOCAL_OPTIONS } from '../../providers/local/options.js';
import { RateLimiter } from '../../providers/local/outbox.js';
import { handleClientFrame, type ProtocolContext } from '../../providers/local/protocol-handler.js';
import { signChannel, signUser } from '../../providers/pusher-protocol/index.js';

const credentials = { key: DEFAULT_LOCAL_OPTIONS.key, secret: DEFAULT_LOCAL_OPTIONS.secret };

interface Observed {
  events: string[];
  closedWith: number | undefined;
}

function fakeConnection(): { connection: Connection; seen: Observed } {
  const seen: Observed = { events: [], closedWith: undefined };
  const connection = {
    socketId: '1.2',
    userId: undefined as string | undefined,
    get open() {
      return seen.closedWith === undefined;
    },
    subscriptions: new Map(),
    clientEvents: new RateLimiter(10, Date.now()),
    enqueue(raw: Buffer) {
      seen.events.push((JSON.parse(raw.subarray(raw[1] === 126 ? 4 : 2).toString('utf8')) as { event: string }).event);
    },
    close(code: number) {
      // As Connection.close does for application codes: the pusher:error goes out first.
      seen.events.push('pusher:error');
      seen.closedWith = code;
    },
  };
  return { connection: connection as unknown as Connection, seen };
}

/** Revocations as the BFF keeps them: the latest terminate stamp per tenant and user. */
function contextWith(revokedAt: Map<string, number>): ProtocolContext {
  return {
    options: DEFAULT_LOCAL_OPTIONS,
    hub: new Hub({ maxChannelsPerConnection: 100, presenceMaxMembers: 100 }),
    signIn: (connection, userId) => {
      connection.userId = userId;
    },
    subscribed: () => undefined,
    isRevoked: async (tenant, user, issuedAt) => issuedAt <= (revokedAt.get(`${tenant}:${user}`) ?? -1),
  };
}

async function settled(seen: Observed): Promise<void> {
  for (let i = 0; i < 50 && seen.events.length === 0; i++) await new Promise((resolve) => setImmediate(resolve));
}

// A history of mints and terminates of one user; each mint's stamp is its position.
const histories = fc.array(fc.constantFrom('mint', 'terminate'), { minLength: 1, maxLength: 8 }).filter((steps) => steps.includes('mint'));

describe('local server: authorizations of terminated users', () => {
  it('subscribes with an authorization iff its user was not terminated after its token was minted (property)', async () => {
    await fc.assert(
      fc.asyncProperty(histories, fc.nat(), fc.constantFrom('private-orders.acme.1', 'presence-chat.acme.lobby'), async (steps, pick, channel) => {
        const mints = steps.flatMap((step, index) => (step === 'mint' ? [index + 1] : []));
        const lastTerminate = steps.lastIndexOf('terminate') + 1;
        const issuedAt = mints[pick % mints.length] ?? 1;
        const revokedAt = new Map(lastTerminate > 0 ? [['acme:ana', lastTerminate]] : []);
        const { connection, seen } = fakeConnection();
        const channelData = JSON.stringify({ user_id: 'ana', user_info: {}, sb: { ce: [], exp: Date.now() + 60_000, iat: issuedAt } });
        const auth = signChannel(credentials, '1.2', channel, channelData);
        handleClientFrame(contextWith(revokedAt), connection, JSON.stringify({ event: 'pusher:subscribe', data: { channel, ...auth } }), Date.now());
        await settled(seen);
        if (issuedAt > lastTerminate) {
          expect(seen.events).toEqual(['pusher_internal:subscription_succeeded']);
          expect(seen.closedWith).toBeUndefined();
        } else {
          expect(seen.events).toEqual(['pusher:error']);
          expect(seen.closedWith).toBe(4009);
        }
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 40) },
    );
  });

  it('refuses a sign-in of a user terminated since, and one that has expired', async () => {
    const revoked = fakeConnection();
    const userData = JSON.stringify({ id: 'acme:ana', sb: { exp: Date.now() + 60_000, iat: 5 } });
    handleClientFrame(contextWith(new Map([['acme:ana', 5]])), revoked.connection, JSON.stringify({ event: 'pusher:signin', data: signUser(credentials, '1.2', userData) }), 0);
    await settled(revoked.seen);
    expect(revoked.seen).toEqual({ events: ['pusher:error'], closedWith: 4009 });
    expect(revoked.connection.userId).toBeUndefined();

    const fresh = fakeConnection();
    handleClientFrame(contextWith(new Map([['acme:ana', 4]])), fresh.connection, JSON.stringify({ event: 'pusher:signin', data: signUser(credentials, '1.2', userData) }), 0);
    await settled(fresh.seen);
    expect(fresh.seen.events).toEqual(['pusher:signin_success']);

    const expired = fakeConnection();
    const old = JSON.stringify({ id: 'acme:ana', sb: { exp: Date.now() - 1, iat: 9 } });
    handleClientFrame(contextWith(new Map()), expired.connection, JSON.stringify({ event: 'pusher:signin', data: signUser(credentials, '1.2', old) }), 0);
    expect(expired.seen).toEqual({ events: ['pusher:error'], closedWith: undefined });
    expect(expired.connection.userId).toBeUndefined();
  });

  it('refuses (503, connection kept) when it cannot tell, rather than letting the authorization through', async () => {
    const { connection, seen } = fakeConnection();
    const context: ProtocolContext = { ...contextWith(new Map()), isRevoked: () => Promise.reject(new Error('store down')) };
    const channelData = JSON.stringify({ user_id: 'ana', sb: { ce: [], iat: 1 } });
    handleClientFrame(context, connection, JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'private-orders.acme.1', ...signChannel(credentials, '1.2', 'private-orders.acme.1', channelData) } }), 0);
    await settled(seen);
    expect(seen).toEqual({ events: ['pusher:subscription_error'], closedWith: undefined });
  });
});
