/**
 * Who a connection comes from, for per-address limits: the peer's address, or the client
 * named in `X-Forwarded-For` when (and only when) the peer is a configured trusted proxy.
 * Addresses are grouped into the unit an attacker pays for: an IPv4 address, an IPv6
 * prefix (/64 by default: one customer's subnet). IPv4-mapped IPv6 (`::ffff:1.2.3.4`,
 * what a dual-stack socket reports) counts as the IPv4 address.
 */
import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

export interface AddressPolicy {
  /** CIDR ranges (or single addresses) of proxies whose `X-Forwarded-For` is believed. */
  trustedProxies: readonly string[];
  /** IPv6 addresses sharing this many leading bits count as one address. */
  ipv6PrefixLength: number;
}

export const DEFAULT_ADDRESS_POLICY: AddressPolicy = { trustedProxies: [], ipv6PrefixLength: 64 };

/** Parses an address, unwrapping IPv4-mapped IPv6 and dropping an IPv6 zone; undefined when it is not one. */
export function parseAddress(text: string): Address | undefined {
  const trimmed = text.trim();
  if (!ipaddr.isValid(trimmed)) return undefined;
  const address = ipaddr.process(trimmed);
  if (address.kind() === 'ipv6') (address as ipaddr.IPv6).zoneId = undefined;
  return address;
}

/** `10.0.0.0/8`, `2001:db8::/32` or a single address; throws with the reason otherwise. */
export function parseCidr(text: string): [Address, number] {
  const trimmed = text.trim();
  if (ipaddr.isValidCIDR(trimmed)) {
    const [address, bits] = ipaddr.parseCIDR(trimmed);
    // An IPv4-mapped range (::ffff:10.0.0.0/104) means the IPv4 range, which is what peers are compared as.
    if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
      return [(address as ipaddr.IPv6).toIPv4Address(), bits - 96];
    }
    return [address, bits];
  }
  const single = parseAddress(trimmed);
  if (!single) throw new Error(`"${trimmed.slice(0, 60)}" is not an IP address or CIDR range`);
  return [single, single.kind() === 'ipv4' ? 32 : 128];
}

/** The address with every bit past the group's prefix cleared, as text: the key limits count by. */
export function addressGroup(address: Address, ipv6PrefixLength: number): string {
  if (address.kind() === 'ipv4') return address.toString();
  const bytes = address.toByteArray();
  for (let bit = ipv6PrefixLength; bit < 128; bit++) bytes[bit >> 3] = (bytes[bit >> 3] ?? 0) & ~(0x80 >> (bit & 7));
  return `${ipaddr.fromByteArray(bytes).toString()}/${ipv6PrefixLength}`;
}

/** What a peer address string comes to, worked out once per distinct string. */
interface Peer {
  address: Address | undefined;
  /** Its limit key ('unknown' when it is not an address). */
  group: string;
  trusted: boolean;
}

/** Distinct peer strings remembered; past it the memo starts over, so a flood of new addresses costs a parse each, as before. */
const MAX_REMEMBERED_PEERS = 10_000;

export class ClientAddresses {
  private readonly trusted: [Address, number][];
  /** Every socket is looked up several times (HTTP guard, WebSocket admission); parsing is the costly part. */
  private readonly peers = new Map<string, Peer>();

  constructor(private readonly policy: AddressPolicy = DEFAULT_ADDRESS_POLICY) {
    this.trusted = policy.trustedProxies.map(parseCidr);
  }

  private peer(text: string): Peer {
    let peer = this.peers.get(text);
    if (peer) return peer;
    const address = parseAddress(text);
    peer = {
      address,
      group: address ? addressGroup(address, this.policy.ipv6PrefixLength) : 'unknown',
      trusted: address !== undefined && this.isTrustedProxy(address),
    };
    if (this.peers.size >= MAX_REMEMBERED_PEERS) this.peers.clear();
    this.peers.set(text, peer);
    return peer;
  }

  private isTrustedProxy(address: Address): boolean {
    return this.trusted.some(([range, bits]) => range.kind() === address.kind() && address.match(range, bits));
  }

  /**
   * The limit key of a connection: its peer, or — when the peer is a trusted proxy — the
   * rightmost `X-Forwarded-For` entry that is not itself a trusted proxy (entries further
   * left are written by the client and cannot be believed).
   */
  keyOf(peer: string | undefined, forwardedFor?: string | string[]): string {
    const known = this.peer(peer ?? '');
    let client = known.address;
    if (!client) return 'unknown';
    if (forwardedFor !== undefined && known.trusted) {
      const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',');
      while (this.isTrustedProxy(client)) {
        const hop = hops.pop();
        if (hop === undefined) break;
        const next = parseAddress(hop);
        // A hop that is not an address ends the chain: the proxy's own address is the best we know.
        if (!next) break;
        client = next;
      }
    }
    return client === known.address ? known.group : addressGroup(client, this.policy.ipv6PrefixLength);
  }

  /** Whether limits keyed on the TCP peer should apply: not to trusted proxies, which carry many clients. */
  peerIsTrustedProxy(peer: string | undefined): boolean {
    return this.peer(peer ?? '').trusted;
  }
}
