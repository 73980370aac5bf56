/**
 * Pusher protocol v7 codes used by the local server (pusher-docs pusher-websockets-protocol.md,
 * "Error Codes"). Close codes follow the protocol (pusher-js maps 4000-4099 to "refused",
 * 4100-4199 "backoff", 4200-4299 "retry"). Pusher documents 4009 "Connection is unauthorized"
 * (failed sign-in, terminated user), 4100 "Over capacity" (also a full presence channel, as
 * soketi answers it) and, among the 4300-4399 "other errors", only 4301 (client-event rate
 * limit); the other 43xx codes are specific to this server.
 */
export const CloseCode = {
  appNotFound: 4001,
  /** pusher-docs: "Connection is unauthorized"; used when an app terminates a user's connections. */
  unauthorized: 4009,
  unsupportedProtocol: 4007,
  overCapacity: 4100,
  /** Slow consumer: its send buffer overflowed; the client should reconnect (and recover from history). */
  reconnect: 4200,
  pongTimeout: 4201,
} as const;

export const ErrorCode = {
  unauthorized: 4009,
  overCapacity: 4100,
  invalidMessage: 4300,
  clientEventRateLimit: 4301,
  frameTooLarge: 4303,
  tooManyChannels: 4304,
  invalidChannel: 4305,
  clientEventRejected: 4307,
  memberInfoTooLarge: 4308,
} as const;
