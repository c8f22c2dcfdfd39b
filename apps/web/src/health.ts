import type { Health } from '@gateway/domain';

export interface HealthLine {
  label: string;
  status: 'up' | 'down';
  detail: string;
}

/** Turns the API's health report (or its absence) into the lines the status page shows. */
export function describeHealth(health: Health | null, error?: string): HealthLine[] {
  if (!health) return [{ label: 'API', status: 'down', detail: error ?? 'not reachable' }];
  const dep = (label: string, d: Health['database']): HealthLine => ({
    label,
    status: d.status,
    detail: d.status === 'up' ? `answered in ${d.latencyMs ?? 0} ms` : (d.error ?? 'not answering'),
  });
  return [
    { label: 'API', status: 'up', detail: `version ${health.version}` },
    dep('PostgreSQL', health.database),
    dep('Redis', health.redis),
  ];
}
