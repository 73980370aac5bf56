/**
 * Who may hold a WebSocket on the local server. A connection is *unauthenticated* until
 * it has subscribed to a private/presence channel or signed in; such connections share a
 * part of the cap only, must authenticate within `authTimeoutSeconds`, and every address
 * is limited in how many connections it holds and how fast it opens them. So one address
 * (or anonymous sockets from many) cannot fill the cap that real clients need.
 */
import type { IncomingMessage } from 'node:http';
import { AddressLimits } from '../../src/server/net/address-limits.js';
import { ClientAddresses } from '../../src/server/net/client-address.js';
import type { RefusalReason, Refusals } from '../../src/server/net/refusals.js';
import type { Connection } from './connection.js';
import type { LocalProviderOptions } from './options.js';

export interface AdmissionCounts {
  /** Open connections on this node. */
  here: number;
  /** Open connections on the other nodes (scale-out). */
  elsewhere: number;
}

export class Admission {
  private readonly addresses: ClientAddresses;
  private readonly perAddress: AddressLimits;
  /** Unauthenticated connections -> when they opened. */
  private readonly pending = new Map<Connection, number>();
  private readonly addressOf = new Map<Connection, string>();
  private readonly maxUnauthenticated: number;

  constructor(
    private readonly options: LocalProviderOptions,
    readonly refusals: Refusals,
  ) {
    this.addresses = new ClientAddresses(options.addressPolicy);
    this.perAddress = new AddressLimits({
      maxOpen: options.maxConnectionsPerAddress,
      rate: { perSecond: options.connectionRatePerAddress, burst: options.connectionBurstPerAddress },
    });
    const cap = Math.min(options.maxConnections, options.descriptorCap);
    this.maxUnauthenticated = Math.min(options.maxUnauthenticatedConnections ?? Math.max(1, Math.floor(cap / 4)), Math.max(1, cap - 1));
  }

  keyOf(request: IncomingMessage): string {
    return this.addresses.keyOf(request.socket.remoteAddress, request.headers['x-forwarded-for']);
  }

  /** Admits a new connection from `key` and counts it, or answers why not (then nothing is counted). */
  admit(key: string, counts: AdmissionCounts, now: number): RefusalReason | undefined {
    const reason = this.check(key, counts, now);
    if (reason) this.refusals.record('websocket', reason);
    return reason;
  }

  private check(key: string, { here, elsewhere }: AdmissionCounts, now: number): RefusalReason | undefined {
    if (here >= this.options.descriptorCap || here + elsewhere >= this.options.maxConnections) return 'over_capacity';
    if (this.pending.size >= this.maxUnauthenticated) return 'unauthenticated_limit';
    return this.perAddress.admit(key, now);
  }

  opened(connection: Connection, key: string, now: number): void {
    this.addressOf.set(connection, key);
    this.pending.set(connection, now);
  }

  /** The connection has subscribed or signed in: it leaves the unauthenticated share. */
  authenticated(connection: Connection): void {
    this.pending.delete(connection);
  }

  forget(connection: Connection): void {
    this.pending.delete(connection);
    const key = this.addressOf.get(connection);
    if (key === undefined) return;
    this.addressOf.delete(connection);
    this.perAddress.release(key);
  }

  /** Unauthenticated connections past the deadline (to be closed). */
  overdue(now: number): Connection[] {
    const deadlineMs = this.options.authTimeoutSeconds * 1000;
    const late: Connection[] = [];
    for (const [connection, openedAt] of this.pending) if (now - openedAt >= deadlineMs) late.push(connection);
    this.perAddress.prune(now);
    return late;
  }
}
