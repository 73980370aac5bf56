/** The local provider alone on a real listening HTTP server (WebSocket + Pusher HTTP API), for provider-level tests. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterEach } from 'vitest';
import type { JsonValue } from '../../src/core/envelope.js';
import { createLocalProvider, type LocalProvider, type LocalProviderOptions } from '../../providers/local/index.js';
import type { ClientGrant } from '../../providers/types.js';

export interface LocalHarness {
  provider: LocalProvider;
  server: Server;
  port: number;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Runs `cleanup` after the current test, latest first. */
export function onCleanup(cleanup: () => Promise<void> | void): void {
  cleanups.push(cleanup);
}

export async function startLocal(options: Partial<LocalProviderOptions> = {}): Promise<LocalHarness> {
  const provider = createLocalProvider(options);
  const app = express();
  app.use(provider.routes());
  const server = createServer(app);
  provider.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(async () => {
    await provider.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { provider, server, port: (server.address() as AddressInfo).port };
}

/** A verified grant as the BFF would hand it to the provider. */
export function grant(tenant: string, user: string, info: Record<string, JsonValue> = {}, expiresAt = Date.now() + 60_000): ClientGrant {
  return { tenant, user, info, caps: { '*': ['subscribe', 'publish', 'presence'] }, expiresAt };
}
