/**
 * Lazy loading of provider transports: each is its own chunk, and each imports its SDK
 * lazily again, so the wrapper's entry bundle carries no provider code.
 */
import { SwitchboardError } from '../core/errors.js';
import type { ProviderName, TransportFactory } from '../../providers/types.js';

export type TransportFactories = Partial<Record<ProviderName, TransportFactory>>;

export async function loadTransportFactory(name: ProviderName, overrides: TransportFactories = {}): Promise<TransportFactory> {
  const override = overrides[name];
  if (override) return override;
  switch (name) {
    case 'local':
      return (await import('../../providers/local/client.js')).createLocalTransport;
    case 'pusher':
      return (await import('../../providers/pusher/client.js')).createPusherTransport;
    case 'ably':
      return (await import('../../providers/ably/client.js')).createAblyTransport;
    case 'supabase':
      return (await import('../../providers/supabase/client.js')).createSupabaseTransport;
    default:
      throw new SwitchboardError('provider_unavailable', `This client has no transport for provider "${name}" yet`);
  }
}
