/**
 * The nesting limit every input path applies: exact at the boundary, iterative (no stack
 * overflow at any depth), and enforced on the paths that are not HTTP publish or
 * WebSocket frames (those are exercised in test/integration/hostile-input.test.ts).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePusherWebhook } from '../../providers/pusher/webhook.js';
import { signWebhook } from '../../providers/pusher-protocol/webhook.js';
import { isJsonValue, jsonValueProblem, MAX_JSON_DEPTH } from '../../src/core/json-limits.js';
import { jsonValueSchema } from '../../src/core/schemas.js';
import { loadAppConfig } from '../../src/server/config-file.js';

function depthOf(value: unknown): number {
  if (Array.isArray(value)) return 1 + Math.max(0, ...value.map(depthOf));
  if (value !== null && typeof value === 'object') return 1 + Math.max(0, ...Object.values(value).map(depthOf));
  return 0;
}

function nested(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let level = 0; level < depth; level += 1) value = level % 2 ? [value] : { [`k${level}`]: value };
  return value;
}

describe('JSON nesting limit', () => {
  it('accepts exactly the JSON values nested at most the limit', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.integer({ min: 0, max: 6 }), (value, limit) => {
        expect(isJsonValue(value, limit)).toBe(depthOf(value) <= limit);
      }),
      { numRuns: 300 },
    );
    expect(isJsonValue(nested(MAX_JSON_DEPTH))).toBe(true);
    expect(jsonValueProblem(nested(MAX_JSON_DEPTH + 1))).toBe(`JSON is nested deeper than ${MAX_JSON_DEPTH} levels`);
  });

  it('checks values nested 100,000 deep without overflowing the stack', () => {
    const deep = JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`) as unknown;
    expect(jsonValueProblem(deep)).toMatch(/deeper than/);
    expect(jsonValueSchema.safeParse(deep).success).toBe(false);
  });

  it('refuses what is not JSON, and passes own __proto__ keys through unchanged', () => {
    for (const bad of [undefined, () => 1, Number.NaN, Infinity, new Date(), new Map(), [1, undefined], { a: Symbol('s') }]) {
      expect(jsonValueSchema.safeParse(bad).success).toBe(false);
    }
    const hostile = JSON.parse('{"__proto__":{"polluted":true}}') as unknown;
    const parsed = jsonValueSchema.parse(hostile);
    expect(parsed).toBe(hostile);
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(JSON.stringify(parsed)).toBe('{"__proto__":{"polluted":true}}');
  });

  it('refuses a config file nested past the limit with a message naming the file', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sb-config-'));
    try {
      const file = path.join(dir, 'switchboard.config.json');
      await writeFile(file, `{"namespaces":{"orders":${'['.repeat(5000)}${']'.repeat(5000)}}}`);
      await expect(loadAppConfig(file)).rejects.toThrow(`${file} is invalid: JSON is nested deeper than ${MAX_JSON_DEPTH} levels`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a Pusher webhook body nested past the limit, and keeps deep client data as text', () => {
    const credentials = { key: 'hosted-key', secret: 'hosted-secret' };
    const request = (body: string) => ({
      headers: { 'content-type': 'application/json', 'x-pusher-key': credentials.key, 'x-pusher-signature': signWebhook(credentials.secret, body) },
      rawBody: Buffer.from(body),
    });
    const deepBody = `{"time_ms":1,"events":[{"name":"x","extra":${'['.repeat(5000)}${']'.repeat(5000)}}]}`;
    expect(() => parsePusherWebhook(credentials, request(deepBody))).toThrow(/nested deeper than/);
    const deepData = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const body = JSON.stringify({ time_ms: Date.now(), events: [{ name: 'client_event', channel: 'presence-chat.acme.lobby', event: 'client-typing', data: deepData, user_id: 'u' }] });
    const [event] = parsePusherWebhook(credentials, request(body));
    expect(event).toMatchObject({ kind: 'client_event', tenant: 'acme', data: deepData });
  });
});
