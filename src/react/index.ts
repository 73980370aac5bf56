/**
 * `switchboard/react`: React bindings for `switchboard/client` (React ≥ 18 as a peer
 * dependency). Rendering, also on the server, opens no connection: the client connects
 * when the first component that needs it mounts, and closes when the provider unmounts.
 */
export { SwitchboardProvider, type SwitchboardProviderProps } from './provider.js';
export { useConnectionState, type ConnectionStatus } from './use-connection.js';
export { useChannelEvent, useEvents, type ChannelEventOptions, type EventsOptions, type EventsState } from './use-events.js';
export { usePresence, type PresenceState } from './use-presence.js';
export { useTyping, useWhisper, type Typing, type TypingOptions, type WhisperOptions } from './use-whisper.js';
export type { ChannelEvent, ConnectOptions, ConnectionState, EventMeta, JsonValue, PresenceMember, Realtime, Schema } from '../client/index.js';
