/**
 * Pusher HTTP API request signing (pusher-docs rest-api.md "Authentication";
 * pusher-node lib/requests.js): the signed string is `METHOD\npath\nquery`, where
 * query is every parameter except auth_signature, keys lowercased and sorted, joined
 * as `k=v` with `&` and without URL escaping.
 */
import type { PusherCredentials } from './credentials.js';
import { hmacSha256Hex, md5Hex, safeEqual } from './hmac.js';

export const AUTH_VERSION = '1.0';
export const MAX_TIMESTAMP_SKEW_SECONDS = 600;

export interface SignRequestInput {
  method: string;
  /** Full path including `/apps/{app_id}`, exactly as sent. */
  path: string;
  params?: Record<string, string>;
  /** The exact body bytes sent; `body_md5` is added only when it is non-empty. */
  body?: string | Buffer;
  /** Seconds since the epoch; defaults to now. */
  timestamp?: number;
}

function canonicalQuery(params: Record<string, string>): string {
  return Object.keys(params)
    .sort()
    .map((key) => `${key}=${params[key] ?? ''}`)
    .join('&');
}

function stringToSign(method: string, path: string, params: Record<string, string>): string {
  return `${method.toUpperCase()}\n${path}\n${canonicalQuery(params)}`;
}

/** Returns the query string to append after `?`, ending in `auth_signature=…`. */
export function signRequest(credentials: PusherCredentials, input: SignRequestInput): string {
  const params: Record<string, string> = {};
  for (const [key, value] of Object.entries(input.params ?? {})) params[key.toLowerCase()] = value;
  params.auth_key = credentials.key;
  params.auth_timestamp = String(input.timestamp ?? Math.floor(Date.now() / 1000));
  params.auth_version = AUTH_VERSION;
  if (input.body !== undefined && input.body.length > 0) params.body_md5 = md5Hex(input.body);
  const signature = hmacSha256Hex(credentials.secret, stringToSign(input.method, input.path, params));
  return `${canonicalQuery(params)}&auth_signature=${signature}`;
}

export interface VerifyRequestInput {
  method: string;
  path: string;
  /** The raw query string (without `?`), as received. */
  rawQuery: string;
  body: Buffer;
  /** Milliseconds since the epoch; defaults to now. */
  now?: number;
}

export type VerifyRequestResult =
  | { ok: true; params: Record<string, string> }
  | { ok: false; status: 400 | 401; message: string };

function parseQuery(rawQuery: string): Record<string, string> | string {
  const params: Record<string, string> = {};
  if (rawQuery === '') return params;
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    let key: string;
    let value: string;
    try {
      key = decodeURIComponent(eq < 0 ? part : part.slice(0, eq)).toLowerCase();
      value = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1));
    } catch {
      return 'malformed query string';
    }
    if (Object.hasOwn(params, key)) return `duplicate query parameter "${key.slice(0, 40)}"`;
    params[key] = value;
  }
  return params;
}

/** Verifies a signed Pusher HTTP API request; every comparison is constant-time. */
export function verifyRequest(credentials: PusherCredentials, input: VerifyRequestInput): VerifyRequestResult {
  const parsed = parseQuery(input.rawQuery);
  if (typeof parsed === 'string') return { ok: false, status: 400, message: parsed };
  const { auth_signature: signature, auth_key: key, auth_timestamp: timestamp, auth_version: version } = parsed;
  if (signature === undefined || key === undefined || timestamp === undefined || version === undefined) {
    return { ok: false, status: 401, message: 'Missing auth_key, auth_timestamp, auth_version or auth_signature' };
  }
  if (version !== AUTH_VERSION) return { ok: false, status: 401, message: `Unsupported auth_version, expected ${AUTH_VERSION}` };
  if (!safeEqual(key, credentials.key)) return { ok: false, status: 401, message: 'Unknown auth_key' };
  const seconds = /^\d{1,12}$/.test(timestamp) ? Number(timestamp) : Number.NaN;
  const nowSeconds = (input.now ?? Date.now()) / 1000;
  if (!Number.isFinite(seconds) || Math.abs(nowSeconds - seconds) > MAX_TIMESTAMP_SKEW_SECONDS) {
    return { ok: false, status: 401, message: `Timestamp expired: auth_timestamp must be within ${MAX_TIMESTAMP_SKEW_SECONDS} s of server time` };
  }
  if (input.body.length > 0 || parsed.body_md5 !== undefined) {
    if (parsed.body_md5 === undefined || !safeEqual(parsed.body_md5, md5Hex(input.body))) {
      return { ok: false, status: 401, message: 'body_md5 does not match the request body' };
    }
  }
  const { auth_signature: _omit, ...signed } = parsed;
  const expected = hmacSha256Hex(credentials.secret, stringToSign(input.method, input.path, signed));
  if (!safeEqual(signature.toLowerCase(), expected)) return { ok: false, status: 401, message: 'Invalid signature' };
  return { ok: true, params: signed };
}
