/**
 * Capabilities: which operations an identity may perform on which tenant-relative
 * channels. `isAllowed` is the single place that decides access; every route, the
 * Pusher channel authorizer and the client wrapper's early checks go through it.
 */
import { CHANNEL_REST_PATTERN, NAMESPACE_PATTERN } from './channels.js';
import { SwitchboardError } from './errors.js';

export const operations = ['subscribe', 'publish', 'presence', 'history'] as const;
export type Operation = (typeof operations)[number];

const USER_PLACEHOLDER = '{user}';

/** Why a capability pattern is invalid: it must be a channel name, or a prefix ending in `*`, optionally with `{user}`. */
export function capabilityPatternProblem(pattern: string): string | undefined {
  if (pattern === '*') return undefined;
  const body = (pattern.endsWith('*') ? pattern.slice(0, -1) : pattern).replaceAll(USER_PLACEHOLDER, 'u');
  const colon = body.indexOf(':');
  const rest = body.slice(colon + 1);
  const valid =
    colon < 0
      ? NAMESPACE_PATTERN.test(body) && pattern.endsWith('*')
      : NAMESPACE_PATTERN.test(body.slice(0, colon)) && (rest === '' ? pattern.endsWith('*') : CHANNEL_REST_PATTERN.test(rest));
  return valid ? undefined : 'capability pattern must be a channel name, or a prefix ending in *, optionally with {user}';
}
export type Capabilities = Record<string, Operation[]>;

/** User ids are substituted into channel names, so they must fit the channel grammar. */
export const USER_ID_PATTERN = /^[A-Za-z0-9_\-=@,;]{1,128}$/;

export function patternMatches(pattern: string, channel: string): boolean {
  if (pattern.endsWith('*')) return channel.startsWith(pattern.slice(0, -1));
  return pattern === channel;
}

/** May the holder of `caps` perform `operation` on the tenant-relative `channel`? */
export function isAllowed(caps: Capabilities, operation: Operation, channel: string): boolean {
  for (const [pattern, ops] of Object.entries(caps)) {
    if (ops.includes(operation) && patternMatches(pattern, channel)) return true;
  }
  return false;
}

export function assertAllowed(caps: Capabilities, operation: Operation, channel: string): void {
  if (!isAllowed(caps, operation, channel)) {
    throw new SwitchboardError('forbidden', `Missing capability "${operation}" on channel "${channel}"`);
  }
}

/** Replaces `{user}` with the user id and merges the caps of several roles. */
export function resolveCapabilities(roleCaps: Capabilities[], userId: string): Capabilities {
  if (!USER_ID_PATTERN.test(userId)) {
    throw new SwitchboardError('invalid_identity', 'user id must match [A-Za-z0-9_-=@,;]{1,128} to be used in channel names');
  }
  const merged = new Map<string, Set<Operation>>();
  for (const caps of roleCaps) {
    for (const [pattern, ops] of Object.entries(caps)) {
      const concrete = pattern.replaceAll(USER_PLACEHOLDER, userId);
      const set = merged.get(concrete) ?? new Set<Operation>();
      for (const op of ops) set.add(op);
      merged.set(concrete, set);
    }
  }
  return Object.fromEntries([...merged].map(([pattern, ops]) => [pattern, operations.filter((op) => ops.has(op))]));
}

/**
 * Narrows `granted` to what `requested` asks for: each requested entry survives only for
 * the operations some granted pattern already covers for every channel it can match.
 */
export function narrowCapabilities(granted: Capabilities, requested: Capabilities): Capabilities {
  const result: Capabilities = {};
  for (const [pattern, ops] of Object.entries(requested)) {
    const allowed = ops.filter((op) =>
      Object.entries(granted).some(([grantedPattern, grantedOps]) => grantedOps.includes(op) && covers(grantedPattern, pattern)),
    );
    if (allowed.length > 0) result[pattern] = allowed;
  }
  return result;
}

/** Does `outer` match every channel that `inner` can match? */
function covers(outer: string, inner: string): boolean {
  if (!outer.endsWith('*')) return outer === inner;
  const prefix = outer.slice(0, -1);
  return inner.startsWith(prefix);
}
