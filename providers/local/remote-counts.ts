/**
 * Connection and subscription counts of the other nodes (Redis scale-out), as this node
 * last heard of them. Each node publishes its complete counts (see scale-out.ts: shortly
 * after a change and with every heartbeat), so a report replaces what was known of that
 * node and a lost message heals with the next one. Pure state, like remote-presence.ts.
 */
export interface NodeCounts {
  /** Open connections of the node. */
  connections: number;
  /** Occupied channel -> subscribed connections on the node. */
  channels: [string, number][];
  /** Tenant -> connections of the node subscribed to at least one of its channels. */
  tenants: [string, number][];
}

/** The read side the hub, the HTTP API, stats and the connection limit need. */
export interface RemoteCountsView {
  connections(): number;
  subscriptions(channel: string): number;
  /** Channels occupied on other nodes, with their subscriber totals there. */
  channels(): ReadonlyMap<string, number>;
  tenantConnections(tenant: string): number;
  tenants(): Iterable<string>;
}

export class RemoteCounts implements RemoteCountsView {
  private readonly nodes = new Map<string, { connections: number; channels: Map<string, number>; tenants: Map<string, number> }>();
  private totals: { channels: Map<string, number>; tenants: Map<string, number>; connections: number } | undefined;

  replaceNode(node: string, counts: NodeCounts): void {
    this.nodes.set(node, { connections: counts.connections, channels: new Map(counts.channels), tenants: new Map(counts.tenants) });
    this.totals = undefined;
  }

  dropNode(node: string): void {
    if (this.nodes.delete(node)) this.totals = undefined;
  }

  connections(): number {
    return this.sum().connections;
  }

  subscriptions(channel: string): number {
    return this.sum().channels.get(channel) ?? 0;
  }

  channels(): ReadonlyMap<string, number> {
    return this.sum().channels;
  }

  tenantConnections(tenant: string): number {
    return this.sum().tenants.get(tenant) ?? 0;
  }

  tenants(): Iterable<string> {
    return this.sum().tenants.keys();
  }

  /** Totals over every known node, recomputed only after a report changed them. */
  private sum(): NonNullable<RemoteCounts['totals']> {
    if (this.totals) return this.totals;
    const totals = { channels: new Map<string, number>(), tenants: new Map<string, number>(), connections: 0 };
    for (const node of this.nodes.values()) {
      totals.connections += node.connections;
      for (const [channel, count] of node.channels) if (count > 0) totals.channels.set(channel, (totals.channels.get(channel) ?? 0) + count);
      for (const [tenant, count] of node.tenants) if (count > 0) totals.tenants.set(tenant, (totals.tenants.get(tenant) ?? 0) + count);
    }
    this.totals = totals;
    return totals;
  }
}
