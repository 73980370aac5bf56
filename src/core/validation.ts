import type { z } from 'zod';
import { SwitchboardError, type ProblemIssue } from './errors.js';

export function toIssues(error: z.ZodError): ProblemIssue[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join('.'),
    message: issue.message,
  }));
}

/** Parses untrusted input, turning a schema failure into an `invalid_request` problem. */
export function parseInput<T>(schema: z.ZodType<T>, input: unknown, what = 'request'): T {
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new SwitchboardError('invalid_request', `Invalid ${what}`, toIssues(result.error));
  }
  return result.data;
}
