/**
 * `switchboard webhooks dead-letters|redeliver`: the lifecycle webhook dead letters of a
 * running BFF. The key (admin, or a tenant's) comes from SWITCHBOARD_API_KEY.
 */
import { parseArgs } from 'node:util';
import { baseUrl, postJson } from './http-commands.js';

const USAGE =
  'Usage: switchboard webhooks dead-letters [--tenant T] [--limit N] [--url URL]\n' +
  '       switchboard webhooks redeliver [--id ID]... [--tenant T] [--url URL]  (no --id: all of them)\n' +
  '       (key in SWITCHBOARD_API_KEY)';

function apiKey(): string {
  const key = process.env.SWITCHBOARD_API_KEY;
  if (!key) throw new Error('Set SWITCHBOARD_API_KEY to a tenant or admin API key');
  return key;
}

export async function webhooks(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { url: { type: 'string' }, tenant: { type: 'string' }, limit: { type: 'string' }, id: { type: 'string', multiple: true } },
  });
  const [action] = positionals;
  const url = baseUrl(values.url);
  if (action === 'dead-letters') {
    const query = new URLSearchParams({ ...(values.tenant ? { tenant: values.tenant } : {}), ...(values.limit ? { limit: values.limit } : {}) });
    const response = await fetch(`${url}/v1/admin/webhooks/dead-letters?${query}`, { headers: { authorization: `Bearer ${apiKey()}` } });
    const text = await response.text();
    if (!response.ok) throw new Error(`${response.status} from /v1/admin/webhooks/dead-letters: ${text}`);
    console.log(JSON.stringify(JSON.parse(text), null, 2));
    return;
  }
  if (action === 'redeliver') {
    const body = { ...(values.id ? { ids: values.id } : {}), ...(values.tenant ? { tenant: values.tenant } : {}) };
    console.log(JSON.stringify(await postJson(`${url}/v1/admin/webhooks/redeliver`, body, apiKey())));
    return;
  }
  throw new Error(USAGE);
}
