import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { SwitchboardError } from '../../core/errors.js';
import type { Logger } from '../logger.js';

/** Seconds a client should wait before retrying a 503 (store or provider unavailable, shutting down). */
export const RETRY_AFTER_SECONDS = 5;

export function sendProblem(res: Response, error: SwitchboardError): void {
  if (error.status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
  if (error.status === 503) res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
  res.status(error.status).type('application/problem+json').send(JSON.stringify(error.toProblem()));
}

/** Body-parser failures arrive as http-errors with `type`; everything else unknown is a 500. */
function fromUnknown(error: unknown): SwitchboardError {
  if (error instanceof SwitchboardError) return error;
  const candidate = error as { type?: unknown; status?: unknown };
  if (candidate.type === 'entity.too.large') return new SwitchboardError('payload_too_large', 'Request body is too large');
  if (candidate.type === 'entity.parse.failed') return new SwitchboardError('invalid_request', 'Request body is not valid JSON');
  if (typeof candidate.status === 'number' && candidate.status >= 400 && candidate.status < 500) {
    return new SwitchboardError('invalid_request', 'Malformed request');
  }
  return new SwitchboardError('internal', 'Internal error');
}

export function problemHandler(logger: Logger, onProblem?: (req: Request, problem: SwitchboardError) => void): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    const problem = fromUnknown(error);
    onProblem?.(req, problem);
    // A 503 is an outage the store or provider already reports (once per interval), not one line per request.
    if (problem.status >= 500 && problem.status !== 503) logger.error({ err: error }, 'request failed');
    if (res.headersSent) {
      res.end();
      return;
    }
    sendProblem(res, problem);
  };
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(new SwitchboardError('not_found', `No route for ${req.method} ${req.path}`));
};
