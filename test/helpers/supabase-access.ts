/**
 * The access decision the Supabase RLS policies (providers/supabase/policies.sql) must
 * make, written with the BFF's own TypeScript functions: tenant from the topic
 * (src/core/provider-names.ts), namespace rules (src/core/namespaces.ts) and caps
 * (src/core/capabilities.ts), combined the way /v1/auth/pusher combines them for
 * subscriptions and the client checks them for whispers.
 */
import { isAllowed, type Capabilities } from '../../src/core/capabilities.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, resolveChannel, type Namespaces } from '../../src/core/namespaces.js';
import { fromSupabaseTopic, toSupabaseTopic } from '../../src/core/provider-names.js';
import type { RealtimeNamespaceClaims } from '../../providers/supabase/realtime-jwt.js';

export interface RealtimeClaims {
  tid: string;
  caps: Capabilities;
  ns: RealtimeNamespaceClaims;
}

const MEMBERS_SUFFIX = '#members';

export type Extension = 'broadcast' | 'presence';
export type Action = 'read' | 'write';

function namespacesOf(claims: RealtimeClaims): Namespaces {
  return Object.fromEntries(
    Object.entries(claims.ns).map(([name, rules]) => [
      name,
      { presence: rules.presence, clientEvents: rules.clientEvents, history: false, maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES },
    ]),
  );
}

export function expectedAccess(claims: RealtimeClaims, topic: string, extension: Extension, action: Action, event: string | null = null): boolean {
  const members = topic.endsWith(MEMBERS_SUFFIX);
  const base = members ? topic.slice(0, -MEMBERS_SUFFIX.length) : topic;
  const target = fromSupabaseTopic(base);
  if (!target || target.tenant !== claims.tid) return false;
  let rules;
  try {
    if (toSupabaseTopic(target.tenant, target.channel) !== base) return false;
    rules = resolveChannel(namespacesOf(claims), target.channel).rules;
  } catch {
    return false;
  }
  const { channel } = target;
  const canReceive = isAllowed(claims.caps, 'subscribe', channel) && (!rules.presence || isAllowed(claims.caps, 'presence', channel));
  if (extension === 'broadcast' && action === 'read') return canReceive;
  // Server events' topic: receive only.
  if (!members) return false;
  if (extension === 'presence') return canReceive && rules.presence;
  return (
    canReceive &&
    isAllowed(claims.caps, 'publish', channel) &&
    rules.clientEvents.length > 0 &&
    (event === null || rules.clientEvents.includes(event))
  );
}
