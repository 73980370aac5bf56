import type { Request } from 'express';

/** The origin clients use to reach the BFF: configured, else the request's own. */
export function publicOrigin(req: Request, configured: string | undefined): string {
  if (configured) return configured.replace(/\/+$/, '');
  return `${req.protocol}://${req.get('host') ?? 'localhost'}`;
}
