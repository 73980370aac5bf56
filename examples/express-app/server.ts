/**
 * An existing Express app with its own login, and Switchboard mounted into it:
 * - the app's cookie session decides who the end user is (`authenticate`);
 * - the BFF lives under /realtime on the app's own origin and HTTP server (`attach`);
 * - the app's route handlers publish in-process (`realtime.publish`).
 * Configuration (provider, event log, keys) comes from the same environment variables as
 * `switchboard serve`. Run: npx esbuild browser.ts --bundle --format=esm --outfile=public/app.js && npx tsx server.ts
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import express, { type ErrorRequestHandler, type Request } from 'express';
import { createServerFromEnv, isSwitchboardError, type Authenticate } from 'switchboard/server';

interface User {
  id: string;
  password: string;
  tenant: string;
  name: string;
  roles: string[];
  suspended?: boolean;
}

// Stands in for the app's user database and session store (express-session, passport, …).
const users = new Map<string, User>([
  ['ana', { id: 'ana', password: 'ana-password', tenant: 'acme', name: 'Ana', roles: ['member'] }],
  ['bo', { id: 'bo', password: 'bo-password', tenant: 'acme', name: 'Bo', roles: ['member'], suspended: true }],
]);
const sessions = new Map<string, User>();

function signedInUser(req: Request): User | undefined {
  const sid = /(?:^|;\s*)sid=([^;]+)/.exec(req.get('cookie') ?? '')?.[1];
  return sid === undefined ? undefined : sessions.get(sid);
}

/** Who is asking for a realtime token: `null` answers 401, an error with `status` 403 answers 403. */
const authenticate: Authenticate = (req) => {
  const user = signedInUser(req);
  if (!user) return null;
  if (user.suspended) throw Object.assign(new Error('Account suspended'), { status: 403 });
  return { tenant: user.tenant, user: user.id, roles: user.roles, info: { name: user.name } };
};

// The app's own login replaces Switchboard's dev login (and its well-known dev admin key).
const { app: realtime } = await createServerFromEnv({ ...process.env, SWITCHBOARD_DEV_AUTH: 'off' }, { authenticate });

const app = express();
app.use(express.urlencoded({ extended: false }));

app.post('/login', (req, res) => {
  const { user: id, password } = req.body as { user?: string; password?: string };
  const user = id === undefined ? undefined : users.get(id);
  if (!user || user.password !== password) return void res.status(401).send('Wrong user or password');
  const sid = randomBytes(24).toString('base64url');
  sessions.set(sid, user);
  res.cookie('sid', sid, { httpOnly: true, sameSite: 'lax' }).redirect(303, '/');
});

app.get('/me', (req, res) => {
  const user = signedInUser(req);
  if (!user) return void res.status(401).json({ error: 'not signed in' });
  res.json({ user: user.id, tenant: user.tenant });
});

// Server code publishes in-process: same validation, event log and answer as POST /v1/publish.
app.post('/orders/:id/ship', async (req, res, next) => {
  const user = signedInUser(req);
  if (!user) return void res.status(401).json({ error: 'not signed in' });
  try {
    const outcome = await realtime.publish({
      tenant: user.tenant,
      channel: `orders:${req.params.id}`,
      event: 'status',
      data: { status: 'shipped', by: user.name },
      id: `order-${req.params.id}-shipped`, // a second click is a duplicate, not a second event
    });
    res.json(outcome);
  } catch (error) {
    next(error);
  }
});

app.use('/realtime', realtime);
app.use(express.static(fileURLToPath(new URL('./public', import.meta.url))));

const problems: ErrorRequestHandler = (error: unknown, _req, res, next) => {
  if (isSwitchboardError(error)) return void res.status(error.status).json(error.toProblem());
  next(error);
};
app.use(problems);

const server = createServer(app);
realtime.attach(server); // the embedded server's WebSockets on this app's own port
server.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1', () => {
  const { address, port } = server.address() as AddressInfo;
  console.log(`listening on http://${address}:${port}`);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    await realtime.shutdown();
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
