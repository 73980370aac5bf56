#!/usr/bin/env node
/**
 * The `switchboard` command: `serve` runs the BFF; `publish`, `token` and `webhooks` talk to a running one.
 */
import { publish, token } from './cli/http-commands.js';
import { serve } from './cli/serve.js';
import { webhooks } from './cli/webhooks.js';

const commands: Record<string, (argv: string[]) => Promise<void>> = { serve, publish, token, webhooks };
const [name = 'serve', ...rest] = process.argv.slice(2);
const command = commands[name];
if (!command) {
  console.error(`Unknown command "${name}". Commands: ${Object.keys(commands).join(', ')}`);
  process.exit(2);
}
command(rest).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
