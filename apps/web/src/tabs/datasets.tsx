'use client';
import { useState, type FormEvent } from 'react';
import { CreateDatasetRequest, UpdateDatasetRequest, type ClusterView, type DatasetView, type DataSourceView, type RefreshView } from '@gateway/domain';
import { api } from '../api';
import { validate, type FieldErrors } from '../forms';
import { ActionStatus, described, duration, Empty, Field, Loadable, useAction, useApi, when } from '../ui';
import { DurationChart } from '../chart';

function DatasetForm({ sources, editing, onSaved, onCancel }: { sources: DataSourceView[]; editing?: DatasetView; onSaved: () => void; onCancel: () => void }) {
  const [d, setD] = useState(
    editing
      ? { name: editing.name, dataSourceId: editing.dataSourceId ?? '', query: editing.query, cron: editing.schedule?.cron ?? '', timezone: editing.schedule?.timezone ?? 'UTC', enabled: editing.enabled }
      : { name: '', dataSourceId: sources[0]?.id ?? '', query: '', cron: '', timezone: 'UTC', enabled: true },
  );
  const [errors, setErrors] = useState<FieldErrors>({});
  const action = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const fields = { name: d.name, query: d.query, enabled: d.enabled, schedule: d.cron.trim() ? { cron: d.cron, timezone: d.timezone } : null };
    const v = editing ? validate(UpdateDatasetRequest, fields) : validate(CreateDatasetRequest, { ...fields, dataSourceId: d.dataSourceId });
    setErrors(v.ok ? {} : v.errors);
    if (!v.ok) return;
    const saved = await action.run(() =>
      (editing ? api(`/datasets/${editing.id}`, { method: 'PATCH', body: v.data }) : api('/datasets', { method: 'POST', body: v.data })).then(() => undefined),
    );
    if (saved) onSaved();
  };
  return (
    <form className="card" onSubmit={submit} noValidate aria-label={editing ? `Edit dataset ${editing.name}` : 'Create a dataset'}>
      <h2>{editing ? `Edit ${editing.name}` : 'Create a dataset'}</h2>
      <div className="row">
        <Field id="dset-name" label="Name" error={errors.name}>
          <input {...described('dset-name', errors.name)} value={d.name} onChange={(e) => setD({ ...d, name: e.target.value })} />
        </Field>
        <Field id="dset-source" label="Data source" error={errors.dataSourceId}>
          <select {...described('dset-source', errors.dataSourceId)} value={d.dataSourceId} disabled={!!editing} onChange={(e) => setD({ ...d, dataSourceId: e.target.value })}>
            {sources.map((s) => (
              <option key={s.id} value={s.id}>
                {s.name}
              </option>
            ))}
          </select>
        </Field>
      </div>
      <Field id="dset-query" label="Query (read-only SQL)" error={errors.query}>
        <textarea {...described('dset-query', errors.query)} rows={3} value={d.query} onChange={(e) => setD({ ...d, query: e.target.value })} />
      </Field>
      <div className="row">
        <Field id="dset-cron" label="Schedule (cron, optional)" error={errors['schedule.cron']} hint='e.g. "0 6 * * *" for 06:00 daily, "*/5 * * * *" every 5 minutes'>
          <input {...described('dset-cron', errors['schedule.cron'])} value={d.cron} onChange={(e) => setD({ ...d, cron: e.target.value })} />
        </Field>
        <Field id="dset-tz" label="Time zone" error={errors['schedule.timezone']}>
          <input {...described('dset-tz', errors['schedule.timezone'])} value={d.timezone} onChange={(e) => setD({ ...d, timezone: e.target.value })} />
        </Field>
      </div>
      <label>
        <input type="checkbox" checked={d.enabled} onChange={(e) => setD({ ...d, enabled: e.target.checked })} /> Enabled
      </label>
      <ActionStatus action={action} />
      <div className="actions">
        <button type="submit" className="primary" disabled={action.busy}>
          {editing ? 'Save dataset' : 'Create dataset'}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

const STATUS_CLASS: Record<string, string> = { succeeded: 'up', failed: 'down', cancelled: 'warn', running: 'warn', queued: 'muted' };

function History({ dataset }: { dataset: DatasetView }) {
  const history = useApi<RefreshView[]>(`/datasets/${dataset.id}/refreshes?limit=50`, 2_000);
  const action = useAction();
  return (
    <div className="card">
      <h2>Refresh history of {dataset.name}</h2>
      <ActionStatus action={action} />
      <Loadable label="the refresh history" state={history} empty={(l) => (l.length ? null : <p className="muted">No refresh yet: use Refresh now, or wait for the schedule.</p>)}>
        {(list) => (
          <>
            <DurationChart refreshes={list} />
            <div className="table-wrap">
              <table aria-label={`Refresh history of ${dataset.name}`}>
                <thead>
                  <tr>
                    <th scope="col">Status</th>
                    <th scope="col">Trigger</th>
                    <th scope="col">Started</th>
                    <th scope="col">Duration</th>
                    <th scope="col">Rows</th>
                    <th scope="col">Attempts (member, why)</th>
                    <th scope="col">Error</th>
                    <th scope="col" />
                  </tr>
                </thead>
                <tbody>
                  {list.map((r) => (
                    <tr key={r.id}>
                      <td className={STATUS_CLASS[r.status]}>{r.status}</td>
                      <td>{r.trigger === 'schedule' ? 'schedule' : `manual${r.triggeredBy ? ` (${r.triggeredBy})` : ''}`}</td>
                      <td>{when(r.startedAt ?? r.createdAt)}</td>
                      <td>{duration(r.durationMs)}</td>
                      <td>{r.rows.toLocaleString('en-US')}</td>
                      <td>
                        {r.attempts.map((a) => (
                          <div key={a.number}>
                            #{a.number} <strong>{a.memberName}</strong> <span className="muted">({a.reason}; {a.status})</span>
                          </div>
                        ))}
                      </td>
                      <td>{r.error ?? ''}</td>
                      <td>
                        {r.status === 'queued' || r.status === 'running' ? (
                          <button type="button" disabled={r.cancelRequested} onClick={() => void action.run(async () => {
                            await api(`/refreshes/${r.id}/cancel`, { method: 'POST' });
                            await history.reload();
                          })}>
                            {r.cancelRequested ? 'Cancelling…' : 'Cancel'}
                          </button>
                        ) : null}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </>
        )}
      </Loadable>
    </div>
  );
}

export function DatasetsTab({ cluster }: { cluster: ClusterView }) {
  const datasets = useApi<DatasetView[]>(`/datasets?cluster=${cluster.id}`, 5_000);
  const sources = useApi<DataSourceView[]>(`/clusters/${cluster.id}/datasources`);
  const [form, setForm] = useState<{ editing?: DatasetView } | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const action = useAction();
  const admin = cluster.role === 'admin';
  const sourceName = (id: string | null) => sources.data?.find((s) => s.id === id)?.name ?? '(deleted)';
  const refresh = (d: DatasetView) =>
    action.run(async () => {
      await api(`/datasets/${d.id}/refreshes`, { method: 'POST' });
      setSelected(d.id);
      return `Refresh of ${d.name} queued.`;
    });
  const toggle = (d: DatasetView) => action.run(async () => {
    await api(`/datasets/${d.id}`, { method: 'PATCH', body: { enabled: !d.enabled } });
    await datasets.reload();
  });
  const remove = (d: DatasetView) => {
    if (!window.confirm(`Delete dataset "${d.name}" with its history and snapshots?`)) return;
    void action.run(async () => {
      await api(`/datasets/${d.id}`, { method: 'DELETE' });
      if (selected === d.id) setSelected(null);
      await datasets.reload();
    });
  };
  const current = datasets.data?.find((d) => d.id === selected);
  return (
    <div>
      {admin && !form ? (
        <div className="toolbar">
          <button type="button" className="primary" disabled={!sources.data?.length} onClick={() => setForm({})}>
            Create a dataset
          </button>
          {sources.data && !sources.data.length ? <span className="muted">Add a data source first.</span> : null}
        </div>
      ) : null}
      {form && sources.data ? (
        <DatasetForm key={form.editing?.id ?? 'new'} sources={sources.data} editing={form.editing} onCancel={() => setForm(null)} onSaved={() => {
          setForm(null);
          void datasets.reload();
        }} />
      ) : null}
      <ActionStatus action={action} />
      <Loadable label="datasets" state={datasets} empty={(l) => (l.length ? null : <Empty title="No datasets yet"><p>A dataset is a named query on a data source, refreshed on a schedule or on demand.</p></Empty>)}>
        {(list) => (
          <div className="table-wrap">
            <table aria-label="Datasets">
              <thead>
                <tr>
                  <th scope="col">Dataset</th>
                  <th scope="col">Data source</th>
                  <th scope="col">Schedule</th>
                  <th scope="col">Next run</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {list.map((d) => (
                  <tr key={d.id} aria-selected={d.id === selected}>
                    <td>
                      {d.name}
                      {d.enabled ? null : <span className="badge">disabled</span>}
                    </td>
                    <td>{sourceName(d.dataSourceId)}</td>
                    <td>{d.schedule ? <code>{`${d.schedule.cron} (${d.schedule.timezone})`}</code> : 'on demand'}</td>
                    <td>{d.enabled ? when(d.nextRunAt) : '—'}</td>
                    <td className="actions">
                      <button type="button" onClick={() => setSelected(d.id)} aria-label={`History of ${d.name}`}>
                        History
                      </button>
                      {admin ? (
                        <>
                          <button type="button" className="primary" disabled={action.busy || !d.enabled} onClick={() => void refresh(d)} aria-label={`Refresh ${d.name} now`}>
                            Refresh now
                          </button>
                          <button type="button" onClick={() => setForm({ editing: d })} aria-label={`Edit ${d.name}`}>
                            Edit
                          </button>
                          <button type="button" onClick={() => void toggle(d)}>{d.enabled ? 'Disable' : 'Enable'}</button>
                          <button type="button" className="danger" onClick={() => remove(d)} aria-label={`Delete ${d.name}`}>
                            Delete
                          </button>
                        </>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Loadable>
      {current ? <History key={current.id} dataset={current} /> : null}
    </div>
  );
}
