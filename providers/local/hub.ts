/**
 * Channel state of the local server: who is subscribed where, presence members, fan-out.
 * It knows nothing about sockets; a `Peer` only has to queue frames.
 */
import type { JsonValue } from '../../src/core/envelope.js';
import { fromPusherChannel } from '../../src/core/provider-names.js';
import type { PresenceMember } from '../types.js';
import { isPresenceChannel, serverToUserId } from '../pusher-protocol/index.js';
import { ExpiryWheel } from './expiry-wheel.js';
import { eventFrame, subscriptionErrorFrame } from './frames.js';
import type { RemoteCountsView } from './remote-counts.js';
import { sameInfo, type RemotePresenceView } from './remote-presence.js';

export interface Peer {
  readonly socketId: string;
  readonly subscriptions: Map<string, Subscription>;
  /** Set by a verified `pusher:signin`. */
  readonly userId: string | undefined;
  enqueue(frame: Buffer): void;
}

interface Member {
  info: JsonValue | undefined;
  /** Sockets of this user on the channel; the member leaves when it drops to 0. */
  sockets: number;
}

interface ChannelState {
  readonly name: string;
  readonly presence: boolean;
  /** Undefined for channels Switchboard did not name (Pusher HTTP API use). */
  readonly tenant: string | undefined;
  readonly subscribers: Map<Peer, Subscription>;
  readonly members: Map<string, Member>;
  /** `subscription_succeeded` of a non-presence channel: the same for every subscriber, built once. */
  succeeded?: Buffer;
}

export interface Subscription {
  readonly channel: string;
  readonly userId: string | undefined;
  /** Full event names (`client-…`) this subscriber may send, from its signed channel_data. */
  readonly clientEvents: ReadonlySet<string>;
  /** Epoch ms at which the authorization expires: the hub ends the subscription then, unless renewed. */
  readonly expiresAt: number | undefined;
}

export interface SubscribeRequest {
  userId: string | undefined;
  userInfo: JsonValue | undefined;
  clientEvents: ReadonlySet<string>;
  /** Presence channels: most distinct users (cluster-wide under scale-out); defaults to the hub limit. */
  maxMembers?: number;
  /** From the signed authorization (`sb.exp`): the subscription ends then unless the client subscribes again with a newer one. */
  expiresAt?: number;
  /** The cluster already admitted this member under its cap (scale-out): skip this node's own count. */
  admitted?: boolean;
}

export type SubscribeResult = { ok: true } | { ok: false; reason: 'too_many_channels' | 'presence_full' | 'missing_user' };

export interface ChannelInfo {
  subscriptionCount: number;
  userCount: number | undefined;
}

export interface HubLimits {
  maxChannelsPerConnection: number;
  presenceMaxMembers: number;
}

/** Scale-out: members on other nodes, and where this node's own joins and leaves are reported. */
export interface HubCluster {
  remote: RemotePresenceView;
  /** Subscriber counts of the other nodes. */
  counts: RemoteCountsView;
  /** This node's subscriber counts changed. */
  countsChanged(): void;
  /** A user's first socket on this node joined the channel. */
  joined(channel: string, userId: string, info: JsonValue | undefined): void;
  /** A user's last socket on this node left the channel. */
  left(channel: string, userId: string): void;
}

/**
 * Told about this node's occupancy and presence changes, for lifecycle webhooks: a
 * channel's first and last subscriber here, a user's first socket here joining and last
 * one leaving. Across nodes the BFF makes them cluster-wide (src/server/lifecycle/cluster.ts).
 */
export interface HubLifecycle {
  occupied(channel: string): void;
  vacated(channel: string): void;
  memberJoined(channel: string, userId: string): void;
  memberLeft(channel: string, userId: string): void;
}

function memberInfo(info: JsonValue | undefined): Record<string, JsonValue> {
  return info !== null && typeof info === 'object' && !Array.isArray(info) ? info : {};
}

export const EXPIRED_AUTHORIZATION_MESSAGE = 'Channel authorization has expired: subscribe again with a fresh one';

export class Hub {
  private readonly channels = new Map<string, ChannelState>();
  /** Signed-in user id -> its connections here: user events reach them whether or not they subscribed to `#server-to-user-…`. */
  private readonly users = new Map<string, Set<Peer>>();
  /**
   * Tenant -> connections here subscribed to at least one of its channels. Kept as
   * subscriptions come and go: counting it from the channels' subscribers on each report
   * cost O(connections) every 50 ms while clients connected (13 % of a worker's CPU at 100k).
   */
  private readonly tenantConnections = new Map<string, number>();
  private readonly expiries: ExpiryWheel<Subscription, Peer>;

