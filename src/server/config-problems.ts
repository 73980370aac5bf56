/**
 * Configuration problems in plain words: one sentence per problem, naming the variable and,
 * unless it is a secret, the value given. Start-up collects them all and fails once with
 * the whole list, so a newcomer fixes everything in one go.
 */
import type { z } from 'zod';

/** Variables whose values are never repeated back: keys, secrets, tokens. */
const SECRET_NAME = /(SECRET|PASSWORD|_KEYS?|_TOKEN)$/;

/** The value as it may be shown: secrets withheld, a URL's password masked. */
export function shownValue(name: string, value: string): string {
  if (SECRET_NAME.test(name)) return '(hidden, it is a secret)';
  try {
    const url = new URL(value);
    if (url.password) {
      url.password = '***';
      return JSON.stringify(url.toString());
    }
  } catch {
    // Not a URL: shown as given.
  }
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
}

/** zod's own wording ("Invalid input: …", "Too big: …") is replaced; a schema's custom message is kept. */
const ZOD_DEFAULT_MESSAGE = /^(Invalid|Too (big|small))\b/;

function requirement(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.expected === 'int') return 'must be a whole number';
      if (issue.expected === 'number') return 'must be a number';
      break;
    case 'too_big':
      if (issue.origin === 'number') return `must be at most ${String(issue.maximum)}`;
      if (issue.origin === 'string') return `must be at most ${String(issue.maximum)} characters long`;
      break;
    case 'too_small':
      if (!ZOD_DEFAULT_MESSAGE.test(issue.message)) return issue.message;
      if (issue.origin === 'number') return `must be at least ${String(issue.minimum)}`;
      if (issue.origin === 'string') return Number(issue.minimum) <= 1 ? 'must not be empty' : `must be at least ${String(issue.minimum)} characters long`;
      break;
    case 'invalid_value':
      return `must be one of ${issue.values.map(String).join(', ')}`;
    case 'invalid_format':
      if (issue.format === 'url') return `must be a URL${'pattern' in issue && issue.pattern ? ` whose scheme matches ${String(issue.pattern)}` : ', e.g. https://example.com'}`;
      break;
  }
  return ZOD_DEFAULT_MESSAGE.test(issue.message) ? 'has an invalid value' : issue.message;
}

/**
 * "PORT is "abc", but it must be a whole number." A problem inside a list variable names the
 * entry ("its entry 2 must …") rather than an internal path such as `NAME.1`.
 */
export function describeIssue(issue: z.core.$ZodIssue, source: Record<string, string | undefined>): string {
  const [first, entry] = issue.path;
  const name = first === undefined ? 'the environment' : String(first);
  const value = source[name];
  const subject = typeof entry === 'number' ? `its entry ${entry + 1} ` : 'it ';
  if (value === undefined) return `${name} is not set, but ${subject}${requirement(issue)}.`;
  return `${name} is ${shownValue(name, value)}, but ${subject}${requirement(issue)}.`;
}

/**
 * Providers report `Invalid NAME: reason` (see providers/*\/options.ts); this adds the
 * value where it is not a secret. Other messages pass unchanged.
 */
export function describeProviderError(message: string, source: Record<string, string | undefined>): string {
  const match = /^Invalid ([A-Z][A-Z0-9_]*): (.+)$/s.exec(message);
  if (!match) return message;
  const [, name = '', reason = ''] = match;
  const value = source[name];
  const because = reason.startsWith('must') ? `, but it ${reason}` : `: ${reason}`;
  return value === undefined ? `${name} is not set${because}.` : `${name} is ${shownValue(name, value)}${because}.`;
}

export class ConfigurationError extends Error {
  constructor(readonly problems: string[]) {
    const count = problems.length === 1 ? 'a problem' : `${problems.length} problems`;
    super(`Switchboard cannot start: ${count} in its configuration (environment variables, or .env):\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigurationError';
  }
}
