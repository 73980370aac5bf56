/** The README's "Command line" block and the CLI agree: every command and option shown exists. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Command } from '../../src/cli/args.js';
import { check } from '../../src/cli/check.js';
import { publish, token } from '../../src/cli/http-commands.js';
import { keys } from '../../src/cli/keys.js';
import { serve } from '../../src/cli/serve.js';
import { webhooks } from '../../src/cli/webhooks.js';
import { envSchema } from '../../src/server/env.js';

const COMMANDS: Command[] = [serve, check, keys, publish, token, webhooks];
const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

function commandLineBlock(): string[] {
  const section = README.slice(README.indexOf('## Command line'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  return block.split('\n').filter((line) => line.includes('npx switchboard '));
}

describe('README "Command line"', () => {
  it('shows every command, and only options the command takes', () => {
    const lines = commandLineBlock();
    expect(lines.length).toBeGreaterThan(5);
    const shown = new Set<string>();
    for (const line of lines) {
      const usage = line.split('#')[0] ?? '';
      const name = /npx switchboard (\S+)/.exec(usage)?.[1] ?? '';
      const command = COMMANDS.find((candidate) => candidate.name === name);
      if (name === '--help') continue;
      expect(command, `README shows unknown command ${name}`).toBeDefined();
      shown.add(name);
      for (const option of usage.match(/--[a-z-]+/g) ?? []) expect(command?.help, `${name} ${option}`).toMatch(new RegExp(`${option}\\b`));
    }
    expect([...shown].sort()).toEqual(COMMANDS.map((command) => command.name).sort());
  });
});

describe('README and .env.example document the environment', () => {
  const ENV_EXAMPLE = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
  const mentioned = (text: string, name: string) => new RegExp(`\\b${name}\\b`).test(text);

  it('every variable the server reads is in the README and in .env.example', () => {
    for (const name of Object.keys(envSchema.shape)) {
      expect(mentioned(README, name), `README lacks ${name}`).toBe(true);
      expect(ENV_EXAMPLE, `.env.example lacks ${name}`).toMatch(new RegExp(`^(# ?)?${name}=`, 'm'));
    }
  });

  it('every variable a command help names is in the README and in .env.example', () => {
    for (const command of COMMANDS) {
      for (const [name] of command.help.matchAll(/\bSWITCHBOARD_[A-Z0-9_]+/g)) {
        expect(mentioned(README, name), `README lacks ${name} (${command.name} --help)`).toBe(true);
        expect(ENV_EXAMPLE, `.env.example lacks ${name} (${command.name} --help)`).toMatch(new RegExp(`^(# ?)?${name}=`, 'm'));
      }
    }
  });
});