  constructor(
    private readonly limits: HubLimits,
    private readonly cluster?: HubCluster,
    private readonly lifecycle?: HubLifecycle,
    now: () => number = Date.now,
  ) {
    this.expiries = new ExpiryWheel((subscription, peer) => this.expire(peer, subscription), now);
  }

  /** A verified sign-in: the connection gets the user's events from now on. */
  signIn(peer: Peer, userId: string): void {
    let peers = this.users.get(userId);
    if (!peers) {
      peers = new Set();
      this.users.set(userId, peers);
    }
    peers.add(peer);
  }

  subscribe(peer: Peer, name: string, request: SubscribeRequest): SubscribeResult {
    const existing = peer.subscriptions.get(name);
    if (existing && existing.userId !== request.userId) this.unsubscribe(peer, name);
    if (!existing && peer.subscriptions.size >= this.limits.maxChannelsPerConnection) return { ok: false, reason: 'too_many_channels' };

    const presence = isPresenceChannel(name);
    if (presence && request.userId === undefined) return { ok: false, reason: 'missing_user' };
    let channel = this.channels.get(name);
    const userId = request.userId;
    if (
      presence &&
      userId !== undefined &&
      !request.admitted &&
      !this.isMember(name, userId) &&
      this.userCount(name) >= (request.maxMembers ?? this.limits.presenceMaxMembers)
    ) {
      return { ok: false, reason: 'presence_full' };
    }
    const created = !channel;
    if (!channel) {
      channel = { name, presence, tenant: fromPusherChannel(name)?.tenant, subscribers: new Map(), members: new Map() };
      this.channels.set(name, channel);
    }
    // The channel's own name, not the one parsed from this client's frame: one string for all subscribers.
    const subscription: Subscription = { channel: channel.name, userId, clientEvents: request.clientEvents, expiresAt: request.expiresAt };
    const previous = channel.subscribers.get(peer);
    const resubscribe = previous !== undefined;
    // Subscribing again (e.g. with a renewed authorization) replaces the deadline.
    if (previous?.expiresAt !== undefined) this.expiries.remove(previous, previous.expiresAt);
    if (subscription.expiresAt !== undefined) this.expiries.add(subscription, peer, subscription.expiresAt);
    channel.subscribers.set(peer, subscription);
    peer.subscriptions.set(channel.name, subscription);
    if (!resubscribe) {
      this.countTenantConnection(peer, channel, +1);
      this.cluster?.countsChanged();
    }
    if (created) this.lifecycle?.occupied(name);

    if (!presence || userId === undefined) {
      channel.succeeded ??= eventFrame('pusher_internal:subscription_succeeded', '{}', name);
      peer.enqueue(channel.succeeded);
      return { ok: true };
    }
    let member = channel.members.get(userId);
    const joined = member === undefined;
    // A (re)subscription signed with other info (a refresh in one of the user's tabs) updates the member for everyone.
    const changed = member !== undefined && !sameInfo(member.info, request.userInfo);
    if (!member) {
      member = { info: request.userInfo, sockets: 0 };
      channel.members.set(userId, member);
    }
    if (!resubscribe) member.sockets += 1;
    if (changed) member.info = request.userInfo;
    peer.enqueue(eventFrame('pusher_internal:subscription_succeeded', { presence: this.presenceData(channel) }, name));
    if (changed) {
      this.announceInfo(channel, userId, request.userInfo, peer);
      this.cluster?.joined(name, userId, request.userInfo);
    }
    if (joined) {
      // Subscribers here already list a user that is present on another node.
      if (!this.cluster?.remote.has(name, userId)) {
        const added = eventFrame('pusher_internal:member_added', { user_id: userId, user_info: request.userInfo ?? {} }, name);
        this.fanOut(channel, added, peer);
      }
      this.lifecycle?.memberJoined(name, userId);
      this.cluster?.joined(name, userId, request.userInfo);
    }
    return { ok: true };
  }

