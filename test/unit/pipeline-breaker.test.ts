import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fullJitterDelay } from '../../src/server/publish/backoff.js';
import { CircuitBreaker } from '../../src/server/publish/circuit-breaker.js';

describe('fullJitterDelay', () => {
  it('stays below min(cap, base * 2^(attempt-1)) and reaches down to 0', () => {
    const options = { baseMs: 100, capMs: 5000 };
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (attempt, r) => {
        const delay = fullJitterDelay(attempt, options, () => r);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThan(Math.min(options.capMs, options.baseMs * 2 ** (attempt - 1)));
      }),
    );
    expect(fullJitterDelay(1, options, () => 0)).toBe(0);
    expect(fullJitterDelay(40, options, () => 0.999)).toBe(4995);
  });
});

describe('CircuitBreaker', () => {
  it('opens after the threshold, half-opens after openMs for exactly one trial, closes on success', () => {
    let now = 1000;
    const breaker = new CircuitBreaker({ failureThreshold: 3, openMs: 500, now: () => now });
    expect(breaker.state).toBe('closed');
    breaker.failure();
    breaker.failure();
    expect(breaker.tryAcquire()).toBe(true);
    breaker.failure();
    expect(breaker.state).toBe('open');
    expect(breaker.retryAt).toBe(1500);
    expect(breaker.tryAcquire()).toBe(false);

    now = 1500;
    expect(breaker.state).toBe('half-open');
    expect(breaker.tryAcquire()).toBe(true);
    expect(breaker.tryAcquire()).toBe(false);
    breaker.failure();
    expect(breaker.state).toBe('open');
    expect(breaker.retryAt).toBe(2000);

    now = 2000;
    expect(breaker.tryAcquire()).toBe(true);
    breaker.success();
    expect(breaker.state).toBe('closed');
    expect(breaker.tryAcquire()).toBe(true);
    expect(breaker.tryAcquire()).toBe(true);
  });

  it('resets the failure count on success', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 2, openMs: 500 });
    breaker.failure();
    breaker.success();
    breaker.failure();
    expect(breaker.state).toBe('closed');
  });
});
