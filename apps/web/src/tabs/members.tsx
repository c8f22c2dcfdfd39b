'use client';
import type { ClusterView, MemberStatusView } from '@gateway/domain';
import { api } from '../api';
import { ActionStatus, Empty, Loadable, useAction, useApi, when } from '../ui';

const pct = (n: number | null) => (n == null ? '—' : `${Math.round(n)} %`);

/** The cluster's gateway members, refreshed every second: members coming and going show up by themselves. */
export function MembersTab({ cluster }: { cluster: ClusterView }) {
  const members = useApi<MemberStatusView[]>(`/clusters/${cluster.id}/members`, 1_000);
  const action = useAction();
  const admin = cluster.role === 'admin';
  const act = (fn: () => Promise<unknown>, message: string) =>
    void action.run(async () => {
      await fn();
      await members.reload();
      return message;
    });
  return (
    <div>
      <ActionStatus action={action} />
      <Loadable label="members" state={members} empty={(l) => (l.length ? null : <Empty title="No members" />)}>
        {(list) => (
          <div className="table-wrap">
            <table aria-label="Members">
              <thead>
                <tr>
                  <th scope="col">Member</th>
                  <th scope="col">Status</th>
                  <th scope="col">Enabled</th>
                  <th scope="col">Version</th>
                  <th scope="col">CPU</th>
                  <th scope="col">Memory</th>
                  <th scope="col">Last heartbeat</th>
                  <th scope="col">Data sources</th>
                  {admin ? <th scope="col">Actions</th> : null}
                </tr>
              </thead>
              <tbody>
                {list.map((m) => (
                  <tr key={m.id} data-member={m.name}>
                    <td>
                      <strong>{m.name}</strong> {m.primary ? <span className="badge primary-badge">primary</span> : null}
                      <div className="muted">{m.hostName}</div>
                    </td>
                    <td className={m.online && !m.draining && !m.drained ? 'up' : m.online || m.draining || !m.presenceKnown ? 'warn' : 'down'}>
                      {m.online && m.drained ? 'drained' : m.draining ? 'draining' : m.online ? 'online' : m.presenceKnown ? 'offline' : 'unknown'}
                    </td>
                    <td>{m.enabled ? 'enabled' : 'disabled'}</td>
                    <td className={m.versionStanding === 'outdated' ? 'warn' : undefined}>
                      {m.version ?? m.agentVersion}
                      {m.versionStanding === 'outdated' ? ' (outdated: upgrade it)' : m.versionStanding === 'newer' ? ' (newer than the control plane)' : ''}
                    </td>
                    <td>{pct(m.cpu)}</td>
                    <td>{pct(m.memory)}</td>
                    <td>{when(m.lastHeartbeat)}</td>
                    <td className="sources">
                      {(m.sources ?? []).length === 0 ? (
                        '—'
                      ) : (
                        <ul aria-label={`data sources reachable from ${m.name}`}>
                          {(m.sources ?? []).map((s) => (
                            <li key={s.dataSourceId} className={s.ok ? 'up' : 'down'} title={`checked ${when(s.checkedAt)}`}>
                              {s.name}: {s.ok ? 'reachable' : `cannot reach (${s.error ?? 'unreachable'})`}
                            </li>
                          ))}
                        </ul>
                      )}
                    </td>
                    {admin ? (
                      <td className="actions">
                        <button type="button" disabled={action.busy} aria-label={`${m.enabled ? 'Disable' : 'Enable'} ${m.name}`}
                          onClick={() => act(() => api(`/members/${m.id}`, { method: 'PATCH', body: { enabled: !m.enabled } }), `${m.name} ${m.enabled ? 'disabled' : 'enabled'}.`)}>
                          {m.enabled ? 'Disable' : 'Enable'}
                        </button>
                        {m.drainRequestedAt ? (
                          <button type="button" disabled={action.busy} aria-label={`Resume ${m.name}`} onClick={() => act(() => api(`/members/${m.id}/resume`, { method: 'POST' }), `${m.name} takes work again.`)}>
                            Resume
                          </button>
                        ) : (
                          <button type="button" disabled={action.busy} aria-label={`Drain ${m.name}`} title="Take no new work and finish what it runs, before stopping or upgrading it"
                            onClick={() => act(() => api(`/members/${m.id}/drain`, { method: 'POST' }), `${m.name} is draining: it takes no new work.`)}>
                            Drain
                          </button>
                        )}
                        {m.primary ? null : (
                          <button type="button" disabled={action.busy} aria-label={`Promote ${m.name} to primary`} onClick={() => act(() => api(`/members/${m.id}/promote`, { method: 'POST' }), `${m.name} is now the primary.`)}>
                            Make primary
                          </button>
                        )}
                        <button type="button" className="danger" disabled={action.busy} aria-label={`Remove ${m.name}`}
                          onClick={() => {
                            if (window.confirm(`Remove member "${m.name}" from the cluster? Its agent stops.`)) act(() => api(`/members/${m.id}`, { method: 'DELETE' }), `${m.name} removed.`);
                          }}>
                          Remove
                        </button>
                      </td>
                    ) : null}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Loadable>
    </div>
  );
}
