/** The chat room: messages (published through the BFF), presence, and "… is typing" from whispers. */
import * as z from 'zod/mini';
import type { PresenceMember, Realtime } from '../client/index.js';
import type { DemoApi, DemoSession } from './demo-api.js';
import { needsConnection, type ConnectionBadge, type LinkWatch } from './demo-connection.js';
import { appendToFeed, byId, clockTime, describeError, el, placeholder, recoveredTag } from './demo-dom.js';

export const CHAT_CHANNEL = 'chat:lobby';

const messageSchema = z.object({ text: z.string(), user: z.string(), name: z.string() });
const typingSchema = z.object({ name: z.optional(z.string()) });

const TYPING_SHOWN_MS = 3000;
/** Whisper at most this often while the user keeps typing: well inside the 3 s the others show it. */
const TYPING_SEND_EVERY_MS = 1000;

function memberName(member: PresenceMember): string {
  const name = member.info.name;
  return typeof name === 'string' && name !== '' ? name : member.id;
}

function typingText(names: string[]): string {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.length} people are typing…`;
}

export function mountChat(options: {
  rt: Realtime;
  api: DemoApi;
  me: DemoSession;
  watch: LinkWatch;
  badge: ConnectionBadge;
  signal: AbortSignal;
}): void {
  const { rt, api, me, watch, badge, signal } = options;
  const messages = byId('messages');
  const members = byId('members');
  const typing = byId('typing');
  const form = byId<HTMLFormElement>('chat-form');
  const input = byId<HTMLInputElement>('chat-input');
  const error = byId('chat-error');
  const membersTitle = byId('members-title');
  const send = byId<HTMLButtonElement>('chat-send');
  placeholder(messages, 'No messages yet. Say hello!');
  members.replaceChildren();
  typing.textContent = '';
  error.textContent = '';

  // since: 0 replays the room's history first, so a reload shows the conversation so far.
  const channel = rt.channel(CHAT_CHANNEL, { since: 0, events: { message: messageSchema } });
  const typers = new Map<string, { name: string; timer: ReturnType<typeof setTimeout> }>();
  const renderTyping = () => {
    typing.textContent = typingText([...typers.values()].map((typer) => typer.name));
  };
  const stopTyping = (user: string) => {
    const typer = typers.get(user);
    if (!typer) return;
    clearTimeout(typer.timer);
    typers.delete(user);
    renderTyping();
  };

  const offs = [
    channel.subscribe('message', (data, meta) => {
      stopTyping(data.user);
      const recovered = watch.isRecovered(meta);
      const item = el(
        'li',
        { className: data.user === me.user ? 'mine' : '', data: { seq: String(meta.seq), user: data.user } },
        clockTime(meta.ts),
        ' ',
        el('strong', { text: data.name }),
        ': ',
        el('span', { text: data.text, className: 'text' }),
      );
      if (recovered) {
        item.append(' ', recoveredTag());
        badge.recovered();
      }
      appendToFeed(messages, item);
    }),
    channel.presence.onChange((list) => {
      const sorted = [...list].sort((a, b) => memberName(a).localeCompare(memberName(b)));
      members.replaceChildren(
        ...sorted.map((member) =>
          el('li', { text: member.id === me.user ? `${memberName(member)} (you)` : memberName(member), data: { user: member.id } }),
        ),
      );
    }),
    channel.onWhisper('typing', (data, from) => {
      const parsed = typingSchema.safeParse(data);
      if (!parsed.success || !from || from === me.user) return;
      const known = channel.presence.members().find((member) => member.id === from);
      const name = known ? memberName(known) : (parsed.data.name ?? from);
      const previous = typers.get(from);
      if (previous) clearTimeout(previous.timer);
      typers.set(from, { name, timer: setTimeout(() => stopTyping(from), TYPING_SHOWN_MS) });
      renderTyping();
    }),
    channel.on('error', (failure) => {
      error.textContent = failure.message;
    }),
    // Errors from an outage are over once the page is connected again; unsent text stays in the box.
    badge.onReconnected(() => {
      error.textContent = '';
    }),
  ];
  channel.presence.enter().catch((failure: unknown) => {
    error.textContent = `Could not join the room: ${describeError(failure)}`;
  });

  let lastTypingSent = 0;
  input.addEventListener(
    'input',
    () => {
      const now = Date.now();
      if (input.value === '' || now - lastTypingSent < TYPING_SEND_EVERY_MS) return;
      lastTypingSent = now;
      try {
        channel.whisper('typing', { name: me.name });
      } catch {
        // Not possible on the SSE fallback; typing indicators are best effort.
      }
    },
    { signal },
  );

  form.addEventListener(
    'submit',
    (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (text === '') return;
      error.textContent = '';
      input.value = '';
      lastTypingSent = 0;
      api.sendChat(CHAT_CHANNEL, text).catch((failure: unknown) => {
        if (input.value === '') input.value = text;
        error.textContent = `Not sent. ${describeError(failure)}. Your message is kept; send it again when the connection is back.`;
      });
    },
    { signal },
  );

  // Offline, the member list is the last one known (greyed out) and messages cannot be sent; a draft can still be typed.
  offs.push(
    needsConnection(badge, send).off,
    badge.onChange((live) => {
      members.classList.toggle('stale', !live);
      membersTitle.textContent = live ? 'Online' : 'Online when last connected';
    }),
  );

  signal.addEventListener('abort', () => {
    for (const off of offs) off();
    for (const typer of typers.values()) clearTimeout(typer.timer);
  });
}
