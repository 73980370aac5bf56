import type { Duplex } from 'node:stream';
import { WebSocket, type RawData } from 'ws';
import { errorFrame } from './frames.js';
import type { Peer, Subscription } from './hub.js';
import { Outbox, RateLimiter, type Flushable } from './outbox.js';

export interface ConnectionContext {
  outbox: Outbox;
  maxBufferedBytes: number;
  clientEventRate: number;
  /** Called (from a flush, never re-entrantly from a fan-out) when the send buffer overflowed. */
  onOverflow(connection: Connection): void;
  /**
   * The closing handshake began (the client's close frame arrived, or the server closes):
   * the connection's subscriptions can be freed now rather than when the TCP socket closes.
   */
  onClosing?(connection: Connection): void;
  /** A frame from the client. */
  onMessage?(connection: Connection, data: RawData, isBinary: boolean): void;
}

/**
 * ws's WebSocket with a back-reference to its Connection, so the socket's listeners and
 * its close hook are shared functions rather than closures, bound functions and a
 * context per socket (~0.45 KB of heap per connection).
 */
export class PusherSocket extends WebSocket {
  connection: Connection | undefined = undefined;

  // ws answers a client's close frame by calling `close` on the socket (receiverOnConclude),
  // but reports 'close' only once TCP is down; this is the moment the client left.
  override close(code?: number, reason?: string | Buffer): void {
    this.connection?.closing();
    super.close(code, reason);
  }
}

/** Listeners for every PusherSocket ('message', 'close', 'error'). */
export function socketMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  if (this instanceof PusherSocket) this.connection?.received(data, isBinary);
}

export function socketClosed(this: WebSocket): void {
  if (this instanceof PusherSocket) this.connection?.closing();
}

/** ws reports protocol violations (e.g. frames over maxPayload) as errors and then closes the socket. */
export function ignoreSocketError(): void {}

/**
 * One client socket. Frames are written straight to the upgraded TCP socket, bypassing
 * `ws`'s per-message framing: they are pre-framed once per event and shared (see frames.ts).
 * This is safe because the server never calls `ws.send`, and with permessage-deflate off
 * `ws` writes its own control frames (close) synchronously, in order.
 */
export class Connection implements Peer, Flushable {
  readonly subscriptions = new Map<string, Subscription>();
  /** Created on the first client event: most connections never send one. */
  private clientEvents: RateLimiter | undefined;
  /** Set by a verified `pusher:signin`. */
  userId: string | undefined;
  /** `<tenant>\0<user>` of channel authorizations the BFF signed for this socket (terminate closes it too). */
  authorizedUsers: Set<string> | undefined;
  lastSeen: number;
  pingSentAt: number | undefined;
  /** In [0, 1): where in the heartbeat window this connection's idle pings fall. */
  readonly heartbeatOffset = Math.random();

  /** Frames waiting for the next flush; no array while there are none. */
  private queue: Buffer[] | undefined;
  private queuedBytes = 0;
  /** Socket buffer size seen at the last flush; avoids a getter call per queued frame. */
  private socketBacklog = 0;
  private overflowed = false;

  constructor(
    readonly socketId: string,
    readonly ws: WebSocket,
    private readonly raw: Duplex,
    private readonly context: ConnectionContext,
    now: number,
  ) {
    this.lastSeen = now;
  }

  /** Whether the client may send one more client event now (token bucket of `clientEventRate` per second). */
  takeClientEvent(now: number): boolean {
    // A bucket created now is full, exactly as one created at connect time and never used.
    this.clientEvents ??= new RateLimiter(this.context.clientEventRate, now);
    return this.clientEvents.take(now);
  }

  received(data: RawData, isBinary: boolean): void {
    this.context.onMessage?.(this, data, isBinary);
  }

  closing(): void {
    this.context.onClosing?.(this);
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN && !this.overflowed;
  }

  enqueue(frame: Buffer): void {
    if (!this.open) return;
    if (this.queue === undefined) {
      this.queue = [frame];
      this.context.outbox.markDirty(this);
    } else this.queue.push(frame);
    this.queuedBytes += frame.length;
    if (this.queuedBytes + this.socketBacklog > this.context.maxBufferedBytes) {
      this.overflowed = true;
      this.queue = undefined;
      this.queuedBytes = 0;
    }
  }

  flush(): void {
    if (this.overflowed) {
      this.context.onOverflow(this);
      return;
    }
    const queue = this.queue;
    if (queue === undefined) return;
    this.queue = undefined;
    const bytes = this.queuedBytes;
    this.queuedBytes = 0;
    if (this.ws.readyState !== WebSocket.OPEN || this.raw.destroyed) return;
    this.raw.write(queue.length === 1 ? (queue[0] as Buffer) : Buffer.concat(queue, bytes));
    this.socketBacklog = this.raw.writableLength;
    if (this.socketBacklog > this.context.maxBufferedBytes) {
      this.overflowed = true;
      this.context.onOverflow(this);
    }
  }

  /** Drops what is queued; an application code (4000-4999) is announced with a `pusher:error` frame first, as Pusher does. */
  close(code: number, reason: string): void {
    this.queue = undefined;
    this.queuedBytes = 0;
    if (this.ws.readyState !== WebSocket.OPEN && this.ws.readyState !== WebSocket.CONNECTING) return;
    if (this.ws.readyState === WebSocket.OPEN && code >= 4000 && code < 5000 && !this.raw.destroyed) this.raw.write(errorFrame(code, reason));
    this.ws.close(code, reason);
  }
}
