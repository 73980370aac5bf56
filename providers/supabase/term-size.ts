/**
 * Realtime refuses a broadcast whose payload is over the plan limit measured as
 * `:erlang.external_size(payload)` (supabase/realtime `Tenants.validate_payload_size`), the
 * size of the term Jason decodes the JSON to, not the JSON's bytes. That term is larger for
 * some shapes: a float in an array costs 9 bytes in the external format against 4 in JSON
 * (`0.5,`), a short string 5 + its bytes against 2 + its bytes.
 *
 * `externalSizeBound` is never below the real size, so what it lets through Realtime takes:
 * it counts each part at the largest encoding Erlang may pick for it (format tags from the
 * Erlang external term format):
 *   version tag                  1
 *   map (JSON object)            MAP_EXT 1 + 4-byte arity, then keys and values
 *   binary (string or key)       BINARY_EXT 1 + 4-byte length + UTF-8 bytes
 *   list (JSON array)            LIST_EXT 1 + 4-byte length + elements + NIL_EXT 1 (NIL_EXT alone when empty;
 *                                a list of bytes may be the smaller STRING_EXT)
 *   integer                      SMALL_INTEGER_EXT 2 (0..255), INTEGER_EXT 5 (int32),
 *                                SMALL_BIG_EXT 3 + magnitude bytes
 *   float                        NEW_FLOAT_EXT 9
 *   true / false / nil (null)    ATOM_EXT 3 + name (newer OTPs use the 1-byte-shorter SMALL_ATOM_UTF8_EXT)
 * Jason makes an integer of a JSON number without `.` or exponent, a float otherwise; the
 * bound reads the same JSON text the request carries, so it sees what Jason sees.
 */

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

function magnitudeBytes(text: string): number {
  let magnitude = BigInt(text.replace(/^-/, ''));
  let bytes = 0;
  while (magnitude > 0n) {
    magnitude >>= 8n;
    bytes++;
  }
  return Math.max(1, bytes);
}

function numberSize(value: number): number {
  const text = JSON.stringify(value);
  if (/[.eE]/.test(text)) return 9;
  if (value >= 0 && value <= 255) return 2;
  if (value >= INT32_MIN && value <= INT32_MAX) return 5;
  return 3 + magnitudeBytes(text);
}

function termSize(value: unknown): number {
  if (value === null) return 3 + 'nil'.length;
  if (value === true) return 3 + 'true'.length;
  if (value === false) return 3 + 'false'.length;
  if (typeof value === 'string') return 5 + Buffer.byteLength(value, 'utf8');
  if (typeof value === 'number') return numberSize(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return 1;
    let size = 6;
    for (const item of value) size += termSize(item);
    return size;
  }
  let size = 5;
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) size += 5 + Buffer.byteLength(key, 'utf8') + termSize(item);
  return size;
}

/** An upper bound of `:erlang.external_size` of the term Realtime decodes `json` (a JSON text) to. */
export function externalSizeBound(json: string): number {
  return 1 + termSize(JSON.parse(json));
}
