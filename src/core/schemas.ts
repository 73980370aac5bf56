/**
 * zod schemas for the core model, kept apart from the pure functions so browser bundles
 * that only need channel names and capability checks do not pull in zod.
 */
import { z } from 'zod';
import { capabilityPatternProblem, operations } from './capabilities.js';
import { channelNameProblem, NAMESPACE_PATTERN, TENANT_PATTERN } from './channels.js';
import { EVENT_ID_PATTERN, eventNameProblem, type Envelope, type JsonValue } from './envelope.js';
import { jsonValueProblem, MAX_JSON_DEPTH } from './json-limits.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, type NamespaceRules } from './namespaces.js';

function fromProblem(problem: (value: string) => string | undefined) {
  return z.string().superRefine((value, ctx) => {
    const message = problem(value);
    if (message) ctx.addIssue({ code: 'custom', message });
  });
}

export const tenantIdSchema = z.string().regex(TENANT_PATTERN, 'tenant must match [A-Za-z0-9_-]{1,64}');
export const channelNameSchema = fromProblem(channelNameProblem);

export const operationSchema = z.enum(operations);
export const capabilityPatternSchema = z.string().min(1).max(200).pipe(fromProblem(capabilityPatternProblem));
export const capabilitiesSchema = z.record(capabilityPatternSchema, z.array(operationSchema).min(1));

export const eventNameSchema = fromProblem(eventNameProblem);
export const eventIdSchema = z.string().regex(EVENT_ID_PATTERN, 'id must match [A-Za-z0-9_-:.]{1,128}');
/**
 * Any JSON value nested at most MAX_JSON_DEPTH deep. Checked iteratively and passed through
 * unchanged (a recursive schema overflows the stack on hostile nesting, and rebuilding
 * objects would turn an own `__proto__` key into a prototype).
 */
export const jsonValueSchema: z.ZodType<JsonValue> = z
  .custom<JsonValue>(() => true)
  .superRefine((value, ctx) => {
    const problem = jsonValueProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({ description: `Any JSON value, nested at most ${MAX_JSON_DEPTH} levels deep` });

export const envelopeSchema: z.ZodType<Envelope> = z.object({
  id: eventIdSchema,
  channel: channelNameSchema,
  event: eventNameSchema,
  data: jsonValueSchema,
  seq: z.number().int().min(1),
  ts: z.number().int().min(0),
});

export const clientEventNameSchema = z.string().regex(/^[A-Za-z0-9_\-.:]{1,64}$/);

export const namespaceRulesSchema: z.ZodType<NamespaceRules, unknown> = z
  .object({
    presence: z.boolean().default(false),
    history: z
      .union([
        z.literal(false),
        z.object({
          size: z.number().int().min(1).max(100_000),
          ttlSeconds: z.number().int().min(1).optional(),
        }),
      ])
      .default(false),
    clientEvents: z.array(clientEventNameSchema).default([]),
    maxPayloadBytes: z.number().int().min(1).max(10 * 1024 * 1024).default(DEFAULT_MAX_PAYLOAD_BYTES),
    presenceMaxMembers: z.number().int().min(1).max(100_000).optional(),
    presenceMaxInfoBytes: z.number().int().min(2).max(64 * 1024).optional(),
    cache: z.boolean().optional(),
  })
  .strict();

export const namespacesSchema = z
  .record(z.string().regex(NAMESPACE_PATTERN), namespaceRulesSchema)
  .refine((value) => Object.keys(value).length > 0, 'at least one namespace is required');
