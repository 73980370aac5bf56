export { createSupabaseProvider, SUPABASE_BATCH_MESSAGES, SUPABASE_DEFAULT_MAX_PAYLOAD_BYTES, type SupabaseProvider } from './provider.js';
export { supabaseProviderOptionsFromEnv, type SupabaseProviderOptions } from './options.js';
