import { fromPusherChannel } from '../../src/core/provider-names.js';
import type { TenantStats } from '../types.js';
import type { Hub, Peer } from './hub.js';

/** Groups the hub's channels by tenant; channels Switchboard did not name (HTTP API use) are left out. */
export function tenantStats(hub: Hub): TenantStats[] {
  const tenants = new Map<string, { peers: Set<Peer>; channels: TenantStats['channels'] }>();
  for (const { name, peers, info } of hub.entries()) {
    const parsed = fromPusherChannel(name);
    if (!parsed) continue;
    let tenant = tenants.get(parsed.tenant);
    if (!tenant) {
      tenant = { peers: new Set(), channels: [] };
      tenants.set(parsed.tenant, tenant);
    }
    for (const peer of peers) tenant.peers.add(peer);
    tenant.channels.push({
      channel: parsed.channel,
      subscribers: info.subscriptionCount,
      ...(info.userCount === undefined ? {} : { presenceMembers: info.userCount }),
    });
  }
  return [...tenants].map(([tenant, { peers, channels }]) => ({ tenant, connections: peers.size, channels }));
}
