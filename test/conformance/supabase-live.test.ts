/**
 * The conformance suite against a real Supabase project, when SUPABASE_URL,
 * SUPABASE_ANON_KEY, SUPABASE_SERVICE_ROLE_KEY and SUPABASE_JWT_SECRET are set (and
 * providers/supabase/policies.sql is applied to the project). Skipped with a one-line
 * notice otherwise: hosted Supabase is unreachable from the test machines.
 */
import { createSupabaseProvider, supabaseProviderOptionsFromEnv } from '../../providers/supabase/index.js';
import { startBff } from '../helpers/bff.js';
import type { ProviderHarness } from './harness.js';
import { defineConformanceSuite } from './suite.js';
import { conformanceView } from './supabase.harness.js';

const REQUIRED = ['SUPABASE_URL', 'SUPABASE_ANON_KEY', 'SUPABASE_SERVICE_ROLE_KEY', 'SUPABASE_JWT_SECRET'] as const;
const missing = REQUIRED.filter((name) => !process.env[name]);
if (missing.length > 0) console.info(`[skip] Supabase live conformance: set ${missing.join(', ')} to run it against a real project`);

const liveHarness: ProviderHarness = {
  name: 'supabase (live project)',
  ...(missing.length > 0 ? { skip: `missing ${missing.join(', ')}` } : {}),
  channelAccess: 'token',
  unreachable: (provider) => ({ ...provider, url: 'http://127.0.0.1:1' }),
  async start(options = {}) {
    const bff = await startBff({
      provider: createSupabaseProvider(supabaseProviderOptionsFromEnv()),
      ...(options.tokenTtlSeconds ? { tokenTtlSeconds: options.tokenTtlSeconds } : {}),
    });
    return { ...conformanceView(bff), close: () => bff.close() };
  },
};

defineConformanceSuite(liveHarness);
