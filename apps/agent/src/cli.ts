#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { VERSION } from '@gateway/domain';
import { install } from './commands/install';
import { run } from './commands/run';
import { registerAdminCommands, registerRefreshCommand } from './commands/admin';
import { registerServiceCommands } from './commands/service';
import { CliError } from './errors';

const out = (line: string) => process.stdout.write(line + '\n');

export function buildProgram() {
  const program = new Command('gateway')
    .description('On-premises data gateway agent: install this host into a cluster, run it, and manage clusters.')
    .version(VERSION)
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      // Usage errors as one line: "gateway: unknown command 'instal' (Did you mean install?)"
      outputError: (s, write) => write(`gateway: ${s.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ')}\n`),
    });

  program
    .command('install')
    .description('Create a cluster with this host as its primary (--name), or join an existing cluster (--join) with its recovery key.')
    .option('--api <url...>', 'the control plane URL (or GATEWAY_API); repeat it for more instances or a standby, tried in turn', process.env.GATEWAY_API)
    .option('--token <token>', 'an access token of the cluster admin (or GATEWAY_TOKEN)')
    .option('--ca <file>', 'a PEM file with the private CA that signed the control plane\'s certificate (kept in the config)')
    .option('--proxy <url>', 'the HTTP proxy for every connection to the control plane, e.g. http://user:pass@proxy:3128 (default: HTTPS_PROXY/HTTP_PROXY/NO_PROXY)')
    .option('--insecure-http', 'allow a plain http:// control plane on a non-loopback address')
    .option('--name <cluster>', 'create a new cluster with this name')
    .option('--join <cluster>', 'join the cluster with this id or name')
    .option('--recovery-key <key>', 'the cluster recovery key, at least 8 characters (or GATEWAY_RECOVERY_KEY); it never leaves this host')
    .option('--member-name <name>', 'this member\'s name in the cluster (default: the host name)')
    .option('--config <file>', 'where to write the agent config (default: ~/.gateway/agent.json)')
    .option('--force', 'replace an existing agent config')
    .addOption(new Option('--json', 'print the result as JSON'))
    .action(async (opts) => install(opts, out));

  program
    .command('run')
    .description('Run the agent: keep one outbound connection to the control plane and run the work it sends. SIGTERM stops it gracefully.')
    .option('--config <file>', 'the agent config written by install (default: ~/.gateway/agent.json)')
    .option('--live-concurrency <n>', 'live queries this member runs at once, 1 to 256 (or GATEWAY_LIVE_CONCURRENCY; default 16)', process.env.GATEWAY_LIVE_CONCURRENCY)
    .option('--live-slow-ms <ms>', 'accepted for compatibility; has no effect since live work arrives on the member\'s connection (or GATEWAY_LIVE_SLOW_MS)', process.env.GATEWAY_LIVE_SLOW_MS)
    .option('--metrics-port <n>', 'serve Prometheus metrics at http://<metrics-host>:<n>/metrics (or GATEWAY_METRICS_PORT)', process.env.GATEWAY_METRICS_PORT)
    .option('--metrics-host <address>', 'the address the metrics listen on (default 127.0.0.1)')
    .action(async (opts) => run(opts));

  registerAdminCommands(program, out);
  registerRefreshCommand(program, out);
  registerServiceCommands(program, out);
  return program;
}

export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  if (argv.length <= 2) {
    program.outputHelp();
    return 0;
  }
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander as one line.
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof CliError) {
      process.stderr.write(`gateway: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`gateway: unexpected failure: ${(e as Error)?.message ?? String(e)}\n`);
    return 1;
  }
}

if (require.main === module) {
  void runCli(process.argv).then((code) => {
    process.exitCode = code;
  });
}
