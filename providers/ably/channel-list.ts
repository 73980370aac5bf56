/**
 * Ably's channel enumeration (`GET /channels`, ably-docs metadata/rest.mdx) for the admin
 * page and `/metrics`, within what Ably allows:
 * - `by=id`: names only. `by=value` (with occupancy) "can prevent channels from closing down
 *   from inactivity" when called regularly, so the counts come from the webhooks instead
 *   (channel-tracker.ts) and Switchboard's own polling never keeps a channel open;
 * - paged through `next` links; a page may hold fewer items than asked, even none, so only
 *   the absence of `next` ends the list; names may repeat across pages;
 * - one call at a time, heavily rate-limited: 42912/42910/429 are retried after a backoff,
 *   and 40011 (the pagination sequence became invalid) restarts from the first page;
 * - `refreshing` serves the last list and refreshes it in the background at most every
 *   `intervalMs`, one refresh at a time: a Prometheus scrape never calls Ably.
 */
import type * as Ably from 'ably';
import { z } from 'zod';
import { SwitchboardError } from '../../src/core/errors.js';

/** At most this many pages per enumeration (1,000 names each; pages may be empty). */
const MAX_PAGES = 50;
const RATE_LIMIT_RETRIES = 4;
const PAGE_LIMIT = 1000;

type Page = Ably.HttpPaginatedResponse<unknown>;
type RestLike = Pick<Ably.Rest, 'request'>;

export interface ChannelListOptions {
  /** First backoff after a rate-limit refusal; doubles on each retry. */
  backoffMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function isRateLimited(page: Page): boolean {
  return page.statusCode === 429 || page.errorCode === 42912 || page.errorCode === 42910;
}

function refused(page: Page): SwitchboardError {
  return new SwitchboardError('provider_unavailable', `Ably channel enumeration answered ${page.statusCode}${page.errorCode ? ` (Ably ${page.errorCode})` : ''}`);
}

/** Every active channel name, once each. */
export async function listChannels(rest: RestLike, options: ChannelListOptions = {}): Promise<string[]> {
  const sleep = options.sleep ?? defaultSleep;
  const backoffMs = options.backoffMs ?? 1000;
  let restarted = false;
  for (;;) {
    const names = new Set<string>();
    let fetchPage: () => Promise<Page | null> = () => rest.request('get', '/channels', 3, { by: 'id', limit: PAGE_LIMIT }, undefined, {});
    let invalidated = false;
    for (let pages = 0; pages < MAX_PAGES; pages++) {
      let page: Page | null = null;
      for (let attempt = 0; ; attempt++) {
        page = await fetchPage();
        if (!page || page.success || !isRateLimited(page) || attempt >= RATE_LIMIT_RETRIES) break;
        await sleep(backoffMs * 2 ** attempt);
      }
      if (!page) break;
      if (!page.success) {
        if (page.errorCode === 40011 && !restarted) {
          invalidated = true;
          break;
        }
        throw refused(page);
      }
      for (const item of page.items) {
        const name = z.string().safeParse(item);
        if (name.success) names.add(name.data);
      }
      if (!page.hasNext()) return [...names];
      const current = page;
      // The SDK types next() as a PaginatedResult; for request() it is an HttpPaginatedResponse.
      fetchPage = () => current.next() as Promise<Page | null>;
    }
    if (!invalidated) return [...names];
    restarted = true;
  }
}

/** The last value of `load`, refreshed in the background at most every `intervalMs`, one load at a time. */
export function refreshing<T>(load: () => Promise<T>, intervalMs: number, now: () => number = Date.now): () => Promise<T> {
  let value: { at: number; data: T } | undefined;
  let inFlight: Promise<T> | undefined;
  let lastAttempt = Number.NEGATIVE_INFINITY;
  const refresh = (): Promise<T> => {
    lastAttempt = now();
    inFlight ??= load()
      .then((data) => {
        value = { at: now(), data };
        return data;
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };
  return () => {
    const due = now() - lastAttempt >= intervalMs;
    if (!value) {
      if (inFlight) return inFlight;
      return due ? refresh() : Promise.reject(new SwitchboardError('provider_unavailable', 'Ably channel list unavailable; retried after a pause'));
    }
    if (due && !inFlight) refresh().catch(() => undefined);
    return Promise.resolve(value.data);
  };
}
