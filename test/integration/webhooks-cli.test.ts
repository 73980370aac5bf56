import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { toOutboxMessage } from '../../src/server/lifecycle/stream.js';
import { newLifecycleEvent } from '../../src/server/lifecycle/events.js';
import { MemoryWebhookOutbox } from '../../src/server/lifecycle/memory-outbox.js';
import { API_KEYS, startBff, type TestBff } from '../helpers/bff.js';
import { testSecret, WebhookReceiver } from '../helpers/webhook-receiver.js';

const run = promisify(execFile);
const cli = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { env: { ...process.env, ...env }, timeout: 20_000 });

const SECRET = testSecret('cli');
let bff: TestBff | undefined;
let app: WebhookReceiver | undefined;
afterEach(async () => {
  await bff?.close();
  await app?.close();
  bff = app = undefined;
});

describe('switchboard webhooks', () => {
  it('lists dead letters and redelivers them with the same id', async () => {
    app = await WebhookReceiver.start(SECRET);
    const outbox = new MemoryWebhookOutbox();
    bff = await startBff({ webhooks: { url: app.url, secrets: [SECRET], outbox, tuning: { pollMs: 20 } } });
    const event = newLifecycleEvent({ type: 'channel.vacated', data: { tenant: 'acme', channel: 'orders:1' } });
    // A letter that already went through its retry window.
    await outbox.enqueue([toOutboxMessage(event, Date.now())]);
    await outbox.deadLetter(event.id, 'HTTP 500', Date.now());
    const env = { SWITCHBOARD_API_KEY: API_KEYS.acme };

    const listed = JSON.parse((await cli(['webhooks', 'dead-letters', '--url', bff.url], env)).stdout) as { total: number; deadLetters: { id: string }[] };
    expect(listed.total).toBe(1);
    expect(listed.deadLetters[0]?.id).toBe(event.id);

    const redelivered = JSON.parse((await cli(['webhooks', 'redeliver', '--id', event.id, '--url', bff.url], env)).stdout) as unknown;
    expect(redelivered).toEqual({ redelivered: 1 });
    await app.waitFor(() => app!.accepted.length === 1);
    expect(app.accepted[0]?.id).toBe(event.id);
  });

  it('fails clearly on an unknown action and on a foreign tenant', async () => {
    bff = await startBff({ webhooks: { url: 'http://127.0.0.1:9/', secrets: [SECRET], outbox: new MemoryWebhookOutbox() } });
    await expect(cli(['webhooks', 'purge', '--url', bff.url], { SWITCHBOARD_API_KEY: API_KEYS.acme })).rejects.toMatchObject({ stderr: expect.stringMatching(/Usage: switchboard webhooks/) });
    await expect(cli(['webhooks', 'dead-letters', '--tenant', 'globex', '--url', bff.url], { SWITCHBOARD_API_KEY: API_KEYS.acme })).rejects.toMatchObject({ stderr: expect.stringMatching(/403/) });
  });
});
