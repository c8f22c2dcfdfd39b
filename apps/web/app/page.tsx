'use client';
import Link from 'next/link';
import { useState } from 'react';
import type { ClusterView } from '@gateway/domain';
import { Empty, Loadable, useApi } from '../src/ui';

/** Manage gateways: the clusters you can see (clusters, not their member instances), with status at a glance. */
export default function ClustersPage() {
  const clusters = useApi<ClusterView[]>('/clusters', 5_000);
  const [search, setSearch] = useState('');
  const shown = (clusters.data ?? []).filter((c) => `${c.name} ${c.description} ${c.contact}`.toLowerCase().includes(search.trim().toLowerCase()));
  return (
    <section>
      <h1>Gateway clusters</h1>
      <div className="toolbar">
        <label htmlFor="search">Search clusters</label>
        <input id="search" type="search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder="Name, description or contact" />
      </div>
      <Loadable
        label="clusters"
        state={clusters}
        empty={(list) =>
          list.length === 0 ? (
            <Empty title="No gateway clusters yet">
              <p>Install a first gateway on a host inside your network; it creates the cluster and becomes its primary member:</p>
              <pre>
                <code>npm run -s gateway -- install --api {typeof window === 'undefined' ? '<api url>' : window.location.origin} --name &lt;cluster&gt; --recovery-key &lt;key&gt;</code>
              </pre>
              <p>Install more gateways with <code>--join &lt;cluster&gt;</code> and the same recovery key to make the cluster highly available.</p>
            </Empty>
          ) : shown.length === 0 ? (
            <Empty title={`No cluster matches "${search}"`} />
          ) : null
        }
      >
        {() => (
          <table aria-label="Gateway clusters">
            <thead>
              <tr>
                <th scope="col">Cluster</th>
                <th scope="col">Members online</th>
                <th scope="col">Routing</th>
                <th scope="col">Your role</th>
                <th scope="col">Contact</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((c) => (
                <tr key={c.id}>
                  <td>
                    <Link href={`/clusters/${c.id}`}>{c.name}</Link>
                    {c.description ? <div className="muted">{c.description}</div> : null}
                  </td>
                  <td>
                    {c.presenceKnown ? (
                      <span className={c.onlineCount === 0 ? 'down' : c.onlineCount < c.memberCount ? 'warn' : 'up'}>
                        {c.onlineCount} of {c.memberCount} online
                      </span>
                    ) : (
                      <span className="warn" title="the control plane cannot read presence now (its Redis is down)">
                        presence unknown ({c.onlineCount} of {c.memberCount} known online)
                      </span>
                    )}
                  </td>
                  <td>{c.routing.mode === 'primary' ? 'primary first' : 'distribute'}</td>
                  <td>{c.role === 'admin' ? 'Admin' : 'User'}</td>
                  <td>{c.contact || '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Loadable>
    </section>
  );
}
