/**
 * The shared state of one tenant-relative channel: its single transport subscription
 * (held while anything needs it: listeners, presence, queued whispers), the sequencer
 * that orders and recovers events, the presence member list and queued whispers.
 * Public `Channel` objects are thin typed views over it (see channel.ts).
 */
import type { JsonValue } from '../core/envelope.js';
import { SwitchboardError } from '../core/errors.js';
import type { ClientTransport, PresenceMember, TransportSubscription } from '../../providers/types.js';
import { checkEventName, checkPresence, checkSubscribe, checkWhisper } from './checks.js';
import { Emitter } from './emitter.js';
import { toSwitchboardError } from './errors.js';
import { envelopeSchema, type ClientEnvelope, type ClientToken } from './schemas.js';
import { Sequencer, type HistoryPage } from './sequencer.js';

export interface ChannelHost {
  token(): ClientToken | undefined;
  transport(): ClientTransport | undefined;
  history(channel: string, since: number, limit: number): Promise<HistoryPage>;
}

export interface ChannelCoreOptions {
  /** Deliver events after this seq first (from history), e.g. one the app stored. */
  since?: number;
  /** How long a member that left stays listed in case it comes back (see `ConnectOptions.presenceLeaveGraceMs`). */
  leaveGraceMs?: number;
}

type CoreEvents = {
  event: [ClientEnvelope];
  whisper: [string, unknown, string | undefined];
  presence: [PresenceMember[]];
  error: [SwitchboardError];
  subscribed: [];
};

const MAX_QUEUED_WHISPERS = 50;
export const DEFAULT_LEAVE_GRACE_MS = 1000;
const RESUBSCRIBE_AFTER_MS = 2000;

interface Waiter {
  resolve(member: PresenceMember): void;
  reject(error: SwitchboardError): void;
}

export class ChannelCore {
  readonly events = new Emitter<CoreEvents>();
  private subscription: TransportSubscription | undefined;
  private subscribedOn: ClientTransport | undefined;
  private live = false;
  private sequencer: Sequencer | undefined;
  /** The member list as the app sees it: members that just left stay in it for the leave grace. */
  private members: PresenceMember[] = [];
  private leaving = new Map<string, ReturnType<typeof setTimeout>>();
  private presenceWanted = false;
  private presenceInfo: Record<string, JsonValue> | undefined;
  private waiters: Waiter[] = [];
  private whispers: Array<{ event: string; data: JsonValue }> = [];
  /** Set when the server refused the channel; it is not retried. */
  private refused: SwitchboardError | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private syncQueued = false;

  constructor(
    readonly name: string,
    private readonly host: ChannelHost,
    private readonly options: ChannelCoreOptions = {},
  ) {}

  get memberList(): PresenceMember[] {
    return [...this.members];
  }

  get isLive(): boolean {
    return this.live;
  }

  /** Re-evaluates whether a subscription is needed; call after any listener or presence change. */
  sync(): void {
    if (this.syncQueued) return;
    this.syncQueued = true;
    // Deferred, so `off(); on()` in one tick does not drop and re-create the subscription.
    queueMicrotask(() => {
      this.syncQueued = false;
      this.syncNow();
    });
  }

  /** The supervisor swapped transports (e.g. fell back to SSE): move the subscription over. */
  transportChanged(): void {
    this.dropSubscription();
    this.syncNow();
  }

  whisper(event: string, data: JsonValue): void {
    const token = this.host.token();
    if (token) {
      checkWhisper(token, this.name, event, data);
      this.assertTransportCan('clientEvents', 'whisper');
    } else {
      checkEventName(event);
    }
    if (this.live && this.subscription?.whisper(event, data)) return;
    if (this.whispers.length >= MAX_QUEUED_WHISPERS) this.whispers.shift();
    this.whispers.push({ event, data });
    this.sync();
  }

