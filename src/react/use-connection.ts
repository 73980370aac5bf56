/** The client's connection state as React state. */
import type { ConnectionState, Realtime, SwitchboardError } from '../client/index.js';
import type { ClientHolder } from './client-holder.js';
import { useHolder } from './provider.js';
import { HookStore, useStore } from './store.js';

export interface ConnectionStatus {
  /** `connecting` until the client has connected (and always on the server). */
  state: ConnectionState;
  error: SwitchboardError | undefined;
  /** `pusher`, `sse`, …; undefined before the first token. */
  transport: string | undefined;
}

class ConnectionStore extends HookStore<ConnectionStatus> {
  constructor(private readonly holder: ClientHolder) {
    super({ state: 'connecting', error: undefined, transport: undefined });
  }

  protected attach(): () => void {
    const rt: Realtime = this.holder.acquire();
    const read = () => {
      const { state, error, transport } = rt.connection;
      const current = this.snapshot;
      if (current.state !== state || current.error !== error || current.transport !== transport) this.publish({ state, error, transport });
    };
    const off = rt.connection.on('change', read);
    read();
    return () => {
      off();
      this.holder.release();
    };
  }
}

export function useConnectionState(): ConnectionStatus {
  const holder = useHolder('useConnectionState');
  const [state] = useStore(() => new ConnectionStore(holder), [holder]);
  return state;
}
