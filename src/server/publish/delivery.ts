/**
 * Hands logged events to the provider. The source of truth is the store: per channel it
 * delivers the events after the persisted delivery cursor, in seq order, one batch in
 * flight per channel, and advances the cursor only after the provider took the batch.
 * Whatever the provider does not take stays above the cursor and is retried (full-jitter
 * backoff, circuit breaker) — after a restart too, since the cursor is persisted.
 *
 * Across BFF nodes sharing a store, a per-channel delivery lease makes one node the
 * channel's only deliverer; a periodic sweep picks up channels whose deliverer went away.
 * The lease is short and renewed while a batch is in flight, so a crashed node's channels
 * move to a survivor within a few seconds, never to two deliverers at once.
 *
 * Tenants are isolated from each other: a batch carries one tenant's channels, a tenant has
 * at most `perTenantConcurrency` of the `concurrency` provider calls in flight, and
 * backoff and circuit breaker are per tenant, so one tenant's hanging or failing calls
 * never hold up another tenant's deliveries.
 *
 * One event the provider can never take (refused for good, or no longer mappable to a
 * provider name) is that event's failure, not an outage: it is reported to the observer
 * and the cursor moves past it, so it can never hold up its channel or anyone else's.
 */
import { randomUUID } from 'node:crypto';
import { ProviderPublishError } from '../../../providers/publish-error.js';
import type { ProviderMessage, ServerProvider } from '../../../providers/types.js';
import { deadline } from '../../core/deadline.js';
import type { Envelope } from '../../core/envelope.js';
import type { Logger } from '../logger.js';
import { channelKey, type ChannelRef, type EventStore } from '../log/store.js';
import { fullJitterDelay, type BackoffOptions } from './backoff.js';
import { CircuitBreaker, type CircuitBreakerOptions, type CircuitState } from './circuit-breaker.js';

export interface DeliveryTuning {
  /** Abort one provider call after this long. */
  providerTimeoutMs: number;
  backoff: BackoffOptions;
  breaker: Omit<CircuitBreakerOptions, 'now'>;
  /** Provider calls in flight at once (each covers channels no other call covers). */
  concurrency: number;
  /** Of those, at most this many for one tenant. */
  perTenantConcurrency: number;
  /** How long a node keeps a channel's delivery lease without renewing it. */
  leaseMs: number;
  /** How often pending channels are looked up in the store (restart, another node's crash). */
  sweepMs: number;
  /** How long close() lets in-flight provider calls finish before aborting them. */
  closeGraceMs: number;
}

export const DEFAULT_DELIVERY_TUNING: DeliveryTuning = {
  providerTimeoutMs: 5000,
  backoff: { baseMs: 200, capMs: 30_000 },
  breaker: { failureThreshold: 5, openMs: 10_000 },
  concurrency: 8,
  perTenantConcurrency: 4,
  leaseMs: 3000,
  sweepMs: 1000,
  closeGraceMs: 2000,
};

/** Channel states kept for their cached cursor and lease; idle ones beyond this are forgotten. */
const MAX_TRACKED_CHANNELS = 10_000;

/** What a publisher learns within its request: taken by the provider, still pending, or refused for good. */
export type DeliveryOutcome = 'delivered' | 'pending' | 'refused';

interface Waiter {
  seq: number;
  resolve(outcome: DeliveryOutcome): void;
}

interface ChannelState {
  ref: ChannelRef;
  key: string;
  /** Delivery cursor as last read or written by this node; undefined until read under a fresh lease. */
  cursor: number | undefined;
  leaseUntil: number;
  inFlight: boolean;
  /** Work arrived while a batch was in flight. */
  again: boolean;
  waiters: Waiter[];
  /** Publisher sockets to leave out of the fan-out, by seq (in memory only: a restart just loses the echo suppression). */
  excludes: Map<number, string>;
  /** Seqs at or below the cursor that were refused for good: their publishers must not hear `delivered`. */
  failed: Set<number>;
  /** Another node holds the lease: waiters learn about delivery from the store's cursor. */
  watchingStore: boolean;
}

