import type { Logger } from 'pino';
import type { ServerMessage, ServerMessageOf } from '@gateway/domain';
import { openFromCluster, publicKeyOf } from '@gateway/domain/crypto';
import type { AgentConfig } from '../agent-config';
import { ConnectorCache } from '../connectors';
import { ControlPlaneNetwork } from '../transport';
import { LiveWorkRunner, type AnswerChannel } from './live-work';
import { MemberApi } from './member-api';
import { MemberLink, type Welcome } from './member-link';
import { PresenceReporter } from './presence';
import type { AgentMetrics, MemberStats } from './metrics';
import { RefreshRunner } from './refresh-runner';
import { SourceHealthChecker } from './source-health';

export interface AgentOptions {
  /** Live queries this member runs at once. */
  concurrency?: number;
  /** Called once the control plane says this member was removed; the agent has stopped by then. */
  onRemoved?: (reason: string) => void;
  /** How long SIGTERM waits for active work before giving up on it. */
  drainMs?: number;
  /** Overrides the proxy of the config and the environment (tests). */
  env?: NodeJS.ProcessEnv;
  /** Keeps a rotated cluster private key (the config file); called before the rotation is confirmed. */
  onClusterKey?: (clusterPrivateKey: string) => void;
}

/** A token for HTTPS calls, and the requests waiting for a fresh one. */
class TokenBox {
  private value = '';
  private waiting: ((t: string) => void)[] = [];

  set(token: string) {
    this.value = token;
    for (const w of this.waiting.splice(0)) w(token);
  }

  get current() {
    return this.value;
  }

  next(timeoutMs: number): Promise<string> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.value), timeoutMs);
      this.waiting.push((t) => {
        clearTimeout(timer);
        resolve(t);
      });
    });
  }
}

/**
 * The member process, composed of small parts: the connection to the control plane (MemberLink), presence on
 * it every heartbeat, the live work runner (a handler per kind), and the refresh runner. The control plane decides
 * who serves; this member runs what it is sent on its connection, and drops whatever that connection brought when
 * it is lost (the control plane has sent it elsewhere by then).
 */
export class Agent {
  private readonly network: ControlPlaneNetwork;
  private readonly link: MemberLink;
  private readonly presence: PresenceReporter;
  private readonly connectors: ConnectorCache;
  private readonly live: LiveWorkRunner;
  private readonly refreshes: RefreshRunner;
  private readonly health: SourceHealthChecker;
  private readonly token = new TokenBox();
  private stopping = false;
  /** Bumped at every (re)connection: answers meant for a lost connection never go out on the next one. */
  private generation = 0;

  constructor(
    private readonly config: AgentConfig,
    private readonly log: Logger,
    private readonly options: AgentOptions = {},
  ) {
    this.network = new ControlPlaneNetwork({ ca: config.ca, proxy: config.proxy, env: options.env });
    this.connectors = new ConnectorCache(config.clusterPrivateKey, options.concurrency ?? 16);
    // Presence goes out at once when a source's reachability changes (the link is set up below; checks start on welcome).
    this.health = new SourceHealthChecker(this.connectors, log, () => this.presence?.report());
    this.live = new LiveWorkRunner(this.connectors, options.concurrency ?? 16, log, this.health, (kind, outcome) => this.metrics?.liveWork.inc({ kind, outcome }));
    const api = new MemberApi(this.network, {
      baseUrl: () => this.link.apiUrl,
      token: async () => this.token.current,
      renew: async () => {
        this.link.send({ t: 'token-request' });
        return this.token.next(5_000);
      },
    });
    this.refreshes = new RefreshRunner(api, this.connectors, log);
    this.link = new MemberLink(config, this.network, log, {
      up: (welcome) => this.up(welcome),
      message: (m) => this.onMessage(m),
      down: (reason) => this.down(reason),
      removed: (reason) => void this.removed(reason),
    });
    this.presence = new PresenceReporter((m) => this.link.send(m), {
      busy: () => this.live.busy + this.refreshes.active,
      slots: () => this.live.slots,
      draining: () => this.stopping,
      sources: () => this.health.report(),
    });
  }

  /** The member's Prometheus metrics, when `gateway run --metrics-port` asked for them. */
  metrics: AgentMetrics | null = null;

  /** What the metrics report of the member now. */
  stats(): MemberStats {
    return { ...this.presence.last, busy: this.live.busy + this.refreshes.active, slots: this.live.slots, connected: this.connected };
  }

