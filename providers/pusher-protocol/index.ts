export * from './credentials.js';
export * from './hmac.js';
export * from './channel-auth.js';
export * from './http-auth.js';
export * from './webhook.js';
