/**
 * Live order tracking: each order's status steps follow `status` events on `orders:<id>`,
 * from the demo button or anyone else (`{"status":"shipped"}` from the CLI or curl works).
 * An event the card cannot follow is noted and skipped; it never breaks the card.
 */
import type { Realtime } from '../client/index.js';
import { ORDER_STAGES as STAGES, orderStageOf, orderStatusSchema } from '../core/demo-orders.js';
import type { DemoApi } from './demo-api.js';
import { needsConnection, type ConnectionBadge, type LinkWatch } from './demo-connection.js';
import { byId, describeError, el } from './demo-dom.js';

export const DEMO_ORDERS = ['1001', '1002'] as const;

function mountOrder(order: string, options: { rt: Realtime; api: DemoApi; watch: LinkWatch; badge: ConnectionBadge }): { card: HTMLElement; off: () => void } {
  const { rt, api, watch, badge } = options;
  const titleId = `order-${order}-title`;
  const steps = STAGES.map((stage) => el('li', { text: stage, data: { stage } }));
  const status = el('p', { text: 'Not placed yet.', className: 'order-status' });
  status.setAttribute('aria-live', 'polite');
  const button = el('button', { text: 'Simulate next step' });
  button.type = 'button';
  const note = el('p', { className: 'muted small order-note' });
  const error = el('p', { className: 'error' });
  error.setAttribute('role', 'alert');
  const list = el('ol', { className: 'status-steps' }, ...steps);
  list.setAttribute('aria-label', `Progress of order ${order}`);
  const title = el('h3', { text: `Order #${order}` });
  title.id = titleId;
  const card = el('article', { className: 'order', data: { order, stage: '-1' } }, title, list, status, note, button, error);
  card.id = `order-${order}`;
  card.setAttribute('aria-labelledby', titleId);
  let busy = false;
  const delivered = () => Number(card.dataset.stage) >= STAGES.length - 1;
  const action = needsConnection(badge, button, () => busy || delivered());

  const render = (stage: number, label: string, recovered: boolean) => {
    card.dataset.stage = String(stage);
    steps.forEach((step, index) => {
      step.classList.toggle('done', index <= stage);
      if (index === stage) step.setAttribute('aria-current', 'step');
      else step.removeAttribute('aria-current');
    });
    status.textContent = `Status: ${label}`;
    if (recovered) status.append(' ', el('span', { text: 'recovered', className: 'tag' }));
    button.textContent = delivered() ? 'Delivered' : 'Simulate next step';
    action.sync();
  };

  // since: 0 replays the order's history, so a reload shows where it stands.
  const channel = rt.channel(`orders:${order}`, { since: 0 });
  const offs = [
    channel.subscribe('status', (data, meta) => {
      const recovered = watch.isRecovered(meta);
      if (recovered) badge.recovered();
      const stage = orderStageOf(data);
      if (stage !== undefined) {
        note.textContent = '';
        render(stage, STAGES[stage] ?? '', recovered);
      } else {
        // Not a stage the card knows: say so, keep the steps where they were.
        const parsed = orderStatusSchema.safeParse(data);
        note.textContent = parsed.success
          ? `Event #${meta.seq} set the status to "${parsed.data.status}", which is not one of the demo's stages.`
          : `Skipped event #${meta.seq}: its data has no "status" text.`;
      }
    }),
    channel.on('error', (failure) => {
      error.textContent = failure.message;
    }),
    badge.onReconnected(() => {
      error.textContent = '';
    }),
    action.off,
  ];
  button.addEventListener('click', () => {
    busy = true;
    action.sync();
    error.textContent = '';
    api
      .advanceOrder(order)
      .catch((failure: unknown) => {
        error.textContent = `Could not advance the order. ${describeError(failure)}`;
      })
      .finally(() => {
        // The new status arrives as an event; until then allow another click only if not delivered.
        busy = false;
        action.sync();
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
