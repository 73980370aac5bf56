/** Raw TCP clients for tests of half-open and slow HTTP requests, from a chosen 127.0.0.x source address. */
import net from 'node:net';
import { onCleanup } from './local-harness.js';

export interface RawSocket {
  socket: net.Socket;
  /** Everything the server sent. */
  received(): string;
  /** Resolves when the server (or the test) closed the socket: what was received and when. */
  closed: Promise<{ text: string; at: number }>;
}

export async function rawConnect(port: number, localAddress = '127.0.0.1'): Promise<RawSocket> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  onCleanup(() => void socket.destroy());
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (text += chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<{ text: string; at: number }>((resolve) => socket.on('close', () => resolve({ text, at: Date.now() })));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, received: () => text, closed };
}

/** Status code of the first response in `text`, or undefined. */
export function statusOf(text: string): number | undefined {
  const match = /^HTTP\/1\.1 (\d{3})/.exec(text);
  return match ? Number(match[1]) : undefined;
}

/** A complete GET over its own socket; answers the status and body. */
export async function rawGet(port: number, path: string, localAddress = '127.0.0.1'): Promise<{ status: number | undefined; text: string }> {
  const client = await rawConnect(port, localAddress);
  client.socket.write(`GET ${path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n`);
  const { text } = await client.closed;
  return { status: statusOf(text), text };
}
