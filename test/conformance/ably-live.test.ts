/** The conformance suite against real Ably; runs only with ABLY_API_KEY in the environment. */
import { defineConformanceSuite } from './suite.js';
import { ablyLiveHarness } from './ably.harness.js';

if (ablyLiveHarness.skip) console.info(`[skip] client conformance: ${ablyLiveHarness.name}: ${ablyLiveHarness.skip}`);
defineConformanceSuite(ablyLiveHarness);
