import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** The message with its causes, each once: a wrapper that repeats its cause's words is not said twice. */
export function messageWithCauses(error: Error): string {
  const parts = [error.message];
  for (let cause = error.cause; cause instanceof Error; cause = cause.cause) {
    const said = cause.message;
    if (!parts.some((part) => part.includes(said))) parts.push(said);
  }
  return parts.join(': ');
}

/** Secrets never reach the log: auth headers and token-bearing fields are redacted. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    redact: {
      paths: ['req.headers.authorization', '*.token', '*.secret', '*.apiKey', 'token', 'authorization'],
      censor: '[redacted]',
    },
    serializers: {
      err: (error: unknown) => (error instanceof Error ? { ...pino.stdSerializers.err(error), message: messageWithCauses(error) } : error),
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
