/** Limits on abuse of the HTTP API and the security headers of every response. */
import helmet from 'helmet';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';

export const HTTP_LIMITS = Symbol('HTTP_LIMITS');

export interface HttpLimits {
  /** Largest JSON body accepted (bytes); larger is a 413. */
  bodyBytes: number;
  /** Failed authentications per source address within `authFailureWindowSeconds` before a 429. */
  authFailuresPerSource: number;
  /** Failed authentications with one (unknown or revoked) token within the window before a 429. */
  authFailuresPerToken: number;
  authFailureWindowSeconds: number;
  /** Open event streams (SSE) per token; one more is a 429. */
  sseStreamsPerToken: number;
}

const envInt = (name: string, fallback: number) => {
  const v = process.env[name];
  return v !== undefined && /^\d{1,9}$/.test(v) ? Number(v) : fallback;
};

export function httpLimits(over: Partial<HttpLimits> = {}): HttpLimits {
  return {
    bodyBytes: envInt('FABRIC_HTTP_BODY_LIMIT', 64 * 1024),
    authFailuresPerSource: envInt('FABRIC_AUTH_FAILURES_PER_SOURCE', 30),
    authFailuresPerToken: envInt('FABRIC_AUTH_FAILURES_PER_TOKEN', 10),
    authFailureWindowSeconds: envInt('FABRIC_AUTH_FAILURE_WINDOW_SECONDS', 60),
    sseStreamsPerToken: envInt('FABRIC_SSE_STREAMS_PER_TOKEN', 8),
    ...over,
  };
}

/**
 * helmet's headers on every response (nosniff, frame-ancestors, referrer policy, …). The dashboard gets a
 * strict Content-Security-Policy: its own scripts only, API calls and the event stream to the same origin.
 * The OpenAPI page (swagger-ui) keeps helmet's defaults minus CSP, which its inline bootstrap would break.
 */
export function securityHeaders(app: NestExpressApplication): void {
  const dashboardCsp = helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        'default-src': ["'self'"],
        'script-src': ["'self'"],
        // React sets styles through the CSSOM; inline style attributes of the SVG topology need this.
        'style-src': ["'self'", "'unsafe-inline'"],
        'img-src': ["'self'", 'data:'],
        'connect-src': ["'self'"],
        'font-src': ["'self'"],
        'object-src': ["'none'"],
        'base-uri': ["'none'"],
        'form-action': ["'self'"],
        'frame-ancestors': ["'none'"],
      },
    },
    strictTransportSecurity: false, // plain HTTP on 127.0.0.1 by default; the TLS proxy in front sets HSTS
  });
  const apiHeaders = helmet({ contentSecurityPolicy: false, strictTransportSecurity: false });
  app.use((req: Request, res: Response, next: NextFunction) => (/^\/api\/docs(\/|$|-json)/.test(req.path) ? apiHeaders : dashboardCsp)(req, res, next));
}
