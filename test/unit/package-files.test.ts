/**
 * A fresh clone must stay clean after `npm install`: npm rewrites the lock file's root
 * entry when it disagrees with package.json (it did for `bin`, leaving the clone dirty).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

const manifestSchema = z.object({
  bin: z.record(z.string(), z.string()).optional(),
  engines: z.record(z.string(), z.string()).optional(),
  dependencies: z.record(z.string(), z.string()).optional(),
  devDependencies: z.record(z.string(), z.string()).optional(),
});
const lockSchema = z.object({ packages: z.object({ '': manifestSchema }) });

const read = (file: string): unknown => JSON.parse(readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8'));

describe('package-lock.json', () => {
  it('has the root entry npm install would write, so installing leaves it unchanged', () => {
    const manifest = manifestSchema.parse(read('package.json'));
    const root = lockSchema.parse(read('package-lock.json')).packages[''];
    // npm stores bin paths without the leading ./
    const bin = Object.fromEntries(Object.entries(manifest.bin ?? {}).map(([name, file]) => [name, file.replace(/^\.\//, '')]));
    expect(root.bin ?? {}).toEqual(bin);
    expect(root.engines).toEqual(manifest.engines);
    expect(root.dependencies).toEqual(manifest.dependencies);
    expect(root.devDependencies).toEqual(manifest.devDependencies);
  });
});
