import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { Router } from 'express';

/** The package root holds `public/`, whether this runs from `src/` (tsx) or `dist/src/` (built). */
function findPublicDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'public');
    if (existsSync(path.join(candidate, 'admin.html'))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('Cannot find the public/ directory of the switchboard package');
    dir = parent;
  }
}

/** The admin page always; the demo page (which relies on dev login) only in dev. Assets are built into public/build. */
export function webRoutes(options: { demo: boolean }): Router {
  const publicDir = findPublicDir();
  const router = Router();
  const assets = Router();
  assets.use(express.static(path.join(publicDir, 'build'), { fallthrough: true, index: false }));
  assets.use(express.static(publicDir, { fallthrough: true, index: false }));
  router.use('/assets', assets);
  router.get('/admin', (_req, res) => res.sendFile(path.join(publicDir, 'admin.html')));
  // Pages link /assets/favicon.svg; this answers tools and tabs that ask for the classic path.
  router.get('/favicon.ico', (_req, res) => res.type('image/svg+xml').sendFile(path.join(publicDir, 'favicon.svg')));
  if (options.demo) router.get('/', (_req, res) => res.sendFile(path.join(publicDir, 'index.html')));
  return router;
}
