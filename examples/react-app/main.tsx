/**
 * The React example app: signs in with the BFF's dev login as `?tenant=&user=&name=`,
 * then shows the chat room (`?view=chat`, default) or a live dashboard
 * (`?view=dashboard&mode=throttled|every-event`, measured by `npm run bench -- react`).
 * It imports only the public entry points `switchboard/react` (and React).
 */
import { Profiler, StrictMode, useState, type ProfilerOnRenderCallback } from 'react';
import { createRoot } from 'react-dom/client';
import { z } from 'zod';
import { SwitchboardProvider, useChannelEvent, useConnectionState } from 'switchboard/react';
import { Chat } from './Chat.js';
import { DisplayName } from './DisplayName.js';
import { Dashboard, DashboardEveryEvent } from './Dashboard.js';

const params = new URLSearchParams(location.search);
const tenant = params.get('tenant') ?? 'acme';
const user = params.get('user') ?? 'ana';
let name = params.get('name') ?? user;
const room = params.get('room') ?? 'chat:react';

const tokenAnswer = z.object({ token: z.string().min(1) });

async function post(path: string, body: unknown, bearer?: string): Promise<string> {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${path} answered ${response.status}`);
  return JSON.stringify(await response.json());
}

let session: Promise<string> | undefined;
/** The app's session (here the dev login); the client exchanges it for capability tokens itself. */
const appSession = () => (session ??= post('/v1/dev/session', { tenant, user, name }).then((body) => tokenAnswer.parse(JSON.parse(body)).token));

/** The app changes the user's display name in its own session (here: a new dev login). */
async function rename(next: string): Promise<void> {
  name = next;
  session = undefined;
  await appSession();
}

/** Chat messages are published by the app's backend; here the BFF's demo endpoint. */
async function send(text: string): Promise<void> {
  const { token } = tokenAnswer.parse(JSON.parse(await post('/v1/token', {}, await appSession())));
  await post('/v1/demo/chat', { channel: room, text }, token);
}

function ConnectionBadge() {
  const { state, transport } = useConnectionState();
  return (
    <p id="connection" data-state={state}>
      {state}
      {transport ? ` (${transport})` : ''}
    </p>
  );
}

/** Counts handler calls, so a test can tell a duplicated delivery from one the list deduplicated. */
function DeliveryCounter() {
  const [count, setCount] = useState(0);
  useChannelEvent(room, 'message', () => setCount((value) => value + 1));
  return <output id="deliveries">{count}</output>;
}

declare global {
  interface Window {
    /** Filled by the dashboard view's Profiler: one entry per React commit. */
    reactCommits?: Array<{ actualDuration: number; commitTime: number }>;
  }
}

const onRender: ProfilerOnRenderCallback = (_id, _phase, actualDuration, _base, _start, commitTime) => {
  (window.reactCommits ??= []).push({ actualDuration, commitTime });
};

function DashboardApp() {
  const channel = params.get('channel') ?? 'dashboard:ops';
  return (
    <SwitchboardProvider options={{ url: location.origin, session: appSession }}>
      <ConnectionBadge />
      <Profiler id="dashboard" onRender={onRender}>
        {params.get('mode') === 'every-event' ? <DashboardEveryEvent channel={channel} /> : <Dashboard channel={channel} />}
      </Profiler>
    </SwitchboardProvider>
  );
}

function ChatApp() {
  const [inRoom, setInRoom] = useState(true);
  return (
    <SwitchboardProvider options={{ url: location.origin, session: appSession }}>
      <ConnectionBadge />
      <button type="button" onClick={() => setInRoom((value) => !value)}>
        {inRoom ? 'Leave the room' : 'Join the room'}
      </button>
      {inRoom ? <Chat room={room} me={user} send={send} /> : null}
      {inRoom ? <DisplayName room={room} rename={rename} /> : null}
      {inRoom ? <DeliveryCounter /> : null}
    </SwitchboardProvider>
  );
}

const App = params.get('view') === 'dashboard' ? DashboardApp : ChatApp;

const rootElement = document.getElementById('root');
if (!rootElement) throw new Error('#root is missing');
createRoot(rootElement).render(params.get('strict') === 'off' ? <App /> : <StrictMode><App /></StrictMode>);
