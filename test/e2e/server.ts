/**
 * A real listening BFF for the browser tests, built the way `switchboard serve` builds
 * it (from the environment, sqlite log in a temporary directory), with the web assets
 * built first, a way to cut every live client connection as a network failure would, and
 * a restart on the same port that keeps the log and signing keys. The provider is `local`
 * by default; `ably` runs the BFF and the browsers against the Ably protocol emulator
 * (test/fixtures/ably-emulator), `supabase` against the Realtime emulator with the shipped
 * RLS policies in PostgreSQL (test/fixtures/supabase-emulator) — each configured only
 * through the environment variables an app would set.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { buildWeb } from '../../scripts/build-web.js';
import { createServerFromEnv, DEV_ADMIN_KEY } from '../../src/server/from-env.js';
import { listen, type ListeningServer } from '../../src/server/listen.js';
import { startAblyEmulator } from '../fixtures/ably-emulator/index.js';
import { createRealtimeDatabase } from '../fixtures/supabase-emulator/database.js';
import { startSupabaseEmulator } from '../fixtures/supabase-emulator/server.js';

export { DEV_ADMIN_KEY };

/** A tenant API key of a tenant that never has any activity (the admin page's empty state). */
export const QUIET_TENANT_KEY = 'quiet-tenant-key-0123456789';

export interface E2eServer {
  url: string;
  close(): Promise<void>;
  /** Stops the server (clients see it go away); `start()` brings it back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Destroys every client connection (WebSockets, event streams, fetches), as a network failure would. */
  dropConnections(): number;
  /** A capability token for a user, via dev login, for publishing from the test. */
  capabilityToken(tenant: string, user: string): Promise<string>;
  /** Step 3 of the README walkthrough: a server-side publish with the dev admin key naming the tenant. */
  adminPublish(tenant: string, message: { channel: string; event: string; data: unknown }): Promise<void>;
  /** Calls a demo publish endpoint with a capability token. */
  demoPost(path: '/v1/demo/chat' | '/v1/demo/orders/advance', body: unknown, token: string): Promise<void>;
}

const tokenSchema = z.object({ token: z.string() });

export type E2eProvider = 'local' | 'ably' | 'supabase';

/** A provider's stand-in (hosted providers: their emulator), with the variables an app would set to use it. */
interface ProviderBackend {
  env: Record<string, string>;
  /** Cuts the emulator's client connections; answers how many there were. */
  dropConnections(): number;
  close(): Promise<void>;
}

async function providerBackend(provider: E2eProvider): Promise<ProviderBackend> {
  switch (provider) {
    case 'local':
      return { env: { SWITCHBOARD_PROVIDER: 'local' }, dropConnections: () => 0, close: async () => undefined };
    case 'ably': {
      const emulator = await startAblyEmulator();
      return {
        env: { SWITCHBOARD_PROVIDER: 'ably', ABLY_API_KEY: emulator.apiKey, ABLY_ENDPOINT: emulator.endpoint, ABLY_PORT: String(emulator.port), ABLY_TLS: 'false' },
        dropConnections: () => emulator.dropConnections(),
        close: () => emulator.close(),
      };
    }
    case 'supabase': {
      const db = await createRealtimeDatabase();
      const emulator = await startSupabaseEmulator({ db });
      return {
        env: {
          SWITCHBOARD_PROVIDER: 'supabase',
          SUPABASE_URL: emulator.url,
          SUPABASE_ANON_KEY: emulator.anonKey,
          SUPABASE_SERVICE_ROLE_KEY: emulator.serviceRoleKey,
          SUPABASE_JWT_SECRET: emulator.jwtSecret,
        },
        dropConnections() {
          const count = emulator.connections();
          emulator.dropConnections();
          return count;
        },
        async close() {
          await emulator.close();
          await db.close();
        },
      };
    }
  }
}

/** The web assets are built once per test process, however many servers start. */
let webBuilt: Promise<unknown> | undefined;

export async function startE2eServer(provider: E2eProvider = 'local'): Promise<E2eServer> {
  webBuilt ??= buildWeb();
  const [dataDir, , backend] = await Promise.all([mkdtemp(path.join(tmpdir(), 'switchboard-e2e-')), webBuilt, providerBackend(provider)]);
  const env = {
    ...process.env,
    ...backend?.env,
    NODE_ENV: 'test',
    ...backend.env,
    SWITCHBOARD_STORE: 'sqlite',
    SWITCHBOARD_DATA_DIR: dataDir,
    SWITCHBOARD_DEV_AUTH: 'on',
    SWITCHBOARD_API_KEYS: `quiet:${QUIET_TENANT_KEY}`,
    // Unset, so the dev admin key applies and clients use the address they connected to.
    SWITCHBOARD_ADMIN_KEYS: undefined,
    SWITCHBOARD_PUBLIC_URL: undefined,
    LOG_LEVEL: 'silent',
  };
  const live = new Set<Socket>();
  const track = (socket: Socket) => {
    live.add(socket);
    socket.once('close', () => live.delete(socket));
  };
  let port = 0;
  let running: ListeningServer | undefined;
  async function start(): Promise<void> {
    const { app } = await createServerFromEnv({ ...env, PORT: String(port) });
    running = await listen(app, { host: '127.0.0.1', port });
    port = running.port;
    // Every TCP connection (WebSockets, event streams, fetches). Not through an 'upgrade'
    // listener: one that leaves the socket alone keeps an upgrade arriving during shutdown
    // (after the provider detached) open for ever, and the server never finishes closing.
    running.server.on('connection', track);
  }
  async function stop(): Promise<void> {
    await running?.close();
    running = undefined;
  }
  await start();
  const url = `http://127.0.0.1:${port}`;

  async function post(path: string, body: unknown, bearer?: string, headers: Record<string, string> = {}): Promise<unknown> {
    const response = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...headers },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`POST ${path} failed: ${response.status} ${await response.text()}`);
    return response.json();
  }

  return {
    url,
    start,
    stop,
    async close() {
      await stop();
      await backend.close();
      await rm(dataDir, { recursive: true, force: true });
    },
    dropConnections() {
      const count = live.size + backend.dropConnections();
      for (const socket of live) socket.destroy();
      return count;
    },
    async capabilityToken(tenant, user) {
      const session = tokenSchema.parse(await post('/v1/dev/session', { tenant, user })).token;
      return tokenSchema.parse(await post('/v1/token', {}, session)).token;
    },
    async adminPublish(tenant, message) {
      await post('/v1/publish', message, DEV_ADMIN_KEY, { 'switchboard-tenant': tenant });
    },
    async demoPost(path, body, token) {
      await post(path, body, token);
    },
  };
}
