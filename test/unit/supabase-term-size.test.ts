/**
 * The bound the Supabase provider checks payloads with must never be below
 * `:erlang.external_size` of the term Realtime decodes the JSON to (the emulator's exact
 * model in test/fixtures/supabase-emulator/external-size.ts), or Switchboard would let
 * through what Realtime refuses for good.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { externalSizeBound } from '../../providers/supabase/term-size.js';
import { erlangExternalSize } from '../fixtures/supabase-emulator/external-size.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 200);

function holds(value: unknown): void {
  const json = JSON.stringify(value);
  const exact = erlangExternalSize(json);
  const bound = externalSizeBound(json);
  expect(bound).toBeGreaterThanOrEqual(exact);
}

describe('Erlang external term size bound', () => {
  it('matches known external_size values of decoded JSON', () => {
    // :erlang.external_size(%{}) = 6; %{"a" => 1} = 1 + 5 + 6 + 2 = 14; [0.5] = 1 + 5 + 9 + 1 = 16; "abc" = 9.
    expect(erlangExternalSize('{}')).toBe(6);
    expect(erlangExternalSize('{"a":1}')).toBe(14);
    expect(erlangExternalSize('[0.5]')).toBe(16);
    expect(erlangExternalSize('"abc"')).toBe(9);
    expect(erlangExternalSize('[1,2,3]')).toBe(1 + 3 + 3); // STRING_EXT
    expect(erlangExternalSize('[1,2,300]')).toBe(1 + 5 + 2 + 2 + 5 + 1);
    expect(erlangExternalSize('null')).toBe(1 + 2 + 3);
    expect(erlangExternalSize('12345678901234567890')).toBe(1 + 3 + 8);
    expect(erlangExternalSize('-2147483648')).toBe(1 + 5);
    expect(erlangExternalSize('2147483648')).toBe(1 + 3 + 4);
  });

  it('is never below the real size of arbitrary JSON', () => {
    fc.assert(fc.property(fc.jsonValue(), holds), { numRuns: RUNS });
  });

  it('is never below the real size of the shapes that grow most against JSON', () => {
    const floats = fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { maxLength: 2000 });
    const smallObjects = fc.array(fc.dictionary(fc.string({ maxLength: 3 }), fc.oneof(fc.integer(), fc.boolean(), fc.constant(null)), { maxKeys: 3 }), { maxLength: 500 });
    const strings = fc.array(fc.oneof(fc.string({ maxLength: 2 }), fc.string({ unit: 'grapheme', maxLength: 2000 })), { maxLength: 200 });
    const integers = fc.array(fc.oneof(fc.integer({ min: 0, max: 255 }), fc.integer(), fc.maxSafeInteger(), fc.constantFrom(1e20, -1e20, 2 ** 53, 2 ** 31, -(2 ** 31) - 1)), { maxLength: 2000 });
    fc.assert(fc.property(fc.oneof(floats, smallObjects, strings, integers), holds), { numRuns: RUNS });
  });

  it('counts an array of floats at more than twice its JSON bytes', () => {
    const json = JSON.stringify(Array.from({ length: 1000 }, () => 0.5));
    expect(externalSizeBound(json)).toBe(erlangExternalSize(json));
    expect(externalSizeBound(json)).toBeGreaterThan(2 * json.length);
  });
});
