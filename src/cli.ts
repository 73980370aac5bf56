#!/usr/bin/env node
/**
 * The `switchboard` command: `serve` runs the BFF, `check` checks its configuration, `keys`
 * generates signing keys;
 * `publish`, `token` and `webhooks` talk to a running one. A `.env` in the current directory is
 * loaded first; variables already in the environment win.
 */
import { existsSync } from 'node:fs';
import { UsageError, type Command } from './cli/args.js';
import { check } from './cli/check.js';
import { keys } from './cli/keys.js';
import { publish, token } from './cli/http-commands.js';
import { serve } from './cli/serve.js';
import { webhooks } from './cli/webhooks.js';

const COMMANDS: Command[] = [serve, check, keys, publish, token, webhooks];

const HELP = `Usage: switchboard <command> [options]

Commands:
${COMMANDS.map((command) => `  ${command.name.padEnd(9)} ${command.summary}`).join('\n')}

Run "switchboard <command> --help" for a command's arguments and options.
A .env file in the current directory is read first; variables already set win.`;

async function main(argv: string[]): Promise<void> {
  const [name = 'serve', ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    const about = COMMANDS.find((command) => command.name === rest[0]);
    console.log(about ? about.help : HELP);
    return;
  }
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)}; the commands are ${COMMANDS.map((c) => c.name).join(', ')}`);
  return command.run(rest);
}

if (existsSync('.env')) process.loadEnvFile('.env');
main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError) {
    console.error(`switchboard${error.command ? ` ${error.command}` : ''}: ${error.message}\nRun "switchboard ${error.command ? `${error.command} ` : ''}--help" for usage.`);
    process.exit(2);
  }
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
