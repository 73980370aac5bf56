/**
 * The WebSocket side of the local server: Pusher protocol v7 on `/app/{key}`.
 * Connection lifecycle, limits and idle detection live here; channel state in hub.ts,
 * message handling in protocol-handler.ts.
 */
import { randomInt } from 'node:crypto';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData, type Server as WsServer } from 'ws';
import { upgradedToWebSocket } from '../../src/server/net/http-guard.js';
import { Refusals, type RefusalReason } from '../../src/server/net/refusals.js';
import { Admission } from './admission.js';
import { CloseCode, ErrorCode } from './codes.js';
import { frameChannel } from './client-messages.js';
import { Connection, ignoreSocketError, PusherSocket, socketClosed, socketMessage, type ConnectionContext } from './connection.js';
import { connectionEstablishedFrames, errorFrame, textFrame } from './frames.js';
import type { Hub } from './hub.js';
import type { LocalProviderOptions } from './options.js';
import { Outbox } from './outbox.js';
import { handleClientFrame, type ProtocolContext } from './protocol-handler.js';

const APP_PATH = /^\/app\/([^/?]+)$/;
const SUPPORTED_PROTOCOLS = new Set(['5', '6', '7']);
/** Pings go out between 80% and 100% of the activity timeout, at a fixed point per connection. */
const HEARTBEAT_SPREAD = 0.2;
const PING_FRAME = textFrame(JSON.stringify({ event: 'pusher:ping', data: '{}' }));
/** ws closes connections sending frames past this; between maxFrameBytes and it clients get a `pusher:error`. */
const HARD_FRAME_FACTOR = 4;
const SHUTDOWN_GRACE_MS = 1_000;
/**
 * After the server's close frame, how long the peer has to answer it before the socket is
 * destroyed (ws waits 30 s): refused and expired sockets must give their descriptor back.
 */
const CLOSE_GRACE_MS = 2_000;
const AUTH_TIMEOUT_MESSAGE = 'Connection not authorized within timeout';
const REFUSAL_MESSAGES: Record<RefusalReason, string> = {
  over_capacity: 'Over capacity: too many connections',
  unauthenticated_limit: 'Over capacity: too many connections waiting to subscribe or sign in',
  address_limit: 'Over capacity: too many connections from this address',
  rate_limited: 'Over capacity: this address opens connections too fast',
  auth_timeout: AUTH_TIMEOUT_MESSAGE,
};

/** Destroys the socket if the peer does not complete the closing handshake in time. */
function closeWithin(ws: WebSocket, ms: number): void {
  if (ws.readyState === WebSocket.CLOSED) return;
  const timer = setTimeout(() => ws.terminate(), ms);
  timer.unref();
  ws.once('close', () => clearTimeout(timer));
}

export interface SocketServerStats {
  connections: number;
}

/** Scale-out: the other nodes' connections (for the cluster-wide limit), and where to report changes of this node's. */
export interface ClusterConnections {
  connections(): number;
  changed(): void;
}

