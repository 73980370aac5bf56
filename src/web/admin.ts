/** The admin page: polls /v1/admin/stats and renders tenants, channels, presence, a publish-rate chart and webhook dead letters. */
import * as z from 'zod/mini';

const statsSchema = z.object({
  provider: z.string(),
  generatedAt: z.number(),
  tenants: z.array(
    z.object({
      tenant: z.string(),
      connections: z.optional(z.number()),
      publishRate: z.array(z.number()),
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
  webhookDeadLetters: z.optional(
    z.object({
      total: z.number(),
      recent: z.array(
        z.object({
          id: z.string(),
          tenant: z.string(),
          lastError: z.string(),
          event: z.object({ type: z.string(), data: z.object({ channel: z.string() }) }),
        }),
      ),
    }),
  ),
});
type Stats = z.infer<typeof statsSchema>;

/** Lifecycle webhooks the app's endpoint never took (only when a webhook endpoint is configured). */
function renderDeadLetters(dead: Stats['webhookDeadLetters']): void {
  const box = byId('dead-letters');
  box.hidden = dead === undefined || dead.total === 0;
  if (!dead || dead.total === 0) return;
  const list = element('ul');
  for (const letter of dead.recent) {
    const item = element('li', `${letter.event.type} · ${letter.tenant} ${letter.event.data.channel} · ${letter.lastError} · ${letter.id}`);
    item.dataset.id = letter.id;
    list.append(item);
  }
  box.replaceChildren(
    element('h2', `Webhook dead letters: ${dead.total}`),
    element('p', 'The app’s endpoint did not take these within the retry window. Redeliver: switchboard webhooks redeliver', 'muted'),
    list,
  );
}

const CREDENTIAL_KEY = 'switchboard-admin-credential';
const POLL_MS = 2000;

function byId<T extends HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

function element(tag: string, text?: string, className?: string): HTMLElement {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

/** A dependency-free SVG bar chart of events/s. */
function rateChart(series: number[]): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const width = 360;
  const height = 60;
  const max = Math.max(1, ...series);
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('class', 'chart');
  svg.setAttribute('role', 'img');
  const total = series.reduce((sum, value) => sum + value, 0);
  svg.setAttribute('aria-label', `Events per second over the last ${series.length} seconds, peak ${max}, total ${total}`);
  const barWidth = width / series.length;
  series.forEach((value, index) => {
    const bar = document.createElementNS(ns, 'rect');
    const barHeight = (value / max) * (height - 4);
    bar.setAttribute('x', String(index * barWidth));
    bar.setAttribute('y', String(height - barHeight));
    bar.setAttribute('width', String(Math.max(1, barWidth - 0.5)));
    bar.setAttribute('height', String(barHeight));
    svg.append(bar);
  });
  return svg;
}

function render(stats: Stats): void {
  byId('provider').textContent = `provider: ${stats.provider}`;
  byId('updated').textContent = new Date(stats.generatedAt).toLocaleTimeString();
  renderDeadLetters(stats.webhookDeadLetters);
  const container = byId('tenants');
  container.replaceChildren();
  if (stats.tenants.length === 0) container.append(element('p', 'No activity yet.', 'muted'));
  for (const tenant of stats.tenants) {
    const card = element('article', undefined, 'card tenant');
    card.dataset.tenant = tenant.tenant;
    card.append(element('h2', `Tenant ${tenant.tenant}`));
    const lastSecond = tenant.publishRate.at(-2) ?? 0;
    const summary = element('p');
    const connections = tenant.connections === undefined ? 'unknown' : String(tenant.connections);
    summary.append(element('strong', connections, 'connections'), ` connection${tenant.connections === 1 ? '' : 's'} · ${tenant.channels.length} channel(s) · ${lastSecond} events/s`);
    const caption = element('p', `Publishes per second, last ${tenant.publishRate.length} s (peak ${Math.max(0, ...tenant.publishRate)})`, 'muted');
    card.append(summary, rateChart(tenant.publishRate), caption);
    const table = element('table');
    table.innerHTML = '<thead><tr><th scope="col">channel</th><th scope="col">subscribers</th><th scope="col">presence</th></tr></thead>';
    const body = element('tbody');
    for (const channel of tenant.channels) {
      const row = element('tr');
      const members = channel.members?.map((member) => String(member.info.name ?? member.id)).join(', ') ?? '–';
      row.append(element('td', channel.channel), element('td', channel.subscribers === undefined ? 'occupied' : String(channel.subscribers)), element('td', members));
      body.append(row);
    }
    table.append(body);
    card.append(table);
    container.append(card);
  }
}

let timer: ReturnType<typeof setTimeout> | undefined;

async function poll(credential: string): Promise<void> {
  const response = await fetch('/v1/admin/stats', { headers: { authorization: `Bearer ${credential}` } });
  if (response.status === 401 || response.status === 403) {
    const problem = (await response.json().catch(() => ({}))) as { detail?: string };
    signOut(problem.detail ?? 'Not allowed');
    return;
  }
  if (response.ok) {
    const stats = statsSchema.safeParse(await response.json());
    if (stats.success) render(stats.data);
  }
  timer = setTimeout(() => void poll(credential).catch(() => undefined), POLL_MS);
}

function signIn(credential: string): void {
  sessionStorage.setItem(CREDENTIAL_KEY, credential);
  byId('login').hidden = true;
  byId('view').hidden = false;
  void poll(credential).catch(() => undefined);
}

function signOut(message = ''): void {
  clearTimeout(timer);
  sessionStorage.removeItem(CREDENTIAL_KEY);
  byId('login').hidden = false;
  byId('view').hidden = true;
  byId('login-error').textContent = message;
}

byId<HTMLFormElement>('login').addEventListener('submit', (event) => {
  event.preventDefault();
  signIn(byId<HTMLInputElement>('credential').value.trim());
});
byId('logout').addEventListener('click', () => signOut());
const saved = sessionStorage.getItem(CREDENTIAL_KEY);
if (saved) signIn(saved);
