/**
 * The Switchboard BFF under test, built exactly as `switchboard serve` builds it
 * (createServerFromEnv + listen), on an ephemeral port. Configuration comes from the
 * environment the orchestrator sets (SWITCHBOARD_PROVIDER=local, SWITCHBOARD_STORE, ...).
 */
import { createServerFromEnv } from '../../src/server/from-env.js';
import { listen } from '../../src/server/listen.js';
import { serveIpc } from './ipc.js';

const { app } = await createServerFromEnv(process.env);
const running = await listen(app, { port: 0, host: '127.0.0.1' });
serveIpc(running.port, () => running.close());
