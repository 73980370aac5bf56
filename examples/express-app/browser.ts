/**
 * The app's page: connects to Switchboard on the app's own origin. No session token is
 * passed, so the token request carries the app's login cookie to `authenticate`.
 * Bundled with: npx esbuild browser.ts --bundle --format=esm --outfile=public/app.js
 */
import { connect } from 'switchboard/client';

const log = document.querySelector<HTMLUListElement>('#events');
const state = document.querySelector<HTMLElement>('#state');

const me = await fetch('/me');
if (me.ok) {
  document.body.classList.add('signed-in');
  const rt = connect({ url: `${location.origin}/realtime` });
  rt.connection.on('change', (connection) => {
    if (state) state.textContent = connection;
  });
  const order = rt.channel('orders:1001');
  order.subscribe('status', (data, meta) => {
    const item = document.createElement('li');
    item.textContent = `#${meta.seq} ${JSON.stringify(data)}`;
    log?.append(item);
  });
  // Events published from here on arrive live (and after a drop, missed ones are fetched).
  order.on('subscribed', () => (document.body.dataset.order = 'live'));
}
