/** The README's React examples are the example app's code, which the browser tests run. */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
const lines = (text: string) => text.split('\n').map((line) => line.trim()).filter((line) => line !== '');

describe('README React section', () => {
  it('shows only code that is in examples/react-app, line for line', () => {
    const readme = read('README.md');
    const section = readme.slice(readme.indexOf('## React\n'), readme.indexOf('\n## ', readme.indexOf('## React\n') + 1));
    const blocks = [...section.matchAll(/```tsx\n([\s\S]*?)```/g)].map((match) => lines(match[1] ?? ''));
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    const examples = readdirSync(new URL('../../examples/react-app/', import.meta.url))
      .filter((file) => file.endsWith('.tsx'))
      .map((file) => lines(read(`examples/react-app/${file}`)).join('\n'));
    for (const block of blocks) expect(examples.some((example) => example.includes(block.join('\n'))), block.join('\n')).toBe(true);
    // The chat component is shown whole.
    expect(blocks).toContainEqual(lines(read('examples/react-app/Chat.tsx')));
  });
});
