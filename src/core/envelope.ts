/** The event envelope every event that passes the BFF travels in (schemas in schemas.ts). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * Any event name the Pusher protocol carries (1-200 characters), so e.g. Laravel's
 * `App\Events\OrderShipped` can be published through the BFF. Control characters are
 * refused: names become SSE `event:` lines and log fields.
 */
// eslint-disable-next-line no-control-regex
export const EVENT_NAME_PATTERN = /^[^\u0000-\u001f\u007f]{1,200}$/;
export const EVENT_ID_PATTERN = /^[A-Za-z0-9_\-:.]{1,128}$/;
/** `pusher:` / `pusher_internal:` belong to the protocol, `client-` to client events (whispers). */
export const RESERVED_EVENT_PREFIXES = ['pusher:', 'pusher_internal:', 'client-'] as const;

/** Why an event name is invalid. */
export function eventNameProblem(name: string): string | undefined {
  if (!EVENT_NAME_PATTERN.test(name)) return 'event name must be 1-200 characters without control characters';
  const reserved = RESERVED_EVENT_PREFIXES.find((prefix) => name.startsWith(prefix));
  if (reserved) return `event names starting with "${reserved}" are reserved`;
  return undefined;
}

/** Every event that passes the BFF. `seq` is per (tenant, channel), assigned by the event log. */
export interface Envelope {
  /** Idempotency key: given by the publisher or a fresh ULID. */
  id: string;
  /** Tenant-relative channel name. */
  channel: string;
  event: string;
  data: JsonValue;
  seq: number;
  /** Server time in ms. */
  ts: number;
}

/** What subscribers receive beside `data`, identical on every provider. */
export type EventMeta = Omit<Envelope, 'data'>;

const utf8 = new TextEncoder();

/** Size of the JSON-encoded payload, the unit every provider limit is expressed in. */
export function payloadBytes(data: JsonValue): number {
  return utf8.encode(JSON.stringify(data)).byteLength;
}

/**
 * The id, seq and ts that make an envelope longest in JSON: ids are at most 128 characters
 * JSON never escapes (EVENT_ID_PATTERN), seq and ts are safe integers.
 */
const LARGEST_ENVELOPE_META = { id: 'x'.repeat(128), seq: Number.MAX_SAFE_INTEGER, ts: Number.MAX_SAFE_INTEGER } as const;

/**
 * The largest envelope `event` can travel in, whatever id, seq and ts the log gives it: what
 * a provider's `payloadProblem` measures, so nothing accepted at publish outgrows its limit.
 */
export function largestEnvelope({ channel, event, data }: Pick<Envelope, 'channel' | 'event' | 'data'>): Envelope {
  return { ...LARGEST_ENVELOPE_META, channel, event, data };
}
