/**
 * The provider's client, opened lazily by the first hook that needs it (always inside an
 * effect, so rendering, also on the server, never connects) and closed once nothing
 * holds it. Closing waits a tick: StrictMode's second effect pass, or a quick remount,
 * takes the same client again instead of reconnecting.
 */
import { connect, type ConnectOptions, type Realtime } from '../client/index.js';

export type ClientSource = { options: ConnectOptions } | { client: Realtime };

export class ClientHolder {
  private client: Realtime | undefined;
  private holders = 0;
  private closeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly source: ClientSource) {}

  acquire(): Realtime {
    clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
    this.holders++;
    this.client ??= 'client' in this.source ? this.source.client : connect(this.source.options);
    return this.client;
  }

  release(): void {
    this.holders--;
    // A client passed in belongs to the app, which closes it.
    if (this.holders > 0 || 'client' in this.source) return;
    clearTimeout(this.closeTimer);
    this.closeTimer = setTimeout(() => {
      this.closeTimer = undefined;
      if (this.holders > 0) return;
      this.client?.close();
      this.client = undefined;
    }, 0);
  }
}
