/**
 * Presence in React: the member list as state, entering on mount and leaving on unmount.
 * Member info is what the BFF signed from the user's session on every provider, so a
 * member cannot pose as someone else; it changes with the session, not from the page:
 * after the app's session changed (a new display name), `update()` has the BFF sign it
 * again and presence shows it to everyone.
 */
import type { Channel, PresenceMember, SwitchboardError } from '../client/index.js';
import type { ClientHolder } from './client-holder.js';
import { useHolder } from './provider.js';
import { asSwitchboardError, attachChannel, HookStore, useStore } from './store.js';

export interface PresenceState {
  /** One entry per user, yourself included once entered. */
  members: ReadonlyArray<PresenceMember>;
  /** This user as the others see them, once entered. */
  me: PresenceMember | undefined;
  error: SwitchboardError | undefined;
  /**
   * Re-signs this user's info from the app session as it is now (`rt.refresh()`): call it
   * after the session changed. Resolves once the new token is in use (the members follow);
   * rejects, changing nothing, when the BFF refuses the session. Stable across renders.
   */
  update: () => Promise<void>;
}

class PresenceStore extends HookStore<PresenceState> {
  constructor(
    private readonly holder: ClientHolder,
    private readonly name: string,
  ) {
    super({ members: [], me: undefined, error: undefined, update: () => this.update() });
  }

  protected attach(): () => void {
    return attachChannel(this.holder, this.name, (error) => this.publish({ ...this.snapshot, error }), (channel: Channel) => {
      let attached = true;
      const off = channel.presence.onChange((members) => this.showMembers(members));
      this.showMembers(channel.presence.members());
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

  private showMembers(members: PresenceMember[]): void {
    const { me } = this.snapshot;
    this.publish({ ...this.snapshot, members, me: (me && members.find((member) => member.id === me.id)) ?? me });
  }

  private async update(): Promise<void> {
    // Held for the call: the same client the mounted hooks use, never a second connection.
    const rt = this.holder.acquire();
    try {
      await rt.refresh();
    } catch (error) {
      throw asSwitchboardError(error);
    } finally {
      this.holder.release();
    }
  }
}

/**
 * Enters `channel`'s presence while the component is mounted and answers its members.
 *
 * ```tsx
 * const { members, update } = usePresence('chat:lobby');
 * ```
 */
export function usePresence(channel: string): PresenceState {
  const holder = useHolder('usePresence');
  const [state] = useStore(() => new PresenceStore(holder, channel), [holder, channel]);
  return state;
}
