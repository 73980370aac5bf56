/**
 * Shared pieces of the `switchboard` commands: argument parsing with help, usage errors,
 * and the BFF's address.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';

/** A mistake in how the command was called: printed with a pointer to `--help`, exit code 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface Command {
  name: string;
  summary: string;
  /** Full help: usage line, arguments, options, environment. */
  help: string;
  run(argv: string[]): Promise<void>;
}

/** Options take a value (`--tenant acme`) or are flags (`--rotate`); `--help` is added to each command. */
type Options = Record<string, { type: 'string' } | { type: 'boolean' }>;

export interface ParsedCommand<T extends Options> {
  values: { [K in keyof T]?: T[K] extends { type: 'boolean' } ? boolean : string } & { help?: boolean };
  positionals: string[];
}

/** `--help` / `-h` on every command; parse errors become usage errors naming the command. */
export function parseCommandArgs<T extends Options>(command: string, argv: string[], options: T, allowPositionals = false): ParsedCommand<T> {
  try {
    const parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true });
    return parsed as ParsedCommand<T>;
  } catch (error) {
    const message = error instanceof Error ? (error.message.split('. ')[0] ?? error.message) : String(error);
    throw new UsageError(message.replace(/\.$/, ''), command);
  }
}

export const URL_OPTION_HELP = `  --url URL        the BFF's address; default $SWITCHBOARD_URL, else http://localhost:$PORT (8080)`;

/** The BFF's base URL: --url, else SWITCHBOARD_URL, else localhost on PORT. */
export function baseUrl(given: string | undefined, command: string): string {
  const candidate = given ?? process.env.SWITCHBOARD_URL ?? `http://localhost:${process.env.PORT ?? 8080}`;
  const parsed = z.url({ protocol: /^https?$/ }).safeParse(candidate);
  if (!parsed.success) {
    const origin = given !== undefined ? '--url' : process.env.SWITCHBOARD_URL !== undefined ? 'SWITCHBOARD_URL' : 'PORT';
    throw new UsageError(`${origin} gives ${JSON.stringify(candidate)}, which is not an http(s) URL such as http://localhost:8080`, command);
  }
  return parsed.data.replace(/\/+$/, '');
}
