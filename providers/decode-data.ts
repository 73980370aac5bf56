/**
 * Event data as client SDKs hand it over: envelopes are always JSON, but pusher-js leaves
 * `data` a string when it is not an object and Ably decodes only what it was told was JSON.
 * Browser-safe; the wrapper validates whatever this returns.
 */
export function decodeData(data: unknown): unknown {
  if (typeof data !== 'string') return data;
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return data;
  }
}
