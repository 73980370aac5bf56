/**
 * The admin page: signs in with a key or token, then polls /v1/admin/stats and renders
 * the live view. A failed poll (server restarting, network down) shows the page as
 * offline, keeps the last figures, and retries with growing pauses until it is back.
 */
import { plural, renderDeadLetters, renderHealth, renderStats, statsSchema } from './admin-view.js';
import { byId, isNetworkError } from './demo-dom.js';

const CREDENTIAL_KEY = 'switchboard-admin-credential';
const POLL_MS = 2000;
const MAX_RETRY_MS = 10_000;

const login = byId<HTMLFormElement>('login');
const loginError = byId('login-error');
const view = byId('view');
const status = byId('status');
const updated = byId('updated');
const problem = byId('view-error');
const provider = byId('provider');
const tenants = byId('tenants');
const deadLetters = byId('dead-letters');
const health = byId('health');

/** A rejected credential: answered by the server, never retried. */
class Rejected extends Error {}

function rejection(statusCode: number): Rejected {
  return new Rejected(
    statusCode === 403
      ? 'That credential is valid but may not see the admin view: a capability token needs the admin role.'
      : 'That key or token was not accepted. Use an admin key (SWITCHBOARD_ADMIN_KEYS; in development: dev-admin-key-change-me), a tenant API key, or the capability token of a user with the admin role.',
  );
}

function showStatus(state: 'connecting' | 'live' | 'offline', text: string): void {
  status.hidden = false;
  status.dataset.state = state;
  status.textContent = text;
  view.dataset.state = state;
}

let session: AbortController | undefined;

async function fetchStats(credential: string, signal: AbortSignal) {
  const response = await fetch('/v1/admin/stats', { headers: { authorization: `Bearer ${credential}` }, signal, cache: 'no-store' });
  if (response.status === 401 || response.status === 403) throw rejection(response.status);
  if (!response.ok) throw new Error(`the server answered ${response.status}`);
  const stats = statsSchema.safeParse(await response.json());
  if (!stats.success) throw new Error('the server sent stats this page does not understand');
  return stats.data;
}

/** Polls until signed out: every POLL_MS while live, backing off while offline. */
async function pollLoop(credential: string, signal: AbortSignal): Promise<void> {
  let failures = 0;
  let everLoaded = false;
  while (!signal.aborted) {
    let pause = POLL_MS;
    try {
      const stats = await fetchStats(credential, signal);
      failures = 0;
      everLoaded = true;
      problem.textContent = '';
      provider.textContent = `provider: ${stats.provider}`;
      provider.hidden = false;
      updated.textContent = `Updated ${new Date(stats.generatedAt).toLocaleTimeString()} · ${plural(stats.tenants.length, 'tenant')}`;
      showStatus('live', 'Live');
      renderStats(tenants, stats);
      renderHealth(health, stats.health);
      renderDeadLetters(deadLetters, stats.webhookDeadLetters);
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof Rejected) return signOut(error.message);
      failures += 1;
      pause = Math.min(POLL_MS * failures, MAX_RETRY_MS);
      const reason = isNetworkError(error) ? 'the server cannot be reached' : error instanceof Error ? error.message : String(error);
      showStatus('offline', `Offline · retrying in ${Math.round(pause / 1000)} s`);
      problem.textContent = `Cannot update: ${reason}.${everLoaded ? ' The figures below are from the last update.' : ''} Retrying by itself.`;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, pause);
      // Back online (or signed out): try at once.
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      window.addEventListener('online', wake, { once: true, signal });
      signal.addEventListener('abort', wake, { once: true });
    });
  }
}

function signIn(credential: string): void {
  session?.abort();
  session = new AbortController();
  sessionStorage.setItem(CREDENTIAL_KEY, credential);
  login.hidden = true;
  view.hidden = false;
  loginError.textContent = '';
  problem.textContent = '';
  updated.textContent = '';
  tenants.replaceChildren();
  showStatus('connecting', 'Connecting…');
  void pollLoop(credential, session.signal);
}

function signOut(message = ''): void {
  session?.abort();
  session = undefined;
  sessionStorage.removeItem(CREDENTIAL_KEY);
  login.hidden = false;
  view.hidden = true;
  status.hidden = true;
  provider.hidden = true;
  loginError.textContent = message;
}

login.addEventListener('submit', (event) => {
  event.preventDefault();
  const credential = byId<HTMLInputElement>('credential').value.trim();
  if (credential === '') loginError.textContent = 'Enter a key or token.';
  else signIn(credential);
});
byId('logout').addEventListener('click', () => signOut());
const saved = sessionStorage.getItem(CREDENTIAL_KEY);
if (saved) signIn(saved);
