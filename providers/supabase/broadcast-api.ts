/**
 * The BFF's calls to the Supabase project, with the service role (legacy JWT) or secret
 * (`sb_secret_…`) key:
 * - Realtime's REST broadcast endpoint (`POST /realtime/v1/api/broadcast`, supabase/realtime
 *   `BroadcastController` + `BatchBroadcast`): a batch of messages, validated all or
 *   nothing (422 when any is invalid, nothing sent), answered 202 with an empty body;
 * - `POST /rest/v1/rpc/switchboard_terminate` (policies.sql) to record a terminated user.
 */
import { z } from 'zod';

export interface BroadcastMessage {
  /** Topic without the `realtime:` prefix. */
  topic: string;
  event: string;
  /** Must be a JSON object. */
  payload: Record<string, unknown>;
  private: true;
}

/** `invalid`: Realtime's changeset errors (422 with `errors`), a refusal of the messages themselves. */
export type BroadcastOutcome = { ok: true } | { ok: false; status: number; detail: string; invalid: boolean };

const errorBodySchema = z.union([
  z.object({ message: z.string() }),
  z.object({ error: z.string() }),
  z.object({ errors: z.record(z.string(), z.unknown()) }),
]);

function describe(status: number, text: string): { detail: string; invalid: boolean } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { detail: `${status} ${text.slice(0, 120)}`, invalid: false };
  }
  const body = errorBodySchema.safeParse(parsed);
  if (!body.success) return { detail: String(status), invalid: false };
  const data = body.data;
  const detail = 'message' in data ? data.message : 'error' in data ? data.error : JSON.stringify(data.errors);
  return { detail: `${status} ${detail.slice(0, 200)}`, invalid: status === 422 && 'errors' in data };
}

/** Supabase's non-JWT API keys: `sb_publishable_…` (browsers) and `sb_secret_…` (servers). */
export function isApiKey(key: string): boolean {
  return key.startsWith('sb_');
}

export class BroadcastApi {
  constructor(
    private readonly options: { url: string; serviceRoleKey: string; fetch?: typeof fetch },
  ) {}

  /** Network failures and aborts reject; HTTP answers resolve with their outcome. */
  send(messages: BroadcastMessage[], signal: AbortSignal): Promise<BroadcastOutcome> {
    return this.post('/realtime/v1/api/broadcast', { messages }, signal);
  }

  /** Records in the project database that `user` of `tenant` was terminated at `atSeconds`. */
  terminate(tenant: string, user: string, atSeconds: number, signal: AbortSignal): Promise<BroadcastOutcome> {
    return this.post('/rest/v1/rpc/switchboard_terminate', { tenant, user_id: user, revoked_at: atSeconds }, signal);
  }

  private async post(path: string, body: unknown, signal: AbortSignal): Promise<BroadcastOutcome> {
    const fetchImpl = this.options.fetch ?? globalThis.fetch;
    const key = this.options.serviceRoleKey;
    const response = await fetchImpl(`${this.options.url}${path}`, {
      method: 'POST',
      // The API gateway takes a secret key (`sb_secret_…`) in `apikey` only; a legacy
      // service_role key is a JWT and goes in both.
      headers: { apikey: key, ...(isApiKey(key) ? {} : { authorization: `Bearer ${key}` }), 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal,
    });
    const text = await response.text();
    if (response.ok) return { ok: true };
    return { ok: false, status: response.status, ...describe(response.status, text) };
  }
}
