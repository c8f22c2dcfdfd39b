import { loadConfig, ConfigError } from './infra/config/config';
import { createApp } from './app';
import { createServer } from 'node:http';
import { PgDoorService } from './features/pg-door/pg-door.service';
import { MetricsService } from './infra/metrics/metrics.service';

async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`api: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  try {
    const { app, logger } = await createApp(config);
    await app.listen({ port: config.API_PORT, host: config.API_HOST });
    const address = app.getHttpServer().address();
    const port = typeof address === 'object' && address ? address.port : config.API_PORT;
    logger.info({ port }, `API listening on ${config.TLS_CERT_FILE ? 'https' : 'http'}://${config.API_HOST}:${port} (docs at /api/docs)`);
    if (config.PG_PORT) {
      const pgPort = await app.get(PgDoorService).listen(config.PG_PORT, config.API_HOST);
      logger.info({ port: pgPort }, `PostgreSQL front door listening on ${config.API_HOST}:${pgPort} (database "<cluster>/<data source>")`);
      if (process.env.API_READY_FD === 'stdout') process.stdout.write(`PG_READY ${pgPort}\n`);
    }
    if (config.METRICS_PORT) {
      const metrics = app.get(MetricsService);
      const server = createServer((req, res) => {
        if (req.url !== '/metrics') return void res.writeHead(404).end();
        metrics.text().then(
          (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
          () => res.writeHead(500).end(),
        );
      });
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(config.METRICS_PORT, config.API_HOST, resolve));
      logger.info({ port: config.METRICS_PORT }, `metrics at http://${config.API_HOST}:${config.METRICS_PORT}/metrics`);
    }
    // A machine-readable line for supervisors and tests that start the API on port 0.
    if (process.env.API_READY_FD === 'stdout') process.stdout.write(`API_READY ${port}\n`);
  } catch (e) {
    process.stderr.write(`api: failed to start: ${(e as Error).message}\n`);
    process.exit(1);
  }
}

void main();