  unsubscribe(peer: Peer, name: string): void {
    const subscription = peer.subscriptions.get(name);
    if (!subscription) return;
    peer.subscriptions.delete(name);
    if (subscription.expiresAt !== undefined) this.expiries.remove(subscription, subscription.expiresAt);
    const channel = this.channels.get(name);
    if (!channel) return;
    channel.subscribers.delete(peer);
    this.countTenantConnection(peer, channel, -1);
    this.cluster?.countsChanged();
    const userId = subscription.userId;
    if (channel.presence && userId !== undefined) {
      const member = channel.members.get(userId);
      if (member && --member.sockets <= 0) {
        channel.members.delete(userId);
        if (!this.cluster?.remote.has(name, userId)) {
          this.fanOut(channel, eventFrame('pusher_internal:member_removed', { user_id: userId }, name), undefined);
        }
        this.lifecycle?.memberLeft(name, userId);
        this.cluster?.left(name, userId);
      }
    }
    if (channel.subscribers.size === 0) {
      this.channels.delete(name);
      this.lifecycle?.vacated(name);
    }
  }

  removePeer(peer: Peer): void {
    for (const name of [...peer.subscriptions.keys()]) this.unsubscribe(peer, name);
    if (peer.userId === undefined) return;
    const peers = this.users.get(peer.userId);
    peers?.delete(peer);
    if (peers?.size === 0) this.users.delete(peer.userId);
  }

  /**
   * Queues one pre-built frame for every subscriber except `exclude`; returns how many got it.
   * `#server-to-user-<id>` reaches every connection signed in as the user, as on Pusher.
   */
  publish(name: string, frame: Buffer, exclude?: Peer): number {
    const userId = serverToUserId(name);
    if (userId !== undefined) {
      let delivered = 0;
      for (const peer of this.users.get(userId) ?? []) {
        if (peer === exclude) continue;
        peer.enqueue(frame);
        delivered++;
      }
      return delivered;
    }
    const channel = this.channels.get(name);
    return channel ? this.fanOut(channel, frame, exclude) : 0;
  }

  /** Whether a publish to `name` would reach anyone here. */
  has(name: string): boolean {
    const userId = serverToUserId(name);
    return userId === undefined ? this.channels.has(name) : this.users.has(userId);
  }

  close(): void {
    this.expiries.close();
  }

  /** Cluster-wide under scale-out (other nodes' counts as last reported); undefined when no node has subscribers. */
  info(name: string): ChannelInfo | undefined {
    const subscriptionCount = this.localSubscriptions(name) + (this.cluster?.counts.subscriptions(name) ?? 0);
    if (subscriptionCount === 0) return undefined;
    return { subscriptionCount, userCount: isPresenceChannel(name) ? this.userCount(name) : undefined };
  }

  /** This node's subscribers of a channel. */
  localSubscriptions(name: string): number {
    return this.channels.get(name)?.subscribers.size ?? 0;
  }

  /** Presence members of every node (under scale-out), also when no socket of this node is subscribed. */
  members(name: string): PresenceMember[] {
    return [...this.memberInfos(name)].map(([id, info]) => ({ id, info: memberInfo(info) }));
  }

  /** A user became present on other nodes: tell local subscribers, unless it is a member here already. */
  remoteJoined(name: string, userId: string, info: JsonValue | undefined): void {
    const channel = this.channels.get(name);
    if (!channel?.presence || channel.members.has(userId)) return;
    this.fanOut(channel, eventFrame('pusher_internal:member_added', { user_id: userId, user_info: info ?? {} }, name), undefined);
  }

  /**
   * Another node shows other info for a user: `latest` when the user subscribed there with
   * new signed info (it replaces this node's info of the user too), otherwise shown only
   * where the user is not a member here.
   */
  remoteInfoChanged(name: string, userId: string, info: JsonValue | undefined, latest: boolean): void {
    const channel = this.channels.get(name);
    if (!channel?.presence) return;
    const member = channel.members.get(userId);
    if (member) {
      if (!latest || sameInfo(member.info, info)) return;
      member.info = info;
    }
    this.announceInfo(channel, userId, info, undefined);
  }

  /** A user left every other node: tell local subscribers, unless it is still a member here. */
  remoteLeft(name: string, userId: string): void {
    const channel = this.channels.get(name);
    if (!channel?.presence || channel.members.has(userId)) return;
    this.fanOut(channel, eventFrame('pusher_internal:member_removed', { user_id: userId }, name), undefined);
  }

  /** This node's own presence members, for a full snapshot to other nodes. */
  *localMembers(): Iterable<{ channel: string; userId: string; info: JsonValue | undefined }> {
    for (const channel of this.channels.values()) {
      for (const [userId, member] of channel.members) yield { channel: channel.name, userId, info: member.info };
    }
  }

