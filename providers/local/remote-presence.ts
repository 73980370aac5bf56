/**
 * Presence members other nodes hold (Redis scale-out), as this node last heard of them.
 * Pure state: scale-out.ts feeds it from pub/sub messages, hub.ts merges it with its own
 * members. A user counts as remotely present while at least one other node has it.
 */
import { isDeepStrictEqual } from 'node:util';
import type { JsonValue } from '../../src/core/envelope.js';

export interface PresenceChange {
  /**
   * `changed`: a node reported new info for a user other nodes already had (the user's
   * latest signed info); `reverted`: the node with the shown info left, another node's is shown.
   */
  kind: 'added' | 'removed' | 'changed' | 'reverted';
  channel: string;
  userId: string;
  info: JsonValue | undefined;
}

export interface RemoteMember {
  channel: string;
  userId: string;
  info?: JsonValue | undefined;
}

/** The read side the hub needs. */
export interface RemotePresenceView {
  has(channel: string, userId: string): boolean;
  /** userId -> info of users present on other nodes. */
  members(channel: string): ReadonlyMap<string, JsonValue | undefined>;
}

/** Whether two signed user_info values show the same (absent info is shown as `{}`). */
export function sameInfo(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  return isDeepStrictEqual(a ?? {}, b ?? {});
}

/** The info of the node that reported the user last. */
function latest(nodes: ReadonlyMap<string, JsonValue | undefined>): JsonValue | undefined {
  let info: JsonValue | undefined;
  for (const value of nodes.values()) info = value;
  return info;
}

const NO_MEMBERS: ReadonlyMap<string, JsonValue | undefined> = new Map();

export class RemotePresence implements RemotePresenceView {
  /** channel -> userId -> node -> info */
  private readonly channels = new Map<string, Map<string, Map<string, JsonValue | undefined>>>();
  /** node -> channel -> userIds, to drop or replace one node's members at once. */
  private readonly byNode = new Map<string, Map<string, Set<string>>>();

  has(channel: string, userId: string): boolean {
    return this.channels.get(channel)?.has(userId) ?? false;
  }

  members(channel: string): ReadonlyMap<string, JsonValue | undefined> {
    const users = this.channels.get(channel);
    if (!users) return NO_MEMBERS;
    const result = new Map<string, JsonValue | undefined>();
    for (const [userId, nodes] of users) result.set(userId, latest(nodes));
    return result;
  }

  /** Returns a change when the user was on no other node before, or its info as shown changed. */
  add(node: string, channel: string, userId: string, info: JsonValue | undefined): PresenceChange | undefined {
    let users = this.channels.get(channel);
    if (!users) {
      users = new Map();
      this.channels.set(channel, users);
    }
    let nodes = users.get(userId);
    const added = nodes === undefined;
    if (!nodes) {
      nodes = new Map();
      users.set(userId, nodes);
    }
    const shown = latest(nodes);
    if (!nodes.has(node) || !sameInfo(nodes.get(node), info)) {
      // Deleted first so the node moves last: the latest new info is the one shown.
      nodes.delete(node);
      nodes.set(node, info);
    }
    let channelsOfNode = this.byNode.get(node);
    if (!channelsOfNode) {
      channelsOfNode = new Map();
      this.byNode.set(node, channelsOfNode);
    }
    let usersOfNode = channelsOfNode.get(channel);
    if (!usersOfNode) {
      usersOfNode = new Set();
      channelsOfNode.set(channel, usersOfNode);
    }
    usersOfNode.add(userId);
    if (added) return { kind: 'added', channel, userId, info };
    return this.shownChange('changed', channel, userId, shown, latest(nodes));
  }

  /** Returns a change when no other node has the user any more, or its info as shown changed. */
  remove(node: string, channel: string, userId: string): PresenceChange | undefined {
    const channelsOfNode = this.byNode.get(node);
    const usersOfNode = channelsOfNode?.get(channel);
    if (!channelsOfNode || !usersOfNode?.delete(userId)) return undefined;
    if (usersOfNode.size === 0) channelsOfNode.delete(channel);
    if (channelsOfNode.size === 0) this.byNode.delete(node);

    const users = this.channels.get(channel);
    const nodes = users?.get(userId);
    if (!users || !nodes) return undefined;
    const info = nodes.get(node);
    const shown = latest(nodes);
    nodes.delete(node);
    if (nodes.size > 0) return this.shownChange('reverted', channel, userId, shown, latest(nodes));
    users.delete(userId);
    if (users.size === 0) this.channels.delete(channel);
    return { kind: 'removed', channel, userId, info };
  }

  private shownChange(
    kind: 'changed' | 'reverted',
    channel: string,
    userId: string,
    before: JsonValue | undefined,
    after: JsonValue | undefined,
  ): PresenceChange | undefined {
    return sameInfo(before, after) ? undefined : { kind, channel, userId, info: after };
  }

  /** A node's complete member list (after a reconnect or a missed message) replaces what we knew of it. */
  replaceNode(node: string, members: readonly RemoteMember[]): PresenceChange[] {
    const incoming = new Set(members.map((member) => `${member.channel}\n${member.userId}`));
    const changes: PresenceChange[] = [];
    for (const [channel, users] of [...(this.byNode.get(node) ?? [])]) {
      for (const userId of [...users]) {
        if (incoming.has(`${channel}\n${userId}`)) continue;
        const change = this.remove(node, channel, userId);
        if (change) changes.push(change);
      }
    }
    for (const { channel, userId, info } of members) {
      const change = this.add(node, channel, userId, info);
      if (change) changes.push(change);
    }
    return changes;
  }

  /** A node left or stopped sending heartbeats: all its members go. */
  dropNode(node: string): PresenceChange[] {
    return this.replaceNode(node, []);
  }
}
