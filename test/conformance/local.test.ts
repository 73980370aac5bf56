import { defineConformanceSuite } from './suite.js';
import { localHarness } from './local.harness.js';

defineConformanceSuite(localHarness);
