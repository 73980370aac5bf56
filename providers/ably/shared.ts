/** Conventions the Ably provider (server) and the Ably transport (client) share. Keep it dependency-free: it is part of the client chunk. */

/** Whispers travel as Ably messages named `client-{event}`, as on the Pusher protocol; server events never start with it (core eventNameProblem). */
export const WHISPER_PREFIX = 'client-';

/** Where the transport's authCallback asks the BFF for a TokenRequest. */
export const ABLY_AUTH_ENDPOINT = '/v1/auth/ably';

/** Whispers per second per connection, the same budget as the Pusher protocol's client events (Ably's own limit is higher). */
export const WHISPERS_PER_SECOND = 10;

/**
 * Ably's clientId for a user is tenant-scoped, `{tenant}:{user}`: Ably revokes tokens by
 * clientId, and terminating one tenant's user must leave the same user id in other tenants
 * alone. Neither a tenant id nor a user id contains `:`.
 */
export function toAblyClientId(tenant: string, user: string): string {
  return `${tenant}:${user}`;
}

/** The user behind a clientId in `tenant`; undefined for a clientId of anything else. */
export function userOfClientId(tenant: string, clientId: string): string | undefined {
  const prefix = `${tenant}:`;
  const user = clientId.startsWith(prefix) ? clientId.slice(prefix.length) : '';
  return user === '' || user.includes(':') ? undefined : user;
}

/** Ably lists a presence member per connection and clientId; Switchboard shows one per user (clientId = user id), the first seen. */
export function onePerClient<T extends { clientId: string }>(members: Iterable<T>): T[] {
  const seen = new Map<string, T>();
  for (const member of members) if (!seen.has(member.clientId)) seen.set(member.clientId, member);
  return [...seen.values()];
}
