'use client';
import type { ClusterTrafficView, ClusterView } from '@gateway/domain';
import { Loadable, useApi } from '../ui';

const PALETTE = ['#0969da', '#8250df', '#1a7f37', '#bf8700', '#cf222e', '#1b7c83', '#953800', '#57606a'];
const FAILED = '#cf222e';

/**
 * The last hour of queries per minute, stacked by the member that served them (failed ones in red on top), so a
 * failover shows as one member's colour giving way to another's; with the error rate and the refreshes that ended.
 */
export function TrafficChart({ traffic }: { traffic: ClusterTrafficView }) {
  // Members that served something (queries nobody could serve count as failed only).
  const names = [...new Set(traffic.minutes.flatMap((m) => m.members.filter((x) => x.ok > 0).map((x) => x.memberName)))].sort();
  const color = (name: string) => PALETTE[names.indexOf(name) % PALETTE.length];
  const totals = new Map(names.map((n) => [n, traffic.minutes.reduce((s, m) => s + (m.members.find((x) => x.memberName === n)?.ok ?? 0), 0)]));
  const perMinute = traffic.minutes.map((m) => m.members.reduce((s, x) => s + x.ok + x.failed, 0));
  const max = Math.max(1, ...perMinute);
  const w = 720;
  const h = 140;
  const bar = w / traffic.minutes.length;
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${w} ${h + 20}`} width="100%" role="img" aria-label={`Queries per minute by member, last hour: ${traffic.totals.queries} queries, busiest minute ${max}`}>
        <line x1="0" y1={h} x2={w} y2={h} stroke="#8c959f" />
        {names.map((name) => (
          <g key={name} data-series={name} fill={color(name)}>
            {traffic.minutes.map((m, i) => {
              const below = m.members.filter((x) => names.indexOf(x.memberName) < names.indexOf(name)).reduce((s, x) => s + x.ok, 0);
              const mine = m.members.find((x) => x.memberName === name)?.ok ?? 0;
              if (!mine) return null;
              const y = h - ((below + mine) / max) * (h - 10);
              return (
                <rect key={m.at} x={i * bar + 1} y={y} width={Math.max(1, bar - 2)} height={Math.max(1, (mine / max) * (h - 10))}>
                  <title>{`${new Date(m.at).toLocaleTimeString('en-GB')}: ${mine} by ${name}`}</title>
                </rect>
              );
            })}
          </g>
        ))}
        <g data-series="failed" fill={FAILED}>
          {traffic.minutes.map((m, i) => {
            const failed = m.members.reduce((s, x) => s + x.failed, 0);
            if (!failed) return null;
            const y = h - (perMinute[i] / max) * (h - 10);
            return (
              <rect key={m.at} x={i * bar + 1} y={y} width={Math.max(1, bar - 2)} height={Math.max(1, (failed / max) * (h - 10))}>
                <title>{`${new Date(m.at).toLocaleTimeString('en-GB')}: ${failed} failed`}</title>
              </rect>
            );
          })}
        </g>
        <text x="0" y={h + 16} fontSize="12" fill="#57606a">
          an hour ago
        </text>
        <text x={w} y={h + 16} fontSize="12" fill="#57606a" textAnchor="end">
          now · busiest minute {max}
        </text>
      </svg>
      <figcaption>
        <ul className="legend" aria-label="Members in the chart">
          {names.map((n) => (
            <li key={n} data-member={n}>
              <span className="swatch" style={{ background: color(n) }} /> {n}: {totals.get(n)} queries
            </li>
          ))}
          <li>
            <span className="swatch" style={{ background: FAILED }} /> failed
          </li>
        </ul>
      </figcaption>
    </figure>
  );
}

/** The cluster's traffic: queries per minute by member, error rate, refresh outcomes (the last hour). */
export function TrafficTab({ cluster }: { cluster: ClusterView }) {
  const traffic = useApi<ClusterTrafficView>(`/clusters/${cluster.id}/traffic`, 5_000);
  return (
    <Loadable label="traffic" state={traffic}>
      {(t) => (
        <section aria-label="Traffic">
          <p>
            Last hour: <strong>{t.totals.queries}</strong> queries, error rate <strong>{(t.totals.errorRate * 100).toFixed(1)}%</strong>; refreshes{' '}
            <strong>{t.refreshes.succeeded}</strong> succeeded, <strong>{t.refreshes.failed}</strong> failed, <strong>{t.refreshes.cancelled}</strong> cancelled.
          </p>
          {t.totals.queries ? <TrafficChart traffic={t} /> : <p className="muted">No live queries in the last hour.</p>}
        </section>
      )}
    </Loadable>
  );
}
