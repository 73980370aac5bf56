/** Shared by every server under test: report the port, answer `gc`, exit on request or when the parent goes away. */
import type { GcDoneMessage, ParentToServer, ReadyMessage } from '../lib/messages.js';
import { hasCmd } from '../lib/messages.js';

export function serveIpc(port: number, shutdown: () => Promise<void>): void {
  const send = (message: ReadyMessage | GcDoneMessage): void => {
    if (process.connected) process.send?.(message);
  };
  let exiting = false;
  const exit = (): void => {
    if (exiting) return;
    exiting = true;
    const hardStop = setTimeout(() => process.exit(0), 2000);
    hardStop.unref();
    shutdown().then(
      () => process.exit(0),
      () => process.exit(0),
    );
  };
  process.on('message', (message: unknown) => {
    if (!hasCmd<ParentToServer>(message)) return;
    if (message.cmd === 'exit') exit();
    if (message.cmd === 'gc') {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (gc) {
        gc();
        gc();
      }
      const memory = process.memoryUsage();
      send({ type: 'gc-done', heapUsed: memory.heapUsed, heapTotal: memory.heapTotal, external: memory.external, rss: memory.rss, gcExposed: gc !== undefined });
    }
  });
  process.on('disconnect', exit);
  process.on('SIGTERM', exit);
  send({ type: 'ready', port, pid: process.pid });
}
