/**
 * Protects an HTTP server against half-open and slow requests and descriptor exhaustion:
 * - every request is bounded: headers within `headersTimeoutMs`, the whole request (body
 *   included) within `requestTimeoutMs` (Node answers 408 and closes), idle keep-alive
 *   sockets closed after `keepAliveTimeoutMs`;
 * - one address holds at most `maxSocketsPerAddress` plain HTTP sockets (a socket the
 *   embedded WebSocket server takes over leaves this count, see `upgradedToWebSocket`). Trusted
 *   proxies are exempt: they carry many clients, whose own addresses only the request says;
 * - past `socketCap` inbound sockets a request gets a clean 503 (`refuseOverCapacity`),
 *   except health checks and metrics; past `hardSocketCap` a socket is closed at once, so
 *   the process never runs out of descriptors for Redis, the store and established clients.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { NextFunction, Request, Response } from 'express';
import { SwitchboardError } from '../../core/errors.js';
import { sendProblem } from '../http/problem.js';
import { AddressLimits } from './address-limits.js';
import type { ClientAddresses } from './client-address.js';
import type { Refusals } from './refusals.js';

export interface HttpLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxSocketsPerAddress: number;
  /** From the descriptor budget; unset when the open-files limit is unknown. */
  socketCap?: number;
  hardSocketCap?: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxSocketsPerAddress: 256,
};

/** How often Node checks the header and request timeouts (its default, 30 s, would stretch them by up to that much). */
export const TIMEOUT_CHECK_INTERVAL_MS = 1_000;

/** Answered even past the cap: liveness, readiness and the scrape that shows why. */
const ALWAYS_SERVED = new Set(['/healthz', '/readyz', '/metrics']);

const overCapacity = new WeakSet<Socket>();
/** Sockets counted against their address's plain-HTTP limit -> how to stop counting them. */
const countedHttp = new WeakMap<object, () => void>();

/**
 * Called by a WebSocket server once it took `socket` over: it leaves the per-address
 * plain-HTTP count (the WebSocket limits take over). A no-op for sockets of unguarded servers.
 */
export function upgradedToWebSocket(socket: object): void {
  countedHttp.get(socket)?.();
}

export interface GuardedServer {
  /** Inbound sockets open now (HTTP and upgraded). */
  openSockets(): number;
  detach(): void;
}

export function guardHttpServer(server: Server, limits: HttpLimits, addresses: ClientAddresses, refusals: Refusals): GuardedServer {
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  const perAddress = new AddressLimits({ maxOpen: limits.maxSocketsPerAddress });
  let open = 0;
  // One listener for every socket ('close' comes once): a closure and a `once` wrapper
  // per socket would stay on every upgraded WebSocket for its lifetime (~0.3 KB each).
  const closed = function (this: Socket): void {
    open -= 1;
    countedHttp.get(this)?.();
  };

  /** Counts the socket and answers whether the server may serve it; a refused one is destroyed. */
  const admit = (socket: Socket): boolean => {
    open += 1;
    socket.on('close', closed);
    if (limits.hardSocketCap !== undefined && open > limits.hardSocketCap) {
      refusals.record('http', 'over_capacity');
      socket.destroy();
      return false;
    }
    if (!addresses.peerIsTrustedProxy(socket.remoteAddress)) {
      const key = addresses.keyOf(socket.remoteAddress);
      const refusal = perAddress.admit(key, Date.now());
      if (refusal) {
        refusals.record('http', refusal);
        socket.destroy();
        return false;
      }
      countedHttp.set(socket, () => {
        countedHttp.delete(socket);
        perAddress.release(key);
      });
    }
    if (limits.socketCap !== undefined && open > limits.socketCap) overCapacity.add(socket);
    return true;
  };
  // The server's own connection handling (HTTP parser, TLS) runs behind a gate: a refused
  // socket costs an accept and a close, nothing more, which matters while one address floods.
  const downstream = server.listeners('connection') as ((socket: Socket) => void)[];
  for (const listener of downstream) server.off('connection', listener);
  const gate = (socket: Socket) => {
    if (!admit(socket)) return;
    for (const listener of downstream) listener.call(server, socket);
  };
  server.on('connection', gate);
  return {
    openSockets: () => open,
    detach() {
      server.off('connection', gate);
      for (const listener of downstream) server.on('connection', listener);
    },
  };
}

/** Express middleware: a clean 503 on sockets accepted past the cap, except health checks and metrics. */
export function refuseOverCapacity(refusals: Refusals) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!overCapacity.has(req.socket) || ALWAYS_SERVED.has(req.path)) return next();
    refusals.record('http', 'over_capacity');
    res.setHeader('connection', 'close');
    res.setHeader('retry-after', '5');
    sendProblem(res, new SwitchboardError('provider_unavailable', 'Over capacity: too many open connections, try again shortly'));
  };
}
