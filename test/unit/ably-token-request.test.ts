/**
 * TokenRequest MACs checked from the spec, independently of the `ably` SDK
 * (ably-docs api/token-request-spec.mdx, "HMAC calculation"; vector in PROVIDER-FACTS §1.1),
 * and the provider's TokenRequests: clientId, ttl and capability as the grant says.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createAblyProvider } from '../../providers/ably/index.js';
import type { ClientGrant } from '../../providers/types.js';
import { tokenRequestMac } from '../fixtures/ably-emulator/index.js';

/** The spec, spelled out here once more so the vector does not only test the emulator's copy. */
function specMac(secret: string, fields: { keyName: string; ttl: number | ''; capability: string; clientId: string; timestamp: number; nonce: string }): string {
  const signText = `${fields.keyName}\n${fields.ttl}\n${fields.capability}\n${fields.clientId}\n${fields.timestamp}\n${fields.nonce}\n`;
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(Buffer.from(signText, 'utf8')).digest('base64');
}

const vector = { keyName: 'appId.keyId', ttl: 3_600_000, capability: '{"*":["subscribe"]}', clientId: 'bob', timestamp: 1_700_000_000_000, nonce: '0123456789abcdef' };

const grant = (expiresIn: number): ClientGrant => ({
  tenant: 'acme',
  user: 'ana',
  info: { name: 'Ana' },
  caps: { 'chat:*': ['subscribe', 'publish', 'presence'], 'orders:1001': ['subscribe'] },
  expiresAt: Date.now() + expiresIn,
});

describe('Ably TokenRequest MAC', () => {
  it('matches the vector computed from the spec', () => {
    expect(specMac('keySecret', vector)).toBe('9k6x3Jj28cZP7b7dx7vvROG6Pp+VUD1MlJ3vvD7KEJY=');
    expect(tokenRequestMac('keySecret', vector)).toBe('9k6x3Jj28cZP7b7dx7vvROG6Pp+VUD1MlJ3vvD7KEJY=');
  });

  it('signs the provider\'s TokenRequests so that the spec\'s MAC verifies, and changes with any field', async () => {
    const provider = createAblyProvider({ apiKey: 'appId.keyId:keySecret', tls: true });
    const request = await provider.ablyTokenRequest(grant(120_000));
    expect(request.keyName).toBe('appId.keyId');
    expect(request.mac).toBe(specMac('keySecret', request));
    expect(request.mac).not.toBe(specMac('other', request));
    const tampered = { ...request, capability: request.capability.replaceAll('acme', 'globex') };
    expect(specMac('keySecret', tampered)).not.toBe(request.mac);
  });

  it('binds clientId to the tenant-scoped user, ttl to the capability token, capability to the tenant', async () => {
    const provider = createAblyProvider({ apiKey: 'appId.keyId:keySecret', tls: true });
    const request = await provider.ablyTokenRequest(grant(90_000));
    expect(request.clientId).toBe('acme:ana');
    expect(request.ttl).toBeLessThanOrEqual(90_000);
    expect(request.ttl).toBeGreaterThan(85_000);
    expect(JSON.parse(request.capability)).toEqual({ 'chat:acme:*': ['presence', 'publish', 'subscribe'], 'orders:acme:1001': ['subscribe'] });
    expect(Math.abs(request.timestamp - Date.now())).toBeLessThan(5000);
    expect(request.nonce.length).toBeGreaterThanOrEqual(16);
    // Never more than Ably's default hour, whatever the capability token says.
    expect((await provider.ablyTokenRequest(grant(10 * 3_600_000))).ttl).toBe(3_600_000);
  });

  it('refuses grants that are about to expire or carry no channel Ably can hold', async () => {
    const provider = createAblyProvider({ apiKey: 'appId.keyId:keySecret', tls: true });
    await expect(provider.ablyTokenRequest(grant(500))).rejects.toMatchObject({ code: 'token_expired' });
    await expect(provider.ablyTokenRequest({ ...grant(60_000), caps: { 'nope:*': ['subscribe'] } })).rejects.toMatchObject({ code: 'forbidden' });
  });
});
