/**
 * Early access checks, made on the client with the same core functions the server
 * uses (resolveChannel, isAllowed), so mistakes surface as a synchronous throw with the
 * server's error code instead of a silent refusal later.
 */
import { isAllowed } from '../core/capabilities.js';
import { payloadBytes, type JsonValue } from '../core/envelope.js';
import { SwitchboardError } from '../core/errors.js';
import { resolveChannel, type ResolvedChannel } from '../core/namespaces.js';
import type { ClientToken } from './schemas.js';

/** Same pattern as core's clientEventNameSchema. */
const CLIENT_EVENT_NAME = /^[A-Za-z0-9_\-.:]{1,64}$/;

export function checkSubscribe(token: ClientToken, channel: string): ResolvedChannel {
  const resolved = resolveChannel(token.namespaces, channel);
  if (!isAllowed(token.caps, 'subscribe', channel)) {
    throw new SwitchboardError('forbidden', `Missing capability "subscribe" on channel "${channel}"`);
  }
  return resolved;
}

export function checkPresence(token: ClientToken, channel: string): ResolvedChannel {
  const resolved = checkSubscribe(token, channel);
  if (!resolved.rules.presence) {
    throw new SwitchboardError('invalid_request', `Namespace "${resolved.namespace}" has no presence`);
  }
  if (!isAllowed(token.caps, 'presence', channel)) {
    throw new SwitchboardError('forbidden', `Missing capability "presence" on channel "${channel}"`);
  }
  return resolved;
}

export function checkEventName(event: string): void {
  if (!CLIENT_EVENT_NAME.test(event)) {
    throw new SwitchboardError('invalid_event', `Invalid whisper name "${event.slice(0, 64)}": use [A-Za-z0-9_-.:]{1,64}`);
  }
}

export function checkWhisper(token: ClientToken, channel: string, event: string, data: JsonValue): void {
  checkEventName(event);
  const { namespace, rules } = checkSubscribe(token, channel);
  if (!rules.clientEvents.includes(event)) {
    const allowed = rules.clientEvents.length > 0 ? `allowed: ${rules.clientEvents.join(', ')}` : 'it allows none';
    throw new SwitchboardError('forbidden', `Whisper "${event}" is not allowed on namespace "${namespace}" (${allowed})`);
  }
  if (!isAllowed(token.caps, 'publish', channel)) {
    throw new SwitchboardError('forbidden', `Missing capability "publish" on channel "${channel}", needed to whisper`);
  }
  const size = payloadBytes(data);
  if (size > rules.maxPayloadBytes) {
    throw new SwitchboardError('payload_too_large', `Whisper payload is ${size} bytes, over the namespace limit of ${rules.maxPayloadBytes}`);
  }
}
