/** The event envelope every event that passes the BFF travels in (schemas in schemas.ts). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export const EVENT_NAME_PATTERN = /^[A-Za-z0-9_\-.:]{1,64}$/;
export const EVENT_ID_PATTERN = /^[A-Za-z0-9_\-:.]{1,128}$/;

/** Why an event name is invalid: `pusher…` is reserved by the protocol, `client-…` for client events. */
export function eventNameProblem(name: string): string | undefined {
  if (!EVENT_NAME_PATTERN.test(name)) return 'event name must match [A-Za-z0-9_-.:]{1,64}';
  if (name.startsWith('pusher') || name.startsWith('client-')) return 'event names starting with "pusher" or "client-" are reserved';
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
