import { Router } from 'express';
import { buildOpenApi } from '../openapi.js';

export function openApiRoutes(): Router {
  const router = Router();
  let document: string | undefined;
  router.get('/v1/openapi.json', (_req, res) => {
    document ??= JSON.stringify(buildOpenApi());
    res.type('application/json').send(document);
  });
  return router;
}
