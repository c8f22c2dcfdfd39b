import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** What the member reports of itself (its last presence sample, and whether it is connected). */
export interface MemberStats {
  cpu: number;
  memory: number;
  busy: number;
  slots: number;
  connected: boolean;
}

/**
 * The member's Prometheus metrics, served by `gateway run --metrics-port <n>` at /metrics: its host's CPU and memory,
 * busy and total live slots, its connection to the control plane, and the live work it ran by kind and outcome.
 * Labels carry kinds and outcomes only: never SQL, data source names or credentials.
 */
export class AgentMetrics {
  readonly registry = new Registry();
  readonly liveWork = new Counter({ name: 'gateway_member_live_work_total', help: 'Live work this member ran, by kind (query, test-connection, ping) and outcome (ok or the error code)', labelNames: ['kind', 'outcome'] as const, registers: [this.registry] });
  private server: Server | null = null;

  constructor(stats: () => MemberStats, labels: { cluster: string; member: string }) {
    this.registry.setDefaultLabels(labels);
    collectDefaultMetrics({ register: this.registry, prefix: 'gateway_agent_' });
    const gauge = (name: string, help: string, value: (s: MemberStats) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(value(stats()));
        },
      });
    gauge('gateway_member_cpu_percent', "The member host's CPU use, percent (as its presence reports it)", (s) => s.cpu);
    gauge('gateway_member_memory_percent', "The member host's memory in use, percent", (s) => s.memory);
    gauge('gateway_member_busy_slots', 'Live slots in use (and refreshes running)', (s) => s.busy);
    gauge('gateway_member_slots', 'Live slots in all (--live-concurrency)', (s) => s.slots);
    gauge('gateway_member_connected', '1 while the member is connected to the control plane', (s) => (s.connected ? 1 : 0));
  }

  /** Serves /metrics on host:port; resolves with the port. */
  listen(port: number, host: string): Promise<number> {
    const server = createServer((req, res) => {
      if (req.url !== '/metrics') return void res.writeHead(404).end();
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        const a = server.address();
        resolve(typeof a === 'object' && a ? a.port : port);
      });
    });
  }

  close() {
    this.server?.close();
  }
}
