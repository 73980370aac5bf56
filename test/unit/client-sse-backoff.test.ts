import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/client/backoff.js';
import { SseParser, type SseMessage } from '../../src/client/sse/parser.js';

describe('backoffDelay', () => {
  it('uses full jitter below an exponential ceiling capped at maxMs', () => {
    const options = { baseMs: 1000, maxMs: 30_000 };
    expect(backoffDelay(0, options, () => 0.999)).toBe(999);
    expect(backoffDelay(3, options, () => 0.5)).toBe(4000);
    expect(backoffDelay(20, options, () => 0.999)).toBe(29_970);
    expect(backoffDelay(5, options, () => 0)).toBe(0);
  });
});

describe('SseParser', () => {
  it('parses events split across chunks, multi-line data, comments and id-only frames', () => {
    const messages: SseMessage[] = [];
    const parser = new SseParser((message) => messages.push(message));
    parser.push('retry: 3000\nid: c0\n\n: ping\n\nid: c1\nevent: sta');
    parser.push('tus\ndata: {"a":\ndata: 1}\r\n\r');
    parser.push('\ndata:x\n\n');
    expect(messages).toEqual([
      { id: 'c0', event: 'message', data: undefined },
      { id: 'c1', event: 'status', data: '{"a":\n1}' },
      { id: 'c1', event: 'message', data: 'x' },
    ]);
  });
});
