/**
 * Peer: a plain `ws` server, the naive fan-out: for each event one JSON string, then
 * `client.send(sameString)` for every subscribed client.
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { serveIpc } from './ipc.js';
import { publishServer } from './read-body.js';

const subscribers = new Set<WebSocket>();
const SUBSCRIBED = JSON.stringify({ event: 'subscribed', channel: 'bench' });

const http = publishServer((messages) => {
  for (const message of messages) {
    // Same shape as a Pusher channel event: data JSON-encoded into a string.
    const text = JSON.stringify({ event: message.event, channel: 'bench', data: JSON.stringify(message.data) });
    for (const client of subscribers) client.send(text);
  }
});

const wss = new WebSocketServer({ server: http, perMessageDeflate: false, clientTracking: false });
wss.on('connection', (socket) => {
  socket.on('message', (data) => {
    if (String(data).includes('"subscribe"')) {
      subscribers.add(socket);
      socket.send(SUBSCRIBED);
    }
  });
  socket.on('close', () => subscribers.delete(socket));
  socket.on('error', () => undefined);
});

await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
serveIpc((http.address() as AddressInfo).port, async () => {
  for (const socket of subscribers) socket.terminate();
  await new Promise<void>((resolve) => wss.close(() => resolve()));
  await new Promise<void>((resolve) => http.close(() => resolve()));
});
