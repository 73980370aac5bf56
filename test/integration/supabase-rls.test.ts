/**
 * The RLS policies Switchboard ships for Supabase (providers/supabase/policies.sql), run
 * on a real PostgreSQL with a Supabase-shaped realtime/auth schema, as the
 * `authenticated` role, the way Realtime checks them when a client joins. They must make
 * the decision the BFF makes in TypeScript (test/helpers/supabase-access.ts).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveCapabilities, type Capabilities, type Operation } from '../../src/core/capabilities.js';
import { DEFAULT_NAMESPACES } from '../../src/core/namespaces.js';
import { toSupabaseMembersTopic, toSupabaseTopic } from '../../src/core/provider-names.js';
import { decodeJwt } from 'jose';
import pg from 'pg';
import { createRealtimeJwtSigner, namespaceClaims, realtimeSubject, SWITCHBOARD_REALTIME_ROLE } from '../../providers/supabase/realtime-jwt.js';
import { readFile } from 'node:fs/promises';
import { createRealtimeDatabase, POLICIES_SQL, type RealtimeDatabase } from '../fixtures/supabase-emulator/database.js';
import { postgresCheck, requireService } from '../helpers/services.js';
import { expectedAccess, type Action, type Extension, type RealtimeClaims } from '../helpers/supabase-access.js';

const ns = namespaceClaims(DEFAULT_NAMESPACES);
const memberCaps = resolveCapabilities(
  [
    {
      'orders:*': ['subscribe', 'history'],
      'dashboard:*': ['subscribe', 'history'],
      'chat:*': ['subscribe', 'presence', 'publish', 'history'],
      'notifications:{user}': ['subscribe', 'history'],
    },
  ],
  'alice',
);

function claims(overrides: Partial<RealtimeClaims> & { sub?: string; role?: string } = {}): Record<string, unknown> {
  return { role: SWITCHBOARD_REALTIME_ROLE, sub: realtimeSubject('acme', 'alice'), tid: 'acme', caps: memberCaps, ns, ...overrides };
}

const decision = await postgresCheck();

describe.skipIf(decision === 'skip')('Supabase RLS policies on PostgreSQL', () => {
  let db: RealtimeDatabase;

  beforeAll(async () => {
    requireService(decision, 'PostgreSQL');
    db = await createRealtimeDatabase();
  });
  afterAll(async () => {
    await db?.close();
  });

  const none = { broadcast: { read: false, write: false }, presence: { read: false, write: false } };

  it('lets members of the tenant receive server events but never send on the events topic', async () => {
    expect(await db.authorize(claims(), toSupabaseTopic('acme', 'orders:1001'))).toEqual({
      broadcast: { read: true, write: false },
      presence: { read: false, write: false },
    });
    // Even with every capability, only the BFF's service role writes server events.
    expect(await db.authorize(claims({ caps: { '*': ['subscribe', 'publish', 'presence'] } }), toSupabaseTopic('acme', 'chat:x'))).toEqual({
      broadcast: { read: true, write: false },
      presence: { read: false, write: false },
    });
  });

  it('keeps tenants apart, whatever the caps say', async () => {
    const everything: Capabilities = { '*': ['subscribe', 'publish', 'presence', 'history'] };
    expect(await db.authorize(claims({ caps: everything }), toSupabaseTopic('globex', 'orders:1001'))).toEqual(none);
    expect(await db.authorize(claims({ caps: everything }), toSupabaseMembersTopic('globex', 'chat:general'))).toEqual(none);
    expect(await db.authorize(claims({ tid: 'globex' }), toSupabaseMembersTopic('acme', 'chat:general'))).toEqual(none);
  });

  it('lets chat members track presence and whisper on the members topic', async () => {
    expect(await db.authorize(claims(), toSupabaseMembersTopic('acme', 'chat:general'))).toEqual({
      broadcast: { read: true, write: true },
      presence: { read: true, write: true },
    });
  });

  it('requires presence as well as subscribe on presence namespaces, and publish to whisper', async () => {
    const subscribeOnly = claims({ caps: { 'chat:*': ['subscribe'] } });
    expect(await db.authorize(subscribeOnly, toSupabaseMembersTopic('acme', 'chat:general'))).toEqual(none);
    const noPublish = claims({ caps: { 'chat:*': ['subscribe', 'presence'] } });
    expect(await db.authorize(noPublish, toSupabaseMembersTopic('acme', 'chat:general'))).toEqual({
      broadcast: { read: true, write: false },
      presence: { read: true, write: true },
    });
  });

  it('gives no whispers or presence on namespaces without client events or presence', async () => {
    const everything = claims({ caps: { 'orders:*': ['subscribe', 'publish', 'presence'] } });
    expect(await db.authorize(everything, toSupabaseMembersTopic('acme', 'orders:1'))).toEqual({
      broadcast: { read: true, write: false },
      presence: { read: false, write: false },
    });
  });

  it('matches wildcards as prefixes and exact names exactly', async () => {
    const caps = { 'chat:team-*': ['subscribe', 'presence'] as Operation[], 'orders:7': ['subscribe'] as Operation[] };
    expect((await db.authorize(claims({ caps }), toSupabaseMembersTopic('acme', 'chat:team-blue'))).presence.read).toBe(true);
    expect((await db.authorize(claims({ caps }), toSupabaseMembersTopic('acme', 'chat:teal'))).presence.read).toBe(false);
    expect((await db.authorize(claims({ caps }), toSupabaseTopic('acme', 'orders:7'))).broadcast.read).toBe(true);
    expect((await db.authorize(claims({ caps }), toSupabaseTopic('acme', 'orders:70'))).broadcast.read).toBe(false);
    // SQL LIKE wildcards in caps or names are literal characters here.
    const likeCaps = { 'orders:a_*': ['subscribe'] as Operation[] };
    expect((await db.authorize(claims({ caps: likeCaps }), toSupabaseTopic('acme', 'orders:ab'))).broadcast.read).toBe(false);
  });

  it('resolves {user} channels to the token holder only', async () => {
    expect((await db.authorize(claims(), toSupabaseTopic('acme', 'notifications:alice'))).broadcast.read).toBe(true);
    expect((await db.authorize(claims(), toSupabaseTopic('acme', 'notifications:bob'))).broadcast.read).toBe(false);
    const bob = claims({ sub: realtimeSubject('acme', 'bob'), caps: resolveCapabilities([{ 'notifications:{user}': ['subscribe'] }], 'bob') });
    expect((await db.authorize(bob, toSupabaseTopic('acme', 'notifications:bob'))).broadcast.read).toBe(true);
    expect((await db.authorize(bob, toSupabaseTopic('acme', 'notifications:alice'))).broadcast.read).toBe(false);
  });

  it('allows only the namespace client events where a row names its event', async () => {
    const allows = async (event: string | null) =>
      (
        await db.query<{ ok: boolean }>(`select switchboard.realtime_allows($1, $2, 'broadcast', 'write', $3) as ok`, [
          JSON.stringify(claims()),
          toSupabaseMembersTopic('acme', 'chat:general'),
          event,
        ])
      )[0]?.ok;
    expect(await allows('typing')).toBe(true);
    expect(await allows(null)).toBe(true);
    expect(await allows('dance')).toBe(false);
    expect(await allows('client-typing')).toBe(false);
  });

  it('refuses anon and malformed topics or claims', async () => {
    expect(await db.authorize(claims({ role: 'anon' }), toSupabaseTopic('acme', 'orders:1'))).toEqual(none);
    for (const topic of ['orders:acme', 'orders::1', 'Orders:acme:1', 'orders:acme:1#other', 'nope:acme:1', 'orders:ac.me:1', 'constructor:acme:1', '']) {
      expect(await db.authorize(claims(), topic), topic).toEqual(none);
    }
    expect(await db.authorize({ ...claims(), caps: 'everything' }, toSupabaseTopic('acme', 'orders:1'))).toEqual(none);
    expect(await db.authorize({ ...claims(), caps: { 'orders:*': 'subscribe' } }, toSupabaseTopic('acme', 'orders:1'))).toEqual(none);
    expect(await db.authorize({ role: SWITCHBOARD_REALTIME_ROLE }, toSupabaseTopic('acme', 'orders:1'))).toEqual(none);
    // The claims of an app session (`authenticated`) are not Switchboard's, whatever they carry.
    expect(await db.authorize(claims({ role: 'authenticated' }), toSupabaseTopic('acme', 'orders:1'))).toEqual(none);
  });

  describe('agree with the TypeScript decision on generated inputs', () => {
    const tenants = ['acme', 'globex', 'a-b_1'];
    const namespaces = ['orders', 'chat', 'chat', 'notifications', 'nope', 'constructor'];
    const rests = ['1', 'general', 'team-blue', 'team-', 'alice', 'a:b', 'a_b', 'x'.repeat(170)];
    const ops: Operation[] = ['subscribe', 'publish', 'presence', 'history'];
    const channelArb = fc.tuple(fc.constantFrom(...namespaces), fc.constantFrom(...rests)).map(([n, r]) => `${n}:${r}`);
    const patternArb = fc.oneof(
      channelArb,
      channelArb.map((channel) => `${channel.slice(0, Math.max(1, channel.length - 2))}*`),
      fc.constantFrom('*', 'chat:*', 'orders:*', 'chat:team-*', 'notifications:alice'),
    );
    const capsArb = fc.dictionary(patternArb, fc.uniqueArray(fc.constantFrom(...ops), { minLength: 1 }), { maxKeys: 4 });
    const nsArb = fc.dictionary(
      fc.constantFrom(...namespaces),
      fc.record({ presence: fc.boolean(), clientEvents: fc.uniqueArray(fc.constantFrom('typing', 'dance'), { maxLength: 2 }) }),
      { maxKeys: 5 },
    );
    const claimsArb = fc.record({ tid: fc.constantFrom(...tenants), caps: capsArb, ns: fc.oneof(fc.constant(ns), nsArb) });
    // Mostly topics of the claims' own tenant, where the caps and namespace rules decide.
    const caseArb = claimsArb.chain((generated) =>
      fc.record({
        claims: fc.constant(generated),
        topic: fc.oneof(
          { weight: 8, arbitrary: fc.tuple(fc.constantFrom(generated.tid, generated.tid, ...tenants), channelArb, fc.boolean()).map(([tenant, channel, members]) => {
            const base = `${channel.slice(0, channel.indexOf(':'))}:${tenant}:${channel.slice(channel.indexOf(':') + 1)}`;
            return members ? `${base}#members` : base;
          }) },
          { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
        ),
      }),
    );
    const extensionArb = fc.constantFrom<Extension>('broadcast', 'presence');
    const actionArb = fc.constantFrom<Action>('read', 'write');
    const eventArb = fc.constantFrom(null, 'typing', 'dance');

    it('realtime_allows, row by row', async () => {
      await fc.assert(
        fc.asyncProperty(caseArb, extensionArb, actionArb, eventArb, async ({ claims: generated, topic }, extension, action, event) => {
          const [row] = await db.query<{ ok: boolean }>(`select switchboard.realtime_allows($1, $2, $3, $4, $5) as ok`, [
            JSON.stringify(generated),
            topic,
            extension,
            action,
            event,
          ]);
          expect(row?.ok).toBe(expectedAccess(generated, topic, extension, action, event));
        }),
        { numRuns: 400 },
      );
    });

    it("the policies as Realtime's join check runs them", async () => {
      await fc.assert(
        fc.asyncProperty(caseArb, async ({ claims: generated, topic }) => {
          const policies = await db.authorize({ role: SWITCHBOARD_REALTIME_ROLE, sub: realtimeSubject(generated.tid, 'alice'), ...generated }, topic);
          expect(policies).toEqual({
            broadcast: { read: expectedAccess(generated, topic, 'broadcast', 'read'), write: expectedAccess(generated, topic, 'broadcast', 'write') },
            presence: { read: expectedAccess(generated, topic, 'presence', 'read'), write: expectedAccess(generated, topic, 'presence', 'write') },
          });
        }),
        { numRuns: 80 },
      );
    });
  });
});

/**
 * The Realtime JWT outside Realtime: PostgREST (like Storage and GraphQL) connects as
 * `authenticator`, switches to the token's `role` and sets its claims. A token the BFF
 * minted must get nothing there from a table protected the usual Supabase way.
 */
