/** Shared by every server under test: report the port, answer `gc`, exit on request or when the parent goes away. */
import v8 from 'node:v8';
import type { GcDoneMessage, HeapStatsMessage, ParentToServer, ReadyMessage } from '../lib/messages.js';
import { hasCmd } from '../lib/messages.js';

export function serveIpc(port: number, shutdown: () => Promise<void>): void {
  const send = (message: ReadyMessage | GcDoneMessage | HeapStatsMessage): void => {
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
    if (message.cmd === 'heap-stats') {
      const snapshot = message.snapshotPath ? v8.writeHeapSnapshot(message.snapshotPath) : undefined;
      const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((space) => [space.space_name, { used: space.space_used_size, committed: space.physical_space_size }]));
      const memory = process.memoryUsage();
      send({ type: 'heap-stats', rss: memory.rss, heapUsed: memory.heapUsed, heapTotal: memory.heapTotal, external: memory.external, arrayBuffers: memory.arrayBuffers, spaces, snapshot });
    }
  });
  process.on('disconnect', exit);
  process.on('SIGTERM', exit);
  send({ type: 'ready', port, pid: process.pid });
}
