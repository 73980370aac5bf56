import { useState, type FormEvent } from 'react';
import { z } from 'zod';
import { useConnectionState, useEvents, usePresence, useTyping } from 'switchboard/react';

const messageSchema = z.object({ user: z.string(), name: z.string(), text: z.string() });

/** A chat room: the last 50 messages (history, then live), who is here, who is typing. */
export function Chat({ room, me, send }: { room: string; me: string; send: (text: string) => Promise<unknown> }) {
  const { state } = useConnectionState();
  const { events, loading } = useEvents(room, { event: 'message', schema: messageSchema, history: 50 });
  const { members } = usePresence(room);
  const { typing, notify, stop } = useTyping(room);
  const [text, setText] = useState('');
  const nameOf = (user: string) => {
    const name = members.find((member) => member.id === user)?.info.name;
    return typeof name === 'string' ? name : user;
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    stop();
    setText('');
    void send(text);
  };

  return (
    <section className="chat" data-connection={state}>
      <ul className="members">
        {members.map((member) => (
          <li key={member.id} data-user={member.id}>
            {nameOf(member.id)}
            {member.id === me ? ' (you)' : ''}
          </li>
        ))}
      </ul>
      {loading ? (
        <p>Loading…</p>
      ) : (
        <ol className="messages">
          {events.map(({ data, meta }) => (
            <li key={meta.id} data-seq={meta.seq}>
              <strong>{data.name}</strong>: <span className="text">{data.text}</span>
            </li>
          ))}
        </ol>
      )}
      <p className="typing">{typing.length > 0 ? `${typing.map(nameOf).join(', ')} typing…` : ''}</p>
      <form onSubmit={submit}>
        <input
          aria-label="Message"
          value={text}
          onChange={(event) => {
            setText(event.target.value);
            notify();
          }}
        />
        <button disabled={text === ''}>Send</button>
      </form>
    </section>
  );
}
