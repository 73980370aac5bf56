/** The admin page's live view: one card per tenant with its figures, rate chart, channels and delivery failures. */
import * as z from 'zod/mini';
import { rateChart } from './admin-chart.js';
import { clockTime, el } from './demo-dom.js';

/** Events the provider refused for good: a count since start and the latest few (DeliveryFailureLog on the server). */
const failuresSchema = z.object({
  total: z.number(),
  recent: z.array(z.object({ channel: z.string(), event: z.string(), seq: z.number(), id: z.string(), reason: z.string(), at: z.number() })),
});

/** Lifecycle webhooks the app's endpoint did not take within the retry window (present when webhooks are configured). */
const deadLettersSchema = z.object({
  total: z.number(),
  recent: z.array(
    z.object({
      id: z.string(),
      tenant: z.string(),
      lastError: z.string(),
      event: z.object({ type: z.string(), data: z.object({ channel: z.string() }) }),
    }),
  ),
});

/** What keeps this node from working: event store unreachable, provider not taking events. */
const healthSchema = z.object({
  ready: z.boolean(),
  problems: z.array(z.object({ component: z.string(), detail: z.string(), since: z.optional(z.number()) })),
});

export const statsSchema = z.object({
  provider: z.string(),
  health: z.optional(healthSchema),
  generatedAt: z.number(),
  webhookDeadLetters: z.optional(deadLettersSchema),
  tenants: z.array(
    z.object({
      tenant: z.string(),
      connections: z.optional(z.number()),
      publishRate: z.array(z.number()),
      deliveryRate: z.optional(z.array(z.number())),
      deliveryFailures: z.optional(failuresSchema),
      channels: z.array(
        z.object({
          channel: z.string(),
          subscribers: z.optional(z.number()),
          presenceMembers: z.optional(z.number()),
          members: z.optional(z.array(z.object({ id: z.string(), info: z.record(z.string(), z.unknown()) }))),
        }),
      ),
    }),
  ),
});
export type Stats = z.infer<typeof statsSchema>;
type TenantStats = Stats['tenants'][number];
type Failures = z.infer<typeof failuresSchema>;

/** Averaged over the last full seconds, so the figure does not flicker with the current one. */
const AVERAGE_SECONDS = 10;

export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

function perSecond(series: number[]): string {
  const full = series.slice(-AVERAGE_SECONDS - 1, -1);
  const average = full.reduce((sum, value) => sum + value, 0) / Math.max(1, full.length);
  return average === 0 ? '0' : average < 10 ? average.toFixed(1) : String(Math.round(average));
}

function figure(label: string, value: string, className: string): HTMLElement {
  return el('div', { className: 'figure' }, el('dt', { text: label }), el('dd', { text: value, className }));
}

function channelsTable(tenant: TenantStats): HTMLElement {
  if (tenant.channels.length === 0) return el('p', { text: 'No channel has subscribers right now.', className: 'muted empty' });
  const table = el('table');
  const head = el('thead', {}, el('tr', {}, ...['channel', 'subscribers', 'presence'].map((name) => el('th', { text: name }))));
  for (const cell of head.querySelectorAll('th')) cell.scope = 'col';
  const body = el('tbody');
  for (const channel of [...tenant.channels].sort((a, b) => a.channel.localeCompare(b.channel))) {
    const names = channel.members
      ?.map((member) => (typeof member.info.name === 'string' && member.info.name !== '' ? member.info.name : member.id))
      .sort((a, b) => a.localeCompare(b));
    const presence =
      channel.presenceMembers === undefined ? '–' : `${plural(channel.presenceMembers, 'member')}${names && names.length > 0 ? `: ${names.join(', ')}` : ''}`;
    body.append(
      el(
        'tr',
        { data: { channel: channel.channel } },
        el('td', { text: channel.channel }),
        el('td', { text: channel.subscribers === undefined ? 'occupied' : String(channel.subscribers), className: 'subscribers' }),
        el('td', { text: presence, className: 'presence' }),
      ),
    );
  }
  table.append(head, body);
  return table;
}

