import type { z } from 'zod';

/** JSON text checked against `schema`; undefined when it is not JSON or does not match. */
export function parseJsonAs<T>(schema: z.ZodType<T>, text: string): T | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const result = schema.safeParse(json);
  return result.success ? result.data : undefined;
}
