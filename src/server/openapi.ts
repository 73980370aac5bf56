/**
 * `GET /v1/openapi.json`: the HTTP API described from the same zod schemas the routes
 * parse with, so the document cannot drift from what the server accepts.
 */
import { z } from 'zod';
import { envelopeSchema } from '../core/schemas.js';
import { ablyTokenRequestSchema, tokenResponseSchema } from '../core/token-response.js';
import { devSessionSchema } from './routes/dev-session.js';
import { historyQuerySchema } from './routes/history.js';
import { deadLettersQuerySchema, redeliverBodySchema } from './routes/lifecycle.js';
import { pollQuerySchema } from './routes/poll.js';
import { publishBodySchema } from './routes/publish.js';
import { pusherAuthSchema, pusherUserAuthSchema } from './routes/pusher-auth.js';
import { streamQuerySchema } from './routes/stream.js';
import { tokenRequestSchema } from './routes/token.js';
import { userEventSchema } from './routes/users.js';

type JsonSchema = Record<string, unknown>;

/** Converts a schema and hoists its `$defs` into components, where OpenAPI resolves `$ref`s. */
function component(components: Record<string, JsonSchema>, name: string, schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const raw = JSON.stringify(z.toJSONSchema(schema, { io, unrepresentable: 'any' })).replace(/"#\/\$defs\/([^"]+)"/g, (_match, def: string) => `"#/components/schemas/${name}_${def}"`);
  const { $schema: _ignored, $defs, ...body } = JSON.parse(raw) as JsonSchema & { $defs?: Record<string, JsonSchema> };
  for (const [def, value] of Object.entries($defs ?? {})) components[`${name}_${def}`] = value;
  components[name] = body;
  return { $ref: `#/components/schemas/${name}` };
}

function queryParameters(schema: z.ZodObject): JsonSchema[] {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, value]) => ({ name, in: 'query', required: json.required?.includes(name) ?? false, schema: value }));
}

const problem = { description: 'Problem details (RFC 9457)', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } };

