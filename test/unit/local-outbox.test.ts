import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Outbox, type Flushable } from '../../providers/local/outbox.js';

const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 40);

function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

/** A socket stand-in: frames queued since the last flush, and everything written, in order. */
class FakeSocket implements Flushable {
  queue: number[] = [];
  written: number[] = [];
  constructor(
    private readonly outbox: Outbox,
    private readonly writeCostMs = 0,
  ) {}
  send(frame: number): void {
    if (this.queue.length === 0) this.outbox.markDirty(this);
    this.queue.push(frame);
  }
  flush(): void {
    if (this.writeCostMs > 0) busyWait(this.writeCostMs);
    this.written.push(...this.queue);
    this.queue = [];
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

async function until(done: () => boolean): Promise<void> {
  for (let waited = 0; !done() && waited < 5_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe('local outbox (fan-out writes)', () => {
  it('yields to the event loop during a big fan-out, so other work is served between slices', async () => {
    const outbox = new Outbox({ maxDelayMs: 5, sliceMs: 2 });
    const sockets = Array.from({ length: 256 }, () => new FakeSocket(outbox, 0.05));
    for (const socket of sockets) socket.send(1);
    let writtenWhenOtherWorkRan = -1;
    // Scheduled after the flush: without slicing it runs only once every socket was written.
    setImmediate(() => setImmediate(() => (writtenWhenOtherWorkRan = sockets.filter((s) => s.written.length > 0).length)));
    await until(() => sockets.every((socket) => socket.written.length > 0));
    expect(sockets.every((socket) => socket.written.length === 1)).toBe(true);
    expect(writtenWhenOtherWorkRan).toBeGreaterThan(0);
    expect(writtenWhenOtherWorkRan).toBeLessThan(sockets.length);
    outbox.close();
  });

  it('still coalesces: frames for sockets not yet written in a round join their single write', async () => {
    const outbox = new Outbox({ maxDelayMs: 5, sliceMs: 1 });
    const sockets = Array.from({ length: 200 }, () => new FakeSocket(outbox, 0.05));
    const writes = sockets.map(() => 0);
    sockets.forEach((socket, index) => {
      const flush = socket.flush.bind(socket);
      socket.flush = () => {
        writes[index] = (writes[index] ?? 0) + 1;
        flush();
      };
    });
    for (const socket of sockets) socket.send(1);
    setImmediate(() => sockets.forEach((socket) => socket.send(2)));
    await until(() => sockets.every((socket) => socket.written.length === 2));
    expect(sockets.every((socket) => socket.written.join() === '1,2')).toBe(true);
    // The sockets that had not been written when the second event came got both in one write.
    expect(writes.filter((count) => count === 1).length).toBeGreaterThan(0);
    outbox.close();
  });

  it('delivers every frame to every socket once and in order, whatever the interleaving of sends and slices', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.tuple(fc.nat(), fc.boolean()), { minLength: 1, maxLength: 120 }),
        async (socketCount, sends) => {
          const outbox = new Outbox({ maxDelayMs: 2, sliceMs: 0.01 });
          const sockets = Array.from({ length: socketCount }, () => new FakeSocket(outbox));
          const expected = sockets.map((): number[] => []);
          let frame = 0;
          for (const [target, yieldFirst] of sends) {
            if (yieldFirst) await new Promise((resolve) => setImmediate(resolve));
            const index = target % socketCount;
            sockets[index]?.send(++frame);
            expected[index]?.push(frame);
          }
          await settle();
          outbox.close();
          expect(sockets.map((socket) => socket.written)).toEqual(expected);
        },
      ),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('writes nothing after close', async () => {
    const outbox = new Outbox({ maxDelayMs: 5, sliceMs: 1 });
    const socket = new FakeSocket(outbox);
    socket.send(1);
    outbox.close();
    await settle();
    expect(socket.written).toEqual([]);
  });
});
