/**
 * A real listening BFF for the browser tests, built the way `switchboard serve` builds
 * it (from the environment, memory log), with the web assets built first and a way to cut
 * every live client connection as a network failure would. The provider is `local` by
 * default; `ably` runs the BFF and the browsers against the Ably protocol emulator
 * (test/fixtures/ably-emulator), configured only through SWITCHBOARD_PROVIDER and ABLY_*.
 */
import type { Socket } from 'node:net';
import { z } from 'zod';
import { buildWeb } from '../../scripts/build-web.js';
import { createServerFromEnv, DEV_ADMIN_KEY } from '../../src/server/from-env.js';
import { listen, type ListeningServer } from '../../src/server/listen.js';
import { startAblyEmulator, type AblyEmulator } from '../fixtures/ably-emulator/index.js';

export { DEV_ADMIN_KEY };

export interface E2eServer extends ListeningServer {
  /** Destroys every WebSocket and event-stream connection, as a network failure would. */
  dropConnections(): number;
  /** A capability token for a user, via dev login, for publishing from the test. */
  capabilityToken(tenant: string, user: string): Promise<string>;
  /** Calls a demo publish endpoint with a capability token. */
  demoPost(path: '/v1/demo/chat' | '/v1/demo/orders/advance', body: unknown, token: string): Promise<void>;
}

const tokenSchema = z.object({ token: z.string() });

export type E2eProvider = 'local' | 'ably';

async function providerEnv(provider: E2eProvider): Promise<{ env: Record<string, string>; emulator?: AblyEmulator }> {
  if (provider === 'local') return { env: { SWITCHBOARD_PROVIDER: 'local' } };
  const emulator = await startAblyEmulator();
  return {
    emulator,
    env: { SWITCHBOARD_PROVIDER: 'ably', ABLY_API_KEY: emulator.apiKey, ABLY_ENDPOINT: emulator.endpoint, ABLY_PORT: String(emulator.port), ABLY_TLS: 'false' },
  };
}

export async function startE2eServer(provider: E2eProvider = 'local'): Promise<E2eServer> {
  const [, { env, emulator }] = await Promise.all([buildWeb(), providerEnv(provider)]);
  const { app } = await createServerFromEnv({
    ...process.env,
    NODE_ENV: 'test',
    ...env,
    SWITCHBOARD_STORE: 'memory',
    SWITCHBOARD_DEV_AUTH: 'on',
    // Unset, so the dev admin key applies and clients use the address they connected to.
    SWITCHBOARD_ADMIN_KEYS: undefined,
    SWITCHBOARD_PUBLIC_URL: undefined,
    PORT: '0',
    LOG_LEVEL: 'silent',
  });
  const running = await listen(app, { host: '127.0.0.1' });
  const live = new Set<Socket>();
  const track = (socket: Socket) => {
    live.add(socket);
    socket.once('close', () => live.delete(socket));
  };
  running.server.on('upgrade', (_req, socket: Socket) => track(socket));
  running.server.on('request', (req) => {
    if (req.url?.startsWith('/v1/stream')) track(req.socket);
  });

  async function post(path: string, body: unknown, bearer?: string): Promise<unknown> {
    const response = await fetch(`${running.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`POST ${path} failed: ${response.status} ${await response.text()}`);
    return response.json();
  }

  return {
    ...running,
    dropConnections() {
      const count = live.size + (emulator?.dropConnections() ?? 0);
      for (const socket of live) socket.destroy();
      return count;
    },
    async close() {
      await running.close();
      await emulator?.close();
    },
    async capabilityToken(tenant, user) {
      const session = tokenSchema.parse(await post('/v1/dev/session', { tenant, user })).token;
      return tokenSchema.parse(await post('/v1/token', {}, session)).token;
    },
    async demoPost(path, body, token) {
      await post(path, body, token);
    },
  };
}
