/**
 * Typed errors with a stable `code`, rendered as RFC 9457 problem details.
 * The same codes reach the client wrapper, so apps can branch on them.
 */
export const errorStatus = {
  invalid_request: 400,
  invalid_channel: 400,
  invalid_event: 400,
  unknown_namespace: 400,
  invalid_identity: 400,
  unauthenticated: 401,
  token_expired: 401,
  forbidden: 403,
  not_found: 404,
  payload_too_large: 413,
  rate_limited: 429,
  provider_unavailable: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof errorStatus;

export interface ProblemIssue {
  path: string;
  message: string;
}

export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail: string;
  issues?: ProblemIssue[];
}

export class SwitchboardError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly issues: ProblemIssue[] | undefined;

  constructor(code: ErrorCode, message: string, issues?: ProblemIssue[]) {
    super(message);
    this.name = 'SwitchboardError';
    this.code = code;
    this.status = errorStatus[code];
    this.issues = issues;
  }

  toProblem(): ProblemDetails {
    return {
      type: `urn:switchboard:problem:${this.code}`,
      title: this.code.replaceAll('_', ' '),
      status: this.status,
      code: this.code,
      detail: this.message,
      ...(this.issues ? { issues: this.issues } : {}),
    };
  }
}

export function isSwitchboardError(value: unknown): value is SwitchboardError {
  return value instanceof SwitchboardError;
}
