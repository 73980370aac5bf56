/**
 * Test double for a provider: records what the pipeline hands it and can be told to
 * fail. Channel authorization signs like Pusher so routes can be checked end to end.
 */
import { createHmac } from 'node:crypto';
import { toPusherChannel } from '../../src/core/provider-names.js';
import type { ProviderMessage, ServerProvider } from '../../providers/types.js';

export interface FakeProvider extends ServerProvider {
  published: ProviderMessage[];
  failing: boolean;
}

export const FAKE_KEY = 'fake-key';
export const FAKE_SECRET = 'fake-secret';

export function createFakeProvider(): FakeProvider {
  const provider: FakeProvider = {
    name: 'local',
    limits: { maxPayloadBytes: 64 * 1024, maxBatchSize: 100 },
    published: [],
    failing: false,
    channelName: (tenant, channel, presence) => toPusherChannel(tenant, channel, presence),
    async publish(messages) {
      if (provider.failing) throw new Error('provider down');
      provider.published.push(...messages);
    },
    async clientConfig(_grant, { publicUrl }) {
      const url = new URL(publicUrl);
      return { name: 'local', key: FAKE_KEY, cluster: 'local', wsHost: url.hostname, wsPort: Number(url.port), forceTLS: false, authEndpoint: '/v1/auth/pusher' };
    },
    authorizeChannel({ socketId, providerChannel, presence, grant, clientEvents }) {
      const channelData = JSON.stringify({ user_id: grant.user, user_info: grant.info, sb: { ce: clientEvents } });
      const signed = presence ? `${socketId}:${providerChannel}:${channelData}` : `${socketId}:${providerChannel}`;
      const auth = `${FAKE_KEY}:${createHmac('sha256', FAKE_SECRET).update(signed).digest('hex')}`;
      return presence ? { auth, channel_data: channelData } : { auth };
    },
    async close() {},
  };
  return provider;
}
