import type { RefreshView } from '@gateway/domain';
import { duration } from './ui';

const COLORS: Record<string, string> = { succeeded: '#1a7f37', failed: '#cf222e', cancelled: '#9a6700' };

/** Refresh durations over time, oldest on the left: one bar per finished refresh, coloured by outcome. */
export function DurationChart({ refreshes }: { refreshes: RefreshView[] }) {
  const done = refreshes.filter((r) => r.durationMs != null).slice(0, 30).reverse();
  if (done.length < 1) return null;
  const max = Math.max(...done.map((r) => r.durationMs!), 1);
  const w = 640;
  const h = 110;
  // Bars keep a sensible width when there are only a few refreshes.
  const bar = w / Math.max(done.length, 15);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${w} ${h + 20}`} width="100%" role="img" aria-label={`Refresh durations, last ${done.length}: longest ${duration(max)}`}>
        <line x1="0" y1={h} x2={w} y2={h} stroke="#8c959f" />
        {done.map((r, i) => {
          const bh = Math.max(2, (r.durationMs! / max) * (h - 10));
          return (
            <rect key={r.id} x={i * bar + 2} y={h - bh} width={Math.max(2, bar - 4)} height={bh} fill={COLORS[r.status] ?? '#57606a'}>
              <title>{`${new Date(r.startedAt ?? r.createdAt).toLocaleString('en-GB')}: ${duration(r.durationMs)} (${r.status})`}</title>
            </rect>
          );
        })}
        <text x="0" y={h + 16} fontSize="12" fill="#57606a">
          oldest
        </text>
        <text x={w} y={h + 16} fontSize="12" fill="#57606a" textAnchor="end">
          newest · max {duration(max)}
        </text>
      </svg>
      <figcaption className="muted">Refresh durations over time (green succeeded, red failed, amber cancelled)</figcaption>
    </figure>
  );
}
