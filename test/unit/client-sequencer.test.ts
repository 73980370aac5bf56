import { describe, expect, it } from 'vitest';
import { Sequencer } from '../../src/client/sequencer.js';
import type { ClientEnvelope } from '../../src/client/schemas.js';

const env = (seq: number): ClientEnvelope => ({ id: `e${seq}`, channel: 'orders:1', event: 'n', data: seq, seq, ts: seq });
const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

function setup(log: ClientEnvelope[] = [env(1), env(2), env(3), env(4), env(5)], since?: number) {
  const delivered: number[] = [];
  const requests: number[] = [];
  const sequencer = new Sequencer({
    history: async (after, limit) => {
      requests.push(after);
      return { events: log.filter((e) => e.seq > after).slice(0, limit) };
    },
    deliver: (e) => delivered.push(e.seq),
    onError: () => undefined,
    ...(since !== undefined ? { since } : {}),
    pageSize: 2,
  });
  return { sequencer, delivered, requests };
}

describe('Sequencer', () => {
  it('delivers in order and once, dropping duplicates by id and old seqs', () => {
    const { sequencer, delivered } = setup();
    sequencer.accept(env(1));
    sequencer.accept(env(1));
    sequencer.accept(env(2));
    sequencer.accept({ ...env(2), id: 'other' });
    expect(delivered).toEqual([1, 2]);
  });

  it('fills a gap from history (paging) and then the buffered live events', async () => {
    const { sequencer, delivered, requests } = setup();
    sequencer.accept(env(1));
    sequencer.accept(env(5));
    await flush();
    await flush();
    expect(delivered).toEqual([1, 2, 3, 4, 5]);
    expect(requests[0]).toBe(1);
  });

  it('recovers after a resubscribe and from a stored position', async () => {
    const { sequencer, delivered } = setup(undefined, 3);
    sequencer.resume();
    await flush();
    await flush();
    expect(delivered).toEqual([4, 5]);
  });

  it('reports events no longer in history and goes on', async () => {
    const errors: string[] = [];
    const delivered: number[] = [];
    const sequencer = new Sequencer({
      history: async () => ({ events: [] }),
      deliver: (e) => delivered.push(e.seq),
      onError: (error) => errors.push(error.code),
    });
    sequencer.accept(env(1));
    sequencer.accept(env(4));
    await flush();
    expect(delivered).toEqual([1, 4]);
    expect(errors).toEqual(['not_found']);
  });
});
