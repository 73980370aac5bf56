/**
 * From the tarball into someone else's app: `npm pack` (prepack builds), `npm ci --offline
 * --omit=dev` into a fresh app outside the repository, then, with only the production
 * install: the CLI, a type-check of every entry point and of the README's examples, the BFF
 * started from the installed package with a Node client receiving an event, and each
 * example of "Use it in your app" run as a user would run it.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { parseEnv } from 'node:util';
import { build } from 'esbuild';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, skipWithoutChromium } from '../helpers/browser.js';
import { installApp, linkTypes, packRepository, REPO_ROOT, run, startProcess, type Packed, type RunningProcess } from '../helpers/packed-app.js';

const TENANT_KEY = 'acme-package-test-key-0001';
/** Compiling, starting processes and a browser take seconds each, many more on a loaded machine. */
const SLOW = { timeout: 120_000 };
const DEV_ONLY = ['typescript', 'tsx', 'esbuild', 'vitest', 'fast-check', 'eslint', 'playwright-core', 'msw'];

let work: string;
let packed: Packed;
let app: string;
const running: RunningProcess[] = [];

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'switchboard-package-'));
  packed = await packRepository(work);
  app = await installApp(work, packed, ['express', 'react']);
  await linkTypes(app, ['node', 'express', 'react']);
  await cp(path.join(REPO_ROOT, 'examples'), path.join(app, 'examples'), { recursive: true });
}, 600_000);

afterAll(async () => {
  await Promise.all(running.map((process) => process.stop()));
  if (work) await rm(work, { recursive: true, force: true });
});

/** Only what a shell gives a process: no test runner variables, no NODE_ENV=test. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
}

async function start(command: string, args: string[], env: Record<string, string>, ready: RegExp): Promise<RunningProcess> {
  const started = await startProcess(command, args, { cwd: app, env: cleanEnv(env), ready });
  running.push(started);
  return started;
}

/** `switchboard serve` of the installed package, on a free port; answers its base URL. */
async function serve(env: Record<string, string>): Promise<string> {
  const bin = path.join(app, 'node_modules', '.bin', 'switchboard');
  const server = await start(bin, ['serve'], { PORT: '0', HOST: '127.0.0.1', SWITCHBOARD_DATA_DIR: path.join(work, `data-${running.length}`), ...env }, /localhost:(\d+)/);
  return `http://127.0.0.1:${server.match[1]}`;
}

function publicEntries(manifest: Packed['manifest']): [string, { types: string; default: string }][] {
  return Object.entries(manifest.exports).filter((entry): entry is [string, { types: string; default: string }] => typeof entry[1] === 'object');
}

