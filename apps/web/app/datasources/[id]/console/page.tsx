'use client';
import Link from 'next/link';
import { useParams } from 'next/navigation';
import { useState, type FormEvent, type KeyboardEvent } from 'react';
import { QueryRequest, type DataSourceView, type QueryResult } from '@gateway/domain';
import { api } from '../../../../src/api';
import { numberOrUndefined, validate, type FieldErrors } from '../../../../src/forms';
import { ActionStatus, described, duration, Field, Loadable, useAction, useApi } from '../../../../src/ui';

const cell = (v: unknown) => (v === null ? <span className="muted">null</span> : typeof v === 'object' ? JSON.stringify(v) : String(v));

/** Runs a read-only query through the cluster, as a report would (DirectQuery), and shows who answered. */
export default function ConsolePage() {
  const { id } = useParams<{ id: string }>();
  const ds = useApi<DataSourceView>(`/datasources/${id}`);
  const [sql, setSql] = useState('SELECT 1 AS one');
  const [maxRows, setMaxRows] = useState('1000');
  const [errors, setErrors] = useState<FieldErrors>({});
  const [result, setResult] = useState<QueryResult | null>(null);
  const action = useAction();
  const run = async (e?: FormEvent) => {
    e?.preventDefault();
    const v = validate(QueryRequest, { sql, maxRows: numberOrUndefined(maxRows) });
    setErrors(v.ok ? {} : v.errors);
    if (!v.ok) return;
    await action.run(async () => {
      setResult(null);
      setResult(await api<QueryResult>(`/datasources/${id}/query`, { method: 'POST', body: v.data }));
    });
  };
  // Ctrl+Enter runs the query from the editor.
  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) void run();
  };
  return (
    <Loadable label="the data source" state={ds}>
      {(d) => (
        <section>
          <p className="muted">
            <Link href="/">Gateway clusters</Link> / <Link href={`/clusters/${d.clusterId}?tab=datasources`}>cluster</Link> / {d.name}
          </p>
          <h1>Query console: {d.name}</h1>
          <form onSubmit={run} noValidate aria-label="Query">
            <Field id="sql" label="Read-only SQL" error={errors.sql} hint="Ctrl+Enter runs it. Writes are refused by the gateway and by the database's read-only transaction.">
              <textarea {...described('sql', errors.sql)} rows={6} value={sql} onChange={(e) => setSql(e.target.value)} onKeyDown={onKey} spellCheck={false} />
            </Field>
            <div className="toolbar">
              <label htmlFor="max-rows">Row limit</label>
              <input id="max-rows" inputMode="numeric" style={{ maxWidth: '8rem' }} value={maxRows} onChange={(e) => setMaxRows(e.target.value)} aria-invalid={errors.maxRows ? true : undefined} />
              <button type="submit" className="primary" disabled={action.busy}>
                {action.busy ? 'Running…' : 'Run query'}
              </button>
              {errors.maxRows ? <span className="field-error" role="alert">Row limit {errors.maxRows}</span> : null}
            </div>
          </form>
          <ActionStatus action={action} />
          {result ? (
            <>
              <p role="status" aria-label="Query outcome">
                {result.rows.length.toLocaleString('en-US')} row{result.rows.length === 1 ? '' : 's'}
                {result.truncated ? ' (truncated at the row limit)' : ''} · served by <strong>{result.servedBy.memberName}</strong> ({result.servedBy.reason}) · {duration(result.timings.totalMs)} in all,{' '}
                {duration(result.timings.executeMs)} at the database
                {result.timings.attempts > 1 ? ` · ${result.timings.attempts} attempts` : ''}
              </p>
              <div className="table-wrap">
                <table aria-label="Query result">
                  <thead>
                    <tr>
                      {result.columns.map((c, i) => (
                        <th key={i} scope="col">
                          {c.name} {c.type ? <span className="muted">{c.type}</span> : null}
                        </th>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    {result.rows.map((r, i) => (
                      <tr key={i}>
                        {r.map((v, j) => (
                          <td key={j}>{cell(v)}</td>
                        ))}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </>
          ) : null}
        </section>
      )}
    </Loadable>
  );
}
