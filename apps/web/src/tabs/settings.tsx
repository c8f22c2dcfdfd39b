'use client';
import { useRouter } from 'next/navigation';
import { useState, type FormEvent } from 'react';
import { UpdateClusterRequest, type ClusterView } from '@gateway/domain';
import { api } from '../api';
import { numberOrUndefined, validate, type FieldErrors } from '../forms';
import { ActionStatus, described, Field, useAction } from '../ui';

export function SettingsTab({ cluster, onChanged }: { cluster: ClusterView; onChanged: () => void }) {
  const router = useRouter();
  const [s, setS] = useState({ name: cluster.name, description: cluster.description, contact: cluster.contact, mode: cluster.routing.mode, cpu: String(cluster.routing.cpuThreshold), memory: String(cluster.routing.memoryThreshold) });
  const [errors, setErrors] = useState<FieldErrors>({});
  const [confirmName, setConfirmName] = useState('');
  const action = useAction();
  const admin = cluster.role === 'admin';
  const save = (e: FormEvent) => {
    e.preventDefault();
    const v = validate(UpdateClusterRequest, { name: s.name, description: s.description, contact: s.contact, routing: { mode: s.mode, cpuThreshold: numberOrUndefined(s.cpu), memoryThreshold: numberOrUndefined(s.memory) } });
    setErrors(v.ok ? {} : v.errors);
    if (!v.ok) return;
    void action.run(async () => {
      await api(`/clusters/${cluster.id}`, { method: 'PATCH', body: v.data });
      onChanged();
      return 'Settings saved; the cluster\'s gateways apply them within a heartbeat.';
    });
  };
  const remove = (e: FormEvent) => {
    e.preventDefault();
    void action.run(async () => {
      await api(`/clusters/${cluster.id}`, { method: 'DELETE' });
      router.push('/');
    });
  };
  return (
    <div>
      <form className="card" onSubmit={save} noValidate aria-label="Cluster settings">
        <h2>Settings</h2>
        <fieldset disabled={!admin} style={{ border: 0, padding: 0, margin: 0 }}>
          <div className="row">
            <Field id="set-name" label="Name" error={errors.name}>
              <input {...described('set-name', errors.name)} value={s.name} onChange={(e) => setS({ ...s, name: e.target.value })} />
            </Field>
            <Field id="set-contact" label="Contact" error={errors.contact}>
              <input {...described('set-contact', errors.contact)} value={s.contact} onChange={(e) => setS({ ...s, contact: e.target.value })} />
            </Field>
          </div>
          <Field id="set-description" label="Description" error={errors.description}>
            <textarea {...described('set-description', errors.description)} rows={2} value={s.description} onChange={(e) => setS({ ...s, description: e.target.value })} />
          </Field>
          <div className="row">
            <Field id="set-mode" label="Routing" error={errors['routing.mode']}>
              <select {...described('set-mode')} value={s.mode} onChange={(e) => setS({ ...s, mode: e.target.value as 'primary' | 'distribute' })}>
                <option value="primary">Primary first (others when it is down)</option>
                <option value="distribute">Distribute across all online members</option>
              </select>
            </Field>
            <Field id="set-cpu" label="CPU threshold (%; 0 = off)" error={errors['routing.cpuThreshold']}>
              <input {...described('set-cpu', errors['routing.cpuThreshold'])} inputMode="numeric" value={s.cpu} onChange={(e) => setS({ ...s, cpu: e.target.value })} />
            </Field>
            <Field id="set-memory" label="Memory threshold (%; 0 = off)" error={errors['routing.memoryThreshold']}>
              <input {...described('set-memory', errors['routing.memoryThreshold'])} inputMode="numeric" value={s.memory} onChange={(e) => setS({ ...s, memory: e.target.value })} />
            </Field>
          </div>
          <button type="submit" className="primary" disabled={action.busy}>
            Save settings
          </button>
        </fieldset>
      </form>
      <ActionStatus action={action} />
      {admin ? (
        <form className="card" onSubmit={remove} aria-label="Delete the cluster">
          <h2>Delete the cluster</h2>
          <p>Deleting removes its members, data sources, datasets and snapshots; its gateways stop. This cannot be undone.</p>
          <Field id="confirm-name" label={`Type the cluster's name (${cluster.name}) to confirm`}>
            <input id="confirm-name" value={confirmName} onChange={(e) => setConfirmName(e.target.value)} />
          </Field>
          <button type="submit" className="danger" disabled={confirmName !== cluster.name || action.busy}>
            Delete {cluster.name}
          </button>
        </form>
      ) : null}
    </div>
  );
}
