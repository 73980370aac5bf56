import { createHmac } from 'node:crypto';
import { createLocalJWKSet, jwtVerify, SignJWT, UnsecuredJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { createAppSessionVerifier } from '../../src/server/auth/session.js';
import { loadSigningKeys } from '../../src/server/tokens/signing-keys.js';
import { CapabilityTokens } from '../../src/server/tokens/capability-token.js';
import { ADMIN_KEY, API_KEYS, startBff, type TestBff } from '../helpers/bff.js';
import { createFakeProvider, FAKE_KEY, FAKE_SECRET, type FakeProvider } from '../helpers/fake-provider.js';

let bff: TestBff | undefined;
afterEach(async () => {
  await bff?.close();
  bff = undefined;
});

async function expectProblem(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await response.json()) as { code: string; status: number; type: string; detail: string; issues?: unknown[] };
  expect(body).toMatchObject({ code, status, type: `urn:switchboard:problem:${code}` });
  return body;
}

const APP_SECRET = 'app-session-secret-at-least-32-characters!';
function appSession(claims: Record<string, unknown>, options: { secret?: string; expiresIn?: string } = {}) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(String(claims.sub ?? 'ana'))
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '5m')
    .sign(new TextEncoder().encode(options.secret ?? APP_SECRET));
}

describe('POST /v1/token', () => {
  it('mints a tenant-scoped capability token verifiable with the published JWKS', async () => {
    bff = await startBff();
    const answer = await bff.capabilityToken('acme', 'ana', { name: 'Ana' });
    expect(answer).toMatchObject({ tenant: 'acme', user: 'ana', provider: { name: 'local', authEndpoint: '/v1/auth/pusher' } });
    expect(answer.namespaces).toHaveProperty('chat');
    expect(answer.expiresAt).toBeGreaterThan(Date.now() + 3500_000);

    const jwks = (await (await fetch(`${bff.url}/.well-known/jwks.json`)).json()) as { keys: [{ d?: string; kid: string }] };
    expect(jwks.keys[0].d).toBeUndefined();
    const { payload, protectedHeader } = await jwtVerify(answer.token, createLocalJWKSet(jwks as never), { issuer: 'switchboard', audience: 'switchboard' });
    expect(protectedHeader.kid).toBe(jwks.keys[0].kid);
    expect(payload).toMatchObject({ sub: 'ana', tid: 'acme', info: { name: 'Ana' } });
    expect(payload.caps).toMatchObject({ 'notifications:ana': ['subscribe', 'history'], 'chat:*': ['subscribe', 'publish', 'presence', 'history'] });
    expect(typeof payload.jti).toBe('string');
  });

  it('rejects a tenant in the body: the tenant only comes from the session', async () => {
    bff = await startBff();
    const session = await bff.devSession('acme', 'ana');
    await expectProblem(await bff.post('/v1/token', { tenant: 'globex' }, session), 400, 'invalid_request');
  });

  it('narrows caps on request and never widens them', async () => {
    bff = await startBff();
    const session = await bff.devSession('acme', 'ana');
    const response = await bff.post('/v1/token', { caps: { 'orders:1': ['subscribe', 'publish'], 'billing:*': ['subscribe'] } }, session);
    expect(((await response.json()) as { caps: unknown }).caps).toEqual({ 'orders:1': ['subscribe'] });
  });

  it('refuses missing, garbage, expired, wrongly signed and alg:none sessions', async () => {
    bff = await startBff({ sessionVerifier: createAppSessionVerifier({ secret: APP_SECRET, tenantClaim: 'org', rolesClaim: 'roles', nameClaim: 'name' }) });
    await expectProblem(await bff.post('/v1/token', {}), 401, 'unauthenticated');
    await expectProblem(await bff.post('/v1/token', {}, 'not-a-jwt'), 401, 'unauthenticated');
    await expectProblem(await bff.post('/v1/token', {}, await appSession({ org: 'acme' }, { expiresIn: '-1m' })), 401, 'token_expired');
    await expectProblem(await bff.post('/v1/token', {}, await appSession({ org: 'acme' }, { secret: 'x'.repeat(40) })), 401, 'unauthenticated');
    const none = new UnsecuredJWT({ org: 'acme', sub: 'ana' }).setExpirationTime('5m').encode();
    await expectProblem(await bff.post('/v1/token', {}, none), 401, 'unauthenticated');
    await expectProblem(await bff.post('/v1/token', {}, await appSession({ tid: 'acme' })), 400, 'invalid_identity');
  });

  it('takes tenant, roles and name from the configured claims of the app session', async () => {
    bff = await startBff({ sessionVerifier: createAppSessionVerifier({ secret: APP_SECRET, tenantClaim: 'org', rolesClaim: 'roles', nameClaim: 'name' }) });
    const response = await bff.post('/v1/token', {}, await appSession({ org: 'globex', sub: 'bo', name: 'Bo', roles: ['member'] }));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ tenant: 'globex', user: 'bo' });
  });

  it('uses the authenticate hook of library users', async () => {
    bff = await startBff({ authenticate: async () => ({ tenant: 'initech', user: 'peter', roles: [], info: {} }) });
    const response = await bff.post('/v1/token', {});
    expect(await response.json()).toMatchObject({ tenant: 'initech', user: 'peter' });
  });
});

