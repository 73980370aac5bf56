/**
 * Pusher protocol v7 codes used by the local server. Close codes follow the protocol
 * (pusher-js maps 4000-4099 to "refused", 4100-4199 "backoff", 4200-4299 "retry").
 * `pusher:error` codes 4300-4399 are "other errors": 4301 is Pusher's client-event rate
 * limit; the others are specific to this server.
 */
export const CloseCode = {
  appNotFound: 4001,
  unsupportedProtocol: 4007,
  overCapacity: 4100,
  /** Slow consumer: its send buffer overflowed; the client should reconnect (and recover from history). */
  reconnect: 4200,
  pongTimeout: 4201,
} as const;

export const ErrorCode = {
  invalidMessage: 4300,
  clientEventRateLimit: 4301,
  frameTooLarge: 4303,
  tooManyChannels: 4304,
  invalidChannel: 4305,
  presenceFull: 4306,
  clientEventRejected: 4307,
} as const;