function failuresList(failures: Failures): HTMLElement | undefined {
  if (failures.recent.length === 0) return undefined;
  const list = el('ul', { className: 'failures' });
  for (const failure of failures.recent) {
    list.append(
      el(
        'li',
        { data: { seq: String(failure.seq) } },
        clockTime(failure.at),
        ` ${failure.channel} "${failure.event}" #${failure.seq}: `,
        el('span', { text: failure.reason, className: 'reason' }),
      ),
    );
  }
  return el('details', { className: 'failures' }, el('summary', { text: `Latest delivery failures (${failures.recent.length} of ${failures.total})` }), list);
}

function tenantCard(tenant: TenantStats): HTMLElement {
  const card = el('article', { className: 'card tenant', data: { tenant: tenant.tenant } }, el('h2', { text: `Tenant ${tenant.tenant}` }));
  const deliveries = tenant.deliveryRate;
  const figures = el(
    'dl',
    { className: 'figures' },
    figure('connections', tenant.connections === undefined ? 'unknown' : String(tenant.connections), 'connections'),
    figure('channels', String(tenant.channels.length), 'channel-count'),
    figure(`publishes/s (${AVERAGE_SECONDS} s avg)`, perSecond(tenant.publishRate), 'publish-rate'),
    ...(deliveries ? [figure(`deliveries/s (${AVERAGE_SECONDS} s avg)`, perSecond(deliveries), 'delivery-rate')] : []),
    ...(tenant.deliveryFailures === undefined ? [] : [figure('delivery failures', String(tenant.deliveryFailures.total), tenant.deliveryFailures.total > 0 ? 'failure-count bad' : 'failure-count')]),
  );
  const series = [
    { label: 'publishes', values: tenant.publishRate, className: 'publishes' },
    ...(deliveries ? [{ label: 'deliveries', values: deliveries, className: 'deliveries' }] : []),
  ];
  const peak = (values: number[]) => Math.max(0, ...values);
  const description = series.map((line) => `${line.label} per second, peak ${peak(line.values)}`).join('; ');
  const legend = el(
    'figcaption',
    { className: 'legend' },
    `Events per second over the last ${Math.round(tenant.publishRate.length / 60)} minutes: `,
    ...series.flatMap((line, index) => [
      ...(index > 0 ? [' · '] : []),
      el('span', { className: `swatch ${line.className}` }),
      `${line.label === 'deliveries' ? 'taken by the provider' : 'published'} (peak ${peak(line.values)}/s)`,
    ]),
  );
  card.append(figures, el('figure', { className: 'rates' }, rateChart(series, description), legend), channelsTable(tenant));
  const recent = tenant.deliveryFailures === undefined ? undefined : failuresList(tenant.deliveryFailures);
  if (recent) card.append(recent);
  return card;
}

/** The health box: hidden while store and provider work. */
export function renderHealth(box: HTMLElement, health: Stats['health']): void {
  box.hidden = health === undefined || health.ready;
  if (!health || health.ready) return box.replaceChildren();
  box.replaceChildren(
    el('h2', { text: 'Not ready' }),
    el(
      'ul',
      {},
      ...health.problems.map((problem) =>
        el('li', { data: { component: problem.component } }, `${problem.component}: ${problem.detail}`, ...(problem.since ? [' (since ', clockTime(problem.since), ')'] : [])),
      ),
    ),
  );
}

/** The dead-letter box: hidden while there are none. */
export function renderDeadLetters(box: HTMLElement, dead: Stats['webhookDeadLetters']): void {
  box.hidden = dead === undefined || dead.total === 0;
  if (!dead || dead.total === 0) return box.replaceChildren();
  box.replaceChildren(
    el('h2', { text: `Webhook dead letters: ${dead.total}` }),
    el('p', { className: 'muted', text: 'The app’s webhook endpoint did not take these within the retry window. Redeliver with: switchboard webhooks redeliver' }),
    el('ul', {}, ...dead.recent.map((letter) => el('li', { data: { id: letter.id }, text: `${letter.event.type} · ${letter.tenant} ${letter.event.data.channel} · ${letter.lastError} · ${letter.id}` }))),
  );
}

export function renderStats(container: HTMLElement, stats: Stats): void {
  if (stats.tenants.length === 0) {
    container.replaceChildren(
      el(
        'div',
        { className: 'card empty' },
        el('h2', { text: 'No activity yet' }),
        el('p', { text: 'Tenants appear here once they have connections or publish events: open the demo at / in another tab, or publish with "npx switchboard publish".' }),
      ),
    );
    return;
  }
  container.replaceChildren(...stats.tenants.map(tenantCard));
}
