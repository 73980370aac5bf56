/**
 * The conformance suite on Ably: the BFF with the Ably provider, and the wrapper's Ably
 * transport (official `ably` SDK), both pointed at the Ably protocol emulator in
 * test/fixtures/ably-emulator — or, for the live variant, at real Ably.
 */
import { createAblyProvider, type AblyProviderOptions } from '../../providers/ably/index.js';
import { publishAsTenant, startBff } from '../helpers/bff.js';
import { startAblyEmulator, type AblyEmulator } from '../fixtures/ably-emulator/index.js';
import type { HarnessOptions, ProviderHarness, RunningBff } from './harness.js';

async function startAblyBff(options: AblyProviderOptions, harnessOptions: HarnessOptions, onClose: () => Promise<void>, emulator?: AblyEmulator): Promise<RunningBff> {
  const bff = await startBff({
    provider: createAblyProvider(options),
    ...(harnessOptions.tokenTtlSeconds ? { tokenTtlSeconds: harnessOptions.tokenTtlSeconds } : {}),
  });
  return {
    bffUrl: bff.url,
    session: (tenant, user, name) => bff.devSession(tenant, user, name ? { name } : {}),
    publish: (tenant, channel, event, data) => publishAsTenant(bff, tenant, channel, event, data),
    ...(emulator ? { dropConnections: () => void emulator.dropConnections() } : {}),
    async close() {
      await bff.close();
      await onClose();
    },
  };
}

/** Ably through the emulator: the provider config `port: 1` makes it unreachable for the fallback tests. */
export const ablyEmulatorHarness: ProviderHarness = {
  name: 'ably (emulator)',
  unreachable: (provider) => ({ ...provider, port: 1 }),
  async start(options = {}) {
    const emulator = await startAblyEmulator();
    return startAblyBff({ apiKey: emulator.apiKey, endpoint: emulator.endpoint, port: emulator.port, tls: false }, options, () => emulator.close(), emulator);
  },
};

const liveKey = process.env.ABLY_API_KEY;

/** Real Ably, only with ABLY_API_KEY set (hosted Ably is unreachable from CI, which has no credentials). */
export const ablyLiveHarness: ProviderHarness = {
  name: 'ably (live)',
  unreachable: (provider) => ({ ...provider, endpoint: '127.0.0.1', port: 1, tls: false }),
  ...(liveKey ? {} : { skip: 'ABLY_API_KEY is not set' }),
  async start(options = {}) {
    if (!liveKey) throw new Error('ABLY_API_KEY is not set');
    return startAblyBff({ apiKey: liveKey, tls: true }, options, async () => undefined);
  },
};
