'use client';
import Link from 'next/link';
import { useState, type FormEvent } from 'react';
import { CreateDataSourceRequest, UpdateDataSourceRequest, type ClusterView, type DataSourceType, type DataSourceView } from '@gateway/domain';
import { api } from '../api';
import { numberOrUndefined, validate, type FieldErrors } from '../forms';
import { ActionStatus, described, Empty, Field, Loadable, useAction, useApi } from '../ui';

type Draft = { name: string; type: DataSourceType; host: string; port: string; database: string; path: string; username: string; password: string };
const DEFAULT_PORT: Record<DataSourceType, string> = { postgres: '5432', mysql: '3306', sqlite: '' };
const blank = (type: DataSourceType = 'postgres'): Draft => ({ name: '', type, host: '', port: DEFAULT_PORT[type], database: '', path: '', username: '', password: '' });

const where = (ds: DataSourceView) => {
  const c = ds.connection as { host?: string; port?: number; database?: string; path?: string };
  return ds.type === 'sqlite' ? c.path : `${c.host}:${c.port}/${c.database}`;
};

/** The request a draft stands for: the same shape (and schema) as the API's. */
function toRequest(d: Draft) {
  if (d.type === 'sqlite') return { name: d.name, type: d.type, connection: { path: d.path } };
  return { name: d.name, type: d.type, connection: { host: d.host, port: numberOrUndefined(d.port), database: d.database }, credentials: { username: d.username, password: d.password } };
}

