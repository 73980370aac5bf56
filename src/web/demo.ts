/**
 * The demo page at `/`: dev sign-in, then chat with presence and typing, live order
 * tracking and a personal notifications feed, all through `switchboard/client`.
 *
 * Two clients: one on the provider (chat needs presence and whispers; orders ride
 * along) and one on the BFF's SSE stream for the one-way notifications feed.
 */
import { connect, isSwitchboardError, type ConnectionState, type SwitchboardError } from '../client/index.js';
import { clearSession, DemoApi, loadSession, signIn, type DemoSession } from './demo-api.js';
import { mountChat } from './demo-chat.js';
import { ConnectionBadge } from './demo-connection.js';
import { byId, describeError } from './demo-dom.js';
import { mountNotifications } from './demo-notifications.js';
import { mountOrders } from './demo-orders.js';

/**
 * Shorter than the client's defaults (1 s .. 30 s backoff, 10 s connect timeout) so the demo
 * visibly recovers within seconds, also from an attempt that stalled while the server was down.
 */
const RECONNECT = { baseMs: 500, maxMs: 4000 };
const CONNECT_TIMEOUT_MS = 4000;

const login = byId<HTMLFormElement>('login');
const loginError = byId('login-error');
const app = byId('app');
const identity = byId('identity');
const badgeNode = byId('connection');
const signOutButton = byId<HTMLButtonElement>('sign-out');

let stop: (() => void) | undefined;

function showLogin(message = ''): void {
  stop?.();
  stop = undefined;
  app.hidden = true;
  badgeNode.hidden = true;
  signOutButton.hidden = true;
  identity.textContent = '';
  login.hidden = false;
  loginError.textContent = message;
}

function start(session: DemoSession): void {
  const controller = new AbortController();
  const { signal } = controller;
  const url = window.location.origin;
  // The SSE fallback has no presence or whispers, and the client does not switch back from it, so the chat client stays on the provider.
  const live = connect({ url, session: session.session, reconnect: RECONNECT, connectTimeoutMs: CONNECT_TIMEOUT_MS, fallbackAfterAttempts: 0 });
  const feed = connect({ url, session: session.session, transport: 'sse', reconnect: RECONNECT, connectTimeoutMs: CONNECT_TIMEOUT_MS });
  const badge = new ConnectionBadge(badgeNode, byId('recovery'), signal);
  const liveWatch = badge.watch('chat & orders', live);
  const feedWatch = badge.watch('notifications', feed);

  stop = () => {
    controller.abort();
    live.close();
    feed.close();
  };
  for (const rt of [live, feed]) {
    const off = rt.connection.on('change', (state: ConnectionState, error: SwitchboardError | undefined) => {
      // `failed` is final: the session was rejected or the provider refused this client.
      if (state !== 'failed') return;
      const rejected = isSwitchboardError(error) && (error.status === 401 || error.status === 403);
      if (rejected) clearSession();
      showLogin(rejected ? 'Your session ended; please sign in again.' : `Connection failed: ${error?.message ?? 'unknown error'}`);
    });
    signal.addEventListener('abort', off);
  }

  const api = new DemoApi(session.session);
  login.hidden = true;
  app.hidden = false;
  signOutButton.hidden = false;
  identity.textContent = `${session.name} (${session.user}) · tenant ${session.tenant}`;
  mountChat({ rt: live, api, me: session, watch: liveWatch, badge, signal });
  mountOrders({ rt: live, api, watch: liveWatch, badge, signal });
  mountNotifications({ rt: feed, user: session.user, watch: feedWatch, badge, signal });
}

login.addEventListener('submit', (event) => {
  event.preventDefault();
  const data = new FormData(login);
  const field = (name: string) => String(data.get(name) ?? '').trim();
  const submit = login.querySelector('button');
  if (submit) submit.disabled = true;
  loginError.textContent = '';
  signIn({ tenant: field('tenant'), user: field('user'), name: field('name') })
    .then(start, (error: unknown) => {
      loginError.textContent = describeError(error);
    })
    .finally(() => {
      if (submit) submit.disabled = false;
    });
});

signOutButton.addEventListener('click', () => {
  clearSession();
  showLogin();
});

const saved = loadSession();
if (saved) start(saved);
else showLogin();
