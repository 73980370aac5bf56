/**
 * Peer: Socket.IO 4.8, websocket transport only. Subscribers join one room; each
 * published event is one `io.to(room).emit(event, data)` (Socket.IO encodes it once
 * and writes it to every member).
 */
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { serveIpc } from './ipc.js';
import { publishServer } from './read-body.js';

const ROOM = 'bench';

const http = publishServer((messages) => {
  for (const message of messages) io.to(ROOM).emit(message.event, message.data);
});

const io = new Server(http, { transports: ['websocket'], serveClient: false, perMessageDeflate: false, maxHttpBufferSize: 1e6 });
io.on('connection', (socket) => {
  socket.on('subscribe', (room: unknown, ack: unknown) => {
    if (room === ROOM) void socket.join(ROOM);
    if (typeof ack === 'function') ack('ok');
  });
});

await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
serveIpc((http.address() as AddressInfo).port, async () => {
  io.disconnectSockets(true);
  await new Promise<void>((resolve) => io.close(() => resolve()));
});
