/** How a dependency (event store, provider, its fan-out) is doing, for /readyz and the admin page. */
export interface ComponentHealth {
  ready: boolean;
  /** Why it is not ready, in words an operator can act on. */
  detail?: string;
  /** Since when (ms since epoch) it has not been ready. */
  since?: number;
}
