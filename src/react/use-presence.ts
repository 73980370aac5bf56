/**
 * Presence in React: the member list as state, entering on mount and leaving on unmount.
 * Member info is what the BFF signed from the user's session on every provider, so a
 * member cannot pose as someone else; it changes with the session, not from the page.
 */
import type { Channel, PresenceMember, SwitchboardError } from '../client/index.js';
import type { ClientHolder } from './client-holder.js';
import { useHolder } from './provider.js';
import { attachChannel, HookStore, useStore } from './store.js';

export interface PresenceState {
  /** One entry per user, yourself included once entered. */
  members: ReadonlyArray<PresenceMember>;
  /** This user as the others see them, once entered. */
  me: PresenceMember | undefined;
  error: SwitchboardError | undefined;
}

class PresenceStore extends HookStore<PresenceState> {
  constructor(
    private readonly holder: ClientHolder,
    private readonly name: string,
  ) {
    super({ members: [], me: undefined, error: undefined });
  }

  protected attach(): () => void {
    return attachChannel(this.holder, this.name, (error) => this.publish({ ...this.snapshot, error }), (channel: Channel) => {
      let attached = true;
      const off = channel.presence.onChange((members) => this.publish({ ...this.snapshot, members }));
      this.publish({ ...this.snapshot, members: channel.presence.members() });
      channel.presence.enter().then(
        (me) => {
          if (attached) this.publish({ ...this.snapshot, me, error: undefined });
        },
        (error: SwitchboardError) => {
          if (attached) this.publish({ ...this.snapshot, error });
        },
      );
      return () => {
        attached = false;
        off();
        void channel.presence.leave();
      };
    });
  }
}

/**
 * Enters `channel`'s presence while the component is mounted and answers its members.
 *
 * ```tsx
 * const { members } = usePresence('chat:lobby');
 * ```
 */
export function usePresence(channel: string): PresenceState {
  const holder = useHolder('usePresence');
  const [state] = useStore(() => new PresenceStore(holder, channel), [holder, channel]);
  return state;
}
