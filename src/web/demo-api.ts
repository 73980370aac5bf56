/**
 * The demo's own calls to the BFF: dev sign-in, and the demo publish endpoints
 * (`/v1/demo/chat`, `/v1/demo/orders/advance`), which take a capability token. The
 * session lives in sessionStorage so a reload keeps the user signed in.
 */
import * as z from 'zod/mini';

const SESSION_KEY = 'switchboard-demo-session';

const storedSessionSchema = z.object({
  tenant: z.string(),
  user: z.string(),
  name: z.string(),
  session: z.string().check(z.minLength(1)),
});
export type DemoSession = z.infer<typeof storedSessionSchema>;

const devSessionAnswer = z.object({ token: z.string().check(z.minLength(1)) });
const tokenAnswer = z.object({ token: z.string().check(z.minLength(1)), expiresAt: z.number() });
const problemAnswer = z.object({ detail: z.optional(z.string()), title: z.optional(z.string()) });

/** A failed BFF call, with the HTTP status so callers can tell a rejected session apart. */
export class BffError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function readJson(response: Response, what: string): Promise<unknown> {
  const body: unknown = await response.json().catch(() => undefined);
  if (response.ok) return body;
  const problem = problemAnswer.safeParse(body);
  const detail = problem.success ? (problem.data.detail ?? problem.data.title) : undefined;
  throw new BffError(response.status, `${what} failed (${response.status})${detail ? `: ${detail}` : ''}`);
}

function parse<T>(schema: z.ZodMiniType<T>, body: unknown, what: string): T {
  const result = schema.safeParse(body);
  if (!result.success) throw new BffError(502, `${what}: unexpected answer from the server`);
  return result.data;
}

export function loadSession(): DemoSession | undefined {
  const raw = sessionStorage.getItem(SESSION_KEY);
  if (!raw) return undefined;
  try {
    const parsed = storedSessionSchema.safeParse(JSON.parse(raw));
    if (parsed.success) return parsed.data;
  } catch {
    // Not JSON: fall through and forget it.
  }
  sessionStorage.removeItem(SESSION_KEY);
  return undefined;
}

export function clearSession(): void {
  sessionStorage.removeItem(SESSION_KEY);
}

export async function signIn(input: { tenant: string; user: string; name: string }): Promise<DemoSession> {
  const name = input.name || input.user;
  const response = await fetch('/v1/dev/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ tenant: input.tenant, user: input.user, name }),
  });
  const { token } = parse(devSessionAnswer, await readJson(response, 'Sign-in'), 'Sign-in');
  const session: DemoSession = { tenant: input.tenant, user: input.user, name, session: token };
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  return session;
}

/** Calls the demo publish endpoints with a capability token fetched (and refreshed on 401) from `/v1/token`. */
export class DemoApi {
  private token: { token: string; expiresAt: number } | undefined;

  constructor(private readonly session: string) {}

  sendChat(channel: string, text: string): Promise<unknown> {
    return this.post('/v1/demo/chat', { channel, text }, 'Sending the message');
  }

  advanceOrder(order: string): Promise<unknown> {
    return this.post('/v1/demo/orders/advance', { order }, 'Advancing the order');
  }

  private async capabilityToken(refresh: boolean): Promise<string> {
    // Renew a minute early so a token never expires between here and the server.
    if (!refresh && this.token && this.token.expiresAt - Date.now() > 60_000) return this.token.token;
    const response = await fetch('/v1/token', {
      method: 'POST',
      headers: { authorization: `Bearer ${this.session}`, 'content-type': 'application/json' },
      body: '{}',
    });
    this.token = parse(tokenAnswer, await readJson(response, 'Token request'), 'Token request');
    return this.token.token;
  }

  private async post(path: string, body: unknown, what: string, refreshed = false): Promise<unknown> {
    const response = await fetch(path, {
      method: 'POST',
      headers: { authorization: `Bearer ${await this.capabilityToken(refreshed)}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (response.status === 401 && !refreshed) return this.post(path, body, what, true);
    return readJson(response, what);
  }
}
