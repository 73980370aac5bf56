/**
 * Limits on JSON from outside. `JSON.parse` is iterative, but `JSON.stringify`, recursive
 * schema validation and every consumer's own code recurse: a 10 KB frame of `[[[[…]]]]`
 * nested 5,000 deep overflows the stack. So every input path checks the nesting depth,
 * iteratively, before anything recurses into the value.
 */
import type { JsonValue } from './envelope.js';

/** Deepest nesting of arrays/objects accepted anywhere; far beyond any real payload, far below the stack. */
export const MAX_JSON_DEPTH = 64;

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Why `value` is not a JSON value nested at most `maxDepth` deep (containers count one
 * level each: `[]` is depth 1), or undefined when it is. Never recurses.
 */
export function jsonValueProblem(value: unknown, maxDepth = MAX_JSON_DEPTH): string | undefined {
  const stack: Array<[unknown, number]> = [[value, 0]];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [current, depth] = item;
    if (current === null || typeof current === 'string' || typeof current === 'boolean') continue;
    if (typeof current === 'number') {
      if (!Number.isFinite(current)) return 'numbers must be finite';
      continue;
    }
    if (typeof current !== 'object') return `a ${typeof current} is not a JSON value`;
    if (depth + 1 > maxDepth) return `JSON is nested deeper than ${maxDepth} levels`;
    if (Array.isArray(current)) {
      for (const element of current) stack.push([element, depth + 1]);
    } else if (isPlainObject(current)) {
      for (const key of Object.keys(current)) stack.push([current[key], depth + 1]);
    } else {
      return 'only plain objects and arrays are JSON containers';
    }
  }
  return undefined;
}

export function isJsonValue(value: unknown, maxDepth = MAX_JSON_DEPTH): value is JsonValue {
  return jsonValueProblem(value, maxDepth) === undefined;
}