describe('dev login', () => {
  it('is refused when dev auth is off', async () => {
    bff = await startBff({ devAuth: false, sessionVerifier: createAppSessionVerifier({ secret: APP_SECRET, tenantClaim: 'tid', rolesClaim: 'roles', nameClaim: 'name' }) });
    await expectProblem(await bff.post('/v1/dev/session', { tenant: 'acme', user: 'ana' }), 404, 'not_found');
  });

  it('validates its input', async () => {
    bff = await startBff();
    const body = await expectProblem(await bff.post('/v1/dev/session', { tenant: 'ac me', user: 'ana' }), 400, 'invalid_request');
    expect(body.issues).toEqual([expect.objectContaining({ path: 'tenant' })]);
  });
});

describe('POST /v1/auth/pusher', () => {
  const sign = (value: string) => `${FAKE_KEY}:${createHmac('sha256', FAKE_SECRET).update(value).digest('hex')}`;

  it('signs private channels of the own tenant, form-encoded as pusher-js sends', async () => {
    bff = await startBff();
    const { token } = await bff.capabilityToken('acme', 'ana');
    const response = await fetch(`${bff.url}/v1/auth/pusher`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'socket_id=123.456&channel_name=private-orders.acme.1001',
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ auth: sign('123.456:private-orders.acme.1001') });
  });

  it('gives presence channels channel_data from the token', async () => {
    bff = await startBff();
    const { token } = await bff.capabilityToken('acme', 'ana', { name: 'Ana' });
    const response = await bff.post('/v1/auth/pusher', { socket_id: '1.2', channel_name: 'presence-chat.acme.general' }, token);
    const body = (await response.json()) as { auth: string; channel_data: string };
    expect(JSON.parse(body.channel_data)).toMatchObject({ user_id: 'ana', user_info: { name: 'Ana' }, sb: { ce: ['typing'] } });
    expect(body.auth).toBe(sign(`1.2:presence-chat.acme.general:${body.channel_data}`));
  });

  it.each([
    ['another tenant', 'private-orders.globex.1001', 403, 'forbidden'],
    ['a channel outside the caps', 'private-notifications.acme.bob', 403, 'forbidden'],
    ['the wrong prefix for the namespace', 'private-chat.acme.general', 403, 'forbidden'],
    ['a public channel', 'orders-1001', 403, 'forbidden'],
    ['an unknown namespace', 'private-billing.acme.1', 400, 'unknown_namespace'],
  ])('refuses %s', async (_what, channel, status, code) => {
    bff = await startBff();
    const { token } = await bff.capabilityToken('acme', 'ana');
    await expectProblem(await bff.post('/v1/auth/pusher', { socket_id: '1.2', channel_name: channel }, token), status, code);
  });

  it('refuses forged, expired and alg:none capability tokens', async () => {
    bff = await startBff();
    const channel = { socket_id: '1.2', channel_name: 'private-orders.acme.1' };
    const otherKeys = await loadSigningKeys({});
    const forged = await new CapabilityTokens(otherKeys, 60).mint({ tenant: 'acme', user: 'ana', caps: { '*': ['subscribe'] }, info: {} });
    await expectProblem(await bff.post('/v1/auth/pusher', channel, forged.token), 401, 'unauthenticated');
    const expired = await new CapabilityTokens(bff.app.switchboard.signingKeys, -120).mint({ tenant: 'acme', user: 'ana', caps: { '*': ['subscribe'] }, info: {} });
    await expectProblem(await bff.post('/v1/auth/pusher', channel, expired.token), 401, 'token_expired');
    const none = new UnsecuredJWT({ tid: 'acme', caps: { '*': ['subscribe'] } }).setSubject('ana').setIssuer('switchboard').setAudience('switchboard').setExpirationTime('5m').encode();
    await expectProblem(await bff.post('/v1/auth/pusher', channel, none), 401, 'unauthenticated');
    const session = await bff.devSession('acme', 'ana');
    await expectProblem(await bff.post('/v1/auth/pusher', channel, session), 401, 'unauthenticated');
  });

  it('validates socket_id', async () => {
    bff = await startBff();
    const { token } = await bff.capabilityToken('acme', 'ana');
    await expectProblem(await bff.post('/v1/auth/pusher', { socket_id: 'abc', channel_name: 'private-orders.acme.1' }, token), 400, 'invalid_request');
  });
});

