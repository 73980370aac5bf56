/**
 * Parsing a provider's environment variables: every problem at once, one
 * `Invalid NAME: reason` line each (the start-up check rewords each line in plain words),
 * and never a variable's value, since most of them are secrets.
 */
import type { z } from 'zod';

export function parseProviderEnv<T extends z.ZodType>(schema: T, env: Record<string, string | undefined>, provider: string): z.output<T> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const lines = new Map<string, string>();
  for (const issue of result.error.issues) {
    const name = String(issue.path[0] ?? `${provider.toUpperCase()}_*`);
    if (lines.has(name)) continue;
    const reason = env[name] === undefined && issue.code !== 'custom' ? `required when SWITCHBOARD_PROVIDER=${provider}` : issue.message;
    lines.set(name, `Invalid ${name}: ${reason}`);
  }
  throw new Error([...lines.values()].join('\n'));
}
