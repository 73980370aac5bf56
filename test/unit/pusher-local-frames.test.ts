import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { connectionEstablishedFrames, eventFrame, textFrame } from '../../providers/local/frames.js';

/** Decodes one unmasked server frame per RFC 6455 §5.2. */
function decode(frame: Buffer): { fin: boolean; opcode: number; masked: boolean; payload: string } {
  const first = frame[0] ?? 0;
  const second = frame[1] ?? 0;
  let length = second & 0x7f;
  let offset = 2;
  if (length === 126) {
    length = frame.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    length = Number(frame.readBigUInt64BE(2));
    offset = 10;
  }
  expect(frame.length).toBe(offset + length);
  return { fin: (first & 0x80) !== 0, opcode: first & 0x0f, masked: (second & 0x80) !== 0, payload: frame.subarray(offset).toString('utf8') };
}

describe('textFrame', () => {
  it.each([0, 1, 125, 126, 127, 65_535, 65_536, 70_000])('frames %i bytes with the right length encoding', (size) => {
    const text = 'a'.repeat(size);
    expect(decode(textFrame(text))).toEqual({ fin: true, opcode: 1, masked: false, payload: text });
  });

  it('counts UTF-8 bytes, not characters', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), (text) => {
        expect(decode(textFrame(text)).payload).toBe(text);
      }),
    );
  });
});

describe('connection set-up frames', () => {
  it('builds pusher:connection_established from its template byte for byte as from JSON', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 47 - 1 }), fc.integer({ min: 1, max: 2 ** 47 - 1 }), fc.integer({ min: 1, max: 100_000 }), (a, b, timeout) => {
        const socketId = `${a}.${b}`;
        const expected = eventFrame('pusher:connection_established', { socket_id: socketId, activity_timeout: timeout });
        expect(connectionEstablishedFrames(timeout)(socketId).equals(expected)).toBe(true);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 40) },
    );
    const frame = JSON.parse(decode(connectionEstablishedFrames(30)('12.34')).payload) as { event: string; data: string };
    expect(frame.event).toBe('pusher:connection_established');
    expect(JSON.parse(frame.data)).toEqual({ socket_id: '12.34', activity_timeout: 30 });
  });
});