describe('POST /v1/publish', () => {
  const message = { channel: 'orders:1001', event: 'status', data: { status: 'shipped' } };

  it('publishes for the tenant bound to the API key', async () => {
    const provider = createFakeProvider();
    bff = await startBff({ provider });
    const response = await bff.post('/v1/publish', message, API_KEYS.acme);
    expect(response.status).toBe(200);
    const outcome = (await response.json()) as { id: string; seq: number; status: string };
    expect(outcome).toMatchObject({ seq: 1, status: 'delivered' });
    expect((provider as FakeProvider).published).toEqual([
      expect.objectContaining({ tenant: 'acme', envelope: expect.objectContaining({ id: outcome.id, channel: 'orders:1001', event: 'status', seq: 1 }) }),
    ]);
  });

  it('rejects a tenant in the body', async () => {
    bff = await startBff();
    await expectProblem(await bff.post('/v1/publish', { ...message, tenant: 'globex' }, API_KEYS.acme), 400, 'invalid_request');
  });

  it('dedupes on id and keeps seq per channel', async () => {
    bff = await startBff();
    const first = await (await bff.post('/v1/publish', { ...message, id: 'order-1001-shipped' }, API_KEYS.acme)).json();
    const again = await (await bff.post('/v1/publish', { ...message, id: 'order-1001-shipped' }, API_KEYS.acme)).json();
    expect(again).toEqual({ id: 'order-1001-shipped', seq: (first as { seq: number }).seq, status: 'duplicate' });
  });

  it('takes batches of up to 100 messages', async () => {
    bff = await startBff();
    const messages = Array.from({ length: 100 }, (_, index) => ({ ...message, data: { index } }));
    const response = await bff.post('/v1/publish', { messages }, API_KEYS.acme);
    const { results } = (await response.json()) as { results: { seq: number }[] };
    expect(results.map((result) => result.seq)).toEqual(Array.from({ length: 100 }, (_, index) => index + 1));
    await expectProblem(await bff.post('/v1/publish', { messages: [...messages, message] }, API_KEYS.acme), 400, 'invalid_request');
  });

  it('answers bad input with problem+json', async () => {
    bff = await startBff();
    const invalid = await expectProblem(await bff.post('/v1/publish', { ...message, channel: 'orders' }, API_KEYS.acme), 400, 'invalid_request');
    expect(invalid.issues).toEqual([expect.objectContaining({ path: 'channel' })]);
    await expectProblem(await bff.post('/v1/publish', { ...message, event: 'client-x' }, API_KEYS.acme), 400, 'invalid_request');
    await expectProblem(await bff.post('/v1/publish', { ...message, channel: 'billing:1' }, API_KEYS.acme), 400, 'unknown_namespace');
    await expectProblem(await bff.post('/v1/publish', '{"channel":', API_KEYS.acme), 400, 'invalid_request');
    await expectProblem(await bff.post('/v1/publish', { ...message, data: 'x'.repeat(70_000) }, API_KEYS.acme), 413, 'payload_too_large');
    await expectProblem(await bff.post('/v1/publish', { ...message, data: 'x'.repeat(2_000_000) }, API_KEYS.acme), 413, 'payload_too_large');
  });

  it('refuses unknown keys and capability tokens', async () => {
    bff = await startBff();
    await expectProblem(await bff.post('/v1/publish', message, 'acme-publish-key-0002'), 401, 'unauthenticated');
    const { token } = await bff.capabilityToken('acme', 'ana');
    await expectProblem(await bff.post('/v1/publish', message, token), 401, 'unauthenticated');
  });

  it('lets admin keys publish only for the tenant they name', async () => {
    const provider = createFakeProvider();
    bff = await startBff({ provider });
    await expectProblem(await bff.post('/v1/publish', message, ADMIN_KEY), 400, 'invalid_request');
    const response = await bff.post('/v1/publish', message, ADMIN_KEY, { 'switchboard-tenant': 'globex' });
    expect(response.status).toBe(200);
    expect(provider.published[0]?.tenant).toBe('globex');
  });

  it('answers accepted when the provider does not take the event', async () => {
    const provider = createFakeProvider();
    provider.failing = true;
    bff = await startBff({ provider });
    const response = await bff.post('/v1/publish', message, API_KEYS.acme);
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({ seq: 1, status: 'accepted' });
  });
});

