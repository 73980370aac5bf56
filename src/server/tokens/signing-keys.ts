/**
 * Keys that sign capability tokens. The first key signs; every key verifies, so a key
 * can be rotated by prepending a new one and dropping the old one after a token TTL.
 * Without configured keys, dev runs generate an Ed25519 key and persist it under the
 * data dir (mode 0600) so tokens survive restarts, or, for nodes sharing Redis, keep one
 * set there so every node signs alike (production refuses that: see from-env.ts).
 */
import { createPrivateKey, createPublicKey, createSecretKey, generateKeyPairSync, hkdfSync, randomBytes, type JsonWebKey } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { JwsKey } from './jws.js';

export const SIGNING_ALGORITHMS = ['EdDSA', 'ES256', 'HS256'] as const;

const privateJwkSchema = z
  .object({
    kid: z.string().min(1).max(128),
    alg: z.enum(SIGNING_ALGORITHMS),
    kty: z.enum(['OKP', 'EC', 'oct']),
  })
  .passthrough();
const privateJwksSchema = z.array(privateJwkSchema).min(1);
type PrivateJwk = z.infer<typeof privateJwkSchema>;

export interface SigningKeys {
  signer: JwsKey;
  /** Verification key by `kid`; undefined for unknown ids. */
  verifier(kid: string): JwsKey | undefined;
  /** Public halves for `/.well-known/jwks.json` (symmetric keys are never published). */
  publicJwks: JsonWebKey[];
  /** A secret derived from the signing key, for tokens only this BFF reads (dev sessions). */
  internalSecret: Buffer;
}

function importKey(jwk: PrivateJwk): JwsKey {
  const expectedKty = { EdDSA: 'OKP', ES256: 'EC', HS256: 'oct' }[jwk.alg];
  if (jwk.kty !== expectedKty) throw new Error(`key ${jwk.kid}: alg ${jwk.alg} needs kty ${expectedKty}`);
  if (jwk.kty === 'oct') {
    const secret = z.string().min(43, 'HS256 keys need at least 32 bytes').parse(jwk.k);
    const key = createSecretKey(Buffer.from(secret, 'base64url'));
    return { kid: jwk.kid, alg: jwk.alg, signingKey: key, verificationKey: key };
  }
  const signingKey = createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' });
  return { kid: jwk.kid, alg: jwk.alg, signingKey, verificationKey: createPublicKey(signingKey) };
}

function fromPrivateJwks(jwks: PrivateJwk[]): SigningKeys {
  const keys = jwks.map(importKey);
  const byKid = new Map(keys.map((key) => [key.kid, key]));
  const publicJwks = keys
    .filter((key) => key.alg !== 'HS256')
    .map((key) => ({ ...key.verificationKey.export({ format: 'jwk' }), kid: key.kid, alg: key.alg, use: 'sig' }));
  const first = jwks[0] as PrivateJwk;
  const material = z.string().parse(first.kty === 'oct' ? first.k : first.d);
  return {
    signer: keys[0] as JwsKey,
    verifier: (kid) => byKid.get(kid),
    publicJwks,
    internalSecret: Buffer.from(hkdfSync('sha256', Buffer.from(material, 'base64url'), '', 'switchboard internal tokens', 32)),
  };
}

/** A new Ed25519 key; its `kid` starts with the day it was made, which helps telling keys apart while rotating. */
export function generatePrivateJwk(now = new Date()): PrivateJwk {
  const { privateKey } = generateKeyPairSync('ed25519');
  const kid = `${now.toISOString().slice(0, 10)}-${randomBytes(4).toString('hex')}`;
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: 'EdDSA', kty: 'OKP' };
}

const KEY_SET_HELP = `a JSON array of private JWKs with kid and alg (${SIGNING_ALGORITHMS.join(', ')}), e.g. the output of switchboard keys generate`;

/** Every problem of a configured key set, as "must …" phrases: JSON, shape, each key's material, repeated kids. */
export function signingKeyProblems(json: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return [`must be ${KEY_SET_HELP}; it is not valid JSON`];
  }
  const result = privateJwksSchema.safeParse(parsed);
  if (!result.success) return [`must be ${KEY_SET_HELP}`];
  const seen = new Set<string>();
  return result.data.flatMap((jwk, index) => {
    const which = `key ${index + 1} (kid ${JSON.stringify(jwk.kid)})`;
    if (seen.has(jwk.kid)) return [`must give every key its own kid; ${which} repeats one`];
    seen.add(jwk.kid);
    try {
      importKey(jwk);
      return [];
    } catch (error) {
      const reason = error instanceof z.ZodError ? (error.issues[0]?.message ?? 'invalid') : error instanceof Error ? error.message : String(error);
      return [`must hold usable private keys; ${which} is not: ${reason}`];
    }
  });
}

export function parsePrivateJwks(json: string, source: string): PrivateJwk[] {
  const [problem] = signingKeyProblems(json);
  if (problem) throw new Error(`${source} ${problem}`);
  return privateJwksSchema.parse(JSON.parse(json));
}

/** Where nodes without configured keys agree on one set: the first node's proposal wins. */
export interface SharedKeySlot {
  /** Stores `proposal` unless a set is already there; answers the set that is there now. */
  claim(proposal: string): Promise<string>;
}

/** Keys from `configured` JSON, else from (or newly into) the `shared` slot or `dataDir`, else ephemeral. */
export async function loadSigningKeys(options: { configured?: string; dataDir?: string; shared?: SharedKeySlot }): Promise<SigningKeys> {
  if (options.configured) return fromPrivateJwks(parsePrivateJwks(options.configured, 'SWITCHBOARD_SIGNING_KEYS'));
  if (options.shared) return fromPrivateJwks(parsePrivateJwks(await options.shared.claim(JSON.stringify([generatePrivateJwk()])), 'the shared signing keys'));
  if (!options.dataDir) return fromPrivateJwks([generatePrivateJwk()]);
  const file = path.join(options.dataDir, 'signing-keys.json');
  try {
    return fromPrivateJwks(parsePrivateJwks(await readFile(file, 'utf8'), file));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(options.dataDir, { recursive: true });
  await writeFile(file, JSON.stringify([generatePrivateJwk()]), { mode: 0o600, flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  return fromPrivateJwks(parsePrivateJwks(await readFile(file, 'utf8'), file));
}
