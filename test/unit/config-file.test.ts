/**
 * switchboard.config.json: a section given replaces the built-in one, grants of namespaces
 * the file does not have are refused, and problems read like the README promises (JSON
 * errors with line and column, no `Error:` prefixes). The README's example is a file run here.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ROLES } from '../../src/core/config.js';
import { readAppConfig } from '../../src/server/config-file.js';

let dir: string;
let count = 0;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'switchboard-config-file-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function read(text: string) {
  const file = path.join(dir, `config-${(count += 1)}.json`);
  await writeFile(file, text);
  return { file, ...(await readAppConfig(file, true)) };
}

describe('switchboard.config.json', () => {
  it('the README example is deploy/switchboard.config.json, and it loads without problems', async () => {
    const example = await readFile(new URL('../../deploy/switchboard.config.json', import.meta.url), 'utf8');
    expect(await readFile(new URL('../../README.md', import.meta.url), 'utf8')).toContain(example.trim());
    const { config, problems } = await read(example);
    expect(problems).toEqual([]);
    expect(Object.keys(config?.namespaces ?? {})).toEqual(['orders', 'chat', 'notifications']);
  });

  it('a namespaces section replaces the built-in namespaces, so the built-in roles\' grants of the others are refused', async () => {
    const { file, problems } = await read(JSON.stringify({ namespaces: { orders: { history: { size: 10 } } } }));
    expect(Object.keys(DEFAULT_ROLES.member ?? {})).toContain('notifications:{user}');
    expect(problems).toEqual([
      `${file} is invalid:\n` +
        '  role "member" grants "dashboard:*", but no namespace matches it (configured: orders)\n' +
        '  role "member" grants "chat:*", but no namespace matches it (configured: orders)\n' +
        '  role "member" grants "notifications:{user}", but no namespace matches it (configured: orders)',
    ]);
  });

  it('JSON errors say where, other errors carry no "Error:" prefix', async () => {
    const broken = await read('{\n  "roles": {\n    "member": { "orders:*": ["subscribe"], }\n  }\n}');
    expect(broken.problems).toEqual([`${broken.file} is not valid JSON: line 3, column 44: property name expected.`]);
    const unknownRole = await read(JSON.stringify({ defaultRoles: ['guest'] }));
    expect(unknownRole.problems).toEqual([`${unknownRole.file} is invalid:\n  defaultRoles names unknown role "guest"`]);
  });

  it('flags exactly the grants whose namespace is missing', async () => {
    const names = ['orders', 'chat', 'billing', 'alerts'];
    await fc.assert(
      fc.asyncProperty(fc.subarray(names, { minLength: 1 }), fc.subarray(names, { minLength: 1 }), async (configured, granted) => {
        const namespaces = Object.fromEntries(configured.map((name) => [name, {}]));
        const roles = { member: Object.fromEntries(granted.map((name) => [`${name}:*`, ['subscribe']])) };
        const { problems } = await read(JSON.stringify({ namespaces, roles }));
        const missing = granted.filter((name) => !configured.includes(name));
        if (missing.length === 0) expect(problems).toEqual([]);
        else for (const name of missing) expect(problems[0]).toContain(`grants "${name}:*", but no namespace matches it`);
        expect(problems.join('').match(/no namespace matches/g)?.length ?? 0).toBe(missing.length);
      }),
      { numRuns: 25 },
    );
  });
});