function DataSourceForm({ initial, editing, onSaved, onCancel, clusterId }: { initial: Draft; editing?: DataSourceView; onSaved: () => void; onCancel: () => void; clusterId: string }) {
  const [d, setD] = useState(initial);
  const [errors, setErrors] = useState<FieldErrors>({});
  const action = useAction();
  const set = (k: keyof Draft) => (e: { target: { value: string } }) => setD({ ...d, [k]: e.target.value });
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const request = toRequest(d);
    let body: unknown = request;
    if (editing) {
      // An edit keeps the stored credentials unless a new password is typed.
      const { type: _type, ...rest } = request as { type: string; credentials?: { username: string; password: string } };
      body = d.type !== 'sqlite' && !d.password ? { ...rest, credentials: undefined } : rest;
    }
    const v = validate(editing ? UpdateDataSourceRequest : CreateDataSourceRequest, body);
    setErrors(v.ok ? {} : v.errors);
    if (!v.ok) return;
    const ok = await action.run(async () => {
      if (editing) await api(`/datasources/${editing.id}`, { method: 'PATCH', body: v.data });
      else await api(`/clusters/${clusterId}/datasources`, { method: 'POST', body: v.data });
    });
    if (ok) onSaved();
  };
  const err = (k: string) => errors[k];
  return (
    <form className="card" onSubmit={submit} noValidate aria-label={editing ? `Edit data source ${editing.name}` : 'Add a data source'}>
      <h2>{editing ? `Edit ${editing.name}` : 'Add a data source'}</h2>
      <div className="row">
        <Field id="ds-name" label="Name" error={err('name')}>
          <input {...described('ds-name', err('name'))} value={d.name} onChange={set('name')} />
        </Field>
        <Field id="ds-type" label="Type" error={err('type')}>
          <select {...described('ds-type')} value={d.type} disabled={!!editing} onChange={(e) => setD({ ...blank(e.target.value as DataSourceType), name: d.name })}>
            <option value="postgres">PostgreSQL</option>
            <option value="mysql">MySQL / MariaDB</option>
            <option value="sqlite">SQLite file</option>
          </select>
        </Field>
      </div>
      {d.type === 'sqlite' ? (
        <Field id="ds-path" label="File path on the gateway hosts" error={err('connection.path')}>
          <input {...described('ds-path', err('connection.path'))} value={d.path} onChange={set('path')} />
        </Field>
      ) : (
        <>
          <div className="row">
            <Field id="ds-host" label="Host" error={err('connection.host')}>
              <input {...described('ds-host', err('connection.host'))} value={d.host} onChange={set('host')} />
            </Field>
            <Field id="ds-port" label="Port" error={err('connection.port')}>
              <input {...described('ds-port', err('connection.port'))} inputMode="numeric" value={d.port} onChange={set('port')} />
            </Field>
            <Field id="ds-database" label="Database" error={err('connection.database')}>
              <input {...described('ds-database', err('connection.database'))} value={d.database} onChange={set('database')} />
            </Field>
          </div>
          <div className="row">
            <Field id="ds-username" label="Username" error={err('credentials.username')}>
              <input {...described('ds-username', err('credentials.username'))} autoComplete="off" value={d.username} onChange={set('username')} />
            </Field>
            <Field id="ds-password" label="Password" error={err('credentials.password')} hint={editing ? 'Leave empty to keep the stored credentials.' : 'Encrypted to the cluster key; only its gateways can read it.'}>
              <input {...described('ds-password', err('credentials.password'))} type="password" autoComplete="new-password" value={d.password} onChange={set('password')} />
            </Field>
          </div>
        </>
      )}
      <ActionStatus action={action} />
      <div className="actions">
        <button type="submit" className="primary" disabled={action.busy}>
          {editing ? 'Save' : 'Add data source'}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function Users({ ds }: { ds: DataSourceView }) {
  const users = useApi<{ userId: string; email: string; addedAt: string }[]>(`/datasources/${ds.id}/users`);
  const [email, setEmail] = useState('');
  const action = useAction();
  const add = (e: FormEvent) => {
    e.preventDefault();
    void action.run(async () => {
      await api(`/datasources/${ds.id}/users`, { method: 'PUT', body: { email } });
      setEmail('');
      await users.reload();
      return `${email} can use ${ds.name}`;
    });
  };
  return (
    <div className="card">
      <h2>Users of {ds.name}</h2>
      <p className="muted">Admins of the cluster can always use it; Users of the cluster need to be listed here.</p>
      <Loadable label="users" state={users} empty={(l) => (l.length ? null : <p className="muted">No users added.</p>)}>
        {(list) => (
          <ul>
            {list.map((u) => (
              <li key={u.userId}>
                {u.email}{' '}
                <button type="button" onClick={() => void action.run(async () => {
                  await api(`/datasources/${ds.id}/users/${encodeURIComponent(u.email)}`, { method: 'DELETE' });
                  await users.reload();
                })}>
                  Remove {u.email}
                </button>
              </li>
            ))}
          </ul>
        )}
      </Loadable>
      <form onSubmit={add} className="toolbar" aria-label={`Add a user to ${ds.name}`}>
        <label htmlFor={`user-${ds.id}`}>Email</label>
        <input id={`user-${ds.id}`} type="email" value={email} onChange={(e) => setEmail(e.target.value)} />
        <button type="submit">Add user</button>
      </form>
      <ActionStatus action={action} />
    </div>
  );
}

export function DataSourcesTab({ cluster }: { cluster: ClusterView }) {
  const list = useApi<DataSourceView[]>(`/clusters/${cluster.id}/datasources`);
  const [form, setForm] = useState<{ editing?: DataSourceView } | null>(null);
  const [usersOf, setUsersOf] = useState<DataSourceView | null>(null);
  const action = useAction();
  const admin = cluster.role === 'admin';
  const test = (ds: DataSourceView) =>
    action.run(async () => {
      const r = await api<{ servedBy: { memberName: string }; timings: { totalMs: number } }>(`/datasources/${ds.id}/test`, { method: 'POST' });
      return `Connection to ${ds.name} works (tested by member ${r.servedBy.memberName} in ${Math.round(r.timings.totalMs)} ms).`;
    });
  const remove = (ds: DataSourceView) => {
    if (!window.confirm(`Delete data source "${ds.name}"? Its datasets stop refreshing.`)) return;
    void action.run(async () => {
      await api(`/datasources/${ds.id}`, { method: 'DELETE' });
      await list.reload();
      return `Deleted ${ds.name}.`;
    });
  };
  return (
    <div>
      {admin && !form ? (
        <div className="toolbar">
          <button type="button" className="primary" onClick={() => setForm({})}>
            Add a data source
          </button>
        </div>
      ) : null}
      {form ? (
        <DataSourceForm
          key={form.editing?.id ?? 'new'}
          clusterId={cluster.id}
          editing={form.editing}
          initial={form.editing ? { ...blank(form.editing.type), name: form.editing.name, ...(form.editing.connection as object), port: String((form.editing.connection as { port?: number }).port ?? ''), username: '', password: '' } : blank()}
          onCancel={() => setForm(null)}
          onSaved={() => {
            setForm(null);
            void list.reload();
          }}
        />
      ) : null}
      <ActionStatus action={action} />
      <Loadable
        label="data sources"
        state={list}
        empty={(l) => (l.length ? null : <Empty title="No data sources yet">{admin ? <p>Add one to let this cluster reach a database inside your network.</p> : <p>Ask an admin of the cluster to add one.</p>}</Empty>)}
      >
        {(l) => (
          <div className="table-wrap">
            <table aria-label="Data sources">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Type</th>
                  <th scope="col">Where</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {l.map((ds) => (
                  <tr key={ds.id}>
                    <td>{ds.name}</td>
                    <td>{ds.type}</td>
                    <td>
                      <code>{where(ds)}</code>
                    </td>
                    <td className="actions">
                      <button type="button" disabled={action.busy} onClick={() => void test(ds)} aria-label={`Test connection to ${ds.name}`}>
                        Test connection
                      </button>
                      <Link href={`/datasources/${ds.id}/console`}>Query console</Link>
                      {admin ? (
                        <>
                          <button type="button" onClick={() => setForm({ editing: ds })} aria-label={`Edit ${ds.name}`}>
                            Edit
                          </button>
                          <button type="button" onClick={() => setUsersOf(usersOf?.id === ds.id ? null : ds)} aria-label={`Users of ${ds.name}`}>
                            Users
                          </button>
                          <button type="button" className="danger" onClick={() => remove(ds)} aria-label={`Delete ${ds.name}`}>
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
      {usersOf ? <Users key={usersOf.id} ds={usersOf} /> : null}
    </div>
  );
}
