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

// Each CLI run starts tsx: seconds apiece on a loaded machine.
describe('switchboard webhooks', { timeout: 60_000 }, () => {
  it('lists dead letters, refuses another tenant\'s, and redelivers them with the same id', async () => {
    app = await WebhookReceiver.start(SECRET);
    const outbox = new MemoryWebhookOutbox();
    bff = await startBff({ webhooks: { url: app.url, secrets: [SECRET], outbox, tuning: { pollMs: 20 } } });
    const event = newLifecycleEvent({ type: 'channel.vacated', data: { tenant: 'acme', channel: 'orders:1' } });
    // A letter that already went through its retry window.
    await outbox.enqueue([toOutboxMessage(event, Date.now())]);
    await outbox.deadLetter(event.id, 'HTTP 500', Date.now());
    const env = { SWITCHBOARD_API_KEY: API_KEYS.acme };

    const [list, foreign] = await Promise.all([
      cli(['webhooks', 'dead-letters', '--url', bff.url], env),
      cli(['webhooks', 'dead-letters', '--tenant', 'globex', '--url', bff.url], env).then(
        () => 'exit 0',
        (error: { stderr: string }) => error.stderr,
      ),
    ]);
    const listed = JSON.parse(list.stdout) as { total: number; deadLetters: { id: string }[] };
    expect(listed.total).toBe(1);
    expect(listed.deadLetters[0]?.id).toBe(event.id);
    expect(foreign).toMatch(/403/);

    const redelivered = JSON.parse((await cli(['webhooks', 'redeliver', '--ids', event.id, '--url', bff.url], env)).stdout) as unknown;
    expect(redelivered).toEqual({ redelivered: 1 });
    await app.waitFor(() => app!.accepted.length === 1);
    expect(app.accepted[0]?.id).toBe(event.id);
  });
});
