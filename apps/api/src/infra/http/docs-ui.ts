import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';

const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'application/javascript; charset=utf-8',
};

const page = (specUrl: string) => `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Gateway API</title><link rel="stylesheet" href="/api/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/api/docs/swagger-ui-bundle.js"></script>
<script src="/api/docs/swagger-ui-standalone-preset.js"></script>
<script>window.ui = SwaggerUIBundle({ url: ${JSON.stringify(specUrl)}, dom_id: '#swagger-ui', presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: 'StandaloneLayout' });</script>
</body></html>`;

/** Serves the API explorer from the locally installed swagger-ui-dist: nothing is fetched from the internet. */
export function serveDocsUi(fastify: FastifyInstance, specUrl: string) {
  // The package's folder only: requiring the package itself would evaluate the browser bundles in the API
  // process (tens of MB of heap for nothing). Assets are read on first use.
  const dir = dirname(require.resolve('swagger-ui-dist/package.json'));
  const cache = new Map<string, Buffer>();
  const asset = (name: string) => {
    if (!Object.hasOwn(ASSETS, name)) return undefined;
    if (!cache.has(name)) cache.set(name, readFileSync(join(dir, name)));
    return cache.get(name);
  };
  fastify.get('/api/docs', (_req, reply) => void reply.type('text/html; charset=utf-8').send(page(specUrl)));
  fastify.get<{ Params: { file: string } }>('/api/docs/:file', (req, reply) => {
    const body = asset(req.params.file);
    if (!body) return void reply.status(404).send({ statusCode: 404, error: 'not found', message: `no asset ${req.params.file}` });
    void reply.type(ASSETS[req.params.file]).header('cache-control', 'public, max-age=86400').send(body);
  });
}
