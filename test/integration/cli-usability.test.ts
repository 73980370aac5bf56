/**
 * The `switchboard` command as a newcomer meets it: help for every command, errors that
 * say what to do, `check` listing every configuration problem, and `.env` loading.
 * The program itself (exit codes, stderr, .env) is spawned, in parallel; the commands'
 * own answers are checked in-process, which is much faster than a spawn per case.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { UsageError, type Command } from '../../src/cli/args.js';
import { check } from '../../src/cli/check.js';
import { publish, token } from '../../src/cli/http-commands.js';
import { serve } from '../../src/cli/serve.js';
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
async function spawnCli(args: string[], env: Record<string, string> = {}, cwd?: string): Promise<Outcome> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, ['--import', TSX, CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      cwd,
      timeout: 50_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** What a command prints with console.log. */
async function printed(command: Command, argv: string[]): Promise<string> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    await command.run(argv);
    return log.mock.calls.map((call) => call.map(String).join(' ')).join('\n');
  } finally {
    log.mockRestore();
  }
}

let bff: TestBff;
let emptyDir: string;
beforeAll(async () => {
  [bff, emptyDir] = await Promise.all([startBff(), mkdtemp(path.join(tmpdir(), 'switchboard-cli-'))]);
});
afterEach(() => {
  vi.unstubAllEnvs();
});
afterAll(async () => {
  await bff?.close();
  await rm(emptyDir, { recursive: true, force: true });
});

describe('switchboard CLI for a newcomer', () => {
  it('answers --help for every command', async () => {
    for (const command of [serve, check, publish, token]) {
      const help = await printed(command, ['--help']);
      expect(help).toMatch(new RegExp(`^Usage: switchboard ${command.name}`));
      expect(await printed(command, ['-h'])).toBe(help);
    }
    const publishHelp = await printed(publish, ['--help']);
    for (const option of ['--tenant', '--id', '--url', 'SWITCHBOARD_URL', 'SWITCHBOARD_API_KEY']) expect(publishHelp).toContain(option);
    for (const option of ['--tenant', '--user', '--url']) expect(await printed(token, ['--help'])).toContain(option);
  });

  it('explains mistakes: unknown options, missing arguments, a missing --tenant, a server that is down', async () => {
    await expect(publish.run(['orders:1', 'status', '--bogus'])).rejects.toMatchObject({ name: 'UsageError', command: 'publish', message: "Unknown option '--bogus'" });
    await expect(publish.run(['orders:1'])).rejects.toThrow(/publish needs a channel and an event/);
    await expect(token.run(['--tenant', 'acme'])).rejects.toThrow(/token needs --tenant and --user/);
    vi.stubEnv('SWITCHBOARD_API_KEY', ADMIN_KEY);
    await expect(publish.run(['orders:1', 'status', '{}', '--url', bff.url])).rejects.toBeInstanceOf(UsageError);
    await expect(publish.run(['orders:1', 'status', '{}', '--url', bff.url])).rejects.toThrow(
      'SWITCHBOARD_API_KEY is an admin key: name the tenant to publish for with --tenant, e.g. --tenant acme',
    );
    expect(await printed(publish, ['orders:1', 'status', '{}', '--url', bff.url, '--tenant', 'acme'])).toMatch(/"status":"delivered"/);
    vi.stubEnv('SWITCHBOARD_URL', 'http://127.0.0.1:1');
    await expect(publish.run(['orders:1', 'status', '{}'])).rejects.toThrow(/^Cannot reach Switchboard at http:\/\/127\.0\.0\.1:1 \(.+\)\. Is it running/);
    vi.stubEnv('SWITCHBOARD_URL', 'localhost:8080');
    await expect(publish.run(['orders:1', 'status', '{}'])).rejects.toThrow(/SWITCHBOARD_URL gives "localhost:8080", which is not an http\(s\) URL/);
  });

  it('as a program: top-level help, usage errors exit 2, check reads .env and the environment wins over it', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'switchboard-dotenv-'));
    try {
      await writeFile(path.join(dir, '.env'), 'PORT=abc\nSWITCHBOARD_PROVIDER=pusher\nSWITCHBOARD_STORE=postgres\n');
      const [top, unknown, fromDotEnv, clean] = await Promise.all([
        spawnCli(['--help']),
        spawnCli(['frobnicate']),
        spawnCli(['check'], { SWITCHBOARD_PROVIDER: 'local' }, dir),
        spawnCli(['check'], {}, emptyDir),
      ]);
      expect(top).toMatchObject({ code: 0, stderr: '' });
      for (const name of ['serve', 'check', 'keys', 'publish', 'token', 'webhooks']) expect(top.stdout).toContain(`  ${name} `);
      expect(unknown).toMatchObject({ code: 2, stderr: expect.stringMatching(/^switchboard: unknown command "frobnicate"; the commands are serve, check, keys, publish, token, webhooks\nRun "switchboard --help"/) });
      expect(fromDotEnv.code).toBe(1);
      expect(fromDotEnv.stderr).toContain('Switchboard cannot start: 2 problems');
      expect(fromDotEnv.stderr).toContain('PORT is "abc", but it must be a number.');
      expect(fromDotEnv.stderr).toContain('SWITCHBOARD_STORE is "postgres"');
      expect(fromDotEnv.stderr).not.toContain('PUSHER');
      expect(clean).toMatchObject({ code: 0, stdout: 'Configuration OK: provider local, store sqlite, port 8080.\n', stderr: expect.stringMatching(/^warning: GET \/metrics is open/) });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    // Four CLI processes at once: each loads TypeScript through tsx, slow on a loaded 2-core machine.
  }, 60_000);
});
