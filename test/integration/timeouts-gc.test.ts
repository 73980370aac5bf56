/**
 * Request timeouts hold through garbage collection (Node 20's `AbortSignal.timeout` inside
 * `AbortSignal.any` may be collected before it fires, nodejs/node#57736): the webhook
 * sender and the publish pipeline, on the Pusher provider's HTTP client, send to a server
 * that never answers while a child process forces a GC every few milliseconds.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { deadline } from '../../src/core/deadline.js';

const run = promisify(execFile);

describe('timeouts to hosts that never answer', () => {
  it('give up and retry although GCs run while the requests hang (webhook sender, provider calls)', async () => {
    const { stdout } = await run(process.execPath, ['--expose-gc', '--import', 'tsx', 'test/helpers/hanging-requests.ts', '3000'], { timeout: 30_000 });
    const requests = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { webhook: number; provider: number };
    // Timeouts of 300 ms in a 3 s run: a request that hung for good would leave one attempt.
    expect(requests.webhook).toBeGreaterThanOrEqual(2);
    expect(requests.provider).toBeGreaterThanOrEqual(2);
  });

  it('a deadline aborts with a TimeoutError, follows a linked signal, and stops after dispose', async () => {
    const timed = deadline(20);
    await new Promise((resolve) => timed.signal.addEventListener('abort', resolve, { once: true }));
    expect(timed.timedOut).toBe(true);
    expect((timed.signal.reason as DOMException).name).toBe('TimeoutError');

    const parent = new AbortController();
    const linked = deadline(60_000, parent.signal);
    parent.abort(new Error('closing'));
    expect(linked.signal.aborted).toBe(true);
    expect(linked.timedOut).toBe(false);
    linked.dispose();

    const disposed = deadline(10);
    disposed.dispose();
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(disposed.signal.aborted).toBe(false);
  });
});
