import type { JsonValue } from '../../src/core/envelope.js';
import { jsonValueSchema } from '../../src/core/schemas.js';

/**
 * Data other Ably clients wrote (presence data, whisper payloads seen by webhooks) as JSON,
 * or `fallback`. Ably carries what any member publishes, so it may be anything — including
 * nesting deep enough to overflow the recursive schema, which must not turn a webhook or a
 * presence query into a 500.
 */
export function untrustedJson<T extends JsonValue>(value: unknown, fallback: T, accept: (json: JsonValue) => json is T): T {
  try {
    const parsed = jsonValueSchema.safeParse(value);
    return parsed.success && accept(parsed.data) ? parsed.data : fallback;
  } catch {
    return fallback;
  }
}

export const anyJson = (_json: JsonValue): _json is JsonValue => true;

export const isJsonObject = (json: JsonValue): json is { [key: string]: JsonValue } => typeof json === 'object' && json !== null && !Array.isArray(json);
