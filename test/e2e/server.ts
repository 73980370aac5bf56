/**
 * A real listening BFF for the browser tests, built the way `switchboard serve` builds
 * it (from the environment, memory log), with the web assets built first and a way to
 * cut every live client connection as a network failure would. Provider `local`, or
 * `supabase` through the Realtime emulator (test code) with the shipped RLS in PostgreSQL.
 */
import type { Socket } from 'node:net';
import { z } from 'zod';
import { buildWeb } from '../../scripts/build-web.js';
import { createServerFromEnv, DEV_ADMIN_KEY } from '../../src/server/from-env.js';
import { listen, type ListeningServer } from '../../src/server/listen.js';
import { createRealtimeDatabase } from '../fixtures/supabase-emulator/database.js';
import { startSupabaseEmulator, type SupabaseEmulator } from '../fixtures/supabase-emulator/server.js';

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

export type E2eProvider = 'local' | 'supabase';

/** The Supabase emulator and its database, with the variables an app would set to use it. */
async function supabaseBackend(): Promise<{ env: NodeJS.ProcessEnv; emulator: SupabaseEmulator; close(): Promise<void> }> {
  const db = await createRealtimeDatabase();
  const emulator = await startSupabaseEmulator({ db });
  return {
    emulator,
    env: {
      SUPABASE_URL: emulator.url,
      SUPABASE_ANON_KEY: emulator.anonKey,
      SUPABASE_SERVICE_ROLE_KEY: emulator.serviceRoleKey,
      SUPABASE_JWT_SECRET: emulator.jwtSecret,
    },
    async close() {
      await emulator.close();
      await db.close();
    },
  };
}

/** The web assets are built once per test process, however many servers start. */
let webBuilt: Promise<unknown> | undefined;

export async function startE2eServer(provider: E2eProvider = 'local'): Promise<E2eServer> {
  webBuilt ??= buildWeb();
  const [backend] = await Promise.all([provider === 'supabase' ? supabaseBackend() : undefined, webBuilt]);
  const { app } = await createServerFromEnv({
    ...process.env,
    ...backend?.env,
    NODE_ENV: 'test',
    SWITCHBOARD_PROVIDER: provider,
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
    async close() {
      await running.close();
      await backend?.close();
    },
    dropConnections() {
      const count = live.size + (backend?.emulator.connections() ?? 0);
      for (const socket of live) socket.destroy();
      backend?.emulator.dropConnections();
      return count;
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
