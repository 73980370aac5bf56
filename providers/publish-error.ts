/**
 * How a provider reports a `publish` it could not complete, so the pipeline resends only
 * what the provider did not take and never retries what it can never take.
 *
 * - `taken`: how many leading messages of the call the provider accepted before the
 *   failure. The pipeline advances its delivery cursor past them and never resends them.
 * - `permanent`: the message at index `taken` will never be accepted (a 4xx other than
 *   408/429: too large, bad name, forbidden). The pipeline records that one event as a
 *   delivery failure and carries on with the next; it is not an outage.
 *
 * Any other error thrown by `publish` means: nothing is known to have been taken, retry
 * the whole call later (timeouts, 5xx, 429, network errors).
 */
export class ProviderPublishError extends Error {
  override readonly name = 'ProviderPublishError';

  constructor(
    message: string,
    readonly taken: number,
    readonly permanent: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** HTTP statuses after which resending the same request can never succeed. */
export function isPermanentHttpStatus(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 409 && status !== 425 && status !== 429;
}
