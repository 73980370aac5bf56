/**
 * Supabase behind the BFF: the official @supabase/realtime-js (through the wrapper's
 * transport) against the Realtime emulator in test/fixtures/supabase-emulator (test
 * code), whose private-channel decisions come from the shipped RLS policies running in
 * PostgreSQL. Needs PostgreSQL: skipped with a notice on a laptop without it, fails on CI.
 */
import { createSupabaseProvider, type SupabaseProviderOptions } from '../../providers/supabase/index.js';
import { createRealtimeDatabase } from '../fixtures/supabase-emulator/database.js';
import { startSupabaseEmulator, type EmulatorOptions, type SupabaseEmulator } from '../fixtures/supabase-emulator/server.js';
import { publishAsTenant, startBff, type TestBff } from '../helpers/bff.js';
import { postgresCheck, requireService } from '../helpers/services.js';
import type { HarnessOptions, ProviderHarness, RunningBff } from './harness.js';

const postgres = await postgresCheck();

export interface SupabaseBff extends RunningBff {
  emulator: SupabaseEmulator;
  bff: TestBff;
}

/** The suite's view of a test BFF: dev sessions and publishing with the tenant's API key. */
export function conformanceView(bff: TestBff): Pick<RunningBff, 'bffUrl' | 'session' | 'publish'> {
  return {
    bffUrl: bff.url,
    session: (tenant, user, name) => bff.devSession(tenant, user, name ? { name } : {}),
    publish: (tenant, channel, event, data) => publishAsTenant(bff, tenant, channel, event, data),
  };
}

/** Emulator settings (quotas, JWKS) and provider settings derived from the emulator's keys. */
export interface SupabaseSetup {
  emulator?: Omit<EmulatorOptions, 'db'>;
  provider?: (emulator: SupabaseEmulator) => Partial<SupabaseProviderOptions>;
}

/** A provider for the emulator's project, with `overrides`. */
export function supabaseProviderFor(emulator: SupabaseEmulator, overrides: Partial<SupabaseProviderOptions> = {}) {
  return createSupabaseProvider({
    url: emulator.url,
    anonKey: emulator.anonKey,
    serviceRoleKey: emulator.serviceRoleKey,
    jwtSigningKey: { secret: emulator.jwtSecret },
    ...overrides,
  });
}

export async function startSupabaseBff(options: HarnessOptions = {}, setup: SupabaseSetup = {}): Promise<SupabaseBff> {
  requireService(postgres, 'PostgreSQL');
  const db = await createRealtimeDatabase();
  const emulator = await startSupabaseEmulator({ db, ...setup.emulator });
  const bff = await startBff({
    provider: supabaseProviderFor(emulator, setup.provider?.(emulator)),
    ...(options.tokenTtlSeconds ? { tokenTtlSeconds: options.tokenTtlSeconds } : {}),
  });
  return {
    emulator,
    bff,
    ...conformanceView(bff),
    dropConnections: () => emulator.dropConnections(),
    async close() {
      await bff.close();
      await emulator.close();
      await db.close();
    },
  };
}

export const supabaseHarness: ProviderHarness = {
  name: 'supabase (emulator + PostgreSQL RLS)',
  ...(postgres === 'skip' ? { skip: 'PostgreSQL is not reachable' } : {}),
  channelAccess: 'token',
  unreachable: (provider) => ({ ...provider, url: 'http://127.0.0.1:1' }),
  start: startSupabaseBff,
};
