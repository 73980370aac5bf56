/**
 * Hosted Pusher, proven without Pusher: the BFF runs `SWITCHBOARD_PROVIDER=pusher` pointed
 * (PUSHER_HOST / PUSHER_PORT / PUSHER_USE_TLS=false) at a second Switchboard `local`
 * server acting as a Pusher-compatible host. Its HTTP API can sit behind a front that
 * fails a share of the publish requests, as a flaky network or an overloaded host would.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import express from 'express';
import { createLocalProvider, type LocalProvider } from '../../providers/local/index.js';
import { createPusherProvider, pusherProviderOptionsFromEnv } from '../../providers/pusher/index.js';
import { publishAsTenant, startBff } from '../helpers/bff.js';
import type { HarnessOptions, ProviderHarness, RunningBff } from './harness.js';

const HOST_APP = { appId: 'hosted-app', key: 'hosted-key', secret: 'hosted-secret' };

export interface PusherHostOptions {
  /** Share of `batch_events` requests the front answers 503 without forwarding. */
  failRate?: number;
  /** Share answered 503 after forwarding: the host took the events, the BFF cannot know. */
  ambiguousRate?: number;
  random?: () => number;
}

export interface PusherHost {
  provider: LocalProvider;
  /** WebSocket + HTTP API, as Pusher clients and servers reach it. */
  port: number;
  /** The flaky front of the HTTP API (the BFF publishes through it). */
  apiPort: number;
  counts: { forwarded: number; failed: number; ambiguous: number };
  dropConnections(): void;
  close(): Promise<void>;
}

async function listenOn(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startPusherHost(options: PusherHostOptions = {}): Promise<PusherHost> {
  const random = options.random ?? Math.random;
  // Hosted Pusher lets subscribers send any client-* event once the app enables them.
  const provider = createLocalProvider({ ...HOST_APP, clientEvents: 'any' });
  const app = express();
  app.use(provider.routes());
  const server = createServer(app);
  provider.attach(server);
  const port = await listenOn(server);
  const sockets = new Set<Socket>();
  server.on('upgrade', (_req, socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  const counts = { forwarded: 0, failed: 0, ambiguous: 0 };
  const front = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const body = await readBody(req);
      const publishing = req.method === 'POST' && (req.url ?? '').includes('/batch_events');
      if (publishing && random() < (options.failRate ?? 0)) {
        counts.failed += 1;
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"injected failure"}');
        return;
      }
      const answer = await fetch(`http://127.0.0.1:${port}${req.url ?? '/'}`, {
        method: req.method ?? 'GET',
        headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
        ...(body.length > 0 ? { body: body.toString('utf8') } : {}),
      });
      const text = await answer.text();
      counts.forwarded += 1;
      if (publishing && random() < (options.ambiguousRate ?? 0)) {
        counts.ambiguous += 1;
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"injected failure after forwarding"}');
        return;
      }
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' }).end(text);
    })().catch(() => res.writeHead(502).end());
  });
  const apiPort = await listenOn(front);

  return {
    provider,
    port,
    apiPort,
    counts,
    dropConnections() {
      for (const socket of sockets) socket.destroy();
    },
    async close() {
      await provider.close();
      for (const s of [server, front]) {
        s.closeAllConnections();
        await new Promise((resolve) => s.close(resolve));
      }
    },
  };
}

/** A BFF configured from the environment variables an operator would set. */
export function pusherHarness(hostOptions: PusherHostOptions = {}, name = 'pusher (against a local Pusher-compatible host)'): ProviderHarness & { lastHost?: PusherHost } {
  const harness: ProviderHarness & { lastHost?: PusherHost } = {
    name,
    async start(options: HarnessOptions = {}): Promise<RunningBff> {
      const host = await startPusherHost(hostOptions);
      harness.lastHost = host;
      const provider = createPusherProvider(
        pusherProviderOptionsFromEnv({
          PUSHER_APP_ID: HOST_APP.appId,
          PUSHER_KEY: HOST_APP.key,
          PUSHER_SECRET: HOST_APP.secret,
          PUSHER_CLUSTER: 'local',
          PUSHER_HOST: '127.0.0.1',
          PUSHER_PORT: String(host.apiPort),
          PUSHER_WS_PORT: String(host.port),
          PUSHER_USE_TLS: 'false',
        }),
      );
      const bff = await startBff({
        provider,
        delivery: { backoff: { baseMs: 20, capMs: 200 }, breaker: { failureThreshold: 50, openMs: 200 } },
        ...(options.tokenTtlSeconds ? { tokenTtlSeconds: options.tokenTtlSeconds } : {}),
      });
      return {
        bffUrl: bff.url,
        session: (tenant, user, userName) => bff.devSession(tenant, user, userName ? { name: userName } : {}),
        publish: (tenant, channel, event, data) => publishAsTenant(bff, tenant, channel, event, data),
        dropConnections: () => host.dropConnections(),
        async close() {
          await bff.close();
          await host.close();
        },
      };
    },
  };
  return harness;
}
