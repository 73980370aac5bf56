/**
 * A query to a hosted provider's REST API answered from one call per interval: the admin
 * page polls every 2 s and Prometheus scrapes too. A failed call is not kept, so the next
 * caller tries again.
 */
export const STATS_CACHE_MS = 5000;

export function cachedQuery<T>(load: () => Promise<T>, maxAgeMs = STATS_CACHE_MS, now: () => number = Date.now): () => Promise<T> {
  let cache: { at: number; value: Promise<T> } | undefined;
  return () => {
    const at = now();
    if (!cache || at - cache.at > maxAgeMs) {
      const entry = { at, value: load() };
      cache = entry;
      entry.value.catch(() => {
        if (cache === entry) cache = undefined;
      });
    }
    return cache.value;
  };
}
