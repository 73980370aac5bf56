import { errorStatus, SwitchboardError, type ErrorCode } from '../core/errors.js';
import { problemSchema } from './schemas.js';

export { SwitchboardError };

function isErrorCode(code: string | undefined): code is ErrorCode {
  return code !== undefined && Object.hasOwn(errorStatus, code);
}

function codeForStatus(status: number): ErrorCode {
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 413) return 'payload_too_large';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'provider_unavailable';
  return 'invalid_request';
}

/** Turns a non-2xx BFF answer (problem+json, or anything else) into a SwitchboardError with the server's code. */
export async function errorFromResponse(response: Response, what: string): Promise<SwitchboardError> {
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  const problem = problemSchema.safeParse(body);
  const code = problem.success && isErrorCode(problem.data.code) ? problem.data.code : codeForStatus(response.status);
  const detail = problem.success ? (problem.data.detail ?? problem.data.title) : undefined;
  return new SwitchboardError(code, `${what} failed (${response.status})${detail ? `: ${detail}` : ''}`);
}

export function toSwitchboardError(error: unknown, fallback: ErrorCode = 'provider_unavailable'): SwitchboardError {
  if (error instanceof SwitchboardError) return error;
  return new SwitchboardError(fallback, error instanceof Error ? error.message : String(error));
}
