import { describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { parseEnv, webhookEndpoint } from '../../src/server/env.js';

const secret = (bytes: number, fill = 'k') => `whsec_${Buffer.from(fill.repeat(bytes)).toString('base64')}`;

describe('SWITCHBOARD_WEBHOOK_URL / _SECRET', () => {
  it('takes one secret, or two (rotation) separated by space or comma', () => {
    const one = webhookEndpoint(parseEnv({ SWITCHBOARD_WEBHOOK_URL: 'https://app.example/hooks', SWITCHBOARD_WEBHOOK_SECRET: secret(32) }));
    expect(one).toEqual({ url: 'https://app.example/hooks', secrets: [secret(32)] });
    const two = webhookEndpoint(parseEnv({ SWITCHBOARD_WEBHOOK_URL: 'http://127.0.0.1:9000/', SWITCHBOARD_WEBHOOK_SECRET: ` ${secret(32)}, ${secret(24, 'n')} ` }));
    expect(two?.secrets).toEqual([secret(32), secret(24, 'n')]);
    // The reference library accepts what the schema lets through.
    for (const each of two?.secrets ?? []) expect(() => new Webhook(each)).not.toThrow();
  });

  it('is off without a URL, and refuses a URL without a secret', () => {
    expect(webhookEndpoint(parseEnv({}))).toBeUndefined();
    expect(() => webhookEndpoint(parseEnv({ SWITCHBOARD_WEBHOOK_URL: 'https://app.example/hooks' }))).toThrow(/SWITCHBOARD_WEBHOOK_SECRET/);
  });

  it.each([
    ['no whsec_ prefix', Buffer.from('k'.repeat(32)).toString('base64')],
    ['too short', secret(16)],
    ['too long', secret(65)],
    ['not base64', 'whsec_not base64!'],
    ['three secrets', `${secret(32)} ${secret(32, 'a')} ${secret(32, 'b')}`],
  ])('refuses a secret that is %s, naming the variable', (_why, value) => {
    expect(() => parseEnv({ SWITCHBOARD_WEBHOOK_URL: 'https://app.example/hooks', SWITCHBOARD_WEBHOOK_SECRET: value })).toThrow(/SWITCHBOARD_WEBHOOK_SECRET/);
  });

  it.each(['javascript:alert(1)', 'ftp://app.example/x', 'file:///etc/passwd', 'not a url'])('refuses the URL %s', (url) => {
    expect(() => parseEnv({ SWITCHBOARD_WEBHOOK_URL: url, SWITCHBOARD_WEBHOOK_SECRET: secret(32) })).toThrow(/SWITCHBOARD_WEBHOOK_URL/);
  });
});
