/** `<SwitchboardProvider>`: makes one client available to the hooks below it. */
import { createContext, createElement, useContext, useEffect, type ReactNode } from 'react';
import type { ConnectOptions, Realtime } from '../client/index.js';
import { ClientHolder } from './client-holder.js';
import { useKeyed } from './store.js';

const HolderContext = createContext<ClientHolder | undefined>(undefined);

export type SwitchboardProviderProps = { children?: ReactNode } & (
  | {
      /** `connect()` options, read once: the client connects when the first component that needs it mounts. Remount (e.g. with a `key`) to change user. */
      options: ConnectOptions;
      client?: undefined;
    }
  | {
      /** A client the app made with `connect()`; the app closes it. */
      client: Realtime;
      options?: undefined;
    }
);

export function SwitchboardProvider(props: SwitchboardProviderProps): ReactNode {
  const { client } = props;
  // The options are read once (see above), so an inline object literal does not reconnect on every render.
  const holder = useKeyed(() => new ClientHolder(client ? { client } : { options: props.options as ConnectOptions }), [client]);
  // The connection lives as long as the provider, not only while some hook uses it.
  useEffect(() => {
    holder.acquire();
    return () => holder.release();
  }, [holder]);
  return createElement(HolderContext.Provider, { value: holder }, props.children);
}

export function useHolder(hook: string): ClientHolder {
  const holder = useContext(HolderContext);
  if (!holder) throw new Error(`${hook}() must be used inside <SwitchboardProvider>`);
  return holder;
}
