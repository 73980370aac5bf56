/**
 * Translates a capability token's caps (tenant-relative patterns) into an Ably capability
 * (resource names `{namespace}:{tenant}:{rest}`, see toAblyChannel).
 *
 * Ably wildcards only replace whole `:`-delimited segments, and a trailing `*` matches one
 * or more segments (ably-docs auth/capabilities.mdx). Switchboard prefixes are plain string
 * prefixes, so the translation only ever NARROWS, never widens:
 *   - `*` and namespace prefixes (`ord*`) become `{ns}:{tenant}:*` for each configured
 *     namespace they cover (unknown namespaces can never be subscribed anyway);
 *   - `ns:*` and prefixes ending at a segment boundary (`ns:a:*`) keep their wildcard;
 *   - a prefix ending inside a segment (`orders:10*`) becomes its two segment-aligned
 *     parts it certainly covers: `orders:{tenant}:10` and `orders:{tenant}:10:*`
 *     (`orders:100` is then refused by Ably although Switchboard would allow it).
 * Every resource starts with a literal namespace and the literal tenant segment, so no
 * resource can match another tenant's channel (test/unit/ably-capability.test.ts).
 *
 * Operations: subscribe → `subscribe` (also lets Ably clients read presence);
 * presence → `presence` only in presence namespaces; publish → `publish` only where the
 * namespace allows client events (whispers); history → `history`.
 */
import type { Capabilities, Operation } from '../../src/core/capabilities.js';
import type { Namespaces, NamespaceRules } from '../../src/core/namespaces.js';
import { assertTenantId } from '../../src/core/channels.js';

export type AblyOperation = 'subscribe' | 'publish' | 'presence' | 'history';
export type AblyCapability = Record<string, AblyOperation[]>;

function ablyOperations(ops: Operation[], rules: NamespaceRules): AblyOperation[] {
  return ops.filter((op) => {
    if (op === 'presence') return rules.presence;
    if (op === 'publish') return rules.clientEvents.length > 0;
    return true;
  });
}

/** The Ably resources (for one namespace) that a tenant-relative pattern certainly covers. */
function resources(tenant: string, pattern: string, namespaces: Namespaces): Array<{ namespace: string; resource: string }> {
  if (!pattern.endsWith('*')) {
    const colon = pattern.indexOf(':');
    return colon > 0 ? [{ namespace: pattern.slice(0, colon), resource: `${pattern.slice(0, colon)}:${tenant}:${pattern.slice(colon + 1)}` }] : [];
  }
  const prefix = pattern.slice(0, -1);
  const colon = prefix.indexOf(':');
  if (colon < 0) {
    return Object.keys(namespaces)
      .filter((namespace) => namespace.startsWith(prefix))
      .map((namespace) => ({ namespace, resource: `${namespace}:${tenant}:*` }));
  }
  const namespace = prefix.slice(0, colon);
  const rest = prefix.slice(colon + 1);
  const base = `${namespace}:${tenant}:`;
  if (rest === '' || rest.endsWith(':')) return [{ namespace, resource: `${base}${rest}*` }];
  return [
    { namespace, resource: `${base}${rest}` },
    { namespace, resource: `${base}${rest}:*` },
  ];
}

/** The Ably capability for a tenant's caps; resources of unknown namespaces or with no operation left are dropped. */
export function toAblyCapability(tenant: string, caps: Capabilities, namespaces: Namespaces): AblyCapability {
  assertTenantId(tenant);
  const merged = new Map<string, Set<AblyOperation>>();
  for (const [pattern, ops] of Object.entries(caps)) {
    for (const { namespace, resource } of resources(tenant, pattern, namespaces)) {
      // Own properties only: `constructor` is a valid namespace name, not a configured one.
      const rules = Object.hasOwn(namespaces, namespace) ? namespaces[namespace] : undefined;
      if (!rules) continue;
      const allowed = ablyOperations(ops, rules);
      if (allowed.length === 0) continue;
      const set = merged.get(resource) ?? new Set<AblyOperation>();
      for (const op of allowed) set.add(op);
      merged.set(resource, set);
    }
  }
  return Object.fromEntries([...merged].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([resource, ops]) => [resource, [...ops].sort()]));
}
