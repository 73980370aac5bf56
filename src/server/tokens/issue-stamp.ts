/**
 * Issuance stamps: when a capability token was minted and when a user was terminated,
 * as integer epoch microseconds. Within one process every stamp is strictly greater
 * than the one before, so a token minted after a terminate — even in the same
 * millisecond — is never taken for one minted before it. Across nodes stamps are
 * ordered by the nodes' wall clocks (millisecond precision).
 */
let last = 0;

export function nextStamp(nowMs: number = Date.now()): number {
  last = Math.max(Math.floor(nowMs) * 1000, last + 1);
  return last;
}

/** Epoch seconds (how revocations were stored before stamps) read as the last microsecond of that second. */
const LEGACY_SECONDS_BELOW = 1e12;

export function stampFromStored(value: number): number {
  return value < LEGACY_SECONDS_BELOW ? value * 1_000_000 + 999_999 : value;
}

/** A token without a stamp (minted before stamps existed) counts as issued at the end of its `iat` second. */
export function stampOfLegacyToken(iatSeconds: number): number {
  return iatSeconds * 1_000_000 + 999_999;
}
