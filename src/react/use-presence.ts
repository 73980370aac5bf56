/** Presence in React: the member list as state, entering on mount and leaving on unmount. */
import type { Channel, JsonValue, PresenceMember, SwitchboardError } from '../client/index.js';
import type { ClientHolder } from './client-holder.js';
import { useHolder } from './provider.js';
import { attachChannel, HookStore, useLatest, useStore } from './store.js';

export interface PresenceOptions {
  /**
   * Member info to enter with. Ably and Supabase send it; on `local` and `pusher` the BFF
   * signs member info from the session, so it is ignored there.
   */
  info?: Record<string, JsonValue>;
}

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
    private readonly info: () => Record<string, JsonValue> | undefined,
  ) {
    super({ members: [], me: undefined, error: undefined });
  }

  protected attach(): () => void {
    return attachChannel(this.holder, this.name, (error) => this.publish({ ...this.snapshot, error }), (channel: Channel) => {
      let attached = true;
      const off = channel.presence.onChange((members) => this.publish({ ...this.snapshot, members }));
      this.publish({ ...this.snapshot, members: channel.presence.members() });
      channel.presence.enter(this.info()).then(
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
export function usePresence(channel: string, options: PresenceOptions = {}): PresenceState {
  const holder = useHolder('usePresence');
  const info = useLatest(options.info);
  const [state] = useStore(() => new PresenceStore(holder, channel, () => info.current), [holder, channel]);
  return state;
}
