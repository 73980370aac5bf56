/**
 * The README's "Use it in your app" shows code from the examples that
 * package-install.test.ts runs against the installed tarball: every code block there
 * (but the install commands) must be a verbatim excerpt of one of those files.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/packed-app.js';

async function exampleFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(entries.map((entry) => (entry.isDirectory() ? exampleFiles(path.join(dir, entry.name)) : [path.join(dir, entry.name)])));
  return nested.flat();
}

describe('README: Use it in your app', () => {
  it('shows only code that is in the tested examples', async () => {
    const readme = await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8');
    const start = readme.indexOf('\n## Use it in your app\n');
    expect(start).toBeGreaterThan(0);
    const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
    const blocks = [...section.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map(([, lang, code]) => ({ lang, code: code ?? '' }));
    const excerpts = blocks.filter(({ code }) => !code.startsWith('npm install'));
    expect(excerpts.length).toBeGreaterThanOrEqual(6);
    const sources = await Promise.all((await exampleFiles(path.join(REPO_ROOT, 'examples'))).map((file) => readFile(file, 'utf8')));
    for (const { code } of excerpts) {
      expect(sources.some((source) => source.includes(code)), `not in examples/:\n${code}`).toBe(true);
    }
  });
});