export function buildOpenApi(): JsonSchema {
  const components: Record<string, JsonSchema> = {
    Problem: {
      type: 'object',
      required: ['type', 'title', 'status', 'code', 'detail'],
      properties: {
        type: { type: 'string' },
        title: { type: 'string' },
        status: { type: 'integer' },
        code: { type: 'string' },
        detail: { type: 'string' },
        issues: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } },
      },
    },
  };
  const json = (schema: JsonSchema) => ({ required: true, content: { 'application/json': { schema } } });
  const ok = (schema: JsonSchema, description = 'OK') => ({ description, content: { 'application/json': { schema } } });
  const envelope = component(components, 'Envelope', envelopeSchema, 'output');
  const errors = { '400': problem, '401': problem, '403': problem };
  return {
    openapi: '3.1.0',
    info: { title: 'Switchboard BFF', version: '1' },
    components: {
      schemas: components,
      securitySchemes: {
        appSession: { type: 'http', scheme: 'bearer', description: "The app's own session JWT" },
        capabilityToken: { type: 'http', scheme: 'bearer', description: 'Capability token from POST /v1/token' },
        apiKey: { type: 'http', scheme: 'bearer', description: 'Server API key (tenant-bound, or admin with the Switchboard-Tenant header)' },
      },
    },
    paths: {
      '/v1/dev/session': { post: { summary: 'Dev-only login', requestBody: json(component(components, 'DevSessionRequest', devSessionSchema, 'input')), responses: { '200': ok({ type: 'object', properties: { token: { type: 'string' } } }), '400': problem } } },
      '/v1/token': {
        post: {
          summary: 'Mint a capability token',
          security: [{ appSession: [] }],
          requestBody: { ...json(component(components, 'TokenRequest', tokenRequestSchema, 'input')), required: false },
          responses: { '200': ok(component(components, 'TokenResponse', tokenResponseSchema, 'output')), ...errors },
        },
      },
      '/v1/auth/pusher': {
        post: {
          summary: 'Pusher channel authorization',
          security: [{ capabilityToken: [] }],
          requestBody: { required: true, content: { 'application/x-www-form-urlencoded': { schema: component(components, 'PusherAuthRequest', pusherAuthSchema, 'input') }, 'application/json': { schema: { $ref: '#/components/schemas/PusherAuthRequest' } } } },
          responses: { '200': ok({ type: 'object', properties: { auth: { type: 'string' }, channel_data: { type: 'string' } } }), ...errors },
        },
      },
      '/v1/auth/pusher/user': {
        post: {
          summary: 'Pusher user authentication (pusher:signin) for the token\'s tenant-scoped user',
          security: [{ capabilityToken: [] }],
          requestBody: { required: true, content: { 'application/x-www-form-urlencoded': { schema: component(components, 'PusherUserAuthRequest', pusherUserAuthSchema, 'input') }, 'application/json': { schema: { $ref: '#/components/schemas/PusherUserAuthRequest' } } } },
          responses: { '200': ok({ type: 'object', properties: { auth: { type: 'string' }, user_data: { type: 'string' } } }), ...errors },
        },
      },
      '/v1/users/{user}/events': {
        post: {
          summary: 'Send one event to every signed-in connection of a user of the key\'s tenant (not logged)',
          security: [{ apiKey: [] }],
          parameters: [{ name: 'user', in: 'path', required: true, schema: { type: 'string' } }],
          requestBody: json(component(components, 'UserEventRequest', userEventSchema, 'input')),
          responses: { '200': ok({ type: 'object' }), ...errors, '413': problem },
        },
      },
      '/v1/users/{user}/terminate': {
        post: {
          summary: 'Revoke a user\'s capability tokens and close the user\'s connections',
          security: [{ apiKey: [] }],
          parameters: [{ name: 'user', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { '200': ok({ type: 'object', properties: { user: { type: 'string' }, terminated: { type: 'boolean' } } }), ...errors },
        },
      },
      '/v1/auth/ably': {
        post: {
          summary: 'Ably TokenRequest for the SDK authCallback',
          security: [{ capabilityToken: [] }],
          responses: { '200': ok(component(components, 'AblyTokenRequest', ablyTokenRequestSchema, 'output')), ...errors },
        },
      },
      '/v1/auth/supabase': {
        post: {
          summary: 'A fresh short-lived Supabase Realtime JWT for the capability token (refused once the user is terminated)',
          security: [{ capabilityToken: [] }],
          responses: { '200': ok({ type: 'object', required: ['accessToken'], properties: { accessToken: { type: 'string' } } }), ...errors },
        },
      },
      '/v1/publish': {
        post: {
          summary: 'Publish one event or a batch of up to 100',
          security: [{ apiKey: [] }],
          requestBody: json(component(components, 'PublishRequest', publishBodySchema, 'input')),
          responses: { '200': ok({ type: 'object' }, 'Delivered or duplicate'), '202': ok({ type: 'object' }, 'Accepted into the log, delivery pending'), ...errors, '413': problem },
        },
      },
      '/v1/history': { get: { summary: 'Events after a seq', security: [{ capabilityToken: [] }], parameters: queryParameters(historyQuerySchema), responses: { '200': ok({ type: 'object', properties: { channel: { type: 'string' }, lastSeq: { type: 'integer' }, events: { type: 'array', items: envelope } } }), ...errors } } },
      '/v1/stream': { get: { summary: 'Server-Sent Events, resumable with Last-Event-ID', security: [{ capabilityToken: [] }], parameters: queryParameters(streamQuerySchema), responses: { '200': { description: 'text/event-stream of envelopes' }, ...errors, '429': problem } } },
      '/v1/poll': { get: { summary: 'Long-poll after a cursor', security: [{ capabilityToken: [] }], parameters: queryParameters(pollQuerySchema), responses: { '200': ok({ type: 'object', properties: { cursor: { type: 'string' }, events: { type: 'array', items: envelope } } }), ...errors, '429': problem } } },
      '/v1/channels/{channel}/presence': { get: { summary: 'Presence members', parameters: [{ name: 'channel', in: 'path', required: true, schema: { type: 'string' } }], responses: { '200': ok({ type: 'object' }), ...errors } } },
      '/v1/channels/{channel}/occupancy': { get: { summary: 'Subscriber count', parameters: [{ name: 'channel', in: 'path', required: true, schema: { type: 'string' } }], responses: { '200': ok({ type: 'object' }), ...errors } } },
      '/v1/admin/stats': { get: { summary: 'Live per-tenant view', responses: { '200': ok({ type: 'object' }), '401': problem, '403': problem } } },
      '/v1/admin/webhooks/dead-letters': {
        get: { summary: 'Lifecycle webhooks given up after the retry window', parameters: queryParameters(deadLettersQuerySchema), responses: { '200': ok({ type: 'object' }), ...errors } },
      },
      '/v1/admin/webhooks/redeliver': {
        post: {
          summary: 'Queue dead letters again, same ids',
          requestBody: json(component(components, 'RedeliverRequest', redeliverBodySchema, 'input')),
          responses: { '200': ok({ type: 'object', properties: { redelivered: { type: 'integer' } } }), ...errors },
        },
      },
      '/.well-known/jwks.json': { get: { summary: 'Public keys of capability tokens', responses: { '200': ok({ type: 'object' }) } } },
      '/healthz': { get: { summary: 'Liveness', responses: { '200': ok({ type: 'object' }) } } },
      '/readyz': { get: { summary: 'Readiness', responses: { '200': ok({ type: 'object' }), '503': ok({ type: 'object' }) } } },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { '200': { description: 'text/plain exposition format' } } } },
    },
  };
}
