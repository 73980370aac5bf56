/**
 * `switchboard webhooks dead-letters|redeliver`: the lifecycle webhook dead letters of a
 * running BFF. The key (admin, or a tenant's) comes from SWITCHBOARD_API_KEY.
 */
import { baseUrl, parseCommandArgs, URL_OPTION_HELP, UsageError, type Command } from './args.js';
import { callJson } from './http-commands.js';

function apiKey(): string {
  const key = process.env.SWITCHBOARD_API_KEY;
  if (!key) throw new UsageError('set SWITCHBOARD_API_KEY to a tenant or admin API key', 'webhooks');
  return key;
}

export const webhooks: Command = {
  name: 'webhooks',
  summary: 'List or redeliver lifecycle webhooks that ran out of retries',
  help: `Usage: switchboard webhooks dead-letters [options]
       switchboard webhooks redeliver [--ids ID,ID…] [options]

dead-letters     prints the dead letters (JSON) the key may see
redeliver        queues them again with their original webhook-id (all of them without --ids)

Options:
  --tenant T       only this tenant (an admin key sees every tenant; a tenant key only its own)
  --limit N        dead-letters: at most N
  --ids ID,ID      redeliver: only these webhook ids
${URL_OPTION_HELP}

Environment:
  SWITCHBOARD_API_KEY   a tenant key or an admin key; never passed on the command line`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(
      'webhooks',
      argv,
      { url: { type: 'string' }, tenant: { type: 'string' }, limit: { type: 'string' }, ids: { type: 'string' } },
      true,
    );
    if (values.help) return void console.log(this.help);
    const [action, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError(`unexpected ${JSON.stringify(extra[0])}`, 'webhooks');
    const url = baseUrl(values.url, 'webhooks');
    if (action === 'dead-letters') {
      const query = new URLSearchParams({ ...(values.tenant ? { tenant: values.tenant } : {}), ...(values.limit ? { limit: values.limit } : {}) });
      const answer = await callJson(`${url}/v1/admin/webhooks/dead-letters?${query}`, 'Listing dead letters', { bearer: apiKey() });
      return void console.log(JSON.stringify(answer, null, 2));
    }
    if (action === 'redeliver') {
      const ids = values.ids?.split(',').map((id) => id.trim()).filter(Boolean);
      const body = { ...(ids && ids.length > 0 ? { ids } : {}), ...(values.tenant ? { tenant: values.tenant } : {}) };
      const answer = await callJson(`${url}/v1/admin/webhooks/redeliver`, 'Redelivery', { method: 'POST', body, bearer: apiKey() });
      return void console.log(JSON.stringify(answer));
    }
    throw new UsageError('webhooks needs dead-letters or redeliver', 'webhooks');
  },
};
