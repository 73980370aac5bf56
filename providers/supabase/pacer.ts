/**
 * Keeps the BFF's REST broadcasts within the project's messages-per-second quota
 * (Realtime answers 429 past it): a sliding one-second window of messages sent, waiting
 * for room before the next call. Realtime also counts each delivery to a client, which
 * the BFF cannot see, so the budget is what the app sets (SUPABASE_MAX_MESSAGES_PER_SECOND).
 */
import { setTimeout as sleep } from 'node:timers/promises';

const WINDOW_MS = 1000;

export class MessagePacer {
  private readonly sent: { at: number; count: number }[] = [];

  constructor(
    readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Resolves once `count` more messages fit in the last second (at once when nothing was sent in it). */
  async take(count: number, signal: AbortSignal): Promise<void> {
    for (;;) {
      const now = this.now();
      while (this.sent[0] && this.sent[0].at <= now - WINDOW_MS) this.sent.shift();
      const used = this.sent.reduce((sum, entry) => sum + entry.count, 0);
      const oldest = this.sent[0];
      if (!oldest || used + count <= this.perSecond) {
        this.sent.push({ at: now, count });
        return;
      }
      await sleep(oldest.at + WINDOW_MS - now, undefined, { signal });
    }
  }
}