/** One tenant's share of the provider: calls in flight, and its own backoff and breaker. */
interface TenantState {
  inFlight: number;
  attempt: number;
  retryAt: number;
  breaker: CircuitBreaker;
}

const CIRCUIT_SEVERITY: Record<CircuitState, number> = { closed: 0, 'half-open': 1, open: 2 };

interface Taken {
  state: ChannelState;
  events: Envelope[];
  full: boolean;
}

/** An event that will never reach the provider, and why. */
export interface DeliveryFailure {
  tenant: string;
  channel: string;
  id: string;
  seq: number;
  event: string;
  reason: string;
  at: number;
}

/** Told about every provider call, for metrics. */
export interface DeliveryObserver {
  delivered(messages: ProviderMessage[]): void;
  failed(messages: ProviderMessage[], attempt: number, error: unknown): void;
  /** One event the provider refused for good (or that can no longer be mapped to it); delivery moved on. */
  undeliverable?(failure: DeliveryFailure): void;
}

/** Why the provider can never take this event (namespace gone, name or payload over its limits), or undefined. */
export type DeliverabilityCheck = (tenant: string, envelope: Envelope) => string | undefined;

export interface DeliveryOptions {
  store: EventStore;
  provider: ServerProvider;
  logger: Logger;
  tuning: DeliveryTuning;
  random?: () => number;
  observer?: DeliveryObserver;
  checkDeliverable?: DeliverabilityCheck;
}

/** How often a node that does not hold a channel's lease reads its cursor for waiting publishers. */
const REMOTE_CURSOR_POLL_MS = 25;

/** One logged event on its way out, and what became of it. */
interface Item {
  state: ChannelState;
  envelope: Envelope;
  /** Set when the event can never be delivered. */
  refusal?: string;
}

/** After an abort, how long a provider may take to say how much it had taken (ProviderPublishError). */
const ABORT_REPORT_GRACE_MS = 200;

/**
 * The provider's own outcome, or the abort when it ignores the signal. A provider that
 * honours the signal rejects with what it had taken so far; that answer is waited for
 * briefly, so chunks it completed before the timeout are not resent.
 */
function abortable(work: Promise<void>, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let grace: NodeJS.Timeout | undefined;
    const onAbort = () => {
      grace = setTimeout(() => reject(signal.reason instanceof Error ? signal.reason : new Error('provider call aborted')), ABORT_REPORT_GRACE_MS);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => {
      clearTimeout(grace);
      signal.removeEventListener('abort', onAbort);
    });
  });
}

