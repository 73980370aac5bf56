import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
const variants: Record<string, string> = {
  base: `import * as z from 'zod/mini'; export const a = z.object({ a: z.string(), b: z.number() });`,
  schemas: `export * from '../src/client/schemas.js';`,
  noDU: `import * as z from 'zod/mini'; export const a = z.object({ a: z.string(), b: z.number(), c: z.union([z.object({name: z.literal('x')}), z.object({name: z.enum(['a','b'])})]), d: z.record(z.string(), z.array(z.enum(['q']))), e: z.optional(z.unknown()), f: z._default(z.boolean(), false), g: z.number().check(z.int(), z.minimum(1)), h: z.string().check(z.minLength(1)) });`,
};
for (const [name, contents] of Object.entries(variants)) {
  const r = await build({ stdin: { contents, resolveDir: process.cwd() + '/scripts', loader: 'ts' }, bundle: true, minify: true, format: 'esm', write: false, platform: 'browser' });
  console.log(name, r.outputFiles[0]!.contents.byteLength, gzipSync(r.outputFiles[0]!.contents, { level: 9 }).byteLength);
}
