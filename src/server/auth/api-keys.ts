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

export const MIN_API_KEY_LENGTH = 16;

const entries = (list: string | undefined) => (list ?? '').split(',').map((part) => part.trim()).filter(Boolean);

/** Each bad entry of a `tenant:key,…` list (tenant keys) or a `key,…` list (admin keys), as "must …" sentences. */
export function apiKeyListProblems(list: string | undefined, kind: 'tenant' | 'admin'): string[] {
  return entries(list).flatMap((entry, index) => {
    const colon = entry.indexOf(':');
    if (kind === 'tenant' && (colon <= 0 || !TENANT_PATTERN.test(entry.slice(0, colon)))) {
      return [`must be comma-separated tenant:key pairs, tenant [A-Za-z0-9_-]{1,64} (entry ${index + 1} is not)`];
    }
    const key = kind === 'tenant' ? entry.slice(colon + 1) : entry;
    return key.length < MIN_API_KEY_LENGTH ? [`must have keys of at least ${MIN_API_KEY_LENGTH} characters (entry ${index + 1} is shorter)`] : [];
  });
}

/** Parses `tenant:key,tenant:key` (SWITCHBOARD_API_KEYS) and plain `key,key` admin lists. */
export function parseApiKeys(tenantKeys: string | undefined, adminKeys: string | undefined): ApiKeys {
  const problems = [
    ...apiKeyListProblems(tenantKeys, 'tenant').map((problem) => `SWITCHBOARD_API_KEYS ${problem}`),
    ...apiKeyListProblems(adminKeys, 'admin').map((problem) => `SWITCHBOARD_ADMIN_KEYS ${problem}`),
  ];
  if (problems.length > 0) throw new Error(problems.join('\n'));
  const keys = new ApiKeys();
  for (const pair of entries(tenantKeys)) {
    const colon = pair.indexOf(':');
    keys.addTenantKey(pair.slice(0, colon), pair.slice(colon + 1));
  }
  for (const key of entries(adminKeys)) keys.addAdminKey(key);
  return keys;
}
