/** Serves the operator dashboard (dashboard/dist, built by Vite) at `/`, when it has been built. */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import express from 'express';
import type { NestExpressApplication } from '@nestjs/platform-express';

export const DASHBOARD_DIST = resolve(process.env.DASHBOARD_DIST ?? join(__dirname, '../../../../dashboard/dist'));

export function serveDashboard(app: NestExpressApplication, dir: string = DASHBOARD_DIST): boolean {
  const index = join(dir, 'index.html');
  if (!existsSync(index)) return false;
  // Hashed asset names: cache them; index.html must always be revalidated to pick up a new build.
  app.use('/assets', express.static(join(dir, 'assets'), { immutable: true, maxAge: '1y', fallthrough: false }));
  app.use(express.static(dir, { index: false }));
  // SPA fallback: every non-API GET that wants HTML gets index.html (client-side routes like /clusters/…).
  app.use((req: express.Request, res: express.Response, next: express.NextFunction) => {
    if (req.method !== 'GET' || /^\/(api|metrics)(\/|$)/.test(req.path) || !req.accepts('html')) return next();
    res.set('Cache-Control', 'no-cache').sendFile(index);
  });
  return true;
}
