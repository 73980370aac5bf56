/** The wrapper's calls to the BFF's HTTP API; every answer is parsed before use. */
import { SwitchboardError } from '../core/errors.js';
import { errorFromResponse } from './errors.js';
import { historyResponseSchema, tokenResponseSchema, type ClientEnvelope, type ClientToken } from './schemas.js';

export interface Bff {
  /** e.g. `https://app.example/rt`, without a trailing slash. */
  baseUrl: string;
  fetch: typeof fetch;
}

/** Resolves a path the BFF hands out (e.g. `authEndpoint`) against the base URL, keeping its path prefix. */
export function bffUrl(bff: Pick<Bff, 'baseUrl'>, path: string): string {
  return /^https?:\/\//i.test(path) ? path : `${bff.baseUrl}${path.startsWith('/') ? '' : '/'}${path}`;
}

async function send(bff: Bff, path: string, init: RequestInit, what: string): Promise<unknown> {
  let response: Response;
  try {
    response = await bff.fetch(bffUrl(bff, path), init);
  } catch (error) {
    throw new SwitchboardError('provider_unavailable', `${what} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!response.ok) throw await errorFromResponse(response, what);
  try {
    return await response.json();
  } catch {
    throw new SwitchboardError('provider_unavailable', `${what} failed: the answer is not JSON`);
  }
}

function parsed<T>(schema: { safeParse(input: unknown): { success: true; data: T } | { success: false } }, body: unknown, what: string): T {
  const result = schema.safeParse(body);
  if (!result.success) throw new SwitchboardError('provider_unavailable', `${what} failed: unexpected answer from the BFF`);
  return result.data;
}

/** Without a session token the request relies on the app's cookie (same-origin fetches send it). */
export async function fetchToken(bff: Bff, session: string | undefined): Promise<ClientToken> {
  const body = await send(
    bff,
    '/v1/token',
    { method: 'POST', headers: { ...(session === undefined ? {} : { authorization: `Bearer ${session}` }), 'content-type': 'application/json' }, body: '{}' },
    'Token request',
  );
  return parsed(tokenResponseSchema, body, 'Token request');
}

export async function fetchHistory(
  bff: Bff,
  token: string,
  channel: string,
  since: number,
  limit: number,
): Promise<{ events: ClientEnvelope[] }> {
  const query = new URLSearchParams({ channel, since: String(since), limit: String(limit) });
  const body = await send(bff, `/v1/history?${query}`, { headers: { authorization: `Bearer ${token}` } }, 'History request');
  return parsed(historyResponseSchema, body, 'History request');
}
