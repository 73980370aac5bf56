/**
 * Realtime's REST broadcast endpoint (`POST /realtime/v1/api/broadcast`, supabase/realtime
 * `BroadcastController` + `BatchBroadcast`): a batch of messages, validated all or
 * nothing (422 when any is invalid, nothing sent), answered 202 with an empty body.
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

export type BroadcastOutcome = { ok: true } | { ok: false; status: number; detail: string };

const errorBodySchema = z.union([
  z.object({ message: z.string() }),
  z.object({ error: z.string() }),
  z.object({ errors: z.record(z.string(), z.unknown()) }),
]);

function describe(status: number, text: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return `${status} ${text.slice(0, 120)}`;
  }
  const body = errorBodySchema.safeParse(parsed);
  if (!body.success) return String(status);
  const data = body.data;
  const detail = 'message' in data ? data.message : 'error' in data ? data.error : JSON.stringify(data.errors);
  return `${status} ${detail.slice(0, 200)}`;
}

export class BroadcastApi {
  constructor(
    private readonly options: { url: string; serviceRoleKey: string; fetch?: typeof fetch },
  ) {}

  /** Network failures and aborts reject; HTTP answers resolve with their outcome. */
  async send(messages: BroadcastMessage[], signal: AbortSignal): Promise<BroadcastOutcome> {
    const fetchImpl = this.options.fetch ?? globalThis.fetch;
    const response = await fetchImpl(`${this.options.url}/realtime/v1/api/broadcast`, {
      method: 'POST',
      headers: {
        apikey: this.options.serviceRoleKey,
        authorization: `Bearer ${this.options.serviceRoleKey}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ messages }),
      signal,
    });
    const text = await response.text();
    if (response.ok) return { ok: true };
    return { ok: false, status: response.status, detail: describe(response.status, text) };
  }
}
