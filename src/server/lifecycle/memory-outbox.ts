/** In-process outbox for tests and runs with the memory event store (lost on restart, like the log). */
import { clipError, roomFor, type ClaimRoom, type DeadLetter, type OutboxMessage, type PendingMessage, type WebhookOutbox } from './outbox.js';

interface Queue {
  entries: PendingMessage[];
  dueAt: number;
  /** The head failed and waits for `dueAt` (as opposed to being leased). */
  waiting: boolean;
}

export class MemoryWebhookOutbox implements WebhookOutbox {
  private readonly queues = new Map<string, Queue>();
  private readonly pendingIds = new Map<string, string>();
  private readonly dead = new Map<string, DeadLetter>();

  async enqueue(messages: OutboxMessage[]): Promise<void> {
    for (const message of messages) this.push({ ...message, attempts: 0 });
  }

  private push(entry: PendingMessage): void {
    if (this.pendingIds.has(entry.id)) return;
    let queue = this.queues.get(entry.orderKey);
    if (!queue) {
      queue = { entries: [], dueAt: 0, waiting: false };
      this.queues.set(entry.orderKey, queue);
    }
    queue.entries.push(entry);
    this.pendingIds.set(entry.id, entry.orderKey);
  }

  async claimDue(now: number, limit: number, leaseMs: number, room?: ClaimRoom): Promise<PendingMessage[]> {
    const heads = [...this.queues.values()].filter((queue) => queue.entries.length > 0 && queue.dueAt <= now);
    heads.sort((a, b) => a.dueAt - b.dueAt);
    const due: PendingMessage[] = [];
    const taken = new Map<string, number>();
    for (const queue of heads) {
      if (due.length >= limit) break;
      const head = queue.entries[0] as PendingMessage;
      const count = taken.get(head.tenant) ?? 0;
      if (roomFor(room, head.tenant, count) <= 0) continue;
      taken.set(head.tenant, count + 1);
      queue.dueAt = now + leaseMs;
      queue.waiting = false;
      due.push({ ...head });
    }
    return due;
  }

  async releaseRetries(tenant: string, now: number): Promise<number> {
    let released = 0;
    for (const queue of this.queues.values()) {
      if (!queue.waiting || queue.entries[0]?.tenant !== tenant) continue;
      queue.waiting = false;
      queue.dueAt = now;
      released++;
    }
    return released;
  }

  /** The queue whose head is `id`, if it is one. */
  private headQueue(id: string): Queue | undefined {
    const key = this.pendingIds.get(id);
    const queue = key === undefined ? undefined : this.queues.get(key);
    return queue?.entries[0]?.id === id ? queue : undefined;
  }

  private shift(id: string): PendingMessage | undefined {
    const key = this.pendingIds.get(id);
    const queue = this.headQueue(id);
    if (key === undefined || !queue) return undefined;
    const head = queue.entries.shift();
    this.pendingIds.delete(id);
    queue.dueAt = 0;
    queue.waiting = false;
    if (queue.entries.length === 0) this.queues.delete(key);
    return head;
  }

  async delivered(id: string): Promise<void> {
    this.shift(id);
  }

  async retryLater(id: string, retryAt: number, error: string): Promise<void> {
    const queue = this.headQueue(id);
    const head = queue?.entries[0];
    if (!queue || !head) return;
    head.attempts += 1;
    head.lastError = clipError(error);
    queue.dueAt = retryAt;
    queue.waiting = true;
  }

  async deadLetter(id: string, error: string, now: number): Promise<void> {
    const head = this.shift(id);
    if (!head) return;
    this.dead.set(id, { ...head, attempts: head.attempts + 1, lastError: clipError(error), deadAt: now });
  }

  async deadLetters(tenant: string | undefined, limit: number): Promise<{ total: number; letters: DeadLetter[] }> {
    const matching = [...this.dead.values()].filter((letter) => tenant === undefined || letter.tenant === tenant);
    matching.sort((a, b) => b.deadAt - a.deadAt);
    return { total: matching.length, letters: matching.slice(0, limit) };
  }

  async redeliver(tenant: string | undefined, ids: string[] | undefined, now: number): Promise<number> {
    const wanted = ids === undefined ? [...this.dead.keys()] : ids;
    let moved = 0;
    for (const id of wanted) {
      const letter = this.dead.get(id);
      if (!letter || (tenant !== undefined && letter.tenant !== tenant)) continue;
      this.dead.delete(id);
      const { id: letterId, orderKey, tenant: letterTenant, payload } = letter;
      this.push({ id: letterId, orderKey, tenant: letterTenant, payload, queuedAt: now, attempts: 0 });
      moved++;
    }
    return moved;
  }

  async close(): Promise<void> {}
}
