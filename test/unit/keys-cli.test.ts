/** `switchboard keys generate`: a usable key set on one line; --rotate puts a new signer in front. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UsageError } from '../../src/cli/args.js';
import { keys } from '../../src/cli/keys.js';
import { CapabilityTokens } from '../../src/server/tokens/capability-token.js';
import { loadSigningKeys, signingKeyProblems } from '../../src/server/tokens/signing-keys.js';

async function output(argv: string[]): Promise<string> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  await keys.run(argv);
  return String(log.mock.calls.at(-1)?.[0]);
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe('switchboard keys generate', () => {
  it('prints one JSON line that SWITCHBOARD_SIGNING_KEYS accepts; each run a new key', async () => {
    const first = await output(['generate']);
    expect(first).not.toContain('\n');
    expect(signingKeyProblems(first)).toEqual([]);
    expect(await output(['generate'])).not.toBe(first);
  });

  it('--rotate: the new key signs, tokens of the old one still verify', async () => {
    const current = await output(['generate']);
    vi.stubEnv('SWITCHBOARD_SIGNING_KEYS', current);
    const rotated = await output(['generate', '--rotate']);
    const kids = (JSON.parse(rotated) as { kid: string }[]).map((key) => key.kid);
    expect(kids).toHaveLength(2);
    expect(kids[1]).toBe((JSON.parse(current) as { kid: string }[])[0]?.kid);
    const old = new CapabilityTokens(await loadSigningKeys({ configured: current }), 60);
    const next = new CapabilityTokens(await loadSigningKeys({ configured: rotated }), 60);
    const minted = await old.mint({ tenant: 'acme', user: 'ana', caps: { 'orders:*': ['subscribe' as const] }, info: {} });
    expect((await next.verify(minted.token)).user).toBe('ana');
  });

  it('refuses other actions, and --rotate without a valid current set', async () => {
    await expect(keys.run(['make'])).rejects.toThrow(UsageError);
    vi.stubEnv('SWITCHBOARD_SIGNING_KEYS', '');
    await expect(keys.run(['generate', '--rotate'])).rejects.toThrow(/--rotate needs the current set/);
    vi.stubEnv('SWITCHBOARD_SIGNING_KEYS', '[1]');
    await expect(keys.run(['generate', '--rotate'])).rejects.toThrow(/must be a JSON array of private JWKs/);
  });
});
