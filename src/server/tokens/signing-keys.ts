/**
 * Keys that sign capability tokens. The first key signs; every key verifies, so a key
 * can be rotated by prepending a new one and dropping the old one after a token TTL.
 * Without configured keys, dev runs generate an Ed25519 key and persist it under the
 * data dir (mode 0600) so tokens survive restarts.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { z } from 'zod';

export const SIGNING_ALGORITHMS = ['EdDSA', 'ES256', 'HS256'] as const;
type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

const privateJwkSchema = z
  .object({
    kid: z.string().min(1).max(128),
    alg: z.enum(SIGNING_ALGORITHMS),
    kty: z.enum(['OKP', 'EC', 'oct']),
  })
  .passthrough();
const privateJwksSchema = z.array(privateJwkSchema).min(1);

interface SigningKey {
  kid: string;
  alg: SigningAlgorithm;
  signKey: CryptoKey | Uint8Array;
  verifyKey: CryptoKey | Uint8Array;
}

export interface SigningKeys {
  signer: SigningKey;
  /** Verification key by `kid`; undefined for unknown ids. */
  verifier(kid: string): SigningKey | undefined;
  algorithms: SigningAlgorithm[];
  /** Public halves for `/.well-known/jwks.json` (symmetric keys are never published). */
  publicJwks: JWK[];
}

async function fromPrivateJwks(jwks: z.infer<typeof privateJwksSchema>): Promise<SigningKeys> {
  const keys: SigningKey[] = [];
  const publicJwks: JWK[] = [];
  for (const jwk of jwks) {
    const signKey = await importJWK(jwk as JWK, jwk.alg);
    if (jwk.kty === 'oct') {
      keys.push({ kid: jwk.kid, alg: jwk.alg, signKey, verifyKey: signKey });
      continue;
    }
    const { d: _d, ...publicPart } = jwk as JWK;
    keys.push({ kid: jwk.kid, alg: jwk.alg, signKey, verifyKey: await importJWK(publicPart, jwk.alg) });
    publicJwks.push({ ...publicPart, use: 'sig' });
  }
  const byKid = new Map(keys.map((key) => [key.kid, key]));
  return {
    signer: keys[0] as SigningKey,
    verifier: (kid) => byKid.get(kid),
    algorithms: [...new Set(keys.map((key) => key.alg))],
    publicJwks,
  };
}

async function generatePrivateJwk(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  return { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: 'EdDSA' };
}

export function parsePrivateJwks(json: string, source: string): z.infer<typeof privateJwksSchema> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new Error(`${source} is not valid JSON`);
  }
  const result = privateJwksSchema.safeParse(parsed);
  if (!result.success) throw new Error(`${source} must be a JSON array of private JWKs with kid and alg (${SIGNING_ALGORITHMS.join(', ')})`);
  return result.data;
}

/** Keys from `configured` JSON, else from (or newly into) `dataDir`, else ephemeral. */
export async function loadSigningKeys(options: { configured?: string; dataDir?: string }): Promise<SigningKeys> {
  if (options.configured) return fromPrivateJwks(parsePrivateJwks(options.configured, 'SWITCHBOARD_SIGNING_KEYS'));
  if (!options.dataDir) return fromPrivateJwks(parsePrivateJwks(JSON.stringify([await generatePrivateJwk()]), 'generated key'));
  const file = path.join(options.dataDir, 'signing-keys.json');
  try {
    return await fromPrivateJwks(parsePrivateJwks(await readFile(file, 'utf8'), file));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(options.dataDir, { recursive: true });
  const jwks = [await generatePrivateJwk()];
  await writeFile(file, JSON.stringify(jwks), { mode: 0o600, flag: 'wx' }).catch(async (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  return fromPrivateJwks(parsePrivateJwks(await readFile(file, 'utf8'), file));
}
