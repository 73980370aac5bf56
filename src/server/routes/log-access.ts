/** What the log-reading routes (history, SSE, long-poll) share: channel lists, access checks, cursors. */
import { z } from 'zod';
import { isAllowed, type Operation } from '../../core/capabilities.js';
import { channelNameSchema } from '../../core/schemas.js';
import { SwitchboardError } from '../../core/errors.js';
import { resolveChannel, type Namespaces } from '../../core/namespaces.js';
import type { ClientGrant } from '../../../providers/types.js';
import type { Cursor } from '../log/cursor.js';
import type { EventStore } from '../log/store.js';

export const MAX_READ_CHANNELS = 20;

/** `a,b,c` -> distinct channel names. */
export const channelListSchema = z
  .string()
  .min(1)
  .max(MAX_READ_CHANNELS * 201)
  .transform((value) => [...new Set(value.split(','))])
  .pipe(z.array(channelNameSchema).min(1).max(MAX_READ_CHANNELS));

/** Every channel must be in a configured namespace and allowed by one of `operations` in the token. */
export function authorizeChannels(namespaces: Namespaces, grant: ClientGrant, channels: string[], operations: Operation[]): void {
  for (const channel of channels) {
    resolveChannel(namespaces, channel);
    if (!operations.some((operation) => isAllowed(grant.caps, operation, channel))) {
      throw new SwitchboardError('forbidden', `Missing capability "${operations.join('" or "')}" on channel "${channel}"`);
    }
  }
}

/**
 * Where reading starts per channel: the client's position when it has one, else "now".
 * A position beyond the log's end (a forged cursor, or a log that was reset) is clamped
 * so the client does not silently wait for seqs that will never come.
 */
export async function startCursor(store: EventStore, tenant: string, channels: string[], given: Cursor | undefined): Promise<Cursor> {
  const cursor: Cursor = {};
  for (const channel of channels) {
    const last = await store.lastSeq(tenant, channel);
    const seen = given?.[channel];
    cursor[channel] = seen === undefined ? last : Math.min(seen, last);
  }
  return cursor;
}