  enter(info?: Record<string, JsonValue>): Promise<PresenceMember> {
    const token = this.host.token();
    if (token) {
      checkPresence(token, this.name);
      this.assertTransportCan('presence', 'presence');
    }
    if (this.refused) return Promise.reject(this.refused);
    this.presenceWanted = true;
    this.presenceInfo = info;
    if (this.live && token) return Promise.resolve(this.self(token));
    this.sync();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  leave(): void {
    this.presenceWanted = false;
    this.sync();
  }

  /** The newest `limit` events in the log, oldest first: the channel's position, then the page before it. */
  async recent(limit: number): Promise<ClientEnvelope[]> {
    const { lastSeq } = await this.host.history(this.name, Number.MAX_SAFE_INTEGER, 1);
    if (!lastSeq) return [];
    const { events } = await this.host.history(this.name, Math.max(0, lastSeq - limit), limit);
    return events.filter((envelope) => envelope.channel === this.name);
  }

  private get wanted(): boolean {
    const { events } = this;
    return (
      this.presenceWanted ||
      this.whispers.length > 0 ||
      events.count('event') + events.count('whisper') + events.count('presence') + events.count('subscribed') > 0
    );
  }

  private syncNow(): void {
    const transport = this.host.transport();
    const token = this.host.token();
    if (!this.wanted || this.refused) {
      this.dropSubscription();
      return;
    }
    if (!transport || !token || (this.subscription && this.subscribedOn === transport)) return;
    this.dropSubscription();
    let presence: boolean;
    try {
      const resolved = checkSubscribe(token, this.name);
      presence = resolved.rules.presence;
      if (this.presenceWanted) checkPresence(token, this.name);
      this.sequencer ??= new Sequencer({
        // Namespaces without history still keep a recovery window in the log.
        history: (since, limit) => this.host.history(this.name, since, limit),
        deliver: (envelope) => this.events.emit('event', envelope),
        onError: (error) => this.events.emit('error', error),
        ...(this.options.since !== undefined ? { since: this.options.since } : {}),
      });
    } catch (error) {
      this.refuse(toSwitchboardError(error));
      return;
    }
    this.subscribedOn = transport;
    this.subscription = transport.subscribe(
      { channel: this.name, presence },
      {
        onEvent: (payload) => this.onEvent(payload),
        onClientEvent: (event, data, from) => this.events.emit('whisper', event, data, from),
        onPresence: (members) => this.presenceChanged(members),
        onSubscribed: () => this.onSubscribed(),
        onError: (error) => this.onError(error),
      },
      this.presenceWanted ? this.presenceInfo : undefined,
    );
  }

  /**
   * A member that leaves and is back within the grace (a re-entry with new signed info:
   * Pusher-protocol providers re-subscribe, which the others see as a leave and a join)
   * is one change to the app, with the new info; a real leave shows once the grace ends.
   */
  private presenceChanged(reported: PresenceMember[]): void {
    const fresh = new Map(reported.map((member) => [member.id, member]));
    const next: PresenceMember[] = [];
    for (const member of this.members) {
      const current = fresh.get(member.id);
      fresh.delete(member.id);
      if (current) {
        clearTimeout(this.leaving.get(member.id));
        this.leaving.delete(member.id);
        next.push(current);
      } else if (this.holdLeaving(member.id)) {
        next.push(member);
      }
    }
    next.push(...fresh.values());
    this.showMembers(next);
  }

  /** Whether `id`, absent from the provider's list, stays listed for now. */
  private holdLeaving(id: string): boolean {
    const grace = this.options.leaveGraceMs ?? DEFAULT_LEAVE_GRACE_MS;
    if (grace <= 0) return false;
    if (this.leaving.has(id)) return true;
    const timer = setTimeout(() => {
      this.leaving.delete(id);
      this.showMembers(this.members.filter((member) => member.id !== id));
    }, grace);
    (timer as { unref?: () => void }).unref?.();
    this.leaving.set(id, timer);
    return true;
  }

  private showMembers(next: PresenceMember[]): void {
    if (JSON.stringify(next) === JSON.stringify(this.members)) return;
    this.members = next;
    this.events.emit('presence', this.memberList);
  }

  private onEvent(payload: unknown): void {
    const parsed = envelopeSchema.safeParse(payload);
    if (!parsed.success || parsed.data.channel !== this.name) {
      this.events.emit('error', new SwitchboardError('invalid_event', `Dropped a malformed event on ${this.name}`));
      return;
    }
    this.sequencer?.accept(parsed.data);
  }

  private onSubscribed(): void {
    this.live = true;
    const token = this.host.token();
    if (token) {
      for (const waiter of this.waiters.splice(0)) waiter.resolve(this.self(token));
    }
    for (const { event, data } of this.whispers.splice(0)) {
      try {
        if (token) checkWhisper(token, this.name, event, data);
        this.subscription?.whisper(event, data);
      } catch (error) {
        this.events.emit('error', toSwitchboardError(error));
      }
    }
    this.sequencer?.resume();
    this.events.emit('subscribed');
  }

  private onError(error: SwitchboardError): void {
    this.dropSubscription();
    if (error.status < 500) {
      this.refuse(error);
      return;
    }
    this.events.emit('error', error);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.syncNow(), RESUBSCRIBE_AFTER_MS);
  }

  private refuse(error: SwitchboardError): void {
    this.refused = error;
    this.whispers = [];
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
    this.events.emit('error', error);
  }

  private dropSubscription(): void {
    this.live = false;
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    this.subscribedOn = undefined;
    for (const timer of this.leaving.values()) clearTimeout(timer);
    this.leaving.clear();
    if (this.members.length > 0) {
      this.members = [];
      this.events.emit('presence', []);
    }
  }

  private assertTransportCan(feature: 'presence' | 'clientEvents', what: string): void {
    const transport = this.host.transport();
    if (transport && !transport.features[feature]) {
      throw new SwitchboardError('provider_unavailable', `${what} needs a realtime connection; this client is on the ${transport.kind} transport`);
    }
  }

  /** This client's member entry as the others see it. */
  private self(token: ClientToken): PresenceMember {
    return this.members.find((member) => member.id === token.user) ?? { id: token.user, info: {} };
  }

  close(): void {
    clearTimeout(this.retryTimer);
    this.presenceWanted = false;
    this.whispers = [];
    this.sequencer?.close();
    this.dropSubscription();
  }
}
