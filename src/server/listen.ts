import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SwitchboardApp } from './app.js';
import { guardHttpServer, TIMEOUT_CHECK_INTERVAL_MS, type GuardedServer } from './net/http-guard.js';

export interface ListeningServer {
  server: Server;
  /** e.g. `http://127.0.0.1:8080` */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Readies an HTTP server for the app: request timeouts, per-address socket limits and the
 * descriptor cap (see net/http-guard.ts), and the embedded provider's WebSocket upgrades.
 * `listen` calls it; when the app is mounted in another Express app, call it with that
 * app's HTTP server.
 */
export function attachToServer(app: SwitchboardApp, server: Server): GuardedServer {
  const { network } = app.switchboard;
  const guarded = guardHttpServer(server, network.http, network.addresses, network.refusals);
  network.servers.push(guarded);
  app.switchboard.provider.attach?.(server);
  return guarded;
}

/** Serves the app, with the embedded provider's WebSockets on the same port. */
export async function listen(app: SwitchboardApp, options: { port?: number; host?: string } = {}): Promise<ListeningServer> {
  const { http } = app.switchboard.network;
  const server = createHttpServer(
    // Node checks these every `connectionsCheckingInterval` (30 s by default): checked every second, they hold to the second.
    { headersTimeout: http.headersTimeoutMs, requestTimeout: http.requestTimeoutMs, connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS },
    app,
  );
  attachToServer(app, server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host && options.host !== '0.0.0.0' && options.host !== '::' ? options.host : '127.0.0.1';
  return {
    server,
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    async close() {
      await app.shutdown();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
