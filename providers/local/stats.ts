import { fromPusherChannel } from '../../src/core/provider-names.js';
import type { TenantStats } from '../types.js';
import type { Hub, Peer } from './hub.js';
import type { NodeCounts, RemoteCountsView } from './remote-counts.js';

/** This node's connections subscribed to at least one channel, per tenant; channels Switchboard did not name (HTTP API use) are left out. */
function localTenants(hub: Hub): Map<string, Set<Peer>> {
  const tenants = new Map<string, Set<Peer>>();
  for (const { name, peers } of hub.localEntries()) {
    const parsed = fromPusherChannel(name);
    if (!parsed) continue;
    let set = tenants.get(parsed.tenant);
    if (!set) {
      set = new Set();
      tenants.set(parsed.tenant, set);
    }
    for (const peer of peers) set.add(peer);
  }
  return tenants;
}

/** What this node reports to the others (scale-out). */
export function localCounts(hub: Hub, connections: number): NodeCounts {
  return {
    connections,
    channels: [...hub.localEntries()].map(({ name, subscribers }) => [name, subscribers]),
    tenants: [...localTenants(hub)].map(([tenant, peers]) => [tenant, peers.size]),
  };
}

/** Per-tenant statistics, cluster-wide under scale-out (`remote`: the other nodes' last reports). */
export function tenantStats(hub: Hub, remote?: RemoteCountsView): TenantStats[] {
  const local = localTenants(hub);
  const rows = new Map<string, TenantStats>();
  const row = (tenant: string): TenantStats => {
    let found = rows.get(tenant);
    if (!found) {
      found = { tenant, connections: (local.get(tenant)?.size ?? 0) + (remote?.tenantConnections(tenant) ?? 0), channels: [] };
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
