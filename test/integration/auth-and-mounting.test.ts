/**
 * App-session verification by JWKS URL, the config file, and mounting the BFF as a
 * router inside an existing Express app.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import express from 'express';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_APP_CONFIG } from '../../src/core/config.js';
import { createServer as createBff } from '../../src/server/app.js';
import { ApiKeys } from '../../src/server/auth/api-keys.js';
import { createAppSessionVerifier } from '../../src/server/auth/session.js';
import { loadAppConfig } from '../../src/server/config-file.js';
import { MemoryEventStore } from '../../src/server/log/memory-store.js';
import { createLogger } from '../../src/server/logger.js';
import { loadSigningKeys } from '../../src/server/tokens/signing-keys.js';
import { createFakeProvider } from '../helpers/fake-provider.js';

const servers: Server[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function serve(app: express.Express): Promise<string> {
  const server = createServer(app);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('app sessions verified by JWKS URL', () => {
  it('accepts tokens signed by a published key and refuses others and symmetric algorithms', async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const jwksApp = express();
    jwksApp.get('/jwks.json', async (_req, res) => {
      res.json({ keys: [{ ...(await exportJWK(publicKey)), kid: 'app-1', alg: 'RS256' }] });
    });
    const jwksUrl = `${await serve(jwksApp)}/jwks.json`;
    const verify = createAppSessionVerifier({ jwksUrl, issuer: 'https://auth.example', tenantClaim: 'org', rolesClaim: 'roles', nameClaim: 'name' });
    const session = (key: Parameters<SignJWT['sign']>[0], alg: string, issuer = 'https://auth.example') =>
      new SignJWT({ org: 'acme', roles: 'member admin' }).setProtectedHeader({ alg, kid: 'app-1' }).setIssuer(issuer).setSubject('ana').setExpirationTime('5m').sign(key);

    expect(await verify(await session(privateKey, 'RS256'))).toEqual({ tenant: 'acme', user: 'ana', roles: ['member', 'admin'], info: {} });
    await expect(verify(await session(privateKey, 'RS256', 'https://evil.example'))).rejects.toMatchObject({ code: 'unauthenticated' });
    const other = await generateKeyPair('RS256');
    await expect(verify(await session(other.privateKey, 'RS256'))).rejects.toMatchObject({ code: 'unauthenticated' });
    await expect(verify(await session(new TextEncoder().encode('a-shared-secret-of-enough-length!!'), 'HS256'))).rejects.toMatchObject({ code: 'unauthenticated' });
  });
});

describe('switchboard.config.json', () => {
  it('falls back to the defaults when absent, loads a valid file, and names the file and field when invalid', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'switchboard-config-'));
    dirs.push(dir);
    const file = path.join(dir, 'switchboard.config.json');
    expect(await loadAppConfig(file)).toEqual(DEFAULT_APP_CONFIG);

    await writeFile(file, JSON.stringify({ namespaces: { tickets: { history: { size: 10 } } }, roles: { agent: { 'tickets:*': ['subscribe'] } }, defaultRoles: ['agent'] }));
    const config = await loadAppConfig(file);
    expect(Object.keys(config.namespaces)).toEqual(['tickets']);
    expect(config.namespaces.tickets).toMatchObject({ presence: false, clientEvents: [], history: { size: 10 } });

    await writeFile(file, JSON.stringify({ namespaces: { tickets: { history: { size: -1 } } } }));
    await expect(loadAppConfig(file)).rejects.toThrow(new RegExp(`${file.replaceAll('.', '\\.')} is invalid:[\\s\\S]*namespaces\\.tickets\\.history`));
    await writeFile(file, '{ nope');
    await expect(loadAppConfig(file)).rejects.toThrow(/not valid JSON/);
  });
});

describe('mounting', () => {
  it('works as a router under a path of an existing Express app', async () => {
    const bff = createBff({
      config: DEFAULT_APP_CONFIG,
      provider: createFakeProvider(),
      store: new MemoryEventStore(),
      signingKeys: await loadSigningKeys({}),
      apiKeys: new ApiKeys(),
      logger: createLogger('silent'),
      devAuth: true,
    });
    const host = express();
    host.get('/', (_req, res) => res.send('host app'));
    host.use('/rt', bff);
    const url = await serve(host);
    const post = (route: string, body: unknown, bearer?: string) =>
      fetch(`${url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) }, body: JSON.stringify(body) });
    const { token: session } = (await (await post('/rt/v1/dev/session', { tenant: 'acme', user: 'ana' })).json()) as { token: string };
    const answer = (await (await post('/rt/v1/token', {}, session)).json()) as { tenant: string; provider: { wsHost: string } };
    expect(answer.tenant).toBe('acme');
    expect(await (await fetch(`${url}/`)).text()).toBe('host app');
    await bff.shutdown();
  });
});
