/** DOM helpers for the browser pages (demo and admin). Text only ever goes in through textContent. */

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`The page has no #${id}`);
  return node as T;
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  options: { text?: string; className?: string; data?: Record<string, string> } = {},
  ...children: Array<Node | string>
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (options.text !== undefined) node.textContent = options.text;
  if (options.className) node.className = options.className;
  for (const [key, value] of Object.entries(options.data ?? {})) node.dataset[key] = value;
  node.append(...children);
  return node;
}

const MAX_FEED_ITEMS = 200;

/** Appends to a feed list, drops its placeholder and oldest items, and keeps it scrolled to the newest. */
export function appendToFeed(list: HTMLElement, item: HTMLElement): void {
  list.querySelector(':scope > .placeholder')?.remove();
  list.append(item);
  while (list.children.length > MAX_FEED_ITEMS) list.firstElementChild?.remove();
  list.scrollTop = list.scrollHeight;
}

export function placeholder(list: HTMLElement, text: string): void {
  list.replaceChildren(el('li', { text, className: 'placeholder muted' }));
}

export function clockTime(ts: number): HTMLTimeElement {
  const time = el('time', { text: new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }) });
  time.dateTime = new Date(ts).toISOString();
  return time;
}

/** Marks a feed item that was delivered from history after a reconnect. */
export function recoveredTag(): HTMLElement {
  return el('span', { text: 'recovered', className: 'tag', data: { tag: 'recovered' } });
}

/** fetch() rejects with a TypeError whose wording differs per browser when the server cannot be reached. */
export function isNetworkError(error: unknown): boolean {
  return error instanceof TypeError && /fetch|network|load failed/i.test(error.message);
}

export function describeError(error: unknown): string {
  if (isNetworkError(error)) return 'The server cannot be reached (is it running? it may be restarting)';
  return error instanceof Error ? error.message : String(error);
}
