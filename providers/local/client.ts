/**
 * The embedded `local` provider speaks the Pusher Channels protocol v7, so its client
 * transport is the Pusher one (official pusher-js underneath).
 */
export { createPusherTransport as createLocalTransport } from '../pusher/client.js';
