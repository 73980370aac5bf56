/**
 * Turns what Ably's webhooks report into Switchboard's lifecycle meaning, which is the same on
 * every provider:
 * - `channel_occupied` / `channel_vacated`: the channel got its first subscriber / lost its
 *   last. Ably's `channel.opened`/`channel.closed` mean "active"/"inactive", and a REST
 *   status or publish call (the BFF's own) activates a channel with nobody on it, so they are
 *   not used as such: occupancy comes from the `subscribers` metric that `channel.occupancy`
 *   items (and lifecycle items) carry. Ably debounces occupancy events that do not change a
 *   mode for up to 15 s; the first subscriber and the last one leaving are mode changes.
 * - `member_added` / `member_removed`: once per user. Ably keys presence members per
 *   connection (clientId + connectionId), so a user with two tabs is two members, and a
 *   client that reconnects enters again on its new connection while the old member leaves
 *   15 s later. A user joins when their first connection enters and leaves when their last
 *   one leaves.
 *
 * The state lives in this process: Ably's rule must send to one BFF (see README). After a
 * restart the first report of a channel decides: subscribers > 0 is an `occupied`, a leave of
 * a user not seen before is a `removed` (never a ghost member), an empty channel says nothing.
 * Items are remembered by Ably's `serial` so that a batch Ably retries (after a 5xx) yields
 * the same events again instead of nothing.
 */
import type { WebhookEvent } from '../types.js';

type ChannelEvent = Extract<WebhookEvent, { kind: 'channel_occupied' | 'channel_vacated' | 'member_added' | 'member_removed' }>;
type Target = { tenant: string; channel: string };

export interface PresenceChange {
  /** The user (the tenant part of Ably's clientId already checked and removed). */
  clientId: string;
  /** Absent in some integrations; then all of a user's members count as one connection. */
  connectionId?: string | undefined;
  /** Ably's numeric action: 0 absent, 1 present, 2 enter, 3 leave, 4 update. */
  action: number;
}

interface ChannelState {
  occupied?: boolean;
  subscribers?: number;
  /** Timestamp of the occupancy report the state is from; older reports are stale. */
  at: number;
  /** User → their connections with a member on the channel. */
  users: Map<string, Set<string>>;
}

/** Channels with state kept at once; the least recently reported go first beyond it. */
const MAX_CHANNELS = 100_000;
/** Item serials remembered for retried batches. */
const MAX_SERIALS = 20_000;

const LEAVING = new Set([0, 3]);
const PRESENT = new Set([1, 2, 4]);

export class AblyChannelTracker {
  private readonly channels = new Map<string, ChannelState>();
  private readonly seen = new Map<string, ChannelEvent[]>();

  /** Events of an item Ably sent before (same serial), or undefined. */
  replay(serial: string | undefined): ChannelEvent[] | undefined {
    return serial === undefined ? undefined : this.seen.get(serial);
  }

  remember(serial: string | undefined, events: ChannelEvent[]): void {
    if (serial === undefined) return;
    this.seen.set(serial, events);
    if (this.seen.size > MAX_SERIALS) this.seen.delete(this.seen.keys().next().value ?? '');
  }

  /** An occupancy report (metrics of a `channel.occupancy` or lifecycle item). */
  occupancy(name: string, target: Target, subscribers: number, timestamp: number): ChannelEvent[] {
    const state = this.state(name);
    if (timestamp < state.at) return [];
    state.at = timestamp;
    state.subscribers = subscribers;
    const occupied = subscribers > 0;
    const before = state.occupied;
    state.occupied = occupied;
    this.forgetIfIdle(name, state);
    if (occupied && before !== true) return [{ kind: 'channel_occupied', ...target }];
    if (!occupied && before === true) return [{ kind: 'channel_vacated', ...target }];
    return [];
  }

  presence(name: string, target: Target, changes: PresenceChange[]): ChannelEvent[] {
    const state = this.state(name);
    const events: ChannelEvent[] = [];
    for (const { clientId, connectionId, action } of changes) {
      const connections = state.users.get(clientId);
      const connection = connectionId ?? '';
      if (PRESENT.has(action)) {
        if (connections) connections.add(connection);
        else {
          state.users.set(clientId, new Set([connection]));
          events.push({ kind: 'member_added', ...target, userId: clientId });
        }
      } else if (LEAVING.has(action)) {
        connections?.delete(connection);
        if (!connections || connections.size === 0) {
          state.users.delete(clientId);
          events.push({ kind: 'member_removed', ...target, userId: clientId });
        }
      }
    }
    this.forgetIfIdle(name, state);
    return events;
  }

  /** What the webhooks said last about a channel, for the admin view. */
  counts(name: string): { subscribers?: number; presenceUsers?: number } {
    const state = this.channels.get(name);
    if (!state) return {};
    return { ...(state.subscribers === undefined ? {} : { subscribers: state.subscribers }), ...(state.users.size > 0 ? { presenceUsers: state.users.size } : {}) };
  }

  private state(name: string): ChannelState {
    let state = this.channels.get(name);
    if (state) {
      // Most recently reported last, so the oldest is evicted first.
      this.channels.delete(name);
    } else {
      state = { at: Number.NEGATIVE_INFINITY, users: new Map() };
    }
    this.channels.set(name, state);
    if (this.channels.size > MAX_CHANNELS) this.channels.delete(this.channels.keys().next().value ?? '');
    return state;
  }

  /** An empty, vacated channel needs no state: the next report starts it again correctly. */
  private forgetIfIdle(name: string, state: ChannelState): void {
    if (state.occupied === false && state.users.size === 0) this.channels.delete(name);
  }
}
