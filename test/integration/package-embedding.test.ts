/**
 * Embedding the BFF in an app's own Express server: the `authenticate` hook's ways to
 * reject, the in-process publish API (the same pipeline and answers as POST /v1/publish),
 * and `attach()` of the embedded server to the app's own HTTP server.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Request } from 'express';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalProvider } from '../../providers/local/index.js';
import { connect } from '../../src/client/index.js';
import type { AppIdentity, Authenticate } from '../../src/server/index.js';
import { API_KEYS, startBff, type TestBff } from '../helpers/bff.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 40);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function bffWith(overrides: Parameters<typeof startBff>[0]): Promise<TestBff> {
  const bff = await startBff(overrides);
  cleanups.push(() => bff.close());
  return bff;
}

async function problem(response: Response): Promise<{ status: number; code: string; detail: string }> {
  const body = (await response.json()) as { code: string; detail: string };
  return { status: response.status, code: body.code, detail: body.detail };
}

describe('the authenticate hook', () => {
  /** The app's own login: the test names the user in a header and how the hook should answer. */
  const authenticate: Authenticate = (req: Request) => {
    switch (req.get('x-login')) {
      case 'ana':
        return { tenant: 'acme', user: 'ana', info: { name: 'Ana' } };
      case 'nobody':
        return null;
      case 'expired':
        throw Object.assign(new Error('Session expired'), { status: 401 });
      case 'suspended':
        throw Object.assign(new Error('Account suspended'), { statusCode: 403 });
      case 'bad-tenant':
        return { tenant: 'acme/../globex', user: 'ana' } as AppIdentity;
      default:
        throw new Error('database is down');
    }
  };
  const tokenAs = (bff: TestBff, login: string) => bff.post('/v1/token', {}, undefined, { 'x-login': login });

  it('answers 401 for no user and for an error with status 401, 403 for status 403, with the error message', async () => {
    const bff = await bffWith({ authenticate, devAuth: false });
    const ok = await tokenAs(bff, 'ana');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ tenant: 'acme', user: 'ana', caps: { 'notifications:ana': ['subscribe', 'history'] } });

    const nobody = await tokenAs(bff, 'nobody');
    expect(await problem(nobody)).toEqual({ status: 401, code: 'unauthenticated', detail: 'Not signed in' });
    expect(nobody.headers.get('www-authenticate')).toBe('Bearer');
    expect(await problem(await tokenAs(bff, 'expired'))).toEqual({ status: 401, code: 'unauthenticated', detail: 'Session expired' });
    expect(await problem(await tokenAs(bff, 'suspended'))).toEqual({ status: 403, code: 'forbidden', detail: 'Account suspended' });
  });

  it('refuses an identity that does not parse, and answers 500 without details for any other error', async () => {
    const bff = await bffWith({ authenticate, devAuth: false });
    expect(await problem(await tokenAs(bff, 'bad-tenant'))).toMatchObject({ status: 400, code: 'invalid_identity' });
    expect(await problem(await tokenAs(bff, 'crash'))).toEqual({ status: 500, code: 'internal', detail: 'Internal error' });
  });

  it('keeps member info as given, own __proto__ keys included', async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'name', 'x'), fc.jsonValue({ maxDepth: 2 })), async (info) => {
        const bff = await startBff({ authenticate: () => ({ tenant: 'acme', user: 'ana', info: JSON.parse(JSON.stringify(info)) as Record<string, unknown> }), devAuth: false });
        try {
          const answer = (await (await bff.post('/v1/token', {})).json()) as { token: string };
          const claims = JSON.parse(Buffer.from(answer.token.split('.')[1] ?? '', 'base64url').toString()) as { info: unknown };
          expect(claims.info).toEqual(JSON.parse(JSON.stringify(info)));
        } finally {
          await bff.close();
        }
      }),
      { numRuns: Math.min(RUNS, 20) },
    );
  });
});

describe('a client of an app whose login is a cookie', () => {
  it('connects without a session token: the token request carries no Authorization and the hook reads the cookie', async () => {
    const bff = await bffWith({ authenticate: (req) => (req.get('cookie') === 'sid=ana-session' ? { tenant: 'acme', user: 'ana' } : null), devAuth: false });
    const sent: Headers[] = [];
    // A browser adds the cookie to same-origin requests by itself; Node's fetch needs it added.
    const browserLikeFetch: typeof fetch = (input, init) => {
      const headers = new Headers(init?.headers);
      sent.push(new Headers(headers));
      headers.set('cookie', 'sid=ana-session');
      return fetch(input, { ...init, headers });
    };
    const rt = connect({ url: bff.url, fetch: browserLikeFetch, transport: 'sse' });
    cleanups.push(async () => rt.close());
    await rt.ready();
    expect(sent[0]?.has('authorization')).toBe(false);
    const rejected = connect({ url: bff.url, transport: 'sse' });
    cleanups.push(async () => rejected.close());
    await expect(rejected.ready()).rejects.toMatchObject({ code: 'unauthenticated' });
  });
});

