import type { Logger } from 'pino';
import type { JobDataSource, SourceHealth } from '@gateway/domain';
import type { ConnectorCache } from '../connectors';

/** Default period of the checks when the control plane does not say. */
export const SOURCE_CHECK_MS = 10_000;
/** A check that takes longer than this counts as a failure to reach the source. */
const CHECK_TIMEOUT_MS = 5_000;
/** After a failure the source is checked again this soon, so a source that comes back is used again quickly. */
const RECHECK_AFTER_FAILURE_MS = 2_000;

/**
 * Whether this member can reach each data source of its cluster, as it reports it in every presence frame: routing
 * skips a member that cannot reach a source while a peer can (libs/routing). Each source is checked (connect and
 * `SELECT 1`, through the same connector and pool as live work) every period; a live query or test that reached the
 * source counts as a check, so a busy source costs nothing extra; one that could not reach it marks the source
 * unreachable at once and it is checked again soon.
 */
export class SourceHealthChecker {
  private sources = new Map<string, JobDataSource>();
  private readonly health = new Map<string, SourceHealth>();
  private readonly checking = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private everyMs = SOURCE_CHECK_MS;
  private stopped = false;

  constructor(
    private readonly connectors: ConnectorCache,
    private readonly log: Logger,
    /** Called when what the member would report changed (the presence goes out at once). */
    private readonly changed: () => void,
  ) {}

  /** The cluster's data sources as the control plane last sent them; checks them all now and then every period. */
  update(dataSources: JobDataSource[] | undefined, everyMs = SOURCE_CHECK_MS) {
    this.stopped = false;
    this.sources = new Map((dataSources ?? []).map((ds) => [ds.id, ds]));
    let dropped = false;
    for (const id of this.health.keys()) {
      if (!this.sources.has(id)) dropped = this.health.delete(id) || dropped;
    }
    if (dropped) this.changed();
    this.everyMs = everyMs;
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => this.checkDue(), Math.max(250, Math.min(everyMs, RECHECK_AFTER_FAILURE_MS)));
    this.timer.unref();
    for (const ds of this.sources.values()) void this.check(ds);
  }

  /** What presence reports. */
  report(): SourceHealth[] {
    return [...this.health.values()];
  }

  /** A live query reached the source (it answered, even with an error of its own). */
  reached(id: string) {
    if (this.sources.has(id)) this.set(id, { id, ok: true, at: Date.now() });
  }

  /** A live query could not reach the source: unreachable at once, checked again soon. */
  unreachable(id: string, error: string) {
    if (this.sources.has(id)) this.set(id, { id, ok: false, error: error.slice(0, 500), at: Date.now() });
  }

  stop() {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private checkDue() {
    const now = Date.now();
    for (const ds of this.sources.values()) {
      const h = this.health.get(ds.id);
      const due = !h || now - h.at >= (h.ok ? this.everyMs : RECHECK_AFTER_FAILURE_MS);
      if (due) void this.check(ds);
    }
  }

  private async check(ds: JobDataSource) {
    if (this.checking.has(ds.id) || this.stopped) return;
    this.checking.add(ds.id);
    try {
      await this.connectors.get(ds).test(CHECK_TIMEOUT_MS);
      if (this.sources.get(ds.id) === ds) this.set(ds.id, { id: ds.id, ok: true, at: Date.now() });
    } catch (e) {
      if (this.sources.get(ds.id) === ds) this.set(ds.id, { id: ds.id, ok: false, error: String((e as Error).message).slice(0, 500), at: Date.now() });
    } finally {
      this.checking.delete(ds.id);
    }
  }

  private set(id: string, next: SourceHealth) {
    const before = this.health.get(id);
    this.health.set(id, next);
    if (!before || before.ok !== next.ok || before.error !== next.error) {
      const name = this.sources.get(id)?.name ?? id;
      if (next.ok) this.log.info({ dataSourceId: id }, `data source "${name}" is reachable`);
      else this.log.warn({ dataSourceId: id, reason: next.error }, `data source "${name}" is not reachable from this member`);
      this.changed();
    }
  }
}
