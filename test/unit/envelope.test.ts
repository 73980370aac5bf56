import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { payloadBytes } from '../../src/core/envelope.js';
import { envelopeSchema, eventNameSchema } from '../../src/core/schemas.js';
import { SwitchboardError } from '../../src/core/errors.js';

describe('envelope', () => {
  it('accepts a well-formed envelope', () => {
    const envelope = { id: '01J0000000000000000000000', channel: 'orders:1', event: 'status', data: { status: 'shipped' }, seq: 1, ts: 1 };
    expect(envelopeSchema.parse(envelope)).toEqual(envelope);
  });

  // Every name the Pusher protocol carries, e.g. Laravel's default broadcast names.
  it.each(['status', 'order.updated', 'a:b', 'App\\Events\\OrderShipped', 'has space', 'a/b', 'pusherish', 'é✓', 'x'.repeat(200)])(
    'accepts event name %s',
    (name) => {
      expect(eventNameSchema.safeParse(name).success).toBe(true);
    },
  );

  it.each(['', 'pusher:error', 'pusher_internal:x', 'client-typing', 'x'.repeat(201), 'a\nb', 'a\rb', 'tab\t', 'del\u007f', 'nul\u0000'])(
    'rejects event name %j',
    (name) => {
      expect(eventNameSchema.safeParse(name).success).toBe(false);
    },
  );

  it('accepts exactly the names of 1-200 characters without control characters or a reserved prefix', () => {
    const names = fc.oneof(
      fc.string({ unit: 'binary-ascii', maxLength: 210 }),
      fc.tuple(fc.constantFrom('pusher:', 'pusher_internal:', 'client-', 'pusher', 'client'), fc.string({ maxLength: 20 })).map(([a, b]) => a + b),
    );
    fc.assert(
      fc.property(names, (name) => {
        const expected =
          name.length >= 1 &&
          name.length <= 200 &&
          ![...name].some((char) => char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f) &&
          !['pusher:', 'pusher_internal:', 'client-'].some((prefix) => name.startsWith(prefix));
        expect(eventNameSchema.safeParse(name).success).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects bad seq and channel', () => {
    expect(envelopeSchema.safeParse({ id: 'a', channel: 'orders', event: 'e', data: 1, seq: 1, ts: 1 }).success).toBe(false);
    expect(envelopeSchema.safeParse({ id: 'a', channel: 'orders:1', event: 'e', data: 1, seq: 0, ts: 1 }).success).toBe(false);
  });

  it('measures payloads in UTF-8 bytes of their JSON', () => {
    expect(payloadBytes({ a: 'é' })).toBe(10);
  });
});

describe('problem details', () => {
  it('render a stable code and RFC 9457 fields', () => {
    const problem = new SwitchboardError('forbidden', 'nope', [{ path: 'x', message: 'y' }]).toProblem();
    expect(problem).toEqual({ type: 'urn:switchboard:problem:forbidden', title: 'forbidden', status: 403, code: 'forbidden', detail: 'nope', issues: [{ path: 'x', message: 'y' }] });
  });
});