export class DeliveryQueue {
  private readonly owner = randomUUID();
  private readonly states = new Map<string, ChannelState>();
  /** Channels that may have undelivered events and no batch in flight, oldest first. */
  private readonly ready = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private readonly shutdown = new AbortController();
  private readonly tenants = new Map<string, TenantState>();
  private inFlight = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: DeliveryOptions) {}

  /** The worst of the tenants' circuits. */
  get circuitState(): CircuitState {
    let worst: CircuitState = 'closed';
    for (const tenant of this.tenants.values()) if (CIRCUIT_SEVERITY[tenant.breaker.state] > CIRCUIT_SEVERITY[worst]) worst = tenant.breaker.state;
    return worst;
  }

  private tenant(name: string): TenantState {
    let tenant = this.tenants.get(name);
    if (!tenant) {
      tenant = { inFlight: 0, attempt: 0, retryAt: 0, breaker: new CircuitBreaker(this.options.tuning.breaker) };
      this.tenants.set(name, tenant);
    }
    return tenant;
  }

  /** Forgets a tenant with nothing in flight and nothing to remember. */
  private settleTenant(name: string): void {
    const tenant = this.tenants.get(name);
    if (tenant && tenant.inFlight === 0 && tenant.attempt === 0 && tenant.breaker.state === 'closed') this.tenants.delete(name);
  }

  /** Picks up what an earlier run (or a crashed node) left pending, now and periodically. */
  start(): void {
    void this.sweep();
    this.sweepTimer = setInterval(() => void this.sweep(), this.options.tuning.sweepMs);
    this.sweepTimer.unref();
    this.renewTimer = setInterval(() => void this.renewLeases(), Math.max(50, this.options.tuning.leaseMs / 3));
    this.renewTimer.unref();
  }

  /** A batch may outlive the lease (provider timeout > lease): keep it while the batch is in flight. */
  private async renewLeases(): Promise<void> {
    const { store, tuning } = this.options;
    for (const state of this.states.values()) {
      if (!state.inFlight || state.leaseUntil <= Date.now()) continue;
      const now = Date.now();
      try {
        state.leaseUntil = (await store.claimDelivery(state.ref.tenant, state.ref.channel, this.owner, tuning.leaseMs)) ? now + tuning.leaseMs : 0;
      } catch (error) {
        this.options.logger.warn({ err: error, channel: state.ref.channel }, 'cannot renew a delivery lease');
      }
    }
  }

  async sweep(): Promise<void> {
    // While the store is unreachable it reports the outage itself; a sweep could only fail.
    if (this.options.store.health?.().ready === false) return;
    try {
      for (const ref of await this.options.store.pendingChannels()) this.enqueue(ref);
      this.kick();
    } catch (error) {
      this.options.logger.error({ err: error }, 'cannot list channels pending delivery');
    }
  }

  private state(ref: ChannelRef): ChannelState {
    const key = channelKey(ref.tenant, ref.channel);
    let state = this.states.get(key);
    if (!state) {
      if (this.states.size >= MAX_TRACKED_CHANNELS) this.forgetIdle();
      state = {
        ref: { tenant: ref.tenant, channel: ref.channel },
        key,
        cursor: undefined,
        leaseUntil: 0,
        inFlight: false,
        again: false,
        waiters: [],
        excludes: new Map(),
        failed: new Set(),
        watchingStore: false,
      };
      this.states.set(key, state);
    }
    return state;
  }

  private forgetIdle(): void {
    for (const [key, state] of this.states) {
      if (!state.inFlight && !this.ready.has(key) && state.waiters.length === 0 && state.excludes.size === 0 && !state.watchingStore) this.states.delete(key);
    }
  }

  /** Notes that the channel has (or may have) events to deliver; call kick() to start. */
  enqueue(ref: ChannelRef, seq?: number, excludeSocketId?: string): void {
    if (this.closed) return;
    const state = this.state(ref);
    if (seq !== undefined && excludeSocketId) state.excludes.set(seq, excludeSocketId);
    if (state.inFlight) state.again = true;
    else this.ready.add(state.key);
  }

  /** `delivered` once the provider took the channel's events up to `seq`; `pending` when that did not happen on the first try. */
  waitFor(ref: ChannelRef, seq: number): Promise<DeliveryOutcome> {
    const state = this.state(ref);
    if (state.cursor !== undefined && state.cursor >= seq) return Promise.resolve(state.failed.has(seq) ? 'refused' : 'delivered');
    if (this.closed || this.blockedUntil(ref.tenant) > Date.now()) return Promise.resolve('pending');
    return new Promise((resolve) => {
      const waiter: Waiter = {
        seq,
        resolve: (outcome) => {
          clearTimeout(timer);
          resolve(outcome);
        },
      };
      const timer = setTimeout(() => {
        state.waiters = state.waiters.filter((other) => other !== waiter);
        resolve('pending');
      }, this.options.tuning.providerTimeoutMs * 2);
      state.waiters.push(waiter);
    });
  }

  /** `delivered` false: waiters not yet covered by the cursor give up (answer `accepted`). */
  private settleWaiters(state: ChannelState, delivered: boolean, cursor = state.cursor ?? 0): void {
    const remaining: Waiter[] = [];
    for (const waiter of state.waiters) {
      if (waiter.seq <= cursor) waiter.resolve(state.failed.has(waiter.seq) ? 'refused' : 'delivered');
      else if (!delivered) waiter.resolve('pending');
      else remaining.push(waiter);
    }
    state.waiters = remaining;
    for (const seq of state.failed) if (seq <= cursor) state.failed.delete(seq);
  }

  /**
   * Another node delivers this channel: its publishers here learn the outcome from the
   * shared cursor, so `delivered` means the same on every node.
   */
  private watchStoreCursor(state: ChannelState): void {
    if (state.watchingStore || state.waiters.length === 0) return;
    state.watchingStore = true;
    const { store } = this.options;
    const poll = async (): Promise<void> => {
      while (state.waiters.length > 0 && !this.closed && state.leaseUntil <= Date.now()) {
        await new Promise((resolve) => setTimeout(resolve, REMOTE_CURSOR_POLL_MS));
        try {
          this.settleWaiters(state, true, await store.deliveredSeq(state.ref.tenant, state.ref.channel));
        } catch {
          // The waiters' own timeout answers `accepted`.
        }
      }
      state.watchingStore = false;
    };
    void poll();
  }

  private blockedUntil(name: string): number {
    const tenant = this.tenants.get(name);
    if (!tenant) return 0;
    return Math.max(tenant.retryAt, tenant.breaker.state === 'open' ? tenant.breaker.retryAt : 0);
  }

  /** Calls the tenant may start now: none while backing off, one trial while half-open. */
  private room(name: string, now: number): number {
    const tenant = this.tenants.get(name);
    if (!tenant) return this.options.tuning.perTenantConcurrency;
    if (this.blockedUntil(name) > now) return 0;
    const limit = tenant.breaker.state === 'half-open' ? 1 : this.options.tuning.perTenantConcurrency;
    return limit - tenant.inFlight;
  }

  kick(): void {
    if (this.closed) return;
    while (this.inFlight < this.options.tuning.concurrency && this.ready.size > 0) {
      const first = this.takeReady(undefined, Date.now());
      if (!first) {
        this.waitForBlockedTenants();
        return;
      }
      const tenant = this.tenant(first.ref.tenant);
      tenant.inFlight += 1;
      this.inFlight += 1;
      const run = this.runBatch(first, tenant).finally(() => {
        tenant.inFlight -= 1;
        this.inFlight -= 1;
        this.running.delete(run);
        this.settleTenant(first.ref.tenant);
        this.kick();
      });
      this.running.add(run);
    }
  }

  /**
   * Every ready channel belongs to a tenant that may not start a call now. Publishes waiting
   * on backed-off tenants' channels answer `accepted`; the next retry is scheduled.
   */
  private waitForBlockedTenants(): void {
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const key of this.ready) {
      const state = this.states.get(key);
      if (!state) continue;
      const until = this.blockedUntil(state.ref.tenant);
      if (until > now) {
        this.settleWaiters(state, false);
        next = Math.min(next, until);
      } else if (this.room(state.ref.tenant, now) > 0) {
        // Its backoff ended since kick() looked. (A tenant at its limit is kicked again when a call ends.)
        next = now;
      }
    }
    if (next !== Number.POSITIVE_INFINITY) this.scheduleRetry(next);
  }

  private scheduleRetry(at: number): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, Math.max(0, at - Date.now()));
    this.retryTimer.unref();
  }

  /**
   * The next ready channel of `tenant`, or (tenant undefined) of any tenant that may start a
   * call now; marked in flight.
   */
  private takeReady(tenant: string | undefined, now: number): ChannelState | undefined {
    for (const key of this.ready) {
      const state = this.states.get(key);
      if (!state || state.inFlight) {
        this.ready.delete(key);
        continue;
      }
      if (tenant === undefined ? this.room(state.ref.tenant, now) <= 0 : state.ref.tenant !== tenant) continue;
      this.ready.delete(key);
      state.inFlight = true;
      state.again = false;
      return state;
    }
    return undefined;
  }

  /** Renews the lease while it is fresh enough, else claims it and re-reads the cursor another node may have moved. */
  private async holdLease(state: ChannelState): Promise<boolean> {
    const { store, tuning } = this.options;
    const now = Date.now();
    if (state.leaseUntil - now > tuning.leaseMs / 2) return true;
    const fresh = state.leaseUntil < now;
    if (!(await store.claimDelivery(state.ref.tenant, state.ref.channel, this.owner, tuning.leaseMs))) {
      state.leaseUntil = 0;
      return false;
    }
    state.leaseUntil = now + tuning.leaseMs;
    if (fresh) state.cursor = undefined;
    return true;
  }

  /** `first` and more ready channels of its tenant, with their events after the cursor. */
  private async gather(first: ChannelState): Promise<Taken[]> {
    const { store, provider } = this.options;
    let room = provider.limits.maxBatchSize;
    // Take the channels synchronously, so a concurrent kick() starts no second batch for them.
    const candidates: ChannelState[] = [first];
    const now = Date.now();
    for (let state = room > 1 ? this.takeReady(first.ref.tenant, now) : undefined; state; state = candidates.length < room ? this.takeReady(first.ref.tenant, now) : undefined) {
      candidates.push(state);
    }
    const taken: Taken[] = [];
    for (const [index, state] of candidates.entries()) {
      if (room === 0) {
        // The batch is full: the rest go back in line and may start calls of their own.
        for (const rest of candidates.slice(index)) this.release(rest, true, true);
        this.kick();
        break;
      }
      try {
        if (!(await this.holdLease(state))) {
          // Another node delivers this channel; it hears about our append through the store.
          state.inFlight = false;
          if (state.again) this.ready.add(state.key);
          state.again = false;
          this.watchStoreCursor(state);
          continue;
        }
        state.cursor ??= await store.deliveredSeq(state.ref.tenant, state.ref.channel);
        const events = await store.read(state.ref.tenant, state.ref.channel, state.cursor, room);
        if (events.length === 0) {
          this.release(state, true, false);
          continue;
        }
        taken.push({ state, events, full: events.length === room });
        room -= events.length;
      } catch (error) {
        for (const rest of candidates.slice(index)) this.release(rest, false, true);
        throw error;
      }
    }
    return taken;
  }

  /** Ends a channel's turn; `requeue` puts it back in line (more to do, or a retry). */
  private release(state: ChannelState, delivered: boolean, requeue: boolean): void {
    state.inFlight = false;
    this.settleWaiters(state, delivered);
    if (requeue || state.again) this.ready.add(state.key);
    state.again = false;
  }

  private async runBatch(first: ChannelState, tenant: TenantState): Promise<void> {
    let taken: Taken[] = [];
    try {
      taken = await this.gather(first);
      if (taken.length === 0) return;
      if (!tenant.breaker.tryAcquire()) {
        for (const { state } of taken) this.release(state, false, true);
        return;
      }
      await this.send(taken, tenant);
    } catch (error) {
      this.options.logger.error({ err: error }, 'delivery to the provider failed unexpectedly');
      for (const { state } of taken) if (state.inFlight) this.release(state, false, true);
      this.backOff(tenant);
    }
  }

  private async send(taken: Taken[], tenant: TenantState): Promise<void> {
    const { provider, tuning, logger, checkDeliverable } = this.options;
    const items: Item[] = taken.flatMap(({ state, events }) =>
      events.map((envelope) => {
        const refusal = checkDeliverable?.(state.ref.tenant, envelope);
        return refusal === undefined ? { state, envelope } : { state, envelope, refusal };
      }),
    );
    const outgoing = items.filter((item) => item.refusal === undefined);
    const messages: ProviderMessage[] = outgoing.map(({ state, envelope }) => {
      const excludeSocketId = state.excludes.get(envelope.seq);
      return excludeSocketId ? { tenant: state.ref.tenant, envelope, excludeSocketId } : { tenant: state.ref.tenant, envelope };
    });
    let accepted = messages.length;
    let error: unknown;
    let refusedByProvider = false;
    if (messages.length > 0) {
      const limit = deadline(tuning.providerTimeoutMs, this.shutdown.signal);
      try {
        await abortable(provider.publish(messages, limit.signal), limit.signal);
      } catch (caught) {
        error = caught;
        const partial = caught instanceof ProviderPublishError ? caught : undefined;
        accepted = Math.max(0, Math.min(partial?.taken ?? 0, messages.length));
        const refused = partial?.permanent ? outgoing[accepted] : undefined;
        if (refused) {
          refused.refusal = partial?.message ?? 'refused by the provider';
          refusedByProvider = true;
        }
      } finally {
        limit.dispose();
      }
    }
    const took = messages.slice(0, accepted);
    if (took.length > 0) this.options.observer?.delivered(took);
    const done = this.settleItems(items, outgoing.slice(0, accepted));
    const outage = error !== undefined && !refusedByProvider;
    if (outage) {
      tenant.breaker.failure();
      this.backOff(tenant);
      this.options.observer?.failed(messages.slice(accepted), tenant.attempt, error);
      logger.warn(
        { provider: provider.name, err: error, events: messages.length - accepted, attempt: tenant.attempt, circuit: tenant.breaker.state },
        'provider did not take the events; they stay pending',
      );
    } else {
      tenant.breaker.success();
      tenant.attempt = 0;
      tenant.retryAt = 0;
    }
    await this.advanceCursors(taken, done, !outage);
  }

  /**
   * Events are done in one prefix of the batch: those the provider took, and those it can
   * never take (reported as failures). Everything after the first other event waits.
   */
  private settleItems(items: Item[], took: Item[]): Item[] {
    const tookSet = new Set(took);
    const done: Item[] = [];
    for (const item of items) {
      if (tookSet.has(item)) {
        done.push(item);
      } else if (item.refusal !== undefined) {
        done.push(item);
        item.state.failed.add(item.envelope.seq);
        const failure = {
          tenant: item.state.ref.tenant,
          channel: item.state.ref.channel,
          id: item.envelope.id,
          seq: item.envelope.seq,
          event: item.envelope.event,
          reason: item.refusal,
          at: Date.now(),
        };
        this.options.logger.warn(failure, 'event can never be delivered to the provider; skipped');
        this.options.observer?.undeliverable?.(failure);
      } else {
        break;
      }
    }
    return done;
  }

  /** Moves each channel's cursor past its done events and ends its turn; channels with more to do go back in line. */
  private async advanceCursors(taken: Taken[], done: Item[], healthy: boolean): Promise<void> {
    const lastDone = new Map<ChannelState, number>();
    for (const { state, envelope } of done) lastDone.set(state, envelope.seq);
    for (const { state, events, full } of taken) {
      const last = lastDone.get(state);
      if (last !== undefined) {
        state.cursor = last;
        for (const seq of state.excludes.keys()) if (seq <= last) state.excludes.delete(seq);
        try {
          await this.options.store.markDelivered(state.ref.tenant, state.ref.channel, last);
        } catch (error) {
          // The provider has them; at worst they are delivered again after a restart.
          this.options.logger.error({ err: error, channel: state.ref.channel }, 'cannot persist the delivery cursor');
        }
      }
      const finished = last === (events[events.length - 1] as Envelope).seq;
      this.release(state, healthy, full || !finished);
    }
  }

  private backOff(tenant: TenantState): void {
    tenant.attempt += 1;
    tenant.retryAt = Date.now() + fullJitterDelay(tenant.attempt, this.options.tuning.backoff, this.options.random);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    clearInterval(this.renewTimer);
    clearTimeout(this.retryTimer);
    const grace = setTimeout(() => this.shutdown.abort(new Error('publish pipeline closed')), this.options.tuning.closeGraceMs);
    await Promise.allSettled([...this.running]);
    clearTimeout(grace);
    const held = [...this.states.values()].filter((state) => state.leaseUntil > Date.now());
    await Promise.allSettled(held.map((state) => this.options.store.releaseDelivery(state.ref.tenant, state.ref.channel, this.owner)));
    for (const state of this.states.values()) this.settleWaiters(state, false);
    this.states.clear();
    this.ready.clear();
  }
}
