/**
 * The library user's own `authenticate` hook, made safe to trust: its answer is parsed like
 * any outside input, "no user" and the app's own 401/403 errors become Switchboard's
 * `unauthenticated` / `forbidden` answers instead of a 400 or 500.
 */
import type { Request } from 'express';
import { z } from 'zod';
import { SwitchboardError } from '../../core/errors.js';
import { jsonValueSchema, tenantIdSchema } from '../../core/schemas.js';
import { toIssues } from '../../core/validation.js';
import type { JsonValue } from '../../core/envelope.js';
import type { Identity } from './identity.js';

/** What the app's hook answers: the signed-in user, or `null` / `undefined` when nobody is signed in. */
export interface AppIdentity {
  tenant: string;
  user: string;
  /** Role names of the config file; none = its `defaultRoles`. */
  roles?: string[];
  /** Shown to other members, e.g. `{ name: 'Ana' }` (presence, whispers). */
  info?: Record<string, unknown>;
}

/**
 * Resolves the end user behind a request to `/v1/token`. Reject by answering `null` (401
 * `unauthenticated`) or by throwing an error whose `status` (or `statusCode`) is 401 or
 * 403, e.g. `Object.assign(new Error('Session expired'), { status: 401 })` or http-errors'
 * `createError(403)`: its message is sent to the client. Any other error is a 500.
 */
export type Authenticate = (req: Request) => Promise<AppIdentity | null | undefined> | AppIdentity | null | undefined;

/** Passed through as given (a rebuilt object would turn an own `__proto__` key into a prototype). */
const infoSchema = jsonValueSchema
  .refine((value) => typeof value === 'object' && value !== null && !Array.isArray(value), 'info must be an object')
  .transform((value) => value as Record<string, JsonValue>);

const appIdentitySchema = z
  .object({
    tenant: tenantIdSchema,
    user: z.string().min(1).max(128),
    roles: z.array(z.string().min(1).max(128)).max(100).default([]),
    info: infoSchema.default({}),
  })
  .strict();

function statusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { status, statusCode } = error as { status?: unknown; statusCode?: unknown };
  const value = status ?? statusCode;
  return typeof value === 'number' ? value : undefined;
}

function rejection(error: unknown): unknown {
  if (error instanceof SwitchboardError) return error;
  const status = statusOf(error);
  const message = error instanceof Error && error.message !== '' ? error.message : undefined;
  if (status === 401) return new SwitchboardError('unauthenticated', message ?? 'Not signed in');
  if (status === 403) return new SwitchboardError('forbidden', message ?? 'Not allowed');
  return error;
}

export function appAuthenticator(authenticate: Authenticate): (req: Request) => Promise<Identity> {
  return async (req) => {
    let answer: unknown;
    try {
      answer = await authenticate(req);
    } catch (error) {
      throw rejection(error);
    }
    if (answer === null || answer === undefined) throw new SwitchboardError('unauthenticated', 'Not signed in');
    const parsed = appIdentitySchema.safeParse(answer);
    if (!parsed.success) throw new SwitchboardError('invalid_identity', 'authenticate answered an invalid identity', toIssues(parsed.error));
    return parsed.data;
  };
}
