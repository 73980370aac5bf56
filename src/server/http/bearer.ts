import type { Request } from 'express';
import { SwitchboardError } from '../../core/errors.js';

/** The credential of an `Authorization: Bearer …` header. */
export function bearerToken(req: Request): string {
  const header = req.get('authorization');
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!match?.[1]) throw new SwitchboardError('unauthenticated', 'Missing Authorization: Bearer credential');
  return match[1];
}
