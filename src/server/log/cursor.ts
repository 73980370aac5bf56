/**
 * One resumable position across several channels: `{ channel: lastSeenSeq }`, carried as
 * base64url JSON because channel names may contain every separator a plain
 * `a=5;b=7` form would need (`=`, `;`, `,`, `:`).
 */
import { z } from 'zod';
import { channelNameSchema } from '../../core/schemas.js';
import { SwitchboardError } from '../../core/errors.js';

export type Cursor = Record<string, number>;

const MAX_CURSOR_LENGTH = 8192;
const cursorSchema = z.record(channelNameSchema, z.number().int().min(0).max(Number.MAX_SAFE_INTEGER));

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url');
}

export function decodeCursor(text: string): Cursor {
  const invalid = () => new SwitchboardError('invalid_request', 'cursor / Last-Event-ID is not a cursor this server issued');
  if (text.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]*$/.test(text)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  const result = cursorSchema.safeParse(parsed);
  if (!result.success) throw invalid();
  return result.data;
}
