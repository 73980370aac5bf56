/** Starts a real listening BFF for integration tests and offers the common HTTP steps. */
import { DEFAULT_APP_CONFIG } from '../../src/core/config.js';
import type { ServerProvider } from '../../providers/types.js';
import { createServer, type ServerOptions, type SwitchboardApp } from '../../src/server/app.js';
import { ApiKeys } from '../../src/server/auth/api-keys.js';
import { listen, type ListeningServer } from '../../src/server/listen.js';
import { MemoryEventStore } from '../../src/server/log/memory-store.js';
import { createLogger } from '../../src/server/logger.js';
import { loadSigningKeys } from '../../src/server/tokens/signing-keys.js';
import { createFakeProvider } from './fake-provider.js';

export const API_KEYS = { acme: 'acme-publish-key-0001', globex: 'globex-publish-key-0001' } as const;
export const ADMIN_KEY = 'admin-publish-key-0001';

export interface TestBff extends ListeningServer {
  app: SwitchboardApp;
  provider: ServerProvider;
  devSession(tenant: string, user: string, extra?: { name?: string; roles?: string[] }): Promise<string>;
  /** Dev session -> capability token; returns the whole `/v1/token` answer. */
  capabilityToken(tenant: string, user: string, extra?: { name?: string; roles?: string[] }): Promise<TokenAnswer>;
  post(path: string, body: unknown, bearer?: string, headers?: Record<string, string>): Promise<Response>;
}

export interface TokenAnswer {
  token: string;
  expiresAt: number;
  tenant: string;
  user: string;
  caps: Record<string, string[]>;
  provider: Record<string, unknown>;
  namespaces: Record<string, unknown>;
}

export async function startBff(overrides: Partial<ServerOptions> = {}): Promise<TestBff> {
  const apiKeys = new ApiKeys();
  apiKeys.addTenantKey('acme', API_KEYS.acme);
  apiKeys.addTenantKey('globex', API_KEYS.globex);
  apiKeys.addAdminKey(ADMIN_KEY);
  const provider = overrides.provider ?? createFakeProvider();
  const app = createServer({
    config: DEFAULT_APP_CONFIG,
    provider,
    store: new MemoryEventStore(),
    signingKeys: await loadSigningKeys({}),
    apiKeys,
    logger: createLogger('silent'),
    devAuth: true,
    ...overrides,
  });
  const running = await listen(app, { host: '127.0.0.1' });
  const post = (path: string, body: unknown, bearer?: string, headers: Record<string, string> = {}) =>
    fetch(`${running.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const devSession = async (tenant: string, user: string, extra: { name?: string; roles?: string[] } = {}) => {
    const response = await post('/v1/dev/session', { tenant, user, ...extra });
    if (!response.ok) throw new Error(`dev session failed: ${response.status} ${await response.text()}`);
    return ((await response.json()) as { token: string }).token;
  };
  return {
    ...running,
    app,
    provider,
    post,
    devSession,
    async capabilityToken(tenant, user, extra) {
      const response = await post('/v1/token', {}, await devSession(tenant, user, extra));
      if (!response.ok) throw new Error(`token failed: ${response.status} ${await response.text()}`);
      return (await response.json()) as TokenAnswer;
    },
  };
}

/** Server-side publish with the tenant's API key, as the conformance harnesses do it; answers the assigned id and seq. */
export async function publishAsTenant(bff: TestBff, tenant: string, channel: string, event: string, data: unknown): Promise<{ id: string; seq: number }> {
  const response = await bff.post('/v1/publish', { channel, event, data }, API_KEYS[tenant as keyof typeof API_KEYS]);
  if (!response.ok) throw new Error(`publish failed: ${response.status} ${await response.text()}`);
  return (await response.json()) as { id: string; seq: number };
}
