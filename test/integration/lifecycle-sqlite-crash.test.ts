/**
 * A single node on the sqlite store that is SIGKILLed could not say goodbye: on its next
 * start it reports the members it had as left and its channels as vacated, once, before
 * anyone connects; a clean stop leaves nothing to report.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalProvider } from '../../providers/local/index.js';
import { toPusherChannel } from '../../src/core/provider-names.js';
import { grant } from '../helpers/local-harness.js';
import { spawnLifecycleNode, type LifecycleNodeConfig } from '../helpers/lifecycle-node.js';
import { RawClient } from '../helpers/raw-pusher-client.js';
import { testSecret, WebhookReceiver } from '../helpers/webhook-receiver.js';

const SECRET = testSecret('sqlite-crash');
const LOBBY = toPusherChannel('acme', 'chat:lobby', true);
const signer = createLocalProvider({ logger: { info() {}, error() {} } });
const cleanups: (() => Promise<unknown> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function spawnNode(config: LifecycleNodeConfig): Promise<{ child: ChildProcess; port: number }> {
  return spawnLifecycleNode(config, (child) => cleanups.push(() => void child.kill('SIGKILL')));
}

async function join(port: number, user: string): Promise<RawClient> {
  const client = await RawClient.connected(port);
  cleanups.push(() => client.ws.terminate());
  const auth = signer.authorizeChannel({ grant: grant('acme', user), socketId: client.socketId, channel: 'chat:lobby', providerChannel: LOBBY, presence: true, clientEvents: [] });
  await client.subscribe(LOBBY, auth);
  return client;
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

describe('lifecycle webhooks of a single sqlite node after a crash', () => {
  it('a SIGKILLed node reports its members left and its channels vacated when it starts again', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sb-sqlite-crash-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const app = await WebhookReceiver.start(SECRET);
    cleanups.push(() => app.close());
    const config: LifecycleNodeConfig = { redisUrl: '', storePrefix: '', providerPrefix: '', webhookUrl: app.url, secret: SECRET, nodeTtlMs: 0, dataDir: dir };
    const seen = () => app.unique().map(({ event }) => `${event.type}${event.data.user ? ` ${event.data.user}` : ''}`);

    const first = await spawnNode(config);
    await join(first.port, 'ana');
    await join(first.port, 'bo');
    await app.waitFor(() => app.unique().length === 3, 15_000);
    expect(seen()).toEqual(['channel.occupied', 'presence.joined ana', 'presence.joined bo']);

    first.child.kill('SIGKILL');
    await exited(first.child);
    const second = await spawnNode(config);
    await app.waitFor(() => app.unique().length === 6, 15_000);
    expect(seen().slice(3, 5).sort()).toEqual(['presence.left ana', 'presence.left bo']);
    expect(seen()[5]).toBe('channel.vacated');

    // Reported once: a clean stop and another start add nothing.
    second.child.kill('SIGTERM');
    await exited(second.child);
    await spawnNode(config);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(app.unique()).toHaveLength(6);
  }, 60_000);
});
