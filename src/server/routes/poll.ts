/**
 * `GET /v1/poll?channels=a,b&cursor=…` — long-poll fallback over the event log. Answers
 * `{ events, cursor }` at once when there are events after the cursor, else when the next
 * one is appended, or with no events after `timeoutMs`. Without a cursor it answers at
 * once with the current position, which the client then polls from (gap-free from there).
 * Token as `Authorization: Bearer`; each channel needs `subscribe`. A poll waiting when its
 * token expires, or when its user is terminated on any node sharing the revocation store,
 * answers 401 at that moment.
 */
import { Router } from 'express';
import { z } from 'zod';
import type { Envelope } from '../../core/envelope.js';
import { SwitchboardError } from '../../core/errors.js';
import { parseInput } from '../../core/validation.js';
import type { ClientGrant } from '../../../providers/types.js';
import type { SwitchboardContext } from '../context.js';
import { bearerToken } from '../http/bearer.js';
import { decodeCursor, encodeCursor, type Cursor } from '../log/cursor.js';
import { LogFollower } from '../log/follow.js';
import type { EventHub } from '../log/hub.js';
import type { ReaderLimits } from '../log/reader-limits.js';
import { authorizeChannels, channelListSchema, startCursor } from './log-access.js';

export interface PollOptions {
  /** How long a poll with nothing to return waits (keep it under proxies' idle timeouts). */
  timeoutMs: number;
  /** Most events in one answer; the rest come with the next poll. */
  maxEvents: number;
}

export const DEFAULT_POLL_OPTIONS: PollOptions = { timeoutMs: 25_000, maxEvents: 500 };

export const pollQuerySchema = z.object({
  channels: channelListSchema,
  cursor: z.string().max(8192).optional(),
});

export function pollRoutes(ctx: SwitchboardContext, hub: EventHub, limits: ReaderLimits, options: PollOptions = DEFAULT_POLL_OPTIONS): Router {
  const router = Router();
  router.get('/v1/poll', async (req, res) => {
    const grant = await ctx.tokens.verify(bearerToken(req));
    const query = parseInput(pollQuerySchema, req.query, 'poll request');
    authorizeChannels(ctx.config.namespaces, grant, query.channels, ['subscribe']);
    const given = query.cursor ? decodeCursor(query.cursor) : undefined;
    res.setHeader('Cache-Control', 'no-store');
    const cursor = await startCursor(ctx.store, grant.tenant, query.channels, given);
    if (!given) {
      res.json({ events: [], cursor: encodeCursor(cursor) });
      return;
    }
    const release = limits.acquire(grant.tenant, grant.user);
    let revoked = false;
    const offRevoked = ctx.tokens.onRevoked(grant.tenant, grant.user, () => {
      revoked = true;
      stopWaiting?.();
    });
    let stopWaiting: (() => void) | undefined;
    try {
      const answer = await collect(ctx, hub, grant, cursor, options, (stop) => {
        stopWaiting = stop;
        if (res.destroyed || revoked) stop();
        else res.on('close', stop);
      });
      if (revoked) throw new SwitchboardError('unauthenticated', 'Capability token has been revoked');
      if (answer.expired) throw new SwitchboardError('token_expired', 'Capability token has expired');
      if (!res.destroyed) res.json({ events: answer.events, cursor: encodeCursor(answer.cursor) });
    } finally {
      offRevoked();
      release();
    }
  });
  return router;
}

/**
 * Replays after the cursor; if that finds nothing, waits for the first live event, the
 * timeout, or the token's expiry (then `expired`, with no events).
 */
function collect(
  ctx: SwitchboardContext,
  hub: EventHub,
  grant: ClientGrant,
  cursor: Cursor,
  options: PollOptions,
  onAbort: (stop: () => void) => void,
): Promise<{ events: Envelope[]; cursor: Cursor; expired: boolean }> {
  return new Promise((resolve, reject) => {
    const events: Envelope[] = [];
    let done = false;
    let expired = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (error?: unknown) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      follower.stop();
      if (error) reject(error);
      else resolve({ events, cursor: follower.cursor, expired });
    };
    const follower = new LogFollower({
      store: ctx.store,
      hub,
      tenant: grant.tenant,
      cursor,
      onEvent: (envelope) => {
        events.push(envelope);
        // Let a burst appended together arrive in the same answer.
        if (events.length === 1) setImmediate(() => finish());
        return events.length < options.maxEvents;
      },
      onError: (error) => finish(error),
    });
    onAbort(() => finish());
    follower.start().then(() => {
      if (done) return;
      if (events.length > 0) return finish();
      const untilExpiry = grant.expiresAt - Date.now();
      timer = setTimeout(() => {
        expired = untilExpiry <= options.timeoutMs;
        finish();
      }, Math.max(0, Math.min(options.timeoutMs, untilExpiry)));
    }, finish);
  });
}
