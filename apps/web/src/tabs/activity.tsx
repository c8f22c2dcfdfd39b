'use client';
import type { AuditEventView, ClusterView } from '@gateway/domain';
import { Empty, Loadable, useApi, when } from '../ui';

const detail = (d: unknown) => (d && typeof d === 'object' ? Object.entries(d as Record<string, unknown>).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(', ') : '');

/** The cluster's audit log, newest first. */
export function ActivityTab({ cluster }: { cluster: ClusterView }) {
  const events = useApi<AuditEventView[]>(`/clusters/${cluster.id}/audit?limit=200`, 10_000);
  return (
    <Loadable label="activity" state={events} empty={(l) => (l.length ? null : <Empty title="No activity recorded yet" />)}>
      {(list) => (
        <div className="table-wrap">
          <table aria-label="Activity">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Who</th>
                <th scope="col">What</th>
                <th scope="col">Detail</th>
              </tr>
            </thead>
            <tbody>
              {list.map((e) => (
                <tr key={e.id}>
                  <td>{when(e.at)}</td>
                  <td>{e.actor}</td>
                  <td>
                    <code>{e.action}</code>
                  </td>
                  <td>{detail(e.detail)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Loadable>
  );
}