describe('provider credential routes', () => {
  it.each(['/v1/auth/ably', '/v1/auth/supabase'])('%s wants a valid capability token, and answers not_found on a provider without that credential', async (route) => {
    bff = await startBff();
    await expectProblem(await bff.post(route, {}), 401, 'unauthenticated');
    await expectProblem(await bff.post(route, {}, 'not-a-token'), 401, 'unauthenticated');
    const { token } = await bff.capabilityToken('acme', 'ana');
    await expectProblem(await bff.post(route, {}, token), 404, 'not_found');
  });
});

describe('health', () => {
  it('answers liveness and readiness, and 404 problems for unknown routes', async () => {
    bff = await startBff();
    expect(await (await fetch(`${bff.url}/healthz`)).json()).toEqual({ status: 'ok' });
    expect((await fetch(`${bff.url}/readyz`)).status).toBe(200);
    await expectProblem(await fetch(`${bff.url}/v1/nope`), 404, 'not_found');
  });
});

describe('GET /v1/openapi.json', () => {
  it('describes every route with schemas whose references all resolve', async () => {
    bff = await startBff();
    const document = (await (await fetch(`${bff.url}/v1/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } };
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(['/v1/token', '/v1/auth/pusher', '/v1/publish', '/v1/history', '/v1/stream', '/v1/poll']));
    const refs = [...JSON.stringify(document).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((match) => match[1] as string);
    expect(refs.length).toBeGreaterThan(5);
    for (const ref of refs) expect(document.components.schemas).toHaveProperty([ref]);
    const publish = document.components.schemas.PublishRequest as { anyOf: { properties: Record<string, unknown> }[] };
    expect(Object.keys(publish.anyOf[0]!.properties)).toEqual(expect.arrayContaining(['channel', 'event', 'data', 'id']));
  });
});
