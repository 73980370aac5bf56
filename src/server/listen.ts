import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SwitchboardApp } from './app.js';
import { TIMEOUT_CHECK_INTERVAL_MS } from './net/http-guard.js';

export interface ListeningServer {
  server: Server;
  /** e.g. `http://127.0.0.1:8080` */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Serves the app, with the embedded provider's WebSockets on the same port. */
export async function listen(app: SwitchboardApp, options: { port?: number; host?: string } = {}): Promise<ListeningServer> {
  const { http } = app.switchboard.network;
  const server = createHttpServer(
    // Node checks these every `connectionsCheckingInterval` (30 s by default): checked every second, they hold to the second.
    { headersTimeout: http.headersTimeoutMs, requestTimeout: http.requestTimeoutMs, connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS },
    app,
  );
  app.attach(server);
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
