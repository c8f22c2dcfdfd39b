import pino from 'pino';
import { generateBoxKeyPair } from '@gateway/domain/crypto';
import { readAgentConfig, resolveConfigPath, writeAgentConfig } from '../agent-config';
import { Agent } from '../runtime/agent';
import { AgentMetrics } from '../runtime/metrics';
import { CliError } from '../errors';
import { parseNumberOption } from './options';

/** Paths redacted wherever they appear in a log object of the agent. */
export const LOG_REDACT = ['*.password', '*.recoveryKey', '*.privateKey', '*.memberPrivateKey', '*.clusterPrivateKey', '*.token', '*.credentials', '*.proxy', '*.authorization'];

/** `gateway run`: the agent process, until SIGTERM or SIGINT. */
export async function run(opts: { config?: string; liveConcurrency?: string; liveSlowMs?: string; metricsPort?: string; metricsHost?: string }) {
  const concurrency = parseNumberOption(opts.liveConcurrency, '--live-concurrency', 1, 256, true);
  const metricsPort = parseNumberOption(opts.metricsPort, '--metrics-port', 1, 65535, true);
  // Kept so that service definitions written for earlier versions still start; live work no longer has lanes.
  parseNumberOption(opts.liveSlowMs, '--live-slow-ms', 0.01, 60_000, false);
  const configPath = resolveConfigPath(opts.config);
  let config = readAgentConfig(configPath);
  if (!config.memberBoxPrivateKey) {
    // A config from before cluster key rotation: this member gets its box key now (registered when it connects).
    config = { ...config, memberBoxPrivateKey: generateBoxKeyPair().privateKey };
    writeAgentConfig(configPath, config);
  }
  const log = pino({
    level: process.env.LOG_LEVEL ?? 'info',
    base: { service: 'agent', clusterId: config.clusterId, memberId: config.memberId },
    // As the API's: a secret that reaches a log object by mistake is written as [redacted].
    redact: { paths: LOG_REDACT, censor: '[redacted]' },
  });
  let removed: string | null = null;
  let done: () => void = () => undefined;
  const agent = new Agent(config, log, {
    concurrency,
    // A rotated cluster key replaces the old one in the config (written atomically, mode 0600).
    onClusterKey: (clusterPrivateKey) => writeAgentConfig(configPath, { ...readAgentConfig(configPath), clusterPrivateKey }),
    onRemoved: (reason) => {
      removed = reason;
      done();
    },
  });
  if (metricsPort !== undefined) {
    agent.metrics = new AgentMetrics(() => agent.stats(), { cluster: config.clusterName, member: config.memberName });
    const host = opts.metricsHost ?? '127.0.0.1';
    await agent.metrics.listen(metricsPort, host).catch((e: NodeJS.ErrnoException) => {
      throw new CliError(`--metrics-port ${metricsPort}: cannot listen at ${host}: ${e.code === 'EADDRINUSE' ? 'the port is in use' : e.message}`);
    });
    log.info({ port: metricsPort, host }, `metrics at http://${host}:${metricsPort}/metrics`);
  }
  await agent.start();
  await new Promise<void>((resolve) => {
    done = resolve;
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping: draining (no new work), finishing active work');
      void agent.stop().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  agent.metrics?.close();
  log.info('stopped');
  if (removed) throw new CliError(removed);
}
