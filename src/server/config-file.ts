import { readFile } from 'node:fs/promises';
import { buildAppConfig, type AppConfig } from '../core/config.js';
import { jsonValueProblem } from '../core/json-limits.js';
import { toIssues } from '../core/validation.js';
import { z } from 'zod';

/** Reads `switchboard.config.json` when present; the built-in defaults otherwise. */
export async function loadAppConfig(file: string): Promise<AppConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return buildAppConfig({});
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${file} is not valid JSON`);
  }
  const depthProblem = jsonValueProblem(json);
  if (depthProblem) throw new Error(`${file} is invalid: ${depthProblem}`);
  try {
    return buildAppConfig(json);
  } catch (error) {
    const detail = error instanceof z.ZodError ? toIssues(error).map((issue) => `  ${issue.path}: ${issue.message}`).join('\n') : String(error);
    throw new Error(`${file} is invalid:\n${detail}`);
  }
}
