/**
 * The Pusher Channels HTTP API (pusher-docs rest-api.md), served on the BFF's port so the
 * official Pusher server SDKs work against the local provider unmodified.
 *
 * Events triggered through this API go straight to subscribers: they do NOT pass the
 * BFF's publish pipeline, so they get no envelope, no `seq` and no history. Apps that
 * want those use `POST /v1/publish`; this API exists for drop-in Pusher compatibility.
 *
 * Bodies are read raw here (the BFF parses none globally) because `body_md5` is over
 * the exact bytes received.
 *
 * Under Redis scale-out, triggered events reach subscribers on every node, and channel
 * listings, `subscription_count`, `user_count` and user lists cover every node (other
 * nodes' counts as last reported, within ~50 ms of a change).
 */
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import {
  isPresenceChannel,
  isPusherChannelName,
  isTriggerableChannel,
  PUSHER_EVENT_MAX_LENGTH,
  PUSHER_USER_ID_PATTERN,
  SERVER_TO_USER_PREFIX,
  serverToUserId,
  SOCKET_ID_PATTERN,
  verifyRequest,
} from '../pusher-protocol/index.js';
import type { ChannelInfo, Hub } from './hub.js';
import type { LocalProviderOptions } from './options.js';

export const MAX_TRIGGER_CHANNELS = 100;
export const MAX_BATCH_EVENTS = 10;

export interface HttpApiContext {
  options: LocalProviderOptions;
  hub: Hub;
  /** Fans one event out to a channel's subscribers, leaving out `excludeSocketId`. */
  deliver(channel: string, event: string, data: string, excludeSocketId: string | undefined): void;
  /** Closes every connection (on every node) signed in as `userId`. */
  terminateUser(userId: string): void;
}

const eventName = z
  .string()
  .min(1)
  .max(PUSHER_EVENT_MAX_LENGTH)
  .refine((name) => !name.startsWith('pusher:') && !name.startsWith('pusher_internal:'), 'event names starting with pusher: are reserved');
const channelName = z
  .string()
  .refine(isTriggerableChannel, 'invalid channel name (A-Z a-z 0-9 _ - = @ , . ; and at most 164 characters, or #server-to-user-<id>)');
const socketId = z.string().regex(SOCKET_ID_PATTERN, 'socket_id must look like 123.456');

const triggerSchema = z
  .object({
    name: eventName,
    data: z.string(),
    channels: z.array(channelName).min(1).max(MAX_TRIGGER_CHANNELS, `at most ${MAX_TRIGGER_CHANNELS} channels per event`).optional(),
    channel: channelName.optional(),
    socket_id: socketId.optional(),
    info: z.string().max(200).optional(),
  })
  .refine((body) => body.channels !== undefined || body.channel !== undefined, 'channels or channel is required');

const userEventSchema = z.object({ name: eventName, data: z.string() });

const batchSchema = z.object({
  batch: z
    .array(z.object({ channel: channelName, name: eventName, data: z.string(), socket_id: socketId.optional(), info: z.string().max(200).optional() }))
    .max(MAX_BATCH_EVENTS, `at most ${MAX_BATCH_EVENTS} events per batch`),
});

type InfoAttribute = 'user_count' | 'subscription_count';

class ApiError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 413,
    message: string,
  ) {
    super(message);
  }
}

function parseInfo(raw: string | undefined): Set<InfoAttribute> {
  const attributes = new Set<InfoAttribute>();
  for (const part of (raw ?? '').split(',')) {
    const name = part.trim();
    if (name === '') continue;
    if (name === 'user_count' || name === 'subscription_count') attributes.add(name);
    else if (name !== 'cache') throw new ApiError(400, `Unsupported info attribute "${name.slice(0, 40)}"`);
  }
  return attributes;
}

function attributesOf(name: string, info: ChannelInfo | undefined, wanted: Set<InfoAttribute>): Record<string, number> {
  const result: Record<string, number> = {};
  if (wanted.has('user_count') && isPresenceChannel(name)) result.user_count = info?.userCount ?? 0;
  if (wanted.has('subscription_count')) result.subscription_count = info?.subscriptionCount ?? 0;
  return result;
}

function parseJson<T>(schema: z.ZodType<T>, body: Buffer): T {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ApiError(400, 'Request body must be JSON');
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ApiError(400, `Invalid request: ${issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'bad body'}`);
  }
  return result.data;
}

/** Reads the raw body; returns undefined (after draining) when it exceeds `limit`. */
async function readBody(request: Request, limit: number): Promise<Buffer | undefined> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > limit) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
  }
  return size > limit ? undefined : Buffer.concat(chunks, size);
}

interface SignedCall {
  params: Record<string, string>;
  body: Buffer;
  channel: string | undefined;
  userId: string | undefined;
}

type SignedHandler = (call: SignedCall) => unknown;

