import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { NestFactory, DiscoveryService, MetadataScanner } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { DestinationStream, Logger } from 'pino';
import { publicUrl, type Config } from './infra/config/config';
import { AppModule } from './app.module';
import { ensureDatabase, migrate } from './infra/database/bootstrap';
import { createLogger, PinoNestLogger } from './infra/logging/logger';
import { buildOpenApi, collectRoutes } from './infra/http/openapi';
import { serveDocsUi } from './infra/http/docs-ui';
import { MemberHub } from './features/member-channel/member-hub.service';
import { MetricsService } from './infra/metrics/metrics.service';
import { timingSafeEqual } from 'node:crypto';

export const BODY_LIMIT_BYTES = 1024 * 1024;

export interface AppHandle {
  app: NestFastifyApplication;
  logger: Logger;
  openapi: ReturnType<typeof buildOpenApi>;
  /** Every route Fastify serves (HEAD ones included), as registered: what the document is checked against. */
  routes: { method: string; url: string }[];
}

/** Builds the API: database created and migrated, routes, validation, OpenAPI. Shared by main.ts and the tests. */
export async function createApp(config: Config, logDestination?: DestinationStream): Promise<AppHandle> {
  const logger = createLogger(config.LOG_LEVEL, logDestination);
  if (!config.SKIP_MIGRATIONS) {
    if (await ensureDatabase(config.DATABASE_URL)) logger.info('created the database');
    const applied = await migrate(config.DATABASE_URL);
    if (applied.length) logger.info({ applied }, 'applied migrations');
  }
  // Only the configured proxies may say who the client is; anyone else's X-Forwarded-For is ignored.
  const trustProxy = config.TRUST_PROXY === 'none' ? false : config.TRUST_PROXY.split(',').map((x) => x.trim());
  // HTTPS (and the members' wss://) when given a certificate; otherwise plain HTTP, e.g. behind a TLS terminator.
  const https = config.TLS_CERT_FILE && config.TLS_KEY_FILE ? { cert: readFileSync(config.TLS_CERT_FILE), key: readFileSync(config.TLS_KEY_FILE) } : null;
  const adapter = new FastifyAdapter({ bodyLimit: BODY_LIMIT_BYTES, trustProxy, ...(https ? { https } : {}) });
  const routes: AppHandle['routes'] = [];
  adapter.getInstance().addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });
  // The API speaks JSON only: other bodies are refused with 415 rather than read as strings.
  adapter.getInstance().removeContentTypeParser(['text/plain']);
  // Refresh chunks from agents arrive as raw bytes (gzip-compressed NDJSON).
  adapter.getInstance().addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: 64 * 1024 * 1024 }, (_req, body, done) => done(null, body));
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    logger: new PinoNestLogger(logger),
    abortOnError: false,
  });
  app.setGlobalPrefix('api');
  app.enableShutdownHooks();

  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onResponse', (req, reply, done) => {
    // The path only: query strings and bodies are never logged.
    if (logger.isLevelEnabled('info')) logger.info({ method: req.method, path: req.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
    done();
  });
  await app.init();
  // The members' WebSocket endpoint shares the API's server (and its TLS), next to the REST routes.
  app.get(MemberHub).attach(app.getHttpServer() as Server);
  const openapi = buildOpenApi(collectRoutes(app.get(DiscoveryService), app.get(MetadataScanner), 'api'), publicUrl(config));
  fastify.get('/api/openapi.json', (_req, reply) => void reply.send(openapi));
  // Prometheus' scrape: with METRICS_TOKEN as bearer token (METRICS_PORT serves them without one, see main.ts).
  const metrics = app.get(MetricsService);
  fastify.get('/api/metrics', async (req, reply) => {
    const expected = config.METRICS_TOKEN;
    if (!expected) return reply.code(404).send({ statusCode: 404, error: 'not found', message: 'metrics are off: set METRICS_TOKEN (a bearer token for Prometheus) or METRICS_PORT' });
    const given = Buffer.from(/^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, Buffer.from(expected))) return reply.code(401).send({ statusCode: 401, error: 'unauthorized', message: 'send the METRICS_TOKEN as a bearer token' });
    return reply.type(metrics.contentType).send(await metrics.text());
  });
  serveDocsUi(fastify, '/api/openapi.json');
  return { app, logger, openapi, routes };
}
