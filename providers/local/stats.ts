import { fromPusherChannel } from '../../src/core/provider-names.js';
import type { TenantStats } from '../types.js';
import type { Hub } from './hub.js';
import type { NodeCounts, RemoteCountsView } from './remote-counts.js';

/** What this node reports to the others (scale-out). */
export function localCounts(hub: Hub, connections: number): NodeCounts {
  return {
    connections,
    channels: [...hub.localEntries()].map(({ name, subscribers }) => [name, subscribers]),
    tenants: [...hub.localTenantConnections()],
  };
}

/** Per-tenant statistics, cluster-wide under scale-out (`remote`: the other nodes' last reports). */
export function tenantStats(hub: Hub, remote?: RemoteCountsView): TenantStats[] {
  const rows = new Map<string, TenantStats>();
  const row = (tenant: string): TenantStats => {
    let found = rows.get(tenant);
    if (!found) {
      found = { tenant, connections: hub.localConnectionsOf(tenant) + (remote?.tenantConnections(tenant) ?? 0), channels: [] };
      rows.set(tenant, found);
    }
    return found;
  };
  for (const name of hub.names()) {
    const parsed = fromPusherChannel(name);
    const info = parsed && hub.info(name);
    if (!parsed || !info) continue;
    row(parsed.tenant).channels.push({
      channel: parsed.channel,
      subscribers: info.subscriptionCount,
      ...(info.userCount === undefined ? {} : { presenceMembers: info.userCount }),
    });
  }
  return [...rows.values()];
}
