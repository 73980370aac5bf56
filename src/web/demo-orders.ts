/** Live order tracking: each order's status steps follow `status` events on `orders:<id>`. */
import * as z from 'zod/mini';
import type { Realtime } from '../client/index.js';
import type { DemoApi } from './demo-api.js';
import type { ConnectionBadge, LinkWatch } from './demo-connection.js';
import { byId, describeError, el } from './demo-dom.js';

export const DEMO_ORDERS = ['1001', '1002'] as const;

/** The stages the demo endpoint walks through (ORDER_STAGES in src/server/routes/demo.ts). */
const STAGES = ['placed', 'packed', 'shipped', 'out for delivery', 'delivered'] as const;

const statusSchema = z.object({ order: z.string(), status: z.string(), stage: z.number() });

function mountOrder(order: string, options: { rt: Realtime; api: DemoApi; watch: LinkWatch; badge: ConnectionBadge }): { card: HTMLElement; off: () => void } {
  const { rt, api, watch, badge } = options;
  const titleId = `order-${order}-title`;
  const steps = STAGES.map((stage) => el('li', { text: stage, data: { stage } }));
  const status = el('p', { text: 'Not placed yet.', className: 'order-status' });
  status.setAttribute('aria-live', 'polite');
  const button = el('button', { text: 'Simulate next step' });
  button.type = 'button';
  const error = el('p', { className: 'error' });
  error.setAttribute('role', 'alert');
  const list = el('ol', { className: 'status-steps' }, ...steps);
  list.setAttribute('aria-label', `Progress of order ${order}`);
  const title = el('h3', { text: `Order #${order}` });
  title.id = titleId;
  const card = el('article', { className: 'order', data: { order, stage: '-1' } }, title, list, status, button, error);
  card.id = `order-${order}`;
  card.setAttribute('aria-labelledby', titleId);

  const render = (stage: number, label: string, recovered: boolean) => {
    card.dataset.stage = String(stage);
    steps.forEach((step, index) => {
      step.classList.toggle('done', index <= stage);
      if (index === stage) step.setAttribute('aria-current', 'step');
      else step.removeAttribute('aria-current');
    });
    status.textContent = `Status: ${label}`;
    if (recovered) status.append(' ', el('span', { text: 'recovered', className: 'tag' }));
    const last = stage >= STAGES.length - 1;
    button.disabled = last;
    button.textContent = last ? 'Delivered' : 'Simulate next step';
  };

  // since: 0 replays the order's history, so a reload shows where it stands.
  const channel = rt.channel(`orders:${order}`, { since: 0, events: { status: statusSchema } });
  const offs = [
    channel.subscribe('status', (data, meta) => {
      const recovered = watch.isRecovered(meta);
      if (recovered) badge.recovered();
      render(data.stage, data.status, recovered);
    }),
    channel.on('error', (failure) => {
      error.textContent = failure.message;
    }),
  ];
  button.addEventListener('click', () => {
    button.disabled = true;
    error.textContent = '';
    api
      .advanceOrder(order)
      .catch((failure: unknown) => {
        error.textContent = describeError(failure);
      })
      .finally(() => {
        // The new status arrives as an event; until then allow another click only if not delivered.
        button.disabled = Number(card.dataset.stage) >= STAGES.length - 1;
      });
  });
  return { card, off: () => offs.forEach((off) => off()) };
}

export function mountOrders(options: { rt: Realtime; api: DemoApi; watch: LinkWatch; badge: ConnectionBadge; signal: AbortSignal }): void {
  const container = byId('orders');
  const mounted = DEMO_ORDERS.map((order) => mountOrder(order, options));
  container.replaceChildren(...mounted.map(({ card }) => card));
  options.signal.addEventListener('abort', () => mounted.forEach(({ off }) => off()));
}
