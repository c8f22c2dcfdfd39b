'use client';
import Link from 'next/link';
import { useParams, useRouter, useSearchParams } from 'next/navigation';
import { Suspense, useRef, type KeyboardEvent } from 'react';
import type { ClusterView } from '@gateway/domain';
import { Loadable, useApi } from '../../../src/ui';
import { ActivityTab } from '../../../src/tabs/activity';
import { AdminsTab } from '../../../src/tabs/admins';
import { DataSourcesTab } from '../../../src/tabs/datasources';
import { DatasetsTab } from '../../../src/tabs/datasets';
import { MembersTab } from '../../../src/tabs/members';
import { SettingsTab } from '../../../src/tabs/settings';
import { TrafficTab } from '../../../src/tabs/traffic';

const TABS = [
  { id: 'datasources', label: 'Data sources' },
  { id: 'datasets', label: 'Datasets' },
  { id: 'members', label: 'Members' },
  { id: 'traffic', label: 'Traffic' },
  { id: 'admins', label: 'Administrators' },
  { id: 'settings', label: 'Settings' },
  { id: 'activity', label: 'Activity' },
] as const;
type TabId = (typeof TABS)[number]['id'];

function Cluster() {
  const { id } = useParams<{ id: string }>();
  const search = useSearchParams();
  const router = useRouter();
  const tab = (TABS.find((t) => t.id === search.get('tab'))?.id ?? 'datasources') as TabId;
  const cluster = useApi<ClusterView>(`/clusters/${id}`);
  const refs = useRef<(HTMLButtonElement | null)[]>([]);
  const select = (t: TabId, focus = false) => {
    router.replace(`/clusters/${id}?tab=${t}`, { scroll: false });
    if (focus) refs.current[TABS.findIndex((x) => x.id === t)]?.focus();
  };
  // Arrow keys move between tabs (the WAI-ARIA tabs pattern).
  const onKey = (e: KeyboardEvent) => {
    const i = TABS.findIndex((t) => t.id === tab);
    const next = e.key === 'ArrowRight' ? (i + 1) % TABS.length : e.key === 'ArrowLeft' ? (i - 1 + TABS.length) % TABS.length : e.key === 'Home' ? 0 : e.key === 'End' ? TABS.length - 1 : -1;
    if (next < 0) return;
    e.preventDefault();
    select(TABS[next].id, true);
  };
  return (
    <Loadable label="the cluster" state={cluster}>
      {(c) => (
        <section>
          <p className="muted">
            <Link href="/">Gateway clusters</Link> / {c.name}
          </p>
          <h1>{c.name}</h1>
          <p className="muted">
            {c.presenceKnown ? (
              <span className={c.onlineCount === 0 ? 'down' : c.onlineCount < c.memberCount ? 'warn' : 'up'}>
                {c.onlineCount} of {c.memberCount} members online
              </span>
            ) : (
              <span className="warn">presence unknown ({c.onlineCount} of {c.memberCount} known online)</span>
            )}{' '}
            · routing: {c.routing.mode === 'primary' ? 'primary first' : 'distribute'} · your role: {c.role === 'admin' ? 'Admin' : 'User'}
          </p>
          <div role="tablist" aria-label="Cluster sections" onKeyDown={onKey}>
            {TABS.map((t, i) => (
              <button
                key={t.id}
                ref={(el) => {
                  refs.current[i] = el;
                }}
                role="tab"
                type="button"
                id={`tab-${t.id}`}
                aria-selected={tab === t.id}
                aria-controls={`panel-${t.id}`}
                tabIndex={tab === t.id ? 0 : -1}
                onClick={() => select(t.id)}
              >
                {t.label}
              </button>
            ))}
          </div>
          <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
            {tab === 'datasources' ? <DataSourcesTab cluster={c} /> : null}
            {tab === 'datasets' ? <DatasetsTab cluster={c} /> : null}
            {tab === 'members' ? <MembersTab cluster={c} /> : null}
            {tab === 'traffic' ? <TrafficTab cluster={c} /> : null}
            {tab === 'admins' ? <AdminsTab cluster={c} /> : null}
            {tab === 'settings' ? <SettingsTab cluster={c} onChanged={() => void cluster.reload()} /> : null}
            {tab === 'activity' ? <ActivityTab cluster={c} /> : null}
          </div>
        </section>
      )}
    </Loadable>
  );
}

export default function ClusterPage() {
  return (
    <Suspense>
      <Cluster />
    </Suspense>
  );
}