export function createHttpApiRouter(context: HttpApiContext): Router {
  const { options, hub } = context;
  const router = Router();

  const signed =
    (handler: SignedHandler) =>
    async (request: Request, response: Response): Promise<void> => {
      try {
        if (request.params.appId !== options.appId) throw new ApiError(404, 'Unknown app id');
        const body = await readBody(request, options.apiMaxBodyBytes);
        if (body === undefined) {
          response.setHeader('Connection', 'close');
          throw new ApiError(413, `Request body exceeds ${options.apiMaxBodyBytes} bytes`);
        }
        const url = request.originalUrl;
        const queryStart = url.indexOf('?');
        const verified = verifyRequest(
          { key: options.key, secret: options.secret },
          {
            method: request.method,
            path: queryStart < 0 ? url : url.slice(0, queryStart),
            rawQuery: queryStart < 0 ? '' : url.slice(queryStart + 1),
            body,
            now: options.now(),
          },
        );
        if (!verified.ok) throw new ApiError(verified.status, verified.message);
        const channel = typeof request.params.channelName === 'string' ? request.params.channelName : undefined;
        if (channel !== undefined && !isPusherChannelName(channel)) throw new ApiError(400, 'Invalid channel name');
        const userId = typeof request.params.userId === 'string' ? request.params.userId : undefined;
        if (userId !== undefined && !PUSHER_USER_ID_PATTERN.test(userId)) throw new ApiError(400, 'Invalid user id');
        response.status(200).json(handler({ params: verified.params, body, channel, userId }));
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        response.status(error.status).json({ error: error.message });
      }
    };

  const checkSize = (data: string): void => {
    const bytes = Buffer.byteLength(data, 'utf8');
    if (bytes > options.apiMaxDataBytes) throw new ApiError(413, `Event data is ${bytes} bytes, over the limit of ${options.apiMaxDataBytes}`);
  };

  router.post(
    '/apps/:appId/events',
    signed(({ body }) => {
      const event = parseJson(triggerSchema, body);
      checkSize(event.data);
      const info = parseInfo(event.info);
      const channels = event.channels ?? (event.channel === undefined ? [] : [event.channel]);
      for (const channel of channels) context.deliver(channel, event.name, event.data, event.socket_id);
      if (info.size === 0) return {};
      return { channels: Object.fromEntries(channels.map((name) => [name, attributesOf(name, hub.info(name), info)])) };
    }),
  );

  router.post(
    '/apps/:appId/batch_events',
    signed(({ body }) => {
      const { batch } = parseJson(batchSchema, body);
      for (const event of batch) checkSize(event.data);
      const infos = batch.map((event) => parseInfo(event.info));
      for (const event of batch) context.deliver(event.channel, event.name, event.data, event.socket_id);
      if (infos.every((info) => info.size === 0)) return {};
      return { batch: batch.map((event, index) => attributesOf(event.channel, hub.info(event.channel), infos[index] ?? new Set())) };
    }),
  );

  router.get(
    '/apps/:appId/channels',
    signed(({ params }) => {
      const prefix = params.filter_by_prefix ?? '';
      const info = parseInfo(params.info);
      if (info.has('user_count') && !prefix.startsWith('presence-')) {
        throw new ApiError(400, 'info=user_count is only valid with filter_by_prefix=presence-');
      }
      const channels = [...hub.names(prefix)]
        .filter((name) => serverToUserId(name) === undefined)
        .map((name) => [name, attributesOf(name, hub.info(name), info)] as const);
      return { channels: Object.fromEntries(channels) };
    }),
  );

  router.get(
    '/apps/:appId/channels/:channelName',
    signed(({ params, channel }) => {
      const name = channel ?? '';
      const info = parseInfo(params.info);
      if (info.has('user_count') && !isPresenceChannel(name)) throw new ApiError(400, 'user_count is only available for presence channels');
      const current = hub.info(name);
      return { occupied: current !== undefined, ...attributesOf(name, current, info) };
    }),
  );

  router.get(
    '/apps/:appId/channels/:channelName/users',
    signed(({ channel }) => {
      const name = channel ?? '';
      if (!isPresenceChannel(name)) throw new ApiError(400, 'Users can only be listed for presence channels');
      return { users: hub.members(name).map((member) => ({ id: member.id })) };
    }),
  );

  router.post(
    '/apps/:appId/users/:userId/events',
    signed(({ body, userId }) => {
      const event = parseJson(userEventSchema, body);
      checkSize(event.data);
      context.deliver(`${SERVER_TO_USER_PREFIX}${userId ?? ''}`, event.name, event.data, undefined);
      return {};
    }),
  );

  router.post(
    '/apps/:appId/users/:userId/terminate_connections',
    signed(({ userId }) => {
      context.terminateUser(userId ?? '');
      return {};
    }),
  );

  router.all('/apps/:appId/*rest', (_request, response) => {
    response.status(404).json({ error: 'Not found' });
  });

  return router;
}