export class SocketServer {
  private readonly cluster: ClusterConnections | undefined;
  private readonly connections = new Map<string, Connection>();
  /** Signed-in user id -> its connections on this node. */
  private readonly users = new Map<string, Set<Connection>>();
  private readonly wss: WsServer<typeof PusherSocket>;
  private readonly outbox: Outbox;
  private readonly detachers: (() => void)[] = [];
  private readonly connectionContext: ConnectionContext;
  private readonly protocol: ProtocolContext;
  private readonly admission: Admission;
  private readonly established: (socketId: string) => Buffer;
  private sweepTimer: NodeJS.Timeout | undefined;
  private authTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly options: LocalProviderOptions,
    private readonly hub: Hub,
    { cluster, ...hooks }: Omit<ProtocolContext, 'options' | 'hub' | 'signIn' | 'subscribed'> & { cluster?: ClusterConnections } = {},
  ) {
    this.cluster = cluster;
    this.outbox = new Outbox({ maxDelayMs: options.maxFlushDelayMs, sliceMs: options.fanOutSliceMs });
    this.wss = new WebSocketServer({
      WebSocket: PusherSocket,
      noServer: true,
      perMessageDeflate: false,
      clientTracking: false,
      maxPayload: options.maxFrameBytes * HARD_FRAME_FACTOR,
    });
    this.connectionContext = {
      outbox: this.outbox,
      maxBufferedBytes: options.maxBufferedBytes,
      clientEventRate: options.clientEventRate,
      onOverflow: (connection) => this.drop(connection, CloseCode.reconnect, 'Slow consumer: send buffer overflowed'),
      onClosing: (connection) => this.forget(connection),
      onMessage: (connection, data, isBinary) => this.onMessage(connection, data, isBinary),
    };
    this.protocol = {
      options,
      hub,
      ...hooks,
      signIn: (connection, userId) => this.signIn(connection, userId),
      subscribed: (connection) => this.admission.authenticated(connection),
    };
    this.admission = new Admission(options, options.refusals ?? new Refusals(warnLogger(options)));
    // pusher-js needs a positive number here; the server's own idle check uses the exact value.
    this.established = connectionEstablishedFrames(Math.max(1, Math.ceil(options.activityTimeoutSeconds)));
  }

  get stats(): SocketServerStats {
    return { connections: this.connections.size };
  }

  connection(socketId: string): Connection | undefined {
    return this.connections.get(socketId);
  }

  /** Closes (4009) this node's connections signed in as `userId`, and those `alsoMatching` picks; returns how many. */
  terminate(userId: string, alsoMatching?: (connection: Connection) => boolean): number {
    const doomed = new Set(this.users.get(userId));
    if (alsoMatching) for (const connection of this.connections.values()) if (alsoMatching(connection)) doomed.add(connection);
    for (const connection of doomed) this.drop(connection, CloseCode.unauthorized, 'Connection terminated by the app');
    return doomed.size;
  }

  attach(server: HttpServer): void {
    const listener = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
      if (this.handleUpgrade(request, socket, head)) return;
      // Other upgrade handlers may want this path; only when there are none is it ours to refuse.
      if (server.listenerCount('upgrade') <= 1) socket.destroy();
    };
    server.on('upgrade', listener);
    this.detachers.push(() => server.off('upgrade', listener));
    this.startSweep();
  }

  /** Returns false when the path is not a Pusher app path. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = request.url ?? '';
    const queryStart = url.indexOf('?');
    const match = APP_PATH.exec(queryStart < 0 ? url : url.slice(0, queryStart));
    if (!match) return false;
    if (this.closed) {
      socket.destroy();
      return true;
    }
    let key: string;
    try {
      key = decodeURIComponent(match[1] ?? '');
    } catch {
      key = match[1] ?? '';
    }
    const protocol = new URLSearchParams(queryStart < 0 ? '' : url.slice(queryStart + 1)).get('protocol');
    const address = this.admission.keyOf(request);
    // ws answers 101 and calls back synchronously, where connection_established is written:
    // corked, both leave in one write (one syscall, one segment) rather than two.
    socket.cork();
    try {
      this.wss.handleUpgrade(request, socket, head, (ws) => this.onOpen(ws, socket, key, protocol, address));
    } finally {
      if (socket.writableCorked > 0) socket.uncork();
    }
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.authTimer) clearInterval(this.authTimer);
    for (const detach of this.detachers.splice(0)) detach();
    const sockets = [...this.connections.values()].map((connection) => connection.ws);
    const allClosed = Promise.all(
      sockets.map((ws) => (ws.readyState === WebSocket.CLOSED ? undefined : new Promise((resolve) => ws.once('close', resolve)))),
    );
    for (const connection of [...this.connections.values()]) this.drop(connection, CloseCode.reconnect, 'Server shutting down');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([allClosed, new Promise((resolve) => (timer = setTimeout(resolve, SHUTDOWN_GRACE_MS)))]);
    clearTimeout(timer);
    for (const ws of sockets) if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
    this.outbox.close();
    this.wss.close();
  }

  private refuse(ws: WebSocket, code: number, message: string): void {
    ws.send(JSON.stringify({ event: 'pusher:error', data: JSON.stringify({ code, message }) }));
    ws.close(code, message.slice(0, 120));
    ws.on('error', () => undefined);
    closeWithin(ws, CLOSE_GRACE_MS);
  }

  private onOpen(ws: PusherSocket, raw: Duplex, key: string, protocol: string | null, address: string): void {
    if (key !== this.options.key) return this.refuse(ws, CloseCode.appNotFound, `App key ${key.slice(0, 64)} does not exist`);
    if (protocol !== null && !SUPPORTED_PROTOCOLS.has(protocol)) {
      return this.refuse(ws, CloseCode.unsupportedProtocol, 'Unsupported protocol version, use 7');
    }
    const now = Date.now();
    const refusal = this.admission.admit(address, { here: this.connections.size, elsewhere: this.cluster?.connections() ?? 0 }, now);
    if (refusal) return this.refuse(ws, CloseCode.overCapacity, REFUSAL_MESSAGES[refusal]);
    const connection = new Connection(this.newSocketId(), ws, raw, this.connectionContext, now);
    ws.connection = connection;
    this.connections.set(connection.socketId, connection);
    this.admission.opened(connection, address, now);
    upgradedToWebSocket(raw);
    this.cluster?.changed();
    connection.enqueue(this.established(connection.socketId));
    connection.flush();
    ws.on('message', socketMessage);
    ws.on('close', socketClosed);
    ws.on('error', ignoreSocketError);
  }

  private onMessage(connection: Connection, data: RawData, isBinary: boolean): void {
    const now = Date.now();
    connection.lastSeen = now;
    connection.pingSentAt = undefined;
    if (!connection.open) return;
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (bytes.length > this.options.maxFrameBytes) {
      const message = `Frame of ${bytes.length} bytes exceeds the limit of ${this.options.maxFrameBytes} bytes`;
      // Scoped to the channel it names (e.g. an oversized client event), so the client can bind it there.
      connection.enqueue(errorFrame(ErrorCode.frameTooLarge, message, isBinary ? undefined : frameChannel(bytes.toString('utf8'))));
      return;
    }
    if (isBinary) {
      connection.enqueue(errorFrame(ErrorCode.invalidMessage, 'Binary frames are not supported; send JSON text frames'));
      return;
    }
    try {
      handleClientFrame(this.protocol, connection, bytes.toString('utf8'), now);
    } catch (error) {
      // A frame the checks above missed must cost its sender the connection, never the process.
      (this.options.logger ?? console).error({ err: error, socketId: connection.socketId }, 'client frame handler failed; dropping the connection');
      this.drop(connection, CloseCode.reconnect, 'Internal error handling a frame');
    }
  }

  /** Removes a connection from all state now and closes its socket. Idempotent. */
  private drop(connection: Connection, code: number, reason: string): void {
    if (!this.forget(connection)) return;
    connection.close(code, reason);
    closeWithin(connection.ws, CLOSE_GRACE_MS);
  }

  /** As Pusher's authorized connections: a `pusher:error` 4009, then the close. */
  private expire(connection: Connection): void {
    this.admission.refusals.record('websocket', 'auth_timeout');
    connection.enqueue(errorFrame(ErrorCode.unauthorized, AUTH_TIMEOUT_MESSAGE));
    connection.flush();
    this.drop(connection, CloseCode.unauthorized, AUTH_TIMEOUT_MESSAGE);
  }

  private signIn(connection: Connection, userId: string): void {
    connection.userId = userId;
    this.admission.authenticated(connection);
    let connections = this.users.get(userId);
    if (!connections) {
      connections = new Set();
      this.users.set(userId, connections);
    }
    connections.add(connection);
  }

  private forget(connection: Connection): boolean {
    if (this.connections.get(connection.socketId) !== connection) return false;
    this.connections.delete(connection.socketId);
    this.admission.forget(connection);
    this.cluster?.changed();
    if (connection.userId !== undefined) {
      const connections = this.users.get(connection.userId);
      connections?.delete(connection);
      if (connections?.size === 0) this.users.delete(connection.userId);
    }
    this.hub.removePeer(connection);
    return true;
  }

  private newSocketId(): string {
    for (;;) {
      const id = flatString(`${randomInt(1, 2 ** 47)}.${randomInt(1, 2 ** 47)}`);
      if (!this.connections.has(id)) return id;
    }
  }

  private startSweep(): void {
    if (this.sweepTimer) return;
    const activityMs = this.options.activityTimeoutSeconds * 1000;
    const pongMs = this.options.pongTimeoutSeconds * 1000;
    // Frequent sweeps and a per-connection share of HEARTBEAT_SPREAD spread the pings of
    // sockets that connected together (a mass reconnect) instead of sending them in one burst.
    const interval = Math.min(1_000, Math.max(20, Math.min(activityMs, pongMs) / 4));
    this.sweepTimer = setInterval(() => {
      const now = Date.now();
      for (const connection of this.connections.values()) {
        if (connection.pingSentAt !== undefined) {
          if (now - connection.pingSentAt >= pongMs) this.drop(connection, CloseCode.pongTimeout, 'Pong reply not received');
        } else if (now - connection.lastSeen >= activityMs * (1 - HEARTBEAT_SPREAD * connection.heartbeatOffset)) {
          connection.pingSentAt = now;
          connection.enqueue(PING_FRAME);
        }
      }
    }, interval);
    this.sweepTimer.unref();
    const authMs = this.options.authTimeoutSeconds * 1000;
    this.authTimer = setInterval(() => {
      for (const connection of this.admission.overdue(Date.now())) this.expire(connection);
    }, Math.min(1_000, Math.max(20, authMs / 4)));
    this.authTimer.unref();
  }
}

/**
 * A copy of `text` as one flat string. V8 keeps a concatenation as a tree of its parts
 * (here 3 strings and 2 nodes, ~130 bytes); a string held for a connection's lifetime
 * is cheaper flat (~48 bytes for a socket id).
 */
function flatString(text: string): string {
  return Buffer.from(text, 'latin1').toString('latin1');
}

function warnLogger(options: LocalProviderOptions): { warn(details: object, message: string): void } {
  const logger = options.logger ?? console;
  return { warn: (details, message) => (logger.warn ?? logger.info).call(logger, details, message) };
}