describe.skipIf(decision === 'skip')('the Realtime JWT is useless outside Realtime', () => {
  let db: RealtimeDatabase;
  const owner = '6f1c1a52-0d7c-4a43-9f55-8b7cc3e8e7a1';
  const minted = async (user: string, tenant = 'acme') => {
    const signer = createRealtimeJwtSigner({ jwtSigningKey: { secret: 'x'.repeat(40) } }, DEFAULT_NAMESPACES);
    return decodeJwt(await signer.sign({ tenant, user, info: {}, caps: memberCaps, expiresAt: Date.now() + 60_000 })) as Record<string, unknown>;
  };

  beforeAll(async () => {
    requireService(decision, 'PostgreSQL');
    db = await createRealtimeDatabase();
    // policies.sql is run again on upgrades: a second run must succeed and change nothing below.
    await db.query(await readFile(POLICIES_SQL, 'utf8'), []);
    await db.query(
      `create table public.notes (id serial primary key, owner uuid not null, body text not null);
       alter table public.notes enable row level security;
       create policy "own notes" on public.notes for all to authenticated using (auth.uid() = owner) with check (auth.uid() = owner);
       grant all on public.notes to anon, authenticated, service_role;
       grant usage, select on sequence public.notes_id_seq to anon, authenticated, service_role;`,
      [],
    );
    await db.query(`insert into public.notes (owner, body) values ($1, 'secret')`, [owner]);
  });
  afterAll(async () => {
    await db?.close();
  });

  /** What PostgREST does with a verified JWT: switch from authenticator to its role and run the query. */
  async function asPostgrest(claims: Record<string, unknown>, sql: string): Promise<{ rows: unknown[] } | { code: string }> {
    const client = new pg.Client({ connectionString: db.url('authenticator') });
    await client.connect();
    try {
      await client.query('begin');
      await client.query(
        `select set_config('role', $1, true), set_config('request.jwt.claims', $2, true), set_config('request.jwt.claim.sub', $3, true)`,
        [claims.role, JSON.stringify(claims), claims.sub ?? ''],
      );
      return { rows: (await client.query(sql)).rows };
    } catch (error) {
      return { code: String((error as { code?: string }).code) };
    } finally {
      await client.query('rollback').catch(() => undefined);
      await client.end();
    }
  }

  it('gets no rows and writes none in an auth.uid() table, even for a user whose id is the owner', async () => {
    const token = await minted(owner);
    expect(token.role).toBe(SWITCHBOARD_REALTIME_ROLE);
    expect(token.sub).not.toBe(owner);
    // The control: the app's own session for that user reads its note.
    expect(await asPostgrest({ role: 'authenticated', sub: owner }, 'select body from public.notes')).toEqual({ rows: [{ body: 'secret' }] });
    expect(await asPostgrest(token, 'select body from public.notes')).toEqual({ code: '42501' });
    expect(await asPostgrest(token, `insert into public.notes (owner, body) values ('${owner}', 'forged')`)).toEqual({ code: '42501' });
    expect(await asPostgrest(token, 'select tenant from switchboard.revocations')).toEqual({ code: '42501' });
    expect(await asPostgrest(token, `select public.switchboard_terminate('acme', 'bob', 0)`)).toEqual({ code: '42501' });
    expect(await asPostgrest(token, 'select count(*) from realtime.messages')).toEqual({ rows: [{ count: '0' }] });
  });

  it("still passes Realtime's join check for its own channels", async () => {
    expect(await db.authorize(await minted('alice'), toSupabaseMembersTopic('acme', 'chat:general'))).toEqual({
      broadcast: { read: true, write: true },
      presence: { read: true, write: true },
    });
  });

  it('keeps tenants apart and server topics read-only when the project adds `using (true)` policies', async () => {
    await db.query(
      `create policy "open read" on realtime.messages for select to public using (true);
       create policy "open write" on realtime.messages for insert to public with check (true);`,
      [],
    );
    try {
      const alice = await minted('alice');
      const none = { broadcast: { read: false, write: false }, presence: { read: false, write: false } };
      expect(await db.authorize(alice, toSupabaseTopic('globex', 'orders:1001'))).toEqual(none);
      expect(await db.authorize(alice, toSupabaseMembersTopic('globex', 'chat:general'))).toEqual(none);
      expect(await db.authorize(alice, toSupabaseTopic('acme', 'orders:1001'))).toEqual({
        broadcast: { read: true, write: false },
        presence: { read: false, write: false },
      });
    } finally {
      await db.query(`drop policy "open read" on realtime.messages; drop policy "open write" on realtime.messages;`, []);
    }
  });

  it('gives a user terminated after the token was signed nothing, and a later token everything again', async () => {
    const before = await minted('carol');
    const topic = toSupabaseMembersTopic('acme', 'chat:general');
    expect((await db.authorize(before, topic)).broadcast.write).toBe(true);
    await db.query(`set role service_role; select public.switchboard_terminate('acme', 'carol', $1); reset role;`.replace('$1', String(before.iat)), []);
    expect(await db.authorize(before, topic)).toEqual({ broadcast: { read: false, write: false }, presence: { read: false, write: false } });
    // Another tenant's user of the same id is not terminated.
    expect((await db.authorize(await minted('carol', 'globex'), toSupabaseMembersTopic('globex', 'chat:general'))).broadcast.write).toBe(true);
    const later = { ...before, iat: Number(before.iat) + 1 };
    expect((await db.authorize(later, topic)).broadcast.write).toBe(true);
  });
});
