import { defineConformanceSuite } from './suite.js';
import { supabaseHarness } from './supabase.harness.js';

defineConformanceSuite(supabaseHarness);
