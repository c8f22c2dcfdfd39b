'use client';
import { useState, type FormEvent } from 'react';
import { GrantRequest, type ClusterView, type RoleView } from '@gateway/domain';
import { api } from '../api';
import { validate, type FieldErrors } from '../forms';
import { ActionStatus, described, Field, Loadable, useAction, useApi, when } from '../ui';

/** Who may manage (Admin) or use (User) the cluster, granted and revoked by email. */
export function AdminsTab({ cluster }: { cluster: ClusterView }) {
  const roles = useApi<RoleView[]>(`/clusters/${cluster.id}/roles`);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<'admin' | 'user'>('admin');
  const [errors, setErrors] = useState<FieldErrors>({});
  const action = useAction();
  const admin = cluster.role === 'admin';
  const grant = (e: FormEvent) => {
    e.preventDefault();
    const v = validate(GrantRequest, { email, role });
    setErrors(v.ok ? {} : v.errors);
    if (!v.ok) return;
    void action.run(async () => {
      await api(`/clusters/${cluster.id}/roles`, { method: 'PUT', body: v.data });
      setEmail('');
      await roles.reload();
      return `${v.data.email} is now ${v.data.role === 'admin' ? 'an Admin' : 'a User'} of ${cluster.name}.`;
    });
  };
  const revoke = (r: RoleView) => {
    if (!window.confirm(`Revoke ${r.email}'s role on ${cluster.name}?`)) return;
    void action.run(async () => {
      await api(`/clusters/${cluster.id}/roles/${encodeURIComponent(r.email)}`, { method: 'DELETE' });
      await roles.reload();
      return `${r.email} no longer has a role on ${cluster.name}.`;
    });
  };
  return (
    <div>
      {admin ? (
        <form className="card" onSubmit={grant} noValidate aria-label="Grant a role">
          <h2>Grant a role</h2>
          <div className="row">
            <Field id="grant-email" label="Email of an existing account" error={errors.email}>
              <input {...described('grant-email', errors.email)} type="email" value={email} onChange={(e) => setEmail(e.target.value)} />
            </Field>
            <Field id="grant-role" label="Role" error={errors.role}>
              <select {...described('grant-role')} value={role} onChange={(e) => setRole(e.target.value as 'admin' | 'user')}>
                <option value="admin">Admin (manages the cluster)</option>
                <option value="user">User (uses its data sources)</option>
              </select>
            </Field>
          </div>
          <button type="submit" className="primary" disabled={action.busy}>
            Grant
          </button>
        </form>
      ) : null}
      <ActionStatus action={action} />
      <Loadable label="administrators" state={roles}>
        {(list) => (
          <table aria-label="Administrators and users">
            <thead>
              <tr>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">Since</th>
                {admin ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {list.map((r) => (
                <tr key={r.userId}>
                  <td>{r.email}</td>
                  <td>{r.role === 'admin' ? 'Admin' : 'User'}</td>
                  <td>{when(r.grantedAt)}</td>
                  {admin ? (
                    <td>
                      <button type="button" className="danger" onClick={() => revoke(r)} aria-label={`Revoke ${r.email}`}>
                        Revoke
                      </button>
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Loadable>
    </div>
  );
}
