import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** A live query's end, as counted: ok, the member's error code, or why nobody ran it. */
export type LiveOutcome = 'ok' | 'query_failed' | 'read_only' | 'timeout' | 'unreachable' | 'credentials' | 'bad_request' | 'too_large' | 'unavailable' | 'cancelled' | 'lost';

/** What a routing reason says, as a failover's label (never the member names or the data source's error). */
export function failoverReason(reason: string): string {
  if (/cannot reach|could not reach|unreachable/.test(reason)) return 'source_unreachable';
  if (/disabled/.test(reason)) return 'primary_disabled';
  if (/draining/.test(reason)) return 'primary_draining';
  if (/overloaded/.test(reason)) return 'primary_overloaded';
  if (/offline/.test(reason)) return 'primary_offline';
  return 'other';
}

/**
 * The API's Prometheus metrics (prom-client, a registry of its own). Counters and histograms are this instance's
 * (Prometheus sums them over instances); gauges that describe the deployment (members online, queue depth) are read
 * when scraped, through the collectors registered by the services that know them. Labels carry cluster and member
 * names, outcomes and reasons: never SQL, emails or secrets.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly liveQueries = new Counter({
    name: 'gateway_live_queries_total',
    help: 'Live queries answered, by cluster, serving member, outcome and way in (rest or pg)',
    labelNames: ['cluster', 'member', 'outcome', 'via'] as const,
    registers: [this.registry],
  });

  readonly liveDuration = new Histogram({
    name: 'gateway_live_query_duration_seconds',
    help: 'Time from a live query reaching the API to its answer, by cluster and way in',
    labelNames: ['cluster', 'via'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });

  readonly failovers = new Counter({
    name: 'gateway_failovers_total',
    help: "Work that went to another member than the one serving before: routing moved it (the reason says why) or its member was lost mid-request (member_lost)",
    labelNames: ['cluster', 'reason'] as const,
    registers: [this.registry],
  });

  readonly refreshRuns = new Counter({
    name: 'gateway_refresh_runs_total',
    help: 'Refresh attempts this instance handed to a member, by cluster and how they ended (done, failed, retry, requeue, stopped, lost, not-run)',
    labelNames: ['cluster', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly refreshDuration = new Histogram({
    name: 'gateway_refresh_run_duration_seconds',
    help: 'Time a refresh attempt ran on its member, by cluster and outcome',
    labelNames: ['cluster', 'outcome'] as const,
    buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'gateway_api_' });
  }

  /** A gauge read when scraped. */
  gauge(name: string, help: string, labelNames: string[], collect: (set: (labels: Record<string, string>, value: number) => void) => Promise<void> | void) {
    const existing = this.registry.getSingleMetric(name);
    if (existing) this.registry.removeSingleMetric(name);
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      async collect() {
        this.reset();
        await collect((labels, value) => this.set(labels, value));
      },
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType() {
    return this.registry.contentType;
  }
}
