/**
 * The public channel object: typed event subscriptions (optionally validated with a
 * schema per event), whispers and presence. Several `Channel` views of one name share
 * one `ChannelCore`, hence one provider subscription.
 */
import type { EventMeta, JsonValue } from '../core/envelope.js';
import type { SwitchboardError } from '../core/errors.js';
import type { PresenceMember } from '../../providers/types.js';
import type { ChannelCore } from './channel-core.js';
import { SwitchboardError as ClientError } from './errors.js';
import type { ClientEnvelope } from './schemas.js';

/** Anything with zod's `safeParse` (zod, zod/mini, or your own). */
export interface Schema<T> {
  safeParse(input: unknown): { success: true; data: T } | { success: false; error?: unknown };
}

export type Infer<S> = S extends Schema<infer T> ? T : never;
export type EventSchemas = Record<string, Schema<unknown>>;
/** Data type of `event`: from its schema when the channel declares one, else `unknown`. */
export type EventData<E extends EventSchemas, K extends string> = K extends keyof E ? Infer<E[K]> : unknown;

export type Unsubscribe = () => void;

/** One event of the log, as `history()` answers it. */
export interface ChannelEvent<T = unknown> {
  event: string;
  data: T;
  meta: EventMeta;
}

const MAX_HISTORY_LIMIT = 1000;

export interface Presence {
  /**
   * Joins the presence set; resolves with this member as the others see it. On
   * Pusher-protocol providers (`local`, `pusher`) member info is what the BFF signed from
   * the capability token (the app's session info), so `info` cannot add to it there, and
   * any subscription on a presence namespace already makes you a member. To change your
   * info, change the app session and call `rt.refresh()`.
   */
  enter(info?: Record<string, JsonValue>): Promise<PresenceMember>;
  /** Leaves, unless event or whisper listeners still need the channel (see `enter`). */
  leave(): Promise<void>;
  /** Current members, one entry per user. */
  members(): PresenceMember[];
  /** Called with the full member list after every change; watching requires membership on Pusher. */
  onChange(listener: (members: PresenceMember[]) => void): Unsubscribe;
}

function metaOf(envelope: ClientEnvelope): EventMeta {
  return { id: envelope.id, seq: envelope.seq, ts: envelope.ts, event: envelope.event, channel: envelope.channel };
}

export class Channel<E extends EventSchemas = EventSchemas> {
  readonly presence: Presence;

  constructor(
    private readonly core: ChannelCore,
    private readonly schemas: E,
  ) {
    this.presence = {
      enter: (info) => core.enter(info),
      leave: async () => core.leave(),
      members: () => core.memberList,
      onChange: (listener) => this.hold(core.events.on('presence', listener)),
    };
  }

  get name(): string {
    return this.core.name;
  }

  /** Subscribed and receiving (false while connecting or recovering from a drop). */
  get live(): boolean {
    return this.core.isLive;
  }

  subscribe<K extends string>(event: K, handler: (data: EventData<E, K>, meta: EventMeta) => void): Unsubscribe;
  subscribe<T>(event: string, schema: Schema<T>, handler: (data: T, meta: EventMeta) => void): Unsubscribe;
  subscribe(handler: (event: string, data: unknown, meta: EventMeta) => void): Unsubscribe;
  subscribe(
    ...args:
      | [string, (data: never, meta: EventMeta) => void]
      | [string, Schema<unknown>, (data: never, meta: EventMeta) => void]
      | [(event: string, data: unknown, meta: EventMeta) => void]
  ): Unsubscribe {
    if (args.length === 1) {
      const [handler] = args;
      return this.hold(this.core.events.on('event', (envelope) => handler(envelope.event, envelope.data, metaOf(envelope))));
    }
    const [event, schemaOrHandler, maybeHandler] = args.length === 3 ? args : [args[0], undefined, args[1]];
    const schema = schemaOrHandler ?? this.schemas[event];
    const handler = maybeHandler as (data: unknown, meta: EventMeta) => void;
    return this.hold(
      this.core.events.on('event', (envelope) => {
        if (envelope.event !== event) return;
        const data = this.validate(schema, envelope);
        if (data.ok) handler(data.value, metaOf(envelope));
      }),
    );
  }

  /**
   * The channel's newest events in the event log (at most `limit`, default 50), oldest
   * first, e.g. for a first render; needs `history` or `subscribe` on the channel. Not
   * validated against schemas, and independent of subscriptions.
   */
  async history(options: { limit?: number } = {}): Promise<ChannelEvent[]> {
    const limit = options.limit ?? 50;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_HISTORY_LIMIT) {
      throw new ClientError('invalid_request', `history limit must be an integer from 1 to ${MAX_HISTORY_LIMIT}`);
    }
    const events = await this.core.recent(limit);
    return events.map((envelope) => ({ event: envelope.event, data: envelope.data, meta: metaOf(envelope) }));
  }

  /** Sends a client event to the other members (not to yourself). Throws when the namespace or caps forbid it. */
  whisper(event: string, data: JsonValue): void {
    this.core.whisper(event, data);
  }

  onWhisper(event: string, handler: (data: unknown, from: string | undefined) => void): Unsubscribe {
    return this.hold(
      this.core.events.on('whisper', (name, data, from) => {
        if (name === event) handler(data, from);
      }),
    );
  }

  /** `error`: async failures (refused subscription, recovery gaps, invalid events); `subscribed`: live again. */
  on(event: 'error', listener: (error: SwitchboardError) => void): Unsubscribe;
  on(event: 'subscribed', listener: () => void): Unsubscribe;
  on(event: 'error' | 'subscribed', listener: ((error: SwitchboardError) => void) | (() => void)): Unsubscribe {
    if (event === 'error') return this.core.events.on('error', listener);
    return this.hold(this.core.events.on('subscribed', listener as () => void));
  }

  private hold(off: () => void): Unsubscribe {
    this.core.sync();
    return () => {
      off();
      this.core.sync();
    };
  }

  private validate(schema: Schema<unknown> | undefined, envelope: ClientEnvelope): { ok: true; value: unknown } | { ok: false } {
    if (!schema) return { ok: true, value: envelope.data };
    const result = schema.safeParse(envelope.data);
    if (result.success) return { ok: true, value: result.data };
    this.core.events.emit(
      'error',
      new ClientError('invalid_event', `Event "${envelope.event}" on ${envelope.channel} (seq ${envelope.seq}) does not match its schema`),
    );
    return { ok: false };
  }
}
