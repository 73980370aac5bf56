/**
 * The local server ends subscriptions when their authorization expires through one timing
 * wheel. Whatever deadlines are added and removed, each key still present fires once, no
 * earlier than its deadline and at most one tick after it; removed keys never fire.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EXPIRY_TICK_MS, ExpiryWheel } from '../../providers/local/expiry-wheel.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('expiry wheel', () => {
  it('fires each remaining key once, within a tick after its deadline (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ offset: fc.integer({ min: -500, max: 5000 }), removeAt: fc.option(fc.integer({ min: 0, max: 6000 }), { nil: undefined }) }), {
          maxLength: 30,
        }),
        (entries) => {
          vi.useFakeTimers({ now: 1_700_000_000_123 });
          const start = Date.now();
          const fired: { key: number; at: number }[] = [];
          const wheel = new ExpiryWheel<number, number>((key) => fired.push({ key, at: Date.now() }));
          entries.forEach((entry, key) => wheel.add(key, key, start + entry.offset));
          const removals = entries.flatMap((entry, key) => (entry.removeAt === undefined ? [] : [{ key, at: start + entry.removeAt, deadline: start + entry.offset }]));
          const removed = new Set<number>();
          for (let now = start; now <= start + 7000; now += 50) {
            for (const removal of removals) {
              if (removal.at <= now && !removed.has(removal.key) && !fired.some((entry) => entry.key === removal.key)) {
                wheel.remove(removal.key, removal.deadline);
                removed.add(removal.key);
              }
            }
            vi.advanceTimersByTime(50);
          }
          for (const [key, entry] of entries.entries()) {
            const firings = fired.filter((firing) => firing.key === key);
            if (removed.has(key)) {
              expect(firings).toEqual([]);
              continue;
            }
            expect(firings).toHaveLength(1);
            const deadline = start + entry.offset;
            expect(firings[0]?.at).toBeGreaterThanOrEqual(deadline);
            expect(firings[0]?.at).toBeLessThanOrEqual(Math.max(deadline, start) + 2 * EXPIRY_TICK_MS);
          }
          expect(wheel.size).toBe(0);
          wheel.close();
          vi.useRealTimers();
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 40) },
    );
  });
});
