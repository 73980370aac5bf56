/**
 * Peer for token issuance: a bare Express 5 handler that only signs a JWT with jose,
 * same algorithm (EdDSA / Ed25519) and the same claim shape as a Switchboard capability
 * token, with no session verification, capability resolution or provider config.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { generateKeyPair, SignJWT } from 'jose';
import { serveIpc } from './ipc.js';

const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
const kid = randomUUID();
const caps = { 'orders:*': ['subscribe', 'history'], 'chat:*': ['subscribe', 'publish', 'presence', 'history'] };

const app = express();
app.disable('x-powered-by');
app.post('/token', express.json(), async (_req, res) => {
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ tid: 'bench', caps, info: {} })
    .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
    .setIssuer('switchboard')
    .setAudience('switchboard')
    .setSubject('u1')
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .setJti(randomUUID())
    .sign(privateKey);
  res.setHeader('Cache-Control', 'no-store');
  res.json({ token, expiresAt: (now + 3600) * 1000 });
});

const server = app.listen(0, '127.0.0.1');
await new Promise<void>((resolve) => server.once('listening', () => resolve()));
serveIpc((server.address() as AddressInfo).port, () => new Promise<void>((resolve) => server.close(() => resolve())));
