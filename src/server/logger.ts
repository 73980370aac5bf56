import { pino, type Logger } from 'pino';

export type { Logger };

/** Secrets never reach the log: auth headers and token-bearing fields are redacted. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    redact: {
      paths: ['req.headers.authorization', '*.token', '*.secret', '*.apiKey', 'token', 'authorization'],
      censor: '[redacted]',
    },
  });
}
