import { describe, expect, it } from 'vitest';
import {
  md5Hex,
  safeEqual,
  signChannel,
  signRequest,
  signUser,
  signWebhook,
  verifyChannelAuth,
  verifyRequest,
  verifyWebhookSignature,
} from '../../providers/pusher-protocol/index.js';

// Test vectors from pusher-docs auth-signatures.md and rest-api.md (see PROVIDER-FACTS.md §1.2, §2.2).
const docs = { key: '278d425bdf160c739803', secret: '7ad3773142a6692b25b8' };

describe('channel authorization signatures', () => {
  it('signs a private channel like the documented vector', () => {
    expect(signChannel(docs, '1234.1234', 'private-foobar')).toEqual({
      auth: '278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4',
    });
  });

  it('signs a presence channel over socket_id:channel:channel_data', () => {
    const channelData = '{"user_id":10,"user_info":{"name":"Mr. Channels"}}';
    expect(signChannel(docs, '1234.1234', 'presence-foobar', channelData)).toEqual({
      auth: '278d425bdf160c739803:31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80',
      channel_data: channelData,
    });
  });

  it('signs user sign-in like the documented vector', () => {
    expect(signUser(docs, '1234.1234', '{"id":"12345"}').auth).toBe(
      '278d425bdf160c739803:4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba',
    );
  });

  it('verifies only the exact socket, channel and channel_data', () => {
    const { auth } = signChannel(docs, '1.2', 'private-a', '{"user_id":"u"}');
    expect(verifyChannelAuth(docs, auth, '1.2', 'private-a', '{"user_id":"u"}')).toBe(true);
    expect(verifyChannelAuth(docs, auth, '1.3', 'private-a', '{"user_id":"u"}')).toBe(false);
    expect(verifyChannelAuth(docs, auth, '1.2', 'private-b', '{"user_id":"u"}')).toBe(false);
    expect(verifyChannelAuth(docs, auth, '1.2', 'private-a', '{"user_id":"v"}')).toBe(false);
    expect(verifyChannelAuth(docs, auth, '1.2', 'private-a')).toBe(false);
    expect(verifyChannelAuth({ ...docs, secret: 'other' }, auth, '1.2', 'private-a', '{"user_id":"u"}')).toBe(false);
    expect(verifyChannelAuth(docs, 'short', '1.2', 'private-a', '{"user_id":"u"}')).toBe(false);
  });

  it('compares in constant time regardless of length', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
  });
});

describe('HTTP API request signing', () => {
  const body = '{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}';
  const query = 'auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f';
  const signature = 'da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c';

  it('matches the documented worked example', () => {
    expect(md5Hex(body)).toBe('ec365a775a4cd0599faeb73354201b6f');
    const signed = signRequest(docs, { method: 'POST', path: '/apps/3/events', body, timestamp: 1353088179 });
    expect(signed).toBe(`${query}&auth_signature=${signature}`);
  });

  it('sorts extra parameters and leaves body_md5 out for empty bodies', () => {
    const signed = signRequest(docs, { method: 'GET', path: '/apps/3/channels', params: { info: 'user_count', filter_by_prefix: 'presence-' }, timestamp: 1 });
    expect(signed).toMatch(/^auth_key=278d425bdf160c739803&auth_timestamp=1&auth_version=1\.0&filter_by_prefix=presence-&info=user_count&auth_signature=[0-9a-f]{64}$/);
  });

  const verify = (overrides: Partial<Parameters<typeof verifyRequest>[1]> = {}) =>
    verifyRequest(docs, {
      method: 'POST',
      path: '/apps/3/events',
      rawQuery: `${query}&auth_signature=${signature}`,
      body: Buffer.from(body),
      now: 1353088179_000,
      ...overrides,
    });

  it('verifies the documented request', () => {
    expect(verify()).toMatchObject({ ok: true, params: { auth_key: docs.key, body_md5: 'ec365a775a4cd0599faeb73354201b6f' } });
  });

  it('accepts timestamps within 600 s and refuses older or newer ones', () => {
    expect(verify({ now: (1353088179 + 600) * 1000 }).ok).toBe(true);
    expect(verify({ now: (1353088179 + 601) * 1000 })).toMatchObject({ ok: false, status: 401 });
    expect(verify({ now: (1353088179 - 601) * 1000 })).toMatchObject({ ok: false, status: 401 });
  });

  it('refuses a changed body, path, method, key or signature', () => {
    expect(verify({ body: Buffer.from(`${body} `) })).toMatchObject({ ok: false, status: 401, message: expect.stringContaining('body_md5') });
    expect(verify({ path: '/apps/4/events' })).toMatchObject({ ok: false, status: 401 });
    expect(verify({ method: 'PUT' })).toMatchObject({ ok: false, status: 401 });
    expect(verify({ rawQuery: `${query}&auth_signature=${'0'.repeat(64)}` })).toMatchObject({ ok: false, status: 401 });
    expect(verify({ rawQuery: `${query}&extra=1&auth_signature=${signature}` })).toMatchObject({ ok: false, status: 401 });
    expect(verifyRequest({ key: 'other', secret: docs.secret }, { method: 'POST', path: '/apps/3/events', rawQuery: `${query}&auth_signature=${signature}`, body: Buffer.from(body), now: 1353088179_000 })).toMatchObject({ ok: false, status: 401 });
  });

  it('refuses missing auth parameters and malformed or duplicated query strings', () => {
    expect(verify({ rawQuery: query })).toMatchObject({ ok: false, status: 401 });
    expect(verify({ rawQuery: `${query}&auth_signature=${signature}&auth_key=x` })).toMatchObject({ ok: false, status: 400 });
    expect(verify({ rawQuery: `${query}&auth_signature=%E0%A4%A` })).toMatchObject({ ok: false, status: 400 });
  });

  it('round-trips its own signatures, including decoded values', () => {
    const signed = signRequest(docs, { method: 'GET', path: '/apps/3/channels/presence-x', params: { info: 'user_count,subscription_count' }, timestamp: 100 });
    expect(verifyRequest(docs, { method: 'GET', path: '/apps/3/channels/presence-x', rawQuery: signed.replace(',', '%2C'), body: Buffer.alloc(0), now: 100_000 }).ok).toBe(true);
  });
});

describe('webhook signatures', () => {
  it('is HMAC-SHA256 hex of the raw body and verifies in constant time', () => {
    const body = '{"time_ms":1,"events":[]}';
    const signature = signWebhook(docs.secret, body);
    expect(signature).toMatch(/^[0-9a-f]{64}$/);
    expect(verifyWebhookSignature(docs.secret, Buffer.from(body), signature)).toBe(true);
    expect(verifyWebhookSignature(docs.secret, Buffer.from(body), signature.toUpperCase())).toBe(true);
    expect(verifyWebhookSignature(docs.secret, Buffer.from(`${body} `), signature)).toBe(false);
    expect(verifyWebhookSignature('other', Buffer.from(body), signature)).toBe(false);
  });
});
