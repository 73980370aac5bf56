/**
 * Server-side publish credentials. Keys are kept only as SHA-256 digests and compared
 * in constant time against every stored digest, so neither timing nor memory dumps
 * reveal them. A tenant key is bound to one tenant; an admin key must name the tenant.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { TENANT_PATTERN } from '../../core/channels.js';

export type ApiKeyOwner = { kind: 'tenant'; tenant: string } | { kind: 'admin' };

interface StoredKey {
  digest: Buffer;
  owner: ApiKeyOwner;
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

export class ApiKeys {
  private readonly keys: StoredKey[] = [];

  addTenantKey(tenant: string, key: string): void {
    this.keys.push({ digest: digest(key), owner: { kind: 'tenant', tenant } });
  }

  addAdminKey(key: string): void {
    this.keys.push({ digest: digest(key), owner: { kind: 'admin' } });
  }

  get size(): number {
    return this.keys.length;
  }

  /** Finds the owner of `key`, looking at every stored key so the time taken does not depend on which matched. */
  lookup(key: string): ApiKeyOwner | undefined {
    const presented = digest(key);
    let found: ApiKeyOwner | undefined;
    for (const stored of this.keys) {
      if (timingSafeEqual(stored.digest, presented) && !found) found = stored.owner;
    }
    return found;
  }
}

const MIN_KEY_LENGTH = 16;

/** Parses `tenant:key,tenant:key` (SWITCHBOARD_API_KEYS) and plain `key,key` admin lists. */
export function parseApiKeys(tenantKeys: string | undefined, adminKeys: string | undefined): ApiKeys {
  const keys = new ApiKeys();
  for (const pair of (tenantKeys ?? '').split(',').map((part) => part.trim()).filter(Boolean)) {
    const colon = pair.indexOf(':');
    const tenant = pair.slice(0, colon);
    const key = pair.slice(colon + 1);
    if (colon <= 0 || !TENANT_PATTERN.test(tenant)) throw new Error('SWITCHBOARD_API_KEYS must be comma-separated tenant:key pairs');
    if (key.length < MIN_KEY_LENGTH) throw new Error(`SWITCHBOARD_API_KEYS: keys must be at least ${MIN_KEY_LENGTH} characters`);
    keys.addTenantKey(tenant, key);
  }
  for (const key of (adminKeys ?? '').split(',').map((part) => part.trim()).filter(Boolean)) {
    if (key.length < MIN_KEY_LENGTH) throw new Error(`SWITCHBOARD_ADMIN_KEYS: keys must be at least ${MIN_KEY_LENGTH} characters`);
    keys.addAdminKey(key);
  }
  return keys;
}
