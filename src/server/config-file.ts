/**
 * `switchboard.config.json`: namespaces and roles. A section given in the file replaces the
 * built-in one whole (an app's namespaces are the only channels it has); a section left out
 * keeps the built-in one. Roles that grant a namespace the file does not have are refused,
 * since such a grant can only be a mistake (a namespace forgotten or misspelled).
 */
import { readFile } from 'node:fs/promises';
import { parse as parseJsonc, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { z } from 'zod';
import { buildAppConfig, type AppConfig } from '../core/config.js';
import { jsonValueProblem } from '../core/json-limits.js';
import { toIssues } from '../core/validation.js';

/** "line 3, column 14: value expected": where strict JSON parsing stopped (JSON.parse does not always say). */
function jsonErrorLocation(text: string): string {
  const errors: ParseError[] = [];
  parseJsonc(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  const offset = first?.offset ?? text.length;
  const before = text.slice(0, offset).split('\n');
  const line = before.length;
  const column = (before[before.length - 1] ?? '').length + 1;
  const what = first ? printParseErrorCode(first.error).replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase() : 'unexpected end';
  return `line ${line}, column ${column}: ${what}`;
}

/** Grants whose namespace is not among the configured ones: `role "member" grants "notifications:{user}" …`. */
export function unknownNamespaceGrants(config: AppConfig): string[] {
  const names = Object.keys(config.namespaces);
  return Object.entries(config.roles).flatMap(([role, capabilities]) =>
    Object.keys(capabilities).flatMap((pattern) => {
      if (pattern === '*') return [];
      const colon = pattern.indexOf(':');
      const known = colon < 0 ? names.some((name) => name.startsWith(pattern.slice(0, -1))) : names.includes(pattern.slice(0, colon));
      return known ? [] : [`role "${role}" grants "${pattern}", but no namespace matches it (configured: ${names.join(', ')})`];
    }),
  );
}

export interface AppConfigReading {
  config?: AppConfig;
  problems: string[];
}

/**
 * Reads the config file with every problem found. A missing file means the built-in defaults,
 * unless `required` (SWITCHBOARD_CONFIG named it explicitly): then it is a problem.
 */
export async function readAppConfig(file: string, required = false): Promise<AppConfigReading> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !required) return { config: buildAppConfig({}), problems: [] };
    if (code === 'ENOENT') return { problems: [`SWITCHBOARD_CONFIG is ${JSON.stringify(file)}, but there is no such file.`] };
    return { problems: [`${file} cannot be read (${code ?? String(error)}).`] };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { problems: [`${file} is not valid JSON: ${jsonErrorLocation(text)}.`] };
  }
  const depthProblem = jsonValueProblem(json);
  if (depthProblem) return { problems: [`${file} is invalid: ${depthProblem}`] };
  let config: AppConfig;
  try {
    config = buildAppConfig(json);
  } catch (error) {
    const detail = error instanceof z.ZodError ? toIssues(error).map((issue) => `  ${issue.path}: ${issue.message}`).join('\n') : `  ${error instanceof Error ? error.message : String(error)}`;
    return { problems: [`${file} is invalid:\n${detail}`] };
  }
  const grants = unknownNamespaceGrants(config);
  if (grants.length > 0) return { problems: [`${file} is invalid:\n${grants.map((grant) => `  ${grant}`).join('\n')}`] };
  return { config, problems: [] };
}

/** Reads `switchboard.config.json` when present; the built-in defaults otherwise. Throws with every problem. */
export async function loadAppConfig(file: string, required = false): Promise<AppConfig> {
  const { config, problems } = await readAppConfig(file, required);
  if (!config) throw new Error(problems.join('\n'));
  return config;
}
