/**
 * `switchboard/client`: one channel, event and presence API over every provider.
 * Browser and Node; provider SDKs are loaded lazily by the transport the BFF names.
 */
export { connect, type ChannelOptions, type ConnectOptions, type ConnectionView, type Realtime } from './realtime.js';
export { Channel, type ChannelEvent, type EventData, type EventSchemas, type Infer, type Presence, type Schema, type Unsubscribe } from './channel.js';
export type { ConnectionState } from './connection.js';
export type { SessionSource } from './token-manager.js';
export type { BackoffOptions } from './backoff.js';
export { SwitchboardError, isSwitchboardError, type ErrorCode } from '../core/errors.js';
export type { EventMeta, JsonValue } from '../core/envelope.js';
export type { PresenceMember, ClientTransport, TransportFactory } from '../../providers/types.js';
