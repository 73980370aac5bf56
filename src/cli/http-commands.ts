/**
 * `switchboard publish` and `switchboard token`: thin HTTP clients of a running BFF.
 * Secrets come from the environment (SWITCHBOARD_API_KEY), never from argv, which
 * other users of the machine can read.
 */
import { z } from 'zod';
import { baseUrl, parseCommandArgs, URL_OPTION_HELP, UsageError, type Command } from './args.js';

const problemSchema = z.object({ code: z.string().optional(), title: z.string().optional(), detail: z.string().optional() });

/** A refusal from the server, in its own words (`400 unknown_namespace: …`). */
export class ServerRefusal extends Error {
  constructor(
    readonly status: number,
    readonly problem: z.infer<typeof problemSchema>,
    what: string,
  ) {
    const reason = [problem.code, problem.detail ?? problem.title].filter(Boolean).join(': ');
    super(`${what} was refused: ${status}${reason ? ` ${reason}` : ''}`);
    this.name = 'ServerRefusal';
  }
}

function unreachable(url: string, error: unknown): Error {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : undefined;
  const code = cause && 'code' in cause ? String(cause.code) : undefined;
  const why = code === 'ECONNREFUSED' ? 'connection refused' : code === 'ENOTFOUND' ? 'unknown host' : (cause?.message ?? (error instanceof Error ? error.message : String(error)));
  return new Error(`Cannot reach Switchboard at ${new URL(url).origin} (${why}). Is it running (npm start)? Point --url or SWITCHBOARD_URL at it otherwise.`);
}

/** Calls the BFF and answers its JSON; unreachable servers, non-JSON answers and refusals become clear errors. */
export async function callJson(
  url: string,
  what: string,
  options: { method?: 'GET' | 'POST'; body?: unknown; bearer?: string; headers?: Record<string, string> } = {},
): Promise<unknown> {
  const { method = 'GET', body, bearer, headers = {} } = options;
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (error) {
    throw unreachable(url, error);
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${what}: ${new URL(url).origin} answered ${response.status} with something that is not JSON; is --url pointing at Switchboard?`);
  }
  if (!response.ok) {
    const problem = problemSchema.safeParse(json);
    throw new ServerRefusal(response.status, problem.success ? problem.data : {}, what);
  }
  return json;
}

function postJson(url: string, body: unknown, what: string, bearer?: string, headers: Record<string, string> = {}): Promise<unknown> {
  return callJson(url, what, { method: 'POST', body, ...(bearer === undefined ? {} : { bearer }), headers });
}

export const publish: Command = {
  name: 'publish',
  summary: 'Publish an event through a running BFF',
  help: `Usage: switchboard publish <channel> <event> [json-data] [options]

Publishes one event, e.g.
  SWITCHBOARD_API_KEY=… switchboard publish orders:1001 status '{"status":"shipped"}'

Arguments:
  channel          tenant-relative channel, e.g. orders:1001
  event            event name, e.g. status
  json-data        the event's data as JSON (default null)

Options:
  --tenant T       the tenant to publish for; needed with an admin key, ignored otherwise
  --id ID          an idempotency id: a second publish with it is answered "duplicate"
${URL_OPTION_HELP}

Environment:
  SWITCHBOARD_API_KEY   a tenant key (SWITCHBOARD_API_KEYS=tenant:key on the server) or an
                        admin key (in dev: dev-admin-key-change-me); never passed on the command line`,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(
      'publish',
      argv,
      { url: { type: 'string' }, tenant: { type: 'string' }, id: { type: 'string' } },
      true,
    );
    if (values.help) return void console.log(this.help);
    const [channel, event, data = 'null', ...extra] = positionals;
    if (!channel || !event) throw new UsageError('publish needs a channel and an event, e.g. switchboard publish orders:1001 status \'{"status":"shipped"}\'', 'publish');
    if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}; quote the JSON data as one argument`, 'publish');
    const key = process.env.SWITCHBOARD_API_KEY?.trim();
    if (!key) throw new UsageError('set SWITCHBOARD_API_KEY to a tenant or admin API key (in dev: dev-admin-key-change-me, with --tenant)', 'publish');
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      throw new UsageError(`data must be JSON, e.g. '{"status":"shipped"}' (got ${JSON.stringify(data)})`, 'publish');
    }
    const body = { channel, event, data: parsed, ...(values.id ? { id: values.id } : {}) };
    const headers: Record<string, string> = values.tenant ? { 'switchboard-tenant': values.tenant } : {};
    try {
      console.log(JSON.stringify(await postJson(`${baseUrl(values.url, 'publish')}/v1/publish`, body, 'The publish', key, headers)));
    } catch (error) {
      // An admin key acts for the tenant named in a header, which this command fills from --tenant.
      if (error instanceof ServerRefusal && !values.tenant && /switchboard-tenant/i.test(error.problem.detail ?? '')) {
        throw new UsageError('SWITCHBOARD_API_KEY is an admin key: name the tenant to publish for with --tenant, e.g. --tenant acme', 'publish');
      }
      throw error;
    }
  },
};

const tokenAnswerSchema = z.object({ token: z.string() });

/** Dev only: signs in through the dev login and prints a capability token. */
export const token: Command = {
  name: 'token',
  summary: 'Sign in through the dev login and print a capability token',
  help: `Usage: switchboard token --tenant T --user U [options]

Signs in as a user through the dev login (on unless NODE_ENV=production or
SWITCHBOARD_DEV_AUTH=off) and prints the /v1/token answer: the capability token,
its caps and the provider's client configuration.

Options:
  --tenant T       tenant id, e.g. acme
  --user U         user id, e.g. ana
  --name N         display name (default: the user id)
${URL_OPTION_HELP}`,
  async run(argv) {
    const { values } = parseCommandArgs('token', argv, {
      url: { type: 'string' },
      tenant: { type: 'string' },
      user: { type: 'string' },
      name: { type: 'string' },
    });
    if (values.help) return void console.log(this.help);
    if (!values.tenant || !values.user) throw new UsageError('token needs --tenant and --user, e.g. switchboard token --tenant acme --user ana', 'token');
    const url = baseUrl(values.url, 'token');
    const signIn = { tenant: values.tenant, user: values.user, ...(values.name ? { name: values.name } : {}) };
    const session = tokenAnswerSchema.parse(await postJson(`${url}/v1/dev/session`, signIn, 'The dev sign-in'));
    console.log(JSON.stringify(await postJson(`${url}/v1/token`, {}, 'The token request', session.token), null, 2));
  },
};
