export { createAblyProvider, type AblyProvider } from './provider.js';
export { ablyProviderOptionsFromEnv, ABLY_DEFAULT_MAX_MESSAGE_BYTES, type AblyProviderOptions } from './options.js';
export { toAblyCapability, type AblyCapability } from './capability.js';
