import { z } from 'zod';
import { NAMESPACE_PATTERN, parseChannelName, type ChannelName } from './channels.js';
import { SwitchboardError } from './errors.js';

export const DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024;

export const clientEventNameSchema = z.string().regex(/^[A-Za-z0-9_\-.:]{1,64}$/);

export const namespaceRulesSchema = z
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
    /** Client event (whisper) names members may send, without the `client-` prefix. */
    clientEvents: z.array(clientEventNameSchema).default([]),
    maxPayloadBytes: z.number().int().min(1).max(10 * 1024 * 1024).default(DEFAULT_MAX_PAYLOAD_BYTES),
  })
  .strict();

export type NamespaceRules = z.output<typeof namespaceRulesSchema>;

export const namespacesSchema = z
  .record(z.string().regex(NAMESPACE_PATTERN), namespaceRulesSchema)
  .refine((value) => Object.keys(value).length > 0, 'at least one namespace is required');

export type Namespaces = Record<string, NamespaceRules>;

export const DEFAULT_NAMESPACES: Namespaces = namespacesSchema.parse({
  orders: { history: { size: 100 } },
  chat: { presence: true, clientEvents: ['typing'], history: { size: 50 } },
  notifications: { history: { size: 100 } },
  dashboard: { history: { size: 20 } },
});

export interface ResolvedChannel extends ChannelName {
  rules: NamespaceRules;
}

/** Parses a tenant-relative name and looks up its namespace; unknown namespaces are rejected. */
export function resolveChannel(namespaces: Namespaces, name: string): ResolvedChannel {
  const channel = parseChannelName(name);
  const rules = namespaces[channel.namespace];
  if (!rules) {
    throw new SwitchboardError(
      'unknown_namespace',
      `Unknown namespace "${channel.namespace}"; configured: ${Object.keys(namespaces).join(', ')}`,
    );
  }
  return { ...channel, rules };
}
