/** Log lines say a provider error's words once, even when it wraps a cause with the same message. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/server/logger.js';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, logger: createLogger('info', stream) };
}

describe('logger', () => {
  it('does not double a message its cause already says, and keeps a cause that adds something', () => {
    const { lines, logger } = capture();
    const cause = new Error('Pusher POST /batch_events failed: fetch failed');
    logger.warn({ err: new Error('Pusher POST /batch_events failed: fetch failed', { cause }) }, 'provider did not take the events');
    logger.warn({ err: new Error('delivery failed', { cause: new Error('ECONNREFUSED') }) }, 'second');
    const [first, second] = lines.map((line) => (JSON.parse(line) as { err: { message: string } }).err.message);
    expect(first).toBe('Pusher POST /batch_events failed: fetch failed');
    expect(second).toBe('delivery failed: ECONNREFUSED');
  });
});
