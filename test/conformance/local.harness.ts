import type { Socket } from 'node:net';
import { createLocalProvider, localProviderOptionsFromEnv } from '../../providers/local/index.js';
import { publishAsTenant, startBff } from '../helpers/bff.js';
import type { ProviderHarness, RunningBff } from './harness.js';

export const localHarness: ProviderHarness = {
  name: 'local',
  async start(options = {}): Promise<RunningBff> {
    const bff = await startBff({
      provider: createLocalProvider(localProviderOptionsFromEnv({})),
      ...(options.tokenTtlSeconds ? { tokenTtlSeconds: options.tokenTtlSeconds } : {}),
    });
    const sockets = new Set<Socket>();
    bff.server.on('upgrade', (_req, socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    return {
      bffUrl: bff.url,
      session: (tenant, user, name) => bff.devSession(tenant, user, name ? { name } : {}),
      publish: (tenant, channel, event, data) => publishAsTenant(bff, tenant, channel, event, data),
      dropConnections() {
        for (const socket of sockets) socket.destroy();
      },
      close: () => bff.close(),
    };
  },
};
