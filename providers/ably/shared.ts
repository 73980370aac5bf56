/** Conventions the Ably provider (server) and the Ably transport (client) share. Keep it dependency-free: it is part of the client chunk. */

/** Whispers travel as Ably messages named `client-{event}`, as on the Pusher protocol; server events never start with it (core eventNameProblem). */
export const WHISPER_PREFIX = 'client-';

/** Where the transport's authCallback asks the BFF for a TokenRequest. */
export const ABLY_AUTH_ENDPOINT = '/v1/auth/ably';

/** Whispers per second per connection, the same budget as the Pusher protocol's client events (Ably's own limit is higher). */
export const WHISPERS_PER_SECOND = 10;

/** Ably lists a presence member per connection and clientId; Switchboard shows one per user (clientId = user id), the first seen. */
export function onePerClient<T extends { clientId: string }>(members: Iterable<T>): T[] {
  const seen = new Map<string, T>();
  for (const member of members) if (!seen.has(member.clientId)) seen.set(member.clientId, member);
  return [...seen.values()];
}
