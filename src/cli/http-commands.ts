/**
 * `switchboard publish` and `switchboard token`: thin HTTP clients of a running BFF.
 * Secrets come from the environment (SWITCHBOARD_API_KEY), never from argv, which
 * other users of the machine can read.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';

const urlSchema = z.string().url();

export function baseUrl(given: string | undefined): string {
  return urlSchema.parse(given ?? process.env.SWITCHBOARD_URL ?? `http://localhost:${process.env.PORT ?? 8080}`).replace(/\/+$/, '');
}

export async function postJson(url: string, body: unknown, bearer: string | undefined, headers: Record<string, string> = {}): Promise<unknown> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${response.status} from ${new URL(url).pathname}: ${text}`);
  return JSON.parse(text) as unknown;
}

export async function publish(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { url: { type: 'string' }, tenant: { type: 'string' }, id: { type: 'string' } },
  });
  const [channel, event, data = 'null'] = positionals;
  if (!channel || !event) throw new Error('Usage: switchboard publish <channel> <event> [json-data] [--tenant T] [--id ID] [--url URL]  (key in SWITCHBOARD_API_KEY)');
  const key = process.env.SWITCHBOARD_API_KEY;
  if (!key) throw new Error('Set SWITCHBOARD_API_KEY to a tenant or admin API key');
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    throw new Error('data must be JSON, e.g. \'{"status":"shipped"}\'');
  }
  const body = { channel, event, data: parsed, ...(values.id ? { id: values.id } : {}) };
  const answer = await postJson(`${baseUrl(values.url)}/v1/publish`, body, key, values.tenant ? { 'switchboard-tenant': values.tenant } : {});
  console.log(JSON.stringify(answer));
}

const tokenAnswerSchema = z.object({ token: z.string() });

/** Dev only: signs in through the dev login and prints a capability token. */
export async function token(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { url: { type: 'string' }, tenant: { type: 'string' }, user: { type: 'string' }, name: { type: 'string' } },
  });
  if (!values.tenant || !values.user) throw new Error('Usage: switchboard token --tenant T --user U [--name N] [--url URL]  (needs dev login)');
  const url = baseUrl(values.url);
  const session = tokenAnswerSchema.parse(await postJson(`${url}/v1/dev/session`, { tenant: values.tenant, user: values.user, ...(values.name ? { name: values.name } : {}) }, undefined));
  console.log(JSON.stringify(await postJson(`${url}/v1/token`, {}, session.token), null, 2));
}
