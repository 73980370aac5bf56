/**
 * Which worker of a `serve` with SWITCHBOARD_WORKERS > 1 accepted a client's socket, and
 * placing a client on a chosen worker: the process owning the accepted socket (the server
 * side of a connection whose peer port is the client's local port) is what `ss -tnp` shows.
 * Here `ss -tne` (filtered in the kernel) gives each socket's inode, matched against the
 * workers' descriptors in /proc: `ss -p` and /proc/net/tcp both scan every socket or process
 * of the machine, ~0.3 s per call while a benchmark holds 20,000 connections. The cluster
 * module hands connections out in turn, so a few attempts place any client.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { eventuallyValue } from './eventually.js';
import type { Pusher } from './pusher-js.js';

/** Socket inodes a process holds (none once it is gone). */
function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]!);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** Client port -> PIDs (of `pids`) holding the accepted end, for established connections to `port`. */
export function acceptedSockets(port: number, pids: readonly number[]): Map<number, number[]> {
  const owners = pids.map((pid) => ({ pid, inodes: socketInodes(pid) }));
  const out = execFileSync('ss', ['-Htne', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
  const sockets = new Map<number, number[]>();
  for (const line of out.split('\n')) {
    const [, , , peer] = line.trim().split(/\s+/);
    const inode = / ino:(\d+)/.exec(line)?.[1];
    const clientPort = Number(peer?.slice(peer.lastIndexOf(':') + 1));
    if (inode && Number.isInteger(clientPort)) sockets.set(clientPort, owners.filter((owner) => owner.inodes.has(inode)).map((owner) => owner.pid));
  }
  return sockets;
}

/** The worker (one of `workers`) holding the connection from `clientPort`. */
export function workerOf(port: number, workers: readonly number[], clientPort: number): Promise<number> {
  return eventuallyValue(() => {
    const pids = acceptedSockets(port, workers).get(clientPort);
    return pids?.length === 1 ? pids[0] : undefined;
  }, 10_000);
}

/** The local port of a pusher-js (Node build) client's WebSocket: its faye-websocket client's TCP stream. */
export function pusherLocalPort(pusher: Pusher): number | undefined {
  const manager = pusher.connection as unknown as { connection?: { transport?: { socket?: { _stream?: Socket } } } };
  return manager.connection?.transport?.socket?._stream?.localPort;
}

/** The local port of a `ws` client. */
export function wsLocalPort(ws: WebSocket): number | undefined {
  return (ws as unknown as { _socket?: Socket })._socket?.localPort;
}

export interface Placement<T> {
  open(): Promise<T>;
  localPort(client: T): number | undefined;
  close(client: T): void;
}

/** Opens clients until one lands on `worker` (closing the others); gives up after `attempts`. */
export async function placeOn<T>(port: number, workers: readonly number[], worker: number, placement: Placement<T>, attempts = 12): Promise<T> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    const client = await placement.open();
    const clientPort = placement.localPort(client);
    if (clientPort !== undefined && (await workerOf(port, workers, clientPort)) === worker) return client;
    placement.close(client);
  }
  throw new Error(`no client landed on worker ${worker} in ${attempts} attempts`);
}
