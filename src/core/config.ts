/**
 * The app-level configuration file (`switchboard.config.json`): namespaces and the
 * role -> capabilities map. Pure: reading the file is the server's job.
 */
import { z } from 'zod';
import { type Capabilities } from './capabilities.js';
import { capabilitiesSchema } from './schemas.js';
import { hasOwnKey } from './own.js';
import { DEFAULT_NAMESPACES, type Namespaces } from './namespaces.js';
import { namespacesSchema } from './schemas.js';

export const DEFAULT_ROLES: Record<string, Capabilities> = {
  member: {
    'orders:*': ['subscribe', 'history'],
    'dashboard:*': ['subscribe', 'history'],
    'chat:*': ['subscribe', 'publish', 'presence', 'history'],
    'notifications:{user}': ['subscribe', 'history'],
  },
};

export const appConfigSchema = z
  .object({
    namespaces: namespacesSchema.optional(),
    roles: z.record(z.string().min(1).max(64), capabilitiesSchema).optional(),
    /** Roles given to identities whose session names none. */
    defaultRoles: z.array(z.string()).min(1).optional(),
  })
  .strict();

export interface AppConfig {
  namespaces: Namespaces;
  roles: Record<string, Capabilities>;
  defaultRoles: string[];
}

export function buildAppConfig(input: unknown): AppConfig {
  const parsed = appConfigSchema.parse(input);
  const config: AppConfig = {
    namespaces: parsed.namespaces ?? DEFAULT_NAMESPACES,
    roles: parsed.roles ?? DEFAULT_ROLES,
    defaultRoles: parsed.defaultRoles ?? ['member'],
  };
  const unknownDefault = config.defaultRoles.find((role) => !hasOwnKey(config.roles, role));
  if (unknownDefault) throw new Error(`defaultRoles names unknown role "${unknownDefault}"`);
  return config;
}

export const DEFAULT_APP_CONFIG: AppConfig = buildAppConfig({});