describe('app.publish (in-process)', () => {
  it('appends to the same event log as POST /v1/publish and answers the same outcomes', async () => {
    const bff = await bffWith({});
    const first = await bff.app.publish({ tenant: 'acme', channel: 'orders:1', event: 'status', data: { status: 'packed' }, id: 'order-1-packed' });
    expect(first).toEqual({ id: 'order-1-packed', seq: 1, status: 'delivered' });
    // A resend, in-process or over HTTP, is a duplicate with the original seq.
    expect(await bff.app.publish({ tenant: 'acme', channel: 'orders:1', event: 'status', data: { status: 'packed' }, id: 'order-1-packed' })).toEqual({ ...first, status: 'duplicate' });
    const http = await bff.post('/v1/publish', { channel: 'orders:1', event: 'status', data: { status: 'packed' }, id: 'order-1-packed' }, API_KEYS.acme);
    expect(await http.json()).toEqual({ ...first, status: 'duplicate' });
    // Tenants stay apart: the same id in another tenant is another event.
    expect(await bff.app.publish({ tenant: 'globex', channel: 'orders:1', event: 'status', data: {}, id: 'order-1-packed' })).toMatchObject({ seq: 1, status: 'delivered' });

    const { token } = await bff.capabilityToken('acme', 'ana');
    const history = (await (await fetch(`${bff.url}/v1/history?channel=orders:1`, { headers: { authorization: `Bearer ${token}` } })).json()) as { events: unknown[] };
    expect(history.events).toEqual([expect.objectContaining({ id: 'order-1-packed', seq: 1, event: 'status', data: { status: 'packed' } })]);
  });

  it('validates like the HTTP route: the same inputs are refused with the same codes', async () => {
    const bff = await bffWith({});
    const channel = fc.oneof(fc.constantFrom('orders:1', 'nope:1', 'orders:', 'orders:a b', 'chat:x'.padEnd(300, 'x')), fc.string({ maxLength: 20 }));
    const event = fc.oneof(fc.constantFrom('status', 'pusher:x', 'client-x', ''), fc.string({ maxLength: 10 }));
    const data = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant('x'.repeat(70_000)));
    const id = fc.option(fc.oneof(fc.constantFrom('ok-id', 'bad id', ''), fc.string({ maxLength: 8 })), { nil: undefined });
    await fc.assert(
      fc.asyncProperty(channel, event, data, id, async (channel, event, data, id) => {
        const message = { channel, event, data, ...(id === undefined ? {} : { id }) };
        const http = await bff.post('/v1/publish', message, API_KEYS.acme);
        const httpCode = http.ok ? 'ok' : (await problem(http)).code;
        const inProcess = await bff.app.publish({ tenant: 'acme', ...message }).then(
          () => 'ok',
          (error: { code?: string }) => error.code,
        );
        expect(inProcess).toBe(httpCode);
      }),
      { numRuns: RUNS },
    );
  });

  it('takes the tenant from the caller, validated, and nothing the HTTP body may not carry', async () => {
    const bff = await bffWith({});
    const base = { channel: 'orders:1', event: 'status', data: {} };
    await expect(bff.app.publish({ tenant: '../globex', ...base })).rejects.toMatchObject({ code: 'invalid_request' });
    await expect(bff.app.publish(base as never)).rejects.toMatchObject({ code: 'invalid_request' });
    await expect(bff.app.publish({ tenant: 'acme', ...base, socketId: '1.2' } as never)).rejects.toMatchObject({ code: 'invalid_request' });
  });

  it('refuses once the server is shutting down', async () => {
    const bff = await startBff({});
    await bff.close();
    await expect(bff.app.publish({ tenant: 'acme', channel: 'orders:1', event: 'status', data: {} })).rejects.toMatchObject({ code: 'provider_unavailable' });
  });
});

describe('attach', () => {
  it('serves the embedded server on the app’s own HTTP server, with the BFF mounted under a path', async () => {
    const bff = (await startBff({ provider: createLocalProvider({}) })).app;
    const host = express();
    host.use('/realtime', bff);
    const server: Server = createHttpServer(host);
    bff.attach(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      await bff.shutdown();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/realtime`;
    const session = ((await (await fetch(`${url}/v1/dev/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"tenant":"acme","user":"ana"}' })).json()) as { token: string }).token;

    const rt = connect({ url, session, fallbackAfterAttempts: 0 });
    cleanups.push(async () => rt.close());
    const received = new Promise<unknown>((resolve) => rt.channel('orders:7').subscribe('status', (data) => resolve(data)));
    await rt.ready();
    // Published until it arrives: the subscription completes on the provider a moment after ready().
    const timer = setInterval(() => void bff.publish({ tenant: 'acme', channel: 'orders:7', event: 'status', data: { status: 'shipped' } }), 200);
    cleanups.push(async () => clearInterval(timer));
    expect(await received).toEqual({ status: 'shipped' });
    expect(rt.connection.transport).not.toBe('sse');
  });
});
