import { parseChannelName, type ChannelName } from './channels.js';
import { SwitchboardError } from './errors.js';
import { ownValue } from './own.js';

export const DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024;
/** Pusher's documented presence limits: 100 members per channel, 1 KB of user_info. */
export const DEFAULT_PRESENCE_MAX_MEMBERS = 100;
export const DEFAULT_PRESENCE_MAX_INFO_BYTES = 1024;

/** Per-namespace rules from the config file (see schemas.ts for their validation). */
export interface NamespaceRules {
  presence: boolean;
  history: false | { size: number; ttlSeconds?: number };
  /** Client event (whisper) names members may send, without the `client-` prefix. */
  clientEvents: string[];
  maxPayloadBytes: number;
  /** Presence namespaces: most distinct members per channel (default 100). */
  presenceMaxMembers?: number;
  /** Presence namespaces: largest JSON `info` of a member, from the capability token (default 1024 bytes). */
  presenceMaxInfoBytes?: number;
  /** Cache namespace (Pusher cache channels): a new subscriber first gets the channel's last event, or `pusher:cache_miss`. */
  cache?: boolean;
}

export interface PresenceLimits {
  maxMembers: number;
  maxInfoBytes: number;
}

export function presenceLimits(rules: NamespaceRules): PresenceLimits {
  return {
    maxMembers: rules.presenceMaxMembers ?? DEFAULT_PRESENCE_MAX_MEMBERS,
    maxInfoBytes: rules.presenceMaxInfoBytes ?? DEFAULT_PRESENCE_MAX_INFO_BYTES,
  };
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
  const rules = ownValue(namespaces, channel.namespace);
  if (!rules) {
    throw new SwitchboardError(
      'unknown_namespace',
      `Unknown namespace "${channel.namespace}"; configured: ${Object.keys(namespaces).join(', ')}`,
    );
  }
  return { ...channel, rules };
}
