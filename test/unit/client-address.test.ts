/** Per-address limits count the right unit: IPv4 addresses, IPv6 prefixes, and the client behind a trusted proxy only. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AddressLimits } from '../../src/server/net/address-limits.js';
import { ClientAddresses, parseCidr } from '../../src/server/net/client-address.js';
import { descriptorBudget, parseOpenFilesLimit } from '../../src/server/net/descriptors.js';
import { Refusals } from '../../src/server/net/refusals.js';
import { capacitySummary } from '../../src/cli/serve.js';
import { networkProblems, parseEnv, readEnv } from '../../src/server/env.js';
import { checkConfiguration } from '../../src/server/from-env.js';
import { localProviderOptionsFromEnv } from '../../providers/local/index.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 40);

const hextet = fc.integer({ min: 0, max: 0xffff }).map((value) => value.toString(16));
const ipv6 = fc.array(hextet, { minLength: 8, maxLength: 8 }).map((parts) => parts.join(':'));
const ipv4 = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }).map((octets) => octets.join('.'));

describe('client addresses', () => {
  it('groups IPv6 addresses by prefix: same /64 is one address, another /64 is another', () => {
    const addresses = new ClientAddresses({ trustedProxies: [], ipv6PrefixLength: 64 });
    fc.assert(
      fc.property(ipv6, hextet, hextet, (address, a, b) => {
        const parts = address.split(':');
        const sibling = [...parts.slice(0, 4), a, b, ...parts.slice(6)].join(':');
        expect(addresses.keyOf(sibling)).toBe(addresses.keyOf(address));
        const otherNet = [...parts.slice(0, 3), ((parseInt(parts[3] ?? '0', 16) + 1) % 0x10000).toString(16), ...parts.slice(4)].join(':');
        expect(addresses.keyOf(otherNet)).not.toBe(addresses.keyOf(address));
      }),
      { numRuns: RUNS },
    );
    expect(new ClientAddresses({ trustedProxies: [], ipv6PrefixLength: 48 }).keyOf('2001:db8:1:2::1')).toBe(
      new ClientAddresses({ trustedProxies: [], ipv6PrefixLength: 48 }).keyOf('2001:db8:1:ffff::9'),
    );
  });

  it('counts an IPv4-mapped IPv6 peer as its IPv4 address, and IPv4 addresses one by one', () => {
    const addresses = new ClientAddresses();
    fc.assert(
      fc.property(ipv4, (address) => {
        expect(addresses.keyOf(`::ffff:${address}`)).toBe(addresses.keyOf(address));
        expect(addresses.keyOf(address)).toBe(address.split('.').map(Number).join('.'));
      }),
      { numRuns: RUNS },
    );
    expect(addresses.keyOf('10.0.0.1')).not.toBe(addresses.keyOf('10.0.0.2'));
  });

  it('believes X-Forwarded-For only from trusted proxies, and only its rightmost untrusted hop', () => {
    const direct = new ClientAddresses();
    expect(direct.keyOf('203.0.113.7', '198.51.100.1')).toBe('203.0.113.7');
    const behindProxy = new ClientAddresses({ trustedProxies: ['10.0.0.0/8', '::1'], ipv6PrefixLength: 64 });
    expect(behindProxy.keyOf('10.1.2.3', '198.51.100.1')).toBe('198.51.100.1');
    expect(behindProxy.keyOf('::ffff:10.1.2.3', '198.51.100.1')).toBe('198.51.100.1');
    // A client-written first hop is ignored: the proxy appended the real peer last.
    expect(behindProxy.keyOf('10.1.2.3', '1.2.3.4, 198.51.100.1')).toBe('198.51.100.1');
    // Chains of trusted proxies are walked.
    expect(behindProxy.keyOf('::1', ['198.51.100.1', '10.9.9.9'])).toBe('198.51.100.1');
    // Garbage ends the walk at the last known address.
    expect(behindProxy.keyOf('10.1.2.3', 'not-an-ip')).toBe('10.1.2.3');
    expect(behindProxy.keyOf('203.0.113.7', '198.51.100.1')).toBe('203.0.113.7');
    fc.assert(
      fc.property(fc.string(), (header) => {
        // Whatever a client writes, an untrusted peer is counted as itself.
        expect(behindProxy.keyOf('203.0.113.7', header)).toBe('203.0.113.7');
      }),
      { numRuns: RUNS },
    );
  });

  it('answers for a peer it has seen before exactly as a fresh instance does, also past its memo and behind trusted proxies', () => {
    const policy = { trustedProxies: ['10.0.0.0/8', '::ffff:192.168.0.0/112'], ipv6PrefixLength: 56 };
    const reused = new ClientAddresses(policy);
    const peer = fc.oneof(ipv4, ipv6, fc.constantFrom('10.1.2.3', '::ffff:10.0.0.1', '::ffff:192.168.3.4', 'not an address', '', '__proto__'));
    const forwarded = fc.option(fc.array(fc.oneof(ipv4, fc.constantFrom('10.9.9.9', 'junk', ' 8.8.8.8')), { maxLength: 4 }).map((hops) => hops.join(',')), { nil: undefined });
    fc.assert(
      fc.property(fc.array(fc.tuple(peer, forwarded), { minLength: 1, maxLength: 30 }), (requests) => {
        // Each request twice: the second answer comes from the memo.
        for (const [address, forwardedFor] of [...requests, ...requests]) {
          const fresh = new ClientAddresses(policy);
          expect(reused.keyOf(address, forwardedFor)).toBe(fresh.keyOf(address, forwardedFor));
          expect(reused.peerIsTrustedProxy(address)).toBe(fresh.peerIsTrustedProxy(address));
        }
      }),
      { numRuns: RUNS },
    );
    // Far more distinct peers than it remembers: the answers stay right.
    for (let i = 0; i < 25_000; i++) {
      const address = `172.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      expect(reused.keyOf(address)).toBe(address);
    }
    expect(reused.keyOf('10.1.2.3', '8.8.4.4')).toBe('8.8.4.4');
  });

  it('parses CIDR ranges and single addresses, and refuses anything else', () => {
    expect(parseCidr('10.0.0.0/8')[1]).toBe(8);
    expect(parseCidr('::1')[1]).toBe(128);
    expect(parseCidr('::ffff:10.0.0.0/104')[1]).toBe(8);
    expect(() => parseCidr('10.0.0.0/33')).toThrow();
    expect(() => parseCidr('__proto__')).toThrow();
  });
});

describe('per-address limits', () => {
  it('holds at most maxOpen per address, refills at the rate, and forgets idle addresses', () => {
    const limits = new AddressLimits({ maxOpen: 3, rate: { perSecond: 2, burst: 2 } });
    expect(limits.admit('a', 0)).toBeUndefined();
    expect(limits.admit('a', 0)).toBeUndefined();
    expect(limits.admit('a', 0)).toBe('rate_limited');
    expect(limits.admit('b', 0)).toBeUndefined();
    expect(limits.admit('a', 500)).toBeUndefined();
    expect(limits.admit('a', 5_000)).toBe('address_limit');
    limits.release('a');
    expect(limits.admit('a', 5_000)).toBeUndefined();
    for (let i = 0; i < 3; i++) limits.release('a');
    limits.release('b');
    limits.prune(60_000);
    expect(limits.size).toBe(0);
  });

  it('forgets an address as soon as it holds nothing when there is no rate to remember', () => {
    const limits = new AddressLimits({ maxOpen: 1 });
    fc.assert(
      fc.property(fc.array(fc.string(), { maxLength: 50 }), (keys) => {
        for (const key of keys) if (limits.admit(key, 0) === undefined) limits.release(key);
        expect(limits.size).toBe(0);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('descriptor budget', () => {
  it('reads the soft open-files limit from /proc/self/limits', () => {
    const limits = 'Max cpu time              unlimited            unlimited            seconds\nMax open files            20000                20000                files     \n';
    expect(parseOpenFilesLimit(limits)).toBe(20000);
    expect(parseOpenFilesLimit('Max open files  unlimited  unlimited  files')).toBeUndefined();
    expect(parseOpenFilesLimit('')).toBeUndefined();
  });

  it('leaves the reserve to HTTP, Redis, the store and health checks', () => {
    const budget = descriptorBudget(20_000, 1024);
    expect(budget.connectionCap).toBe(20_000 - 1024);
    expect(budget.socketCap).toBeGreaterThan(budget.connectionCap);
    expect(budget.hardSocketCap).toBeGreaterThan(budget.socketCap ?? Infinity);
    expect(budget.hardSocketCap).toBeLessThan(20_000);
    fc.assert(
      fc.property(fc.integer({ min: 16, max: 1_000_000 }), fc.integer({ min: 64, max: 100_000 }), (limit, reserved) => {
        const { connectionCap, socketCap = 0, hardSocketCap = 0 } = descriptorBudget(limit, reserved);
        expect(connectionCap).toBeGreaterThanOrEqual(1);
        expect(hardSocketCap).toBeLessThan(limit);
        expect(socketCap).toBeLessThanOrEqual(hardSocketCap);
        if (limit > reserved + 200) expect(connectionCap).toBeLessThan(socketCap);
      }),
      { numRuns: RUNS },
    );
    expect(descriptorBudget(undefined).connectionCap).toBe(10_000);
  });
});

describe('admission settings', () => {
  it('reports bad values through the configuration problems', () => {
    const { problems } = readEnv({ SWITCHBOARD_TRUSTED_PROXIES: '10.0.0.0/8, proxy.internal', SWITCHBOARD_IPV6_PREFIX: '200', SWITCHBOARD_MAX_SOCKETS_PER_ADDRESS: '0' });
    expect(problems).toEqual([
      expect.stringMatching(/^SWITCHBOARD_TRUSTED_PROXIES is .*must list IP addresses or CIDR ranges.*"proxy\.internal" is neither/),
      'SWITCHBOARD_IPV6_PREFIX is "200", but it must be at most 128.',
      'SWITCHBOARD_MAX_SOCKETS_PER_ADDRESS is "0", but it must be at least 1.',
    ]);
    const env = parseEnv({ SWITCHBOARD_HEADERS_TIMEOUT_SECONDS: '60', SWITCHBOARD_REQUEST_TIMEOUT_SECONDS: '20', SWITCHBOARD_RESERVED_DESCRIPTORS: '5000' });
    expect(networkProblems(env, 4096)).toEqual([
      'SWITCHBOARD_HEADERS_TIMEOUT_SECONDS is 60, but it must not exceed SWITCHBOARD_REQUEST_TIMEOUT_SECONDS (20).',
      'SWITCHBOARD_RESERVED_DESCRIPTORS is 5000, but it must be below the open-files limit of this process (4096).',
    ]);
    expect(parseEnv({ SWITCHBOARD_TRUSTED_PROXIES: '10.0.0.0/8 ::1' }).SWITCHBOARD_TRUSTED_PROXIES).toEqual(['10.0.0.0/8', '::1']);
  });
});

describe('local admission settings', () => {
  it('reads the per-address limits and the deadline, and refuses an unauthenticated share that could fill the cap', async () => {
    expect(
      localProviderOptionsFromEnv({
        LOCAL_AUTH_TIMEOUT_SECONDS: '12',
        LOCAL_MAX_CONNECTIONS: '100',
        LOCAL_MAX_UNAUTHENTICATED_CONNECTIONS: '40',
        LOCAL_MAX_CONNECTIONS_PER_ADDRESS: '9',
        LOCAL_CONNECTION_RATE_PER_ADDRESS: '3',
        LOCAL_CONNECTION_BURST_PER_ADDRESS: '4',
      }),
    ).toMatchObject({ authTimeoutSeconds: 12, maxConnections: 100, maxUnauthenticatedConnections: 40, maxConnectionsPerAddress: 9, connectionRatePerAddress: 3, connectionBurstPerAddress: 4 });
    const base = { LOCAL_MAX_CONNECTIONS: '100' };
    expect((await checkConfiguration({ ...base, LOCAL_MAX_UNAUTHENTICATED_CONNECTIONS: '100' })).problems).toEqual([
      expect.stringMatching(/^LOCAL_MAX_UNAUTHENTICATED_CONNECTIONS is "100", but it must be below the connection cap \(100\)/),
    ]);
    expect((await checkConfiguration({ ...base, LOCAL_CONNECTION_RATE_PER_ADDRESS: '0' })).problems).toEqual([expect.stringMatching(/^LOCAL_CONNECTION_RATE_PER_ADDRESS is "0"/)]);
  });
});

describe('refusal log', () => {
  it('counts every refusal and logs at most once per interval, with the counts since the last message', () => {
    const logged: object[] = [];
    let now = 0;
    const refusals = new Refusals({ warn: (details) => logged.push(details) }, 10_000, () => now);
    for (let i = 0; i < 500; i++) refusals.record('websocket', 'address_limit');
    refusals.record('http', 'over_capacity');
    expect(logged).toEqual([{ refused: { 'websocket:address_limit': 1 } }]);
    now = 10_000;
    refusals.record('http', 'over_capacity');
    expect(logged).toEqual([{ refused: { 'websocket:address_limit': 1 } }, { refused: { 'websocket:address_limit': 499, 'http:over_capacity': 2 } }]);
    expect(refusals.counts()).toEqual([
      { kind: 'websocket', reason: 'address_limit', count: 500 },
      { kind: 'http', reason: 'over_capacity', count: 2 },
    ]);
  });
});

describe('start-up report of the descriptor limit', () => {
  it('names the limit and the caps, and warns when LOCAL_MAX_CONNECTIONS asks for more than it allows', () => {
    const budget = descriptorBudget(20_000, 1024);
    expect(capacitySummary(budget, { maxConnections: undefined })).toEqual({
      line: 'limits    open files 20000: up to 18976 WebSocket connections, 19808 sockets in all (then 503 / close 4100)',
      warnings: [],
    });
    expect(capacitySummary(budget, undefined).line).toBe('limits    open files 20000: 19808 sockets in all (then 503)');
    expect(capacitySummary(budget, { maxConnections: '5000' }).warnings).toEqual([]);
    expect(capacitySummary(budget, { maxConnections: '100000' }).warnings).toEqual([expect.stringMatching(/^LOCAL_MAX_CONNECTIONS=100000 is more than the open-files limit \(20000\) allows.*this node stops at 18976/)]);
    // With workers it is a cluster-wide cap: each worker has its own descriptors.
    expect(capacitySummary(budget, { maxConnections: '30000' }, 2).warnings).toEqual([]);
    expect(capacitySummary(budget, { maxConnections: '100000' }, 2).warnings).toEqual([expect.stringMatching(/its 2 workers stop at 37952 \(18976 each\)/)]);
  });
});
