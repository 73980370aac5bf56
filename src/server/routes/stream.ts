/**
 * `GET /v1/stream?channels=a,b` — Server-Sent Events from the event log, for clients that
 * cannot (or should not) use the provider, and to keep dashboards live while it is down.
 *
 * Authorization: the capability token, tenant and caps from it only; every channel needs
 * `subscribe`. Browsers' EventSource cannot set headers, so the token may also come as
 * `?token=`. Query strings end up in proxy/access logs: keep such tokens short-lived,
 * and prefer the Authorization header where the client can set it.
 *
 * Each event is `id: <cursor>`, `event: <event name>`, `data: <envelope JSON>`. The id is
 * one cursor for all channels of the stream; reconnecting with it (`Last-Event-ID`, which
 * EventSource sends by itself, or `?lastEventId=`) replays what was missed, then goes live.
 * The first frame carries only `retry:` and `id:` — it sets the browser's last event id
 * without firing an event, so even a stream that drops before its first event resumes
 * from where it started. The stream ends when the token expires, and at once when its user
 * is terminated on any node sharing the revocation store (every heartbeat re-checks the
 * token too, in case a notice was missed).
 */
import { Router, type Response } from 'express';
import { z } from 'zod';
import { SwitchboardError } from '../../core/errors.js';
import type { Envelope } from '../../core/envelope.js';
import { parseInput } from '../../core/validation.js';
import type { SwitchboardContext } from '../context.js';
import { bearerToken } from '../http/bearer.js';
import { decodeCursor, encodeCursor } from '../log/cursor.js';
import { LogFollower } from '../log/follow.js';
import type { EventHub } from '../log/hub.js';
import type { ReaderLimits } from '../log/reader-limits.js';
import { authorizeChannels, channelListSchema, startCursor } from './log-access.js';

export interface StreamOptions {
  heartbeatMs: number;
  /** Reconnect delay the browser is told to use. */
  retryMs: number;
  /** A client this far behind (bytes buffered) is dropped; it resumes from its cursor. */
  maxBufferedBytes: number;
}

export const DEFAULT_STREAM_OPTIONS: StreamOptions = { heartbeatMs: 15_000, retryMs: 3000, maxBufferedBytes: 1024 * 1024 };

const MAX_TIMER_MS = 2 ** 31 - 1;

export const streamQuerySchema = z.object({
  channels: channelListSchema,
  token: z.string().min(1).max(8192).optional(),
  lastEventId: z.string().max(8192).optional(),
});

function sseFrame(envelope: Envelope, id: string): string {
  // JSON.stringify never emits raw newlines and event names cannot contain them, so each field is one line.
  return `id: ${id}\nevent: ${envelope.event}\ndata: ${JSON.stringify(envelope)}\n\n`;
}

export function streamRoutes(ctx: SwitchboardContext, hub: EventHub, limits: ReaderLimits, options: StreamOptions = DEFAULT_STREAM_OPTIONS): Router {
  const router = Router();
  router.get('/v1/stream', async (req, res: Response) => {
    const query = parseInput(streamQuerySchema, req.query, 'stream request');
    const token = req.get('authorization') !== undefined ? bearerToken(req) : query.token;
    if (!token) throw new SwitchboardError('unauthenticated', 'Missing capability token (Authorization: Bearer, or ?token=)');
    const grant = await ctx.tokens.verify(token);
    authorizeChannels(ctx.config.namespaces, grant, query.channels, ['subscribe']);
    const lastEventId = req.get('last-event-id') ?? query.lastEventId;
    const given = lastEventId ? decodeCursor(lastEventId) : undefined;
    const release = limits.acquire(grant.tenant, grant.user);
    let follower: LogFollower | undefined;
    const timers: NodeJS.Timeout[] = [];
    let ended = false;
    const finish = () => {
      if (ended) return;
      ended = true;
      follower?.stop();
      for (const timer of timers) clearInterval(timer);
      offRevoked();
      release();
      if (res.headersSent && !res.writableEnded) res.end();
    };
    const endInvalid = () => {
      if (ended) return;
      if (res.headersSent && !res.writableEnded) res.write(': token no longer valid\n\n');
      finish();
    };
    const offRevoked = ctx.tokens.onRevoked(grant.tenant, grant.user, endInvalid);
    res.on('close', finish);
    try {
      const cursor = await startCursor(ctx.store, grant.tenant, query.channels, given);
      // A terminate between verifying the token and watching for it above.
      if (grant.issuedAt !== undefined && (await ctx.tokens.isRevoked(grant.tenant, grant.user, grant.issuedAt))) {
        throw new SwitchboardError('unauthenticated', 'Capability token has been revoked');
      }
      if (res.destroyed || ended) return finish();
      res.writeHead(200, {
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-store',
        Connection: 'keep-alive',
        'X-Accel-Buffering': 'no',
      });
      res.write(`retry: ${options.retryMs}\nid: ${encodeCursor(cursor)}\n\n`);
      follower = new LogFollower({
        store: ctx.store,
        hub,
        tenant: grant.tenant,
        cursor,
        onEvent: (envelope) => {
          res.write(sseFrame(envelope, encodeCursor(follower?.cursor ?? cursor)));
          if (res.writableLength > options.maxBufferedBytes) {
            finish();
            return false;
          }
          return true;
        },
        onError: (error) => {
          ctx.logger.error({ err: error }, 'event stream cannot read the log');
          finish();
        },
      });
      // Each heartbeat re-checks the token, so a terminated user's stream ends within one interval.
      const heartbeat = setInterval(() => {
        ctx.tokens.verify(token).then(() => {
          if (!ended) res.write(': ping\n\n');
        }, endInvalid);
      }, options.heartbeatMs);
      const expiry = setTimeout(() => {
        res.write(': token expired\n\n');
        finish();
      }, Math.min(MAX_TIMER_MS, Math.max(0, grant.expiresAt - Date.now())));
      timers.push(heartbeat, expiry);
      await follower.start();
    } catch (error) {
      finish();
      if (!res.headersSent) throw error;
      ctx.logger.error({ err: error }, 'event stream failed');
    }
  });
  return router;
}
