/**
 * The Ably emulator itself, where Ably is inconvenient: these are the claims about the real
 * service that the provider tests rely on (ably-docs auth/capabilities.mdx and ably-js
 * test/rest/capability.test.js; pub-sub/advanced.mdx; metadata/rest.mdx;
 * platform/integrations/webhooks/index.mdx).
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startAblyEmulator, tokenRequestMac, type AblyEmulator } from '../fixtures/ably-emulator/index.js';
import { waitFor } from '../conformance/suite.js';

const KEY = 'emuApp.narrow:narrow-secret-0123456789';
const running: Array<{ close(): Promise<void> | void }> = [];

afterEach(async () => {
  for (const item of running.splice(0)) await item.close();
});

async function emulator(options: Parameters<typeof startAblyEmulator>[0] = {}): Promise<AblyEmulator> {
  const started = await startAblyEmulator(options);
  running.push(started);
  return started;
}

function rest(emu: AblyEmulator, path: string, init: { method?: string; body?: unknown } = {}): Promise<Response> {
  const [keyName, secret] = [emu.apiKey.slice(0, emu.apiKey.indexOf(':')), emu.apiKey.slice(emu.apiKey.indexOf(':') + 1)];
  return fetch(`http://${emu.endpoint}:${emu.port}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Basic ${Buffer.from(`${keyName}:${secret}`).toString('base64')}`, 'content-type': 'application/json' },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
}

describe('Ably emulator', () => {
  it('narrows a TokenRequest wider than the key to the intersection, and refuses only an empty one', async () => {
    const emu = await emulator({ keys: [{ apiKey: KEY, capability: { 'chat:*': ['subscribe', 'presence'] } }] });
    const exchange = async (capability: object) => {
      const request = { keyName: 'emuApp.narrow', ttl: 60_000, capability: JSON.stringify(capability), clientId: 'ana', timestamp: Date.now(), nonce: `${Math.random()}`.padEnd(16, '0') };
      const body = { ...request, mac: tokenRequestMac('narrow-secret-0123456789', request) };
      return fetch(`http://${emu.endpoint}:${emu.port}/keys/emuApp.narrow/requestToken`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    };
    const wide = await exchange({ '*': ['subscribe', 'publish'], 'chat:acme:*': ['presence', 'history'] });
    expect(wide.status).toBe(200);
    expect(JSON.parse(((await wide.json()) as { capability: string }).capability)).toEqual({ 'chat:*': ['subscribe'], 'chat:acme:*': ['presence'] });
    const disjoint = await exchange({ 'orders:*': ['subscribe'] });
    expect(disjoint.status).toBe(401);
    expect(await disjoint.json()).toMatchObject({ error: { code: 40160 } });
  });

  it('remembers idempotent message ids for its window only (Ably: 2 minutes)', async () => {
    const emu = await emulator({ idempotencyWindowMs: 300 });
    const publish = () => rest(emu, '/messages', { method: 'POST', body: { channels: ['orders:acme:1'], messages: { id: 'same-id', name: 'status', data: 'x' } } });
    expect((await publish()).status).toBe(201);
    expect((await publish()).status).toBe(201);
    expect(emu.channel('orders:acme:1').delivered).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect((await publish()).status).toBe(201);
    expect(emu.channel('orders:acme:1').delivered).toHaveLength(2);
  });

  it('lets one channel enumeration run at a time and pages with next links, even through empty pages', async () => {
    const emu = await emulator({ enumeration: { delayMs: 150, pageSize: 2, emptyPages: 1 } });
    for (const name of ['a:x:1', 'a:x:2', 'a:x:3']) await rest(emu, `/channels/${name}`);
    const [one, two] = await Promise.all([rest(emu, '/channels?by=id'), rest(emu, '/channels?by=id')]);
    expect([one.status, two.status].sort()).toEqual([200, 429]);
    expect(await (one.status === 429 ? one : two).json()).toMatchObject({ error: { code: 42912 } });
    const names: string[] = [];
    let next: string | undefined = '/channels?by=id&limit=100';
    let pages = 0;
    while (next) {
      const page = await rest(emu, next);
      names.push(...((await page.json()) as string[]));
      next = /<\.(\/channels\?[^>]+)>; rel="next"/.exec(page.headers.get('link') ?? '')?.[1];
      pages++;
    }
    expect(names).toEqual(['a:x:1', 'a:x:2', 'a:x:3']);
    expect(pages).toBe(3);
  });

  it('sends webhooks batched (at most 1,000 items), enveloped and signed, and retries a failed batch', async () => {
    const bodies: Array<{ status: number; headers: IncomingMessage['headers']; raw: string }> = [];
    let accepting = false;
    const receiver: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const status = accepting ? 200 : 500;
        bodies.push({ status, headers: req.headers, raw: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    running.push({ close: () => new Promise<void>((resolve) => receiver.close(() => resolve())) });
    const emu = await emulator();
    emu.addWebhookRule({ url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, sources: ['channel.message'], intervalMs: 30, retryMs: 30 });
    // 1,100 events (one per channel and request) queue up while the endpoint fails.
    for (let request = 0; request < 11; request++) {
      const specs = Array.from({ length: 100 }, (_, index) => ({ channels: [`c:t:${request}-${index}`], messages: { name: 'n', data: 'x' } }));
      expect((await rest(emu, '/messages', { method: 'POST', body: specs })).status).toBe(201);
    }
    await waitFor(() => bodies.length > 1, 'a retry');
    accepting = true;
    await waitFor(() => emu.webhookRules[0]?.pending() === 0, 'all webhooks delivered');
    const parsed = bodies.map((body) => ({ ...body, items: (JSON.parse(body.raw) as { items: Array<{ serial: string }> }).items }));
    const failed = parsed.filter((body) => body.status === 500);
    const delivered = parsed.filter((body) => body.status === 200);
    // A failed batch comes again (with what queued since), oldest first, 1,000 at most per request.
    expect(new Set(parsed.map((body) => body.items[0]?.serial)).size).toBe(2);
    expect(failed.length).toBeGreaterThan(1);
    expect(delivered.map((body) => body.items.length)).toEqual([1000, 100]);
    for (const body of parsed) {
      expect(body.headers['x-ably-version']).toBe('1.2');
      expect(body.headers['x-ably-key']).toBe('emuApp.emuKey');
      expect(body.headers['x-ably-signature']).toBe(createHmac('sha256', 'emulator-secret-0123456789').update(body.raw).digest('base64'));
      for (const item of body.items) expect(item).toMatchObject({ source: 'channel.message', webhookId: expect.any(String), serial: expect.any(String), timestamp: expect.any(Number), data: { channelId: expect.any(String) } });
    }
  });
});
