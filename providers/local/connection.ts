import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import type { Peer, Subscription } from './hub.js';
import { Outbox, RateLimiter, type Flushable } from './outbox.js';

export interface ConnectionContext {
  outbox: Outbox;
  maxBufferedBytes: number;
  clientEventRate: number;
  /** Called (from a flush, never re-entrantly from a fan-out) when the send buffer overflowed. */
  onOverflow(connection: Connection): void;
}

/**
 * One client socket. Frames are written straight to the upgraded TCP socket, bypassing
 * `ws`'s per-message framing: they are pre-framed once per event and shared (see frames.ts).
 * This is safe because the server never calls `ws.send`, and with permessage-deflate off
 * `ws` writes its own control frames (close) synchronously, in order.
 */
export class Connection implements Peer, Flushable {
  readonly subscriptions = new Map<string, Subscription>();
  readonly clientEvents: RateLimiter;
  /** Set by a verified `pusher:signin`. */
  userId: string | undefined;
  lastSeen: number;
  pingSentAt: number | undefined;
  /** In [0, 1): where in the heartbeat window this connection's idle pings fall. */
  readonly heartbeatOffset = Math.random();

  private queue: Buffer[] = [];
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
    this.clientEvents = new RateLimiter(context.clientEventRate, now);
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN && !this.overflowed;
  }

  enqueue(frame: Buffer): void {
    if (!this.open) return;
    if (this.queue.length === 0) this.context.outbox.markDirty(this);
    this.queue.push(frame);
    this.queuedBytes += frame.length;
    if (this.queuedBytes + this.socketBacklog > this.context.maxBufferedBytes) {
      this.overflowed = true;
      this.queue = [];
      this.queuedBytes = 0;
    }
  }

  flush(): void {
    if (this.overflowed) {
      this.context.onOverflow(this);
      return;
    }
    const queue = this.queue;
    if (queue.length === 0) return;
    this.queue = [];
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

  close(code: number, reason: string): void {
    this.queue = [];
    this.queuedBytes = 0;
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code, reason);
  }
}
