import { parseChannelName, type ChannelName } from './channels.js';
import { SwitchboardError } from './errors.js';

export const DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024;

/** Per-namespace rules from the config file (see schemas.ts for their validation). */
export interface NamespaceRules {
  presence: boolean;
  history: false | { size: number; ttlSeconds?: number };
  /** Client event (whisper) names members may send, without the `client-` prefix. */
  clientEvents: string[];
  maxPayloadBytes: number;
}

export type Namespaces = Record<string, NamespaceRules>;

const base: NamespaceRules = { presence: false, history: false, clientEvents: [], maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES };

export const DEFAULT_NAMESPACES: Namespaces = {
  orders: { ...base, history: { size: 100 } },
  chat: { ...base, presence: true, clientEvents: ['typing'], history: { size: 50 } },
  notifications: { ...base, history: { size: 100 } },
  dashboard: { ...base, history: { size: 20 } },
};

export interface ResolvedChannel extends ChannelName {
  rules: NamespaceRules;
}

/** Parses a tenant-relative name and looks up its namespace; unknown namespaces are rejected. */
export function resolveChannel(namespaces: Namespaces, name: string): ResolvedChannel {
  const channel = parseChannelName(name);
  // Own keys only: a namespace named `constructor` or `__proto__` must not find Object's.
  const rules = Object.hasOwn(namespaces, channel.namespace) ? namespaces[channel.namespace] : undefined;
  if (!rules) {
    throw new SwitchboardError(
      'unknown_namespace',
      `Unknown namespace "${channel.namespace}"; configured: ${Object.keys(namespaces).join(', ')}`,
    );
  }
  return { ...channel, rules };
}
