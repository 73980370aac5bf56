/** The personal notifications feed: `notifications:<user>` over the client's SSE transport. */
import * as z from 'zod/mini';
import type { Realtime } from '../client/index.js';
import type { ConnectionBadge, LinkWatch } from './demo-connection.js';
import { appendToFeed, byId, clockTime, describeError, el, placeholder, recoveredTag } from './demo-dom.js';

const noticeSchema = z.object({ text: z.string() });

export function mountNotifications(options: { rt: Realtime; user: string; watch: LinkWatch; badge: ConnectionBadge; signal: AbortSignal }): void {
  const { rt, user, watch, badge, signal } = options;
  const list = byId('notices');
  const error = byId('notices-error');
  error.textContent = '';
  placeholder(list, 'Nothing yet. Advance an order to get a notice.');
  // since: 0 replays the feed's history, so a reload shows earlier notices.
  const channel = rt.channel(`notifications:${user}`, { since: 0, events: { notice: noticeSchema } });
  const offs = [
    channel.subscribe('notice', (data, meta) => {
      const item = el('li', { data: { seq: String(meta.seq) } }, clockTime(meta.ts), ' ', el('span', { text: data.text, className: 'text' }));
      if (watch.isRecovered(meta)) {
        item.append(' ', recoveredTag());
        badge.recovered();
      }
      appendToFeed(list, item);
    }),
    channel.on('error', (failure) => {
      error.textContent = describeError(failure);
    }),
    badge.onReconnected(() => {
      error.textContent = '';
    }),
  ];
  signal.addEventListener('abort', () => offs.forEach((off) => off()));
}
