/**
 * The `switchboard` command as a newcomer meets it: help for every command, errors that
 * say what to do, `check` listing every configuration problem, and `.env` loading.
 * Each case spawns the CLI; independent spawns run in parallel to keep this file fast.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, startBff, type TestBff } from '../helpers/bff.js';

const execFileAsync = promisify(execFile);
const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with only the given variables (plus PATH), in `cwd`. */
async function cli(args: string[], env: Record<string, string> = {}, cwd?: string): Promise<Outcome> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, ['--import', TSX, CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      cwd,
      timeout: 20_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

let bff: TestBff;
let emptyDir: string;
beforeAll(async () => {
  [bff, emptyDir] = await Promise.all([startBff(), mkdtemp(path.join(tmpdir(), 'switchboard-cli-'))]);
});
afterAll(async () => {
  await bff?.close();
  await rm(emptyDir, { recursive: true, force: true });
});

describe('switchboard CLI for a newcomer', () => {
  it('answers --help for the program and every command', async () => {
    const [top, helpWord, publish, token, serve, check] = await Promise.all([
      cli(['--help']),
      cli(['help', 'publish']),
      cli(['publish', '--help']),
      cli(['token', '-h']),
      cli(['serve', '--help']),
      cli(['check', '--help']),
    ]);
    for (const outcome of [top, helpWord, publish, token, serve, check]) expect(outcome).toMatchObject({ code: 0, stderr: '' });
    for (const name of ['serve', 'check', 'publish', 'token']) expect(top.stdout).toContain(`  ${name} `);
    expect(helpWord.stdout).toBe(publish.stdout);
    for (const option of ['--tenant', '--id', '--url', 'SWITCHBOARD_URL', 'SWITCHBOARD_API_KEY']) expect(publish.stdout).toContain(option);
    for (const option of ['--tenant', '--user', '--url']) expect(token.stdout).toContain(option);
    expect(serve.stdout).toMatch(/^Usage: switchboard serve/);
    expect(check.stdout).toMatch(/^Usage: switchboard check/);
  });

  it('explains mistakes: unknown options and commands, a missing --tenant, a server that is down', async () => {
    const [unknownOption, unknownCommand, noTenant, down] = await Promise.all([
      cli(['publish', 'orders:1', 'status', '--bogus']),
      cli(['frobnicate']),
      cli(['publish', 'orders:1', 'status', '{}', '--url', bff.url], { SWITCHBOARD_API_KEY: ADMIN_KEY }),
      cli(['publish', 'orders:1', 'status', '{}'], { SWITCHBOARD_API_KEY: ADMIN_KEY, SWITCHBOARD_URL: 'http://127.0.0.1:1' }),
    ]);
    expect(unknownOption).toMatchObject({ code: 2, stderr: expect.stringMatching(/Unknown option '--bogus'[\s\S]*switchboard publish --help/) });
    expect(unknownCommand).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown command "frobnicate"; the commands are serve, check, publish, token/) });
    expect(noTenant).toMatchObject({ code: 2, stderr: expect.stringContaining('admin key: name the tenant to publish for with --tenant') });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^Cannot reach Switchboard at http:\/\/127\.0\.0\.1:1 \(.+\)\. Is it running/);
  });

  it('check lists every problem at once, reads .env, and lets the environment win over it', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'switchboard-dotenv-'));
    try {
      await writeFile(path.join(dir, '.env'), 'PORT=abc\nSWITCHBOARD_PROVIDER=pusher\nSWITCHBOARD_STORE=postgres\n');
      const [fromDotEnv, clean] = await Promise.all([cli(['check'], { SWITCHBOARD_PROVIDER: 'local' }, dir), cli(['check'], {}, emptyDir)]);
      expect(fromDotEnv.code).toBe(1);
      expect(fromDotEnv.stderr).toContain('Switchboard cannot start: 2 problems');
      expect(fromDotEnv.stderr).toContain('PORT is "abc", but it must be a number.');
      expect(fromDotEnv.stderr).toContain('SWITCHBOARD_STORE is "postgres"');
      expect(fromDotEnv.stderr).not.toContain('PUSHER');
      expect(clean).toMatchObject({ code: 0, stdout: 'Configuration OK: provider local, store sqlite, port 8080.\n' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
