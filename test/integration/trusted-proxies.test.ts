/**
 * Express reads the client's address and protocol (`req.ip`, `req.protocol`, what an app's
 * `authenticate` hook sees) from `X-Forwarded-*` only when the peer is one of
 * SWITCHBOARD_TRUSTED_PROXIES, exactly as the admission code picks the address its limits
 * count (src/server/net/client-address.ts): a client on loopback is no proxy.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressGroup, parseAddress } from '../../src/server/net/client-address.js';
import { createNetwork } from '../../src/server/net/network.js';
import { startBff, type TestBff } from '../helpers/bff.js';
import { onCleanup } from '../helpers/local-harness.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 40);
const IPV6_PREFIX = 64;

interface Seen {
  ip: string | undefined;
  protocol: string;
}

async function bffTrusting(trustedProxies: string[]): Promise<{ bff: TestBff; ask(headers: Record<string, string>): Promise<Seen> }> {
  const seen: Seen[] = [];
  const bff = await startBff({
    network: createNetwork({ addressPolicy: { trustedProxies, ipv6PrefixLength: IPV6_PREFIX } }),
    authenticate: (req) => {
      seen.push({ ip: req.ip, protocol: req.protocol });
      return { tenant: 'acme', user: 'ana' };
    },
  });
  onCleanup(() => bff.close());
  return {
    bff,
    async ask(headers) {
      const response = await bff.post('/v1/token', {}, undefined, headers);
      expect(response.status).toBe(200);
      return seen.at(-1) as Seen;
    },
  };
}

/** The address the admission code counts a request from 127.0.0.1 with these hops as. */
function admissionKey(bff: TestBff, forwardedFor: string | undefined): string {
  return bff.app.switchboard.network.addresses.keyOf('127.0.0.1', forwardedFor);
}

function groupOf(ip: string | undefined): string {
  const address = parseAddress(ip ?? '');
  return address ? addressGroup(address, IPV6_PREFIX) : 'unknown';
}

describe('Express follows SWITCHBOARD_TRUSTED_PROXIES', () => {
  it('does not let a client on loopback spoof its address or protocol when no proxy is trusted', async () => {
    const { bff, ask } = await bffTrusting([]);
    const seen = await ask({ 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' });
    expect(seen).toEqual({ ip: '127.0.0.1', protocol: 'http' });
    expect(groupOf(seen.ip)).toBe(admissionKey(bff, '203.0.113.9'));
  });

  it('believes a configured proxy, and picks the same client as the admission code for any chain of hops', async () => {
    const { bff, ask } = await bffTrusting(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);
    expect(await ask({ 'x-forwarded-for': '198.51.100.7, 203.0.113.9', 'x-forwarded-proto': 'https' })).toEqual({ ip: '203.0.113.9', protocol: 'https' });

    const trustedV4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)).map(([a, b, c]) => `10.${a}.${b}.${c}`);
    const trustedV6 = fc.tuple(fc.nat(0xffff), fc.nat(0xffff)).map(([a, b]) => `fd00::${a.toString(16)}:${b.toString(16)}`);
    const hop = fc.oneof(trustedV4, trustedV6, fc.ipV4(), fc.ipV6(), fc.constant('127.0.0.1'));
    await fc.assert(
      fc.asyncProperty(fc.array(hop, { maxLength: 5 }), async (hops) => {
        const forwardedFor = hops.length > 0 ? hops.join(', ') : undefined;
        const seen = await ask(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {});
        expect(groupOf(seen.ip)).toBe(admissionKey(bff, forwardedFor));
      }),
      { numRuns: RUNS },
    );
  });
});
