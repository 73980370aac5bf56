/** A raw Pusher-protocol client for tests that assert exact frames, error codes and close codes. */
import { WebSocket } from 'ws';
import { onCleanup } from './local-harness.js';

export const KEY = 'switchboard-key';
export const SECRET = 'switchboard-secret';

export interface Frame {
  event: string;
  channel?: string;
  data?: unknown;
  user_id?: string;
}

/** A raw protocol client that keeps every frame and lets a test await the next match. */
export class RawClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  socketId = '';
  private readonly waiters: { match: (frame: Frame) => boolean; resolve: (frame: Frame) => void; from: number }[] = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (raw: Buffer) => {
      const frame = JSON.parse(raw.toString('utf8')) as Frame;
      if (typeof frame.data === 'string') {
        try {
          frame.data = JSON.parse(frame.data) as unknown;
        } catch {
          // plain string data stays as it is
        }
      }
      this.frames.push(frame);
      for (const waiter of [...this.waiters]) {
        if (waiter.match(frame)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(frame);
        }
      }
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('error', () => undefined);
  }

  static async open(port: number, path = `/app/${KEY}?protocol=7&client=js&version=8.6.0`): Promise<RawClient> {
    const client = new RawClient(new WebSocket(`ws://127.0.0.1:${port}${path}`, { perMessageDeflate: false }));
    onCleanup(() => client.ws.terminate());
    return client;
  }

  static async connected(port: number, path?: string): Promise<RawClient> {
    const client = await RawClient.open(port, path);
    const established = await client.next('pusher:connection_established');
    client.socketId = (established.data as { socket_id: string }).socket_id;
    return client;
  }

  /** The first frame (already received or coming) named `event` that satisfies `match`. */
  next(event: string, match: (frame: Frame) => boolean = () => true): Promise<Frame> {
    const test = (frame: Frame) => frame.event === event && match(frame);
    const found = this.frames.find(test);
    if (found) {
      this.frames.splice(this.frames.indexOf(found), 1);
      return Promise.resolve(found);
    }
    return new Promise((resolve) =>
      this.waiters.push({
        match: test,
        resolve: (frame) => {
          this.frames.splice(this.frames.indexOf(frame), 1);
          resolve(frame);
        },
        from: this.frames.length,
      }),
    );
  }

  error(code: number): Promise<Frame> {
    return this.next('pusher:error', (frame) => (frame.data as { code: number }).code === code);
  }

  send(frame: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(frame));
  }

  subscribe(channel: string, auth: { auth: string; channel_data?: string | null } | { auth?: string } = {}): Promise<Frame> {
    this.send({ event: 'pusher:subscribe', data: { channel, ...auth } });
    return Promise.race([
      this.next('pusher_internal:subscription_succeeded', (frame) => frame.channel === channel),
      this.next('pusher:subscription_error', (frame) => frame.channel === channel),
    ]);
  }
}
