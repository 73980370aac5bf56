import { defineConformanceSuite } from './suite.js';
import { ablyEmulatorHarness } from './ably.harness.js';

defineConformanceSuite(ablyEmulatorHarness);
