import { useState, type FormEvent } from 'react';
import { usePresence } from 'switchboard/react';

/**
 * Changes the user's display name. Presence info comes from the app session, signed by
 * the BFF: the app changes its session first (`rename`), then `update()` has the BFF sign
 * the new info, and every member sees the new name once (no leave and join).
 */
export function DisplayName({ room, rename }: { room: string; rename: (name: string) => Promise<void> }) {
  const { me, update } = usePresence(room);
  const [name, setName] = useState('');
  const [error, setError] = useState('');

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    try {
      await rename(name);
      await update();
      setName('');
      setError('');
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure));
    }
  };

  return (
    <form className="rename" onSubmit={(event) => void submit(event)}>
      <input aria-label="Display name" placeholder={typeof me?.info.name === 'string' ? me.info.name : ''} value={name} onChange={(event) => setName(event.target.value)} />
      <button disabled={name.trim() === ''}>Rename</button>
      {error ? <p role="alert">{error}</p> : null}
    </form>
  );
}
