/**
 * Per-channel ordering and recovery: delivers envelopes in `seq` order, exactly once
 * (by `id`), and fills gaps from `/v1/history` — after a resubscribe (the connection
 * dropped, events may have been missed) and when a live event skips a `seq`.
 */
import { SwitchboardError } from '../core/errors.js';
import type { ClientEnvelope } from './schemas.js';

export interface HistoryPage {
  events: ClientEnvelope[];
  /** The channel's newest seq in the log. */
  lastSeq?: number;
}

export interface SequencerOptions {
  /** Fetches events with `seq > since`, oldest first. Undefined disables recovery. */
  history: ((since: number, limit: number) => Promise<HistoryPage>) | undefined;
  deliver(envelope: ClientEnvelope): void;
  onError(error: SwitchboardError): void;
  /** Resume after this seq (e.g. one the app stored); undefined = start with live events. */
  since?: number;
  pageSize?: number;
}

const REMEMBERED_IDS = 1000;
const MAX_PAGES_PER_RECOVERY = 50;
const RECOVERY_ATTEMPTS = 3;
const RECOVERY_RETRY_MS = 1000;

export class Sequencer {
  private lastSeq: number | undefined;
  /** The log's position when first subscribed: where recovery starts if the connection drops before any event arrived. */
  private floor: number | undefined;
  private readonly seen = new Set<string>();
  private buffer: ClientEnvelope[] = [];
  private recovering = false;
  private recoverAgain = false;
  private closed = false;

  constructor(private readonly options: SequencerOptions) {
    this.lastSeq = options.since;
  }

  get position(): number | undefined {
    return this.lastSeq;
  }

  accept(envelope: ClientEnvelope): void {
    if (this.closed || this.isOld(envelope)) return;
    if (this.recovering) {
      this.buffer.push(envelope);
      return;
    }
    if (this.lastSeq === undefined || envelope.seq === this.lastSeq + 1 || !this.options.history) {
      this.emit(envelope);
      return;
    }
    this.buffer.push(envelope);
    void this.recover();
  }

  /** The subscription is live (again): fetch whatever was published while it was not. */
  resume(): void {
    const history = this.options.history;
    if (!history) return;
    if (this.lastSeq === undefined && this.floor === undefined) {
      void this.fetchFloor(history);
      return;
    }
    void this.recover();
  }

  private async fetchFloor(history: NonNullable<SequencerOptions['history']>): Promise<void> {
    try {
      const { lastSeq } = await history(Number.MAX_SAFE_INTEGER, 1);
      this.floor ??= lastSeq ?? 0;
    } catch (error) {
      // Without a floor, recovery starts at the first live event instead.
      if (!this.closed) this.options.onError(toError(error));
    }
  }

  close(): void {
    this.closed = true;
    this.buffer = [];
  }

  private isOld(envelope: ClientEnvelope): boolean {
    return this.seen.has(envelope.id) || (this.lastSeq !== undefined && envelope.seq <= this.lastSeq);
  }

  private emit(envelope: ClientEnvelope): void {
    this.lastSeq = envelope.seq;
    this.seen.add(envelope.id);
    if (this.seen.size > REMEMBERED_IDS) {
      const oldest = this.seen.values().next();
      if (!oldest.done) this.seen.delete(oldest.value);
    }
    this.options.deliver(envelope);
  }

  private async recover(): Promise<void> {
    const history = this.options.history;
    if (!history) return;
    if (this.recovering) {
      this.recoverAgain = true;
      return;
    }
    this.recovering = true;
    for (let attempt = 1; !this.closed; attempt++) {
      try {
        do {
          this.recoverAgain = false;
          await this.fetchMissing(history);
        } while (this.recoverAgain && !this.closed);
        break;
      } catch (error) {
        if (this.closed) break;
        this.options.onError(toError(error));
        // Live events stay buffered meanwhile, so a short outage of the BFF loses nothing.
        if (attempt >= RECOVERY_ATTEMPTS) break;
        await new Promise((resolve) => setTimeout(resolve, RECOVERY_RETRY_MS * attempt));
      }
    }
    this.recovering = false;
    this.drainBuffer();
  }

  private async fetchMissing(history: NonNullable<SequencerOptions['history']>): Promise<void> {
    const limit = this.options.pageSize ?? 100;
    for (let page = 0; page < MAX_PAGES_PER_RECOVERY && !this.closed; page++) {
      const since = this.lastSeq ?? this.floor ?? 0;
      const { events } = await history(since, limit);
      if (this.closed) return;
      for (const envelope of [...events].sort((a, b) => a.seq - b.seq)) {
        if (!this.isOld(envelope)) this.emit(envelope);
      }
      if (events.length < limit) return;
    }
  }

  /** Live events held back during recovery; a hole left now was already evicted from history. */
  private drainBuffer(): void {
    const pending = this.buffer.sort((a, b) => a.seq - b.seq);
    this.buffer = [];
    for (const envelope of pending) {
      if (this.closed || this.isOld(envelope)) continue;
      if (this.lastSeq !== undefined && envelope.seq > this.lastSeq + 1) {
        this.options.onError(
          new SwitchboardError('not_found', `Events ${this.lastSeq + 1}..${envelope.seq - 1} are no longer in history and were skipped`),
        );
      }
      this.emit(envelope);
    }
  }
}

function toError(error: unknown): SwitchboardError {
  return error instanceof SwitchboardError
    ? error
    : new SwitchboardError('provider_unavailable', `History recovery failed: ${error instanceof Error ? error.message : String(error)}`);
}
