export { createPusherProvider, PUSHER_BATCH_EVENTS, PUSHER_MAX_DATA_BYTES, type PusherProvider } from './provider.js';
export { pusherProviderOptionsFromEnv, type PusherProviderOptions } from './options.js';
