// The Hosted Vault: GET /session/<token> serves the consumer's connect UI (built from web/ into dist/web by
// `npm run build`); its hashed assets live under /vault-ui/assets/. The token never leaves the page: no referrer,
// no caching, a strict CSP, and the access log shows /session/<token>.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';

/** The repository root, whether this runs from src/ (tests) or dist/ (npm start). */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const WEB_DIR = path.join(ROOT, 'dist', 'web');
export const ASSET_PREFIX = '/vault-ui/assets/';

export const PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' https: data:",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.map': 'application/json; charset=utf-8',
};

function pageHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', PAGE_CSP)
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-store')
    .header('x-content-type-options', 'nosniff');
}

export function hostedVaultRoutes(webDir = WEB_DIR): FastifyPluginAsync {
  return async (app) => {
    let index: string | null = null;
    const readIndex = () => {
      // Read once; a missing build is reported on the page instead of crashing the server.
      index ??= fs.existsSync(path.join(webDir, 'index.html')) ? fs.readFileSync(path.join(webDir, 'index.html'), 'utf8') : null;
      return index;
    };

    // A wildcard, not `:token`: session JWTs are longer than the router's parameter limit. The page itself tells a
    // malformed or expired token apart; the server never looks at it.
    app.get('/session/*', { schema: { hide: true } }, async (_request, reply) => {
      const html = readIndex();
      pageHeaders(reply).header('content-type', 'text/html; charset=utf-8');
      if (html === null) {
        return reply.code(503).send('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Vault UI not built</title></head><body><h1>The Vault UI is not built</h1><p>Run <code>npm run build</code>.</p></body></html>');
      }
      return reply.send(html);
    });

    app.get(`${ASSET_PREFIX}:file`, { schema: { hide: true } }, async (request, reply) => {
      const file = (request.params as { file: string }).file;
      const type = TYPES[path.extname(file)];
      const full = path.join(webDir, 'assets', file);
      if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(file) || !type || !fs.existsSync(full)) {
        return reply.code(404).header('content-type', 'text/plain; charset=utf-8').send('Not found');
      }
      return reply
        .header('content-type', type)
        .header('cache-control', 'public, max-age=31536000, immutable')
        .header('x-content-type-options', 'nosniff')
        .send(fs.createReadStream(full));
    });
  };
}
