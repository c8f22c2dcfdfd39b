import type { MemberMessage, SourceHealth } from '@gateway/domain';
import { LoadSampler } from './load';

/** What presence reports of the member: how busy it is, and whether it is shutting down. */
export interface PresenceSource {
  busy(): number;
  slots(): number;
  draining(): boolean;
  /** Whether each data source of the cluster could be reached at the last check. */
  sources(): SourceHealth[];
}

/**
 * The member's heartbeat on its connection: load (CPU, memory), busy and total live slots, draining. The
 * connection itself says the member is online; a member whose heartbeats stop (a frozen host) is disconnected by
 * the control plane after its presence TTL.
 */
export class PresenceReporter {
  private readonly load = new LoadSampler();
  private timer: NodeJS.Timeout | null = null;
  /** The last load sample sent. */
  last = { cpu: 0, memory: 0 };

  constructor(
    private readonly send: (m: MemberMessage) => boolean,
    private readonly source: PresenceSource,
  ) {}

  /** Reports now, then every `everyMs` (restarted on every connection with the period the control plane asks for). */
  start(everyMs: number) {
    this.stop();
    this.report();
    this.timer = setInterval(() => this.report(), everyMs);
  }

  report() {
    const { cpu, memory } = this.load.sample();
    this.last = { cpu, memory };
    const sources = this.source.sources();
    this.send({ t: 'presence', cpu, memory, busy: this.source.busy(), slots: this.source.slots(), ...(this.source.draining() ? { draining: true } : {}), ...(sources.length ? { sources } : {}) });
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