describe('the packed tarball', () => {
  it('holds the built package, the browser bundles and the SQL policies, and nothing for development', () => {
    const { files, manifest } = packed;
    for (const [, target] of publicEntries(manifest)) {
      expect(files).toContain(target.types.replace(/^\.\//, ''));
      expect(files).toContain(target.default.replace(/^\.\//, ''));
    }
    expect(files).toEqual(expect.arrayContaining(['dist/src/cli.js', 'dist/browser/switchboard-client.js', 'public/admin.html', 'public/build/admin.js', 'public/build/demo.js', 'providers/supabase/policies.sql', 'README.md']));
    expect(files.filter((file) => /^(test|bench|scripts|examples|src|node_modules)\/|fixtures|\.test\.|tsconfig|eslint/.test(file))).toEqual([]);
    expect(files.filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))).toEqual([]);
    expect(manifest).not.toHaveProperty('private');
  });

  it('installs for production without one devDependency', SLOW, async () => {
    const stdout = await run('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: app });
    const installed = stdout.split('\n').map((line) => path.basename(line));
    for (const name of DEV_ONLY) expect(installed).not.toContain(name);
  });

  it('runs its CLI right after install: npx switchboard --help', SLOW, async () => {
    const help = await run('npx', ['--offline', 'switchboard', '--help'], { cwd: app, env: cleanEnv({}) });
    expect(help).toMatch(/^Usage: switchboard <command>/);
    expect(help).toMatch(/\n {2}serve /);
  });

  it('loads every entry point in Node with the production install alone', SLOW, async () => {
    const nodeEntries = publicEntries(packed.manifest)
      .map(([subpath]) => `switchboard${subpath.slice(1)}`)
      .filter((specifier) => !specifier.endsWith('/browser'));
    const script = `for (const name of ${JSON.stringify(nodeEntries)}) { const entry = await import(name); if (Object.keys(entry).length === 0) throw new Error(name + ' exports nothing'); }`;
    await run(process.execPath, ['--input-type=module', '-e', script], { cwd: app, env: cleanEnv({}) });
  });

  it('type-checks a TypeScript app importing each entry point, and the examples', SLOW, async () => {
    const imports = publicEntries(packed.manifest).map(([subpath], index) => `import * as entry${index} from 'switchboard${subpath.slice(1)}';\nexport const use${index}: object = entry${index};`);
    await writeFile(path.join(app, 'entrypoints.ts'), `${imports.join('\n')}\n`);
    await writeFile(path.join(app, 'receive.ts'), RECEIVER);
    await writeFile(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2023', 'DOM'], strict: true, skipLibCheck: true, types: ['node'] },
        include: ['*.ts', 'examples/**/*.ts'],
        // The React example is a browser app with its own esbuild build (test/e2e/react-app.test.ts).
        exclude: ['examples/react-app'],
      }),
    );
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    // Emits JavaScript next to each file: the later tests run it.
    await run(process.execPath, [tsc, '-p', app], { cwd: app });
  });
});

/** A Node client from the installed package: prints the first event of a channel, as JSON. */
const RECEIVER = `import { connect } from 'switchboard/client';

const [url, session, channel] = process.argv.slice(2) as [string, string, string];
const rt = connect({ url, session, fallbackAfterAttempts: 0 });
// since: 0 reads what was published before the subscription, then stays live.
rt.channel(channel, { since: 0 }).subscribe((event, data, meta) => {
  console.log(JSON.stringify({ event, data, seq: meta.seq, transport: rt.connection.transport }));
  rt.close();
});
await rt.ready();
console.log('connected');
`;

async function devSession(url: string, tenant: string, user: string): Promise<string> {
  const response = await fetch(`${url}/v1/dev/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant, user }) });
  return ((await response.json()) as { token: string }).token;
}

describe('switchboard serve from the installed package', () => {
  it('delivers an event from the publisher example to a Node client', SLOW, async () => {
    const url = await serve({ SWITCHBOARD_API_KEYS: `acme:${TENANT_KEY}` });
    // The pages ship built: the admin page and its script come from the package.
    expect((await fetch(`${url}/admin`)).status).toBe(200);
    expect((await fetch(`${url}/assets/admin.js`)).headers.get('content-type')).toMatch(/javascript/);
    const receiver = await start(process.execPath, ['receive.js', url, await devSession(url, 'acme', 'ana'), 'orders:1001'], {}, /connected/);
    const env = cleanEnv({ SWITCHBOARD_URL: url, SWITCHBOARD_API_KEY: TENANT_KEY });
    const first = JSON.parse(await run(process.execPath, ['examples/publisher.js', '1001'], { cwd: app, env })) as unknown;
    expect(first).toEqual({ id: 'order-1001-out-for-delivery', seq: 1, status: 'delivered', attempts: 1 });
    await expect.poll(() => receiver.output(), { timeout: 20_000 }).toMatch(/"event":"status"/);
    const received = JSON.parse(receiver.output().split('\n').find((line) => line.startsWith('{')) ?? '{}') as unknown;
    expect(received).toEqual({ event: 'status', data: { status: 'out for delivery' }, seq: 1, transport: 'pusher' });
    // Run again: the same business event is a duplicate, not a second event.
    expect(JSON.parse(await run(process.execPath, ['examples/publisher.js', '1001'], { cwd: app, env }))).toMatchObject({ seq: 1, status: 'duplicate' });
  });
});

async function problemOf(response: Response): Promise<{ status: number; code: string; detail: string }> {
  const body = (await response.json()) as { code: string; detail: string };
  return { status: response.status, code: body.code, detail: body.detail };
}

describe('Use it in your app: examples/express-app (own login, mounted BFF, in-process publish)', () => {
  let url = '';
  const login = async (user: string) => {
    const response = await fetch(`${url}/login`, { method: 'POST', body: new URLSearchParams({ user, password: `${user}-password` }), redirect: 'manual' });
    expect(response.status).toBe(303);
    return (response.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  };
  const token = (cookie?: string) => fetch(`${url}/realtime/v1/token`, { method: 'POST', headers: cookie ? { cookie } : {} });

  it('answers the token request from the app’s session: 401 without one, 403 for a suspended account', SLOW, async () => {
    const server = await start(process.execPath, ['examples/express-app/server.js'], { PORT: '0', SWITCHBOARD_STORE: 'memory', LOG_LEVEL: 'warn' }, /listening on (http:\/\/\S+)/);
    url = server.match[1] ?? '';
    expect(await problemOf(await token())).toEqual({ status: 401, code: 'unauthenticated', detail: 'Not signed in' });
    expect(await problemOf(await token(await login('bo')))).toEqual({ status: 403, code: 'forbidden', detail: 'Account suspended' });
    const answer = await token(await login('ana'));
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ tenant: 'acme', user: 'ana' });
    // The dev login is off in the mounted BFF.
    expect((await fetch(`${url}/realtime/v1/dev/session`, { method: 'POST' })).status).toBe(404);
  });

  it('runs the esbuild-bundled page in Chromium: a publish from an app route reaches it on the app’s own origin', SLOW, async () => {
    if (skipWithoutChromium('package example page')) return;
    const exampleDir = path.join(app, 'examples', 'express-app');
    // What the example's comment says to run: npx esbuild browser.ts --bundle --format=esm --outfile=public/app.js
    await build({ entryPoints: [path.join(exampleDir, 'browser.ts')], bundle: true, format: 'esm', outfile: path.join(exampleDir, 'public', 'app.js'), logLevel: 'warning' });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(url);
      await page.fill('input[name=user]', 'ana');
      await page.fill('input[name=password]', 'ana-password');
      await page.click('button');
      await page.waitForFunction(() => document.querySelector('#state')?.textContent === 'connected' && document.body.dataset.order === 'live', undefined, { timeout: 30_000 });
      const cookie = (await page.context().cookies()).map(({ name, value }) => `${name}=${value}`).join('; ');
      const ship = () => fetch(`${url}/orders/1001/ship`, { method: 'POST', headers: { cookie } }).then((response) => response.json());
      expect(await ship()).toEqual({ id: 'order-1001-shipped', seq: 1, status: 'delivered' });
      await page.waitForFunction(() => document.querySelector('#events li')?.textContent === '#1 {"status":"shipped","by":"Ana"}', undefined, { timeout: 30_000 });
      expect(await ship()).toEqual({ id: 'order-1001-shipped', seq: 1, status: 'duplicate' });

      // switchboard/client/browser: the prebuilt bundle loads as a module in a page without a bundler.
      const bundleDir = path.join(app, 'node_modules', 'switchboard', 'dist', 'browser');
      await page.route('**/vendor/switchboard/**', (route) =>
        route.fulfill({ path: path.join(bundleDir, new URL(route.request().url()).pathname.slice('/vendor/switchboard/'.length)), contentType: 'text/javascript' }),
      );
      await page.addScriptTag({ type: 'module', content: "import('/vendor/switchboard/switchboard-client.js').then((client) => { document.body.dataset.bundle = typeof client.connect; });" });
      await page.waitForFunction(() => document.body.dataset.bundle === 'function', undefined, { timeout: 30_000 });
    } finally {
      await browser.close();
    }
  });
});

describe('Use it in your app: Clerk session tokens (examples/clerk.env)', () => {
  it('takes user, tenant, name and roles from a Clerk-shaped session token verified with the instance’s JWKS', SLOW, async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'ins_2test', alg: 'RS256', use: 'sig' };
    const jwks: Server = createServer((req, res) => {
      if (req.url !== '/.well-known/jwks.json') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    try {
      // The local JWKS stands in for https://your-app.clerk.accounts.dev.
      const issuer = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}`;
      const example = await readFile(path.join(app, 'examples', 'clerk.env'), 'utf8');
      const env = parseEnv(example.replaceAll('https://your-app.clerk.accounts.dev', issuer)) as Record<string, string>;
      const url = await serve(env);

      const clerkToken = (key: CryptoKey, iss = issuer) => {
        const now = Math.floor(Date.now() / 1000);
        // Clerk's v2 session token claims, plus the three added under "Customize session token".
        return new SignJWT({ azp: 'http://localhost:3000', fva: [0, -1], sid: 'sess_2xyz', v: 2, o: { id: 'org_2acme', rol: 'member', slg: 'acme' }, tid: 'org_2acme', name: 'Ana Lima', roles: 'org:member' })
          .setProtectedHeader({ alg: 'RS256', kid: 'ins_2test', typ: 'JWT' })
          .setIssuer(iss)
          .setSubject('user_2ana')
          .setIssuedAt(now)
          .setNotBefore(now - 5)
          .setExpirationTime(now + 60)
          .sign(key);
      };
      const exchange = async (session: string) => fetch(`${url}/v1/token`, { method: 'POST', headers: { authorization: `Bearer ${session}` } });

      const answer = await exchange(await clerkToken(privateKey));
      expect(answer.status).toBe(200);
      const body = (await answer.json()) as { token: string; tenant: string; user: string; caps: Record<string, string[]> };
      expect(body).toMatchObject({ tenant: 'org_2acme', user: 'user_2ana', caps: { 'notifications:user_2ana': ['subscribe', 'history'] } });
      const claims = JSON.parse(Buffer.from(body.token.split('.')[1] ?? '', 'base64url').toString()) as { info: unknown };
      expect(claims.info).toEqual({ name: 'Ana Lima' });

      expect((await problemOf(await exchange(await clerkToken(privateKey, 'https://evil.example')))).status).toBe(401);
      expect((await problemOf(await exchange(await clerkToken((await generateKeyPair('RS256')).privateKey)))).status).toBe(401);
      expect((await fetch(`${url}/v1/dev/session`, { method: 'POST' })).status).toBe(404);
    } finally {
      jwks.closeAllConnections();
      await new Promise((resolve) => jwks.close(resolve));
    }
  });
});
