/**
 * Events the provider refused for good, kept per tenant for the admin view: a count since
 * start and the most recent few (bounded, so a tenant publishing nothing but poison costs
 * a fixed amount of memory). Metrics count them too; the log line has every one.
 */
import type { DeliveryFailure } from './delivery.js';

const RECENT_PER_TENANT = 20;
const MAX_TENANTS = 10_000;

export interface TenantDeliveryFailures {
  total: number;
  recent: DeliveryFailure[];
}

export class DeliveryFailureLog {
  private readonly byTenant = new Map<string, TenantDeliveryFailures>();

  record(failure: DeliveryFailure): void {
    let entry = this.byTenant.get(failure.tenant);
    if (!entry) {
      if (this.byTenant.size >= MAX_TENANTS) {
        const oldest = this.byTenant.keys().next().value;
        if (oldest !== undefined) this.byTenant.delete(oldest);
      }
      entry = { total: 0, recent: [] };
      this.byTenant.set(failure.tenant, entry);
    }
    entry.total += 1;
    entry.recent.unshift(failure);
    if (entry.recent.length > RECENT_PER_TENANT) entry.recent.length = RECENT_PER_TENANT;
  }

  forTenant(tenant: string): TenantDeliveryFailures {
    const entry = this.byTenant.get(tenant);
    return entry ? { total: entry.total, recent: [...entry.recent] } : { total: 0, recent: [] };
  }

  tenants(): string[] {
    return [...this.byTenant.keys()];
  }
}