  /** Channels occupied on any node, optionally filtered by prefix. */
  *names(prefix = ''): Iterable<string> {
    for (const name of this.channels.keys()) if (name.startsWith(prefix)) yield name;
    for (const name of this.cluster?.counts.channels().keys() ?? []) if (name.startsWith(prefix) && !this.channels.has(name)) yield name;
  }

  /** This node's occupied channels with their local subscriber counts, for count reports. */
  *localEntries(): Iterable<{ name: string; subscribers: number }> {
    for (const channel of this.channels.values()) yield { name: channel.name, subscribers: channel.subscribers.size };
  }

  /** Per tenant, this node's connections subscribed to at least one of its channels. */
  localTenantConnections(): Iterable<[tenant: string, connections: number]> {
    return this.tenantConnections.entries();
  }

  localConnectionsOf(tenant: string): number {
    return this.tenantConnections.get(tenant) ?? 0;
  }

  get channelCount(): number {
    return this.channels.size;
  }

  /** `peer` subscribed to (+1) or left (-1) `channel`: it counts for the tenant while it holds any of its channels. */
  private countTenantConnection(peer: Peer, channel: ChannelState, change: 1 | -1): void {
    const tenant = channel.tenant;
    if (tenant === undefined) return;
    for (const name of peer.subscriptions.keys()) {
      if (name !== channel.name && this.channels.get(name)?.tenant === tenant) return;
    }
    const count = (this.tenantConnections.get(tenant) ?? 0) + change;
    if (count > 0) this.tenantConnections.set(tenant, count);
    else this.tenantConnections.delete(tenant);
  }

  /** The authorization a subscription was made with expired: end it, and tell the client on that channel. */
  private expire(peer: Peer, subscription: Subscription): void {
    if (peer.subscriptions.get(subscription.channel) !== subscription) return;
    this.unsubscribe(peer, subscription.channel);
    peer.enqueue(subscriptionErrorFrame(subscription.channel, 'AuthError', EXPIRED_AUTHORIZATION_MESSAGE, 401));
  }

  /**
   * A member's info changed: Pusher clients have no update event, so they see the member
   * leave and come back with the new info (the Switchboard client's leave grace makes it one change).
   */
  private announceInfo(channel: ChannelState, userId: string, info: JsonValue | undefined, exclude: Peer | undefined): void {
    this.fanOut(channel, eventFrame('pusher_internal:member_removed', { user_id: userId }, channel.name), exclude);
    this.fanOut(channel, eventFrame('pusher_internal:member_added', { user_id: userId, user_info: info ?? {} }, channel.name), exclude);
  }

  private fanOut(channel: ChannelState, frame: Buffer, exclude: Peer | undefined): number {
    let delivered = 0;
    for (const peer of channel.subscribers.keys()) {
      if (peer === exclude) continue;
      peer.enqueue(frame);
      delivered++;
    }
    return delivered;
  }

  /** Whether `userId` is a presence member of `name` through a connection of this node. */
  isMemberHere(name: string, userId: string): boolean {
    return this.channels.get(name)?.members.has(userId) ?? false;
  }

  private isMember(name: string, userId: string): boolean {
    return (this.channels.get(name)?.members.has(userId) ?? false) || (this.cluster?.remote.has(name, userId) ?? false);
  }

  private userCount(name: string): number {
    const local = this.channels.get(name)?.members;
    const remote = this.cluster?.remote.members(name);
    if (!remote || remote.size === 0) return local?.size ?? 0;
    let count = remote.size;
    for (const userId of local?.keys() ?? []) if (!remote.has(userId)) count++;
    return count;
  }

  /** userId -> info, local members first (their info wins over another node's). */
  private memberInfos(name: string): Map<string, JsonValue | undefined> {
    const result = new Map<string, JsonValue | undefined>();
    for (const [userId, member] of this.channels.get(name)?.members ?? []) result.set(userId, member.info);
    for (const [userId, info] of this.cluster?.remote.members(name) ?? []) if (!result.has(userId)) result.set(userId, info);
    return result;
  }

  private presenceData(channel: ChannelState): { ids: string[]; hash: Record<string, JsonValue>; count: number } {
    const members = this.memberInfos(channel.name);
    const ids = [...members.keys()];
    // fromEntries defines own properties, so a user id like "__proto__" stays data.
    const hash = Object.fromEntries([...members].map(([id, info]) => [id, info ?? {}])) as Record<string, JsonValue>;
    return { ids, hash, count: ids.length };
  }
}
