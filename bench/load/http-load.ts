/** autocannon in its own process (pinned away from the server): `POST` load, then the summary. */
import autocannon from 'autocannon';
import { hasCmd, type HttpLoadCommand, type HttpLoadResult } from '../lib/messages.js';

function reply(message: HttpLoadResult | { type: 'error'; message: string }): void {
  if (process.connected) process.send?.(message);
}

async function run(command: HttpLoadCommand): Promise<void> {
  const result = await autocannon({
    url: command.url,
    method: 'POST',
    headers: command.headers,
    body: command.body,
    connections: command.connections,
    duration: command.durationSeconds,
    timeout: 10,
  });
  const total2xx = result['2xx'];
  reply({
    type: 'http-load-done',
    // Only successful answers count: an error page is not an issued token.
    requestsPerSecond: total2xx / result.duration,
    total2xx,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
    durationSeconds: result.duration,
  });
}

process.on('message', (message: unknown) => {
  if (!hasCmd<HttpLoadCommand | { cmd: 'close' }>(message)) return;
  if (message.cmd === 'close') process.exit(0);
  run(message).catch((error: unknown) => reply({ type: 'error', message: error instanceof Error ? error.message : String(error) }));
});
process.on('disconnect', () => process.exit(0));
