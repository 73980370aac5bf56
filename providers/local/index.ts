export { createLocalProvider, PUSHER_AUTH_ENDPOINT, type LocalProvider, type LocalServerStats } from './provider.js';
export { DEFAULT_LOCAL_OPTIONS, localProviderOptionsFromEnv, type LocalProviderOptions } from './options.js';
export { CloseCode, ErrorCode } from './codes.js';