  private connected = false;

  async start() {
    await this.link.start();
    this.log.info({ concurrency: this.live.slots }, `member ${this.config.memberName} of cluster ${this.config.clusterName} is on duty`);
  }

  private up(welcome: Welcome) {
    this.generation += 1;
    this.connected = true;
    this.token.set(welcome.token);
    this.presence.start(welcome.settings.heartbeatMs);
    this.health.update(welcome.settings.dataSources, welcome.settings.sourceCheckMs);
  }

  private down(reason: string) {
    this.generation += 1;
    this.connected = false;
    this.presence.stop();
    const busy = this.live.busy + this.refreshes.active;
    if (busy) this.log.warn({ reason, dropped: busy }, 'connection lost: dropping the work it brought (the control plane sends it elsewhere)');
    this.live.dropAll();
    this.refreshes.stopAll();
  }

  /** Answers go out only on the connection that brought the work. */
  private channel(): AnswerChannel {
    const generation = this.generation;
    return {
      send: (m) => generation === this.generation && this.link.send(m),
      sendTextPaced: async (text) => generation === this.generation && this.link.sendTextPaced(text),
    };
  }

  private onMessage(m: ServerMessage) {
    switch (m.t) {
      case 'live':
        if (this.stopping) return void this.link.send({ t: 'error', id: m.id, code: 'unreachable', message: 'the member is shutting down', executeMs: 0 });
        return this.live.start(m.id, m.work, this.channel());
      case 'cancel':
        return this.live.cancel(m.id);
      case 'refresh': {
        const channel = this.channel();
        void this.refreshes.run(m).then((end) => channel.send({ t: 'refresh-end', id: m.id, ...end }));
        return;
      }
      case 'refresh-stop':
        return this.refreshes.stop(m.id);
      case 'settings':
        this.log.info({ routing: m.settings.cluster.routing }, 'picked up a cluster config change');
        this.health.update(m.settings.dataSources, m.settings.sourceCheckMs);
        return;
      case 'token':
        return this.token.set(m.token);
      case 'cluster-key':
        return this.takeClusterKey(m);
      default:
        return;
    }
  }

  /**
   * A rotated cluster key, sealed to this member's box key: opened, checked against the public key it comes with,
   * kept (the config), used from now on (the previous one stays in memory for work sealed before), and confirmed.
   */
  private takeClusterKey(m: ServerMessageOf<'cluster-key'>) {
    const refuse = (why: string) => this.log.error({ generation: m.generation, err: why }, 'could not take the rotated cluster key');
    if (!this.config.memberBoxPrivateKey) return refuse('this member has no box key');
    let key: string;
    try {
      key = openFromCluster(this.config.memberBoxPrivateKey, m.box);
    } catch {
      return refuse('it is not sealed to this member\'s box key');
    }
    if (publicKeyOf(key).trim() !== m.publicKey.trim()) return refuse('it does not match the cluster public key it came with');
    try {
      this.options.onClusterKey?.(key);
    } catch (e) {
      return refuse(`could not write it to the config: ${(e as Error).message}`);
    }
    this.connectors.rotateKey(key);
    this.link.send({ t: 'cluster-key-ack', generation: m.generation });
    this.log.info({ generation: m.generation }, 'took the rotated cluster key');
  }

  private async removed(reason: string) {
    this.log.error({ err: reason }, 'this member was removed from its cluster: stopping');
    await this.stop();
    this.options.onRemoved?.(reason);
  }

  /**
   * SIGTERM: say "draining" at once (the control plane sends no new work; peers take over now), finish the active
   * work (bounded), then close the connection, which makes the member offline everywhere.
   */
  async stop() {
    if (this.stopping) return;
    this.stopping = true;
    this.presence.report();
    const drained = await Promise.all([this.live.idle(this.options.drainMs ?? 10_000), this.waitForRefreshes(this.options.drainMs ?? 10_000)]);
    if (drained.includes(false)) this.log.warn({ activeJobs: this.live.busy + this.refreshes.active }, 'gave up waiting for active work');
    this.presence.stop();
    this.health.stop();
    await this.link.stop();
    this.live.dropAll();
    this.refreshes.stopAll();
    await this.connectors.closeAll();
    this.network.close();
  }

  private async waitForRefreshes(ms: number) {
    const deadline = Date.now() + ms;
    while (this.refreshes.active > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return this.refreshes.active === 0;
  }
}
