'use client';
import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { api, describeFailure } from './api';

/** Loads an API path; with pollMs, keeps it current (the members list updates live this way). */
export function useApi<T>(path: string | null, pollMs?: number) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const alive = useRef(true);
  const load = useCallback(async () => {
    if (!path) return;
    try {
      const d = await api<T>(path);
      if (!alive.current) return;
      setData(d);
      setError(null);
    } catch (e) {
      if (alive.current) setError(describeFailure(e));
    } finally {
      if (alive.current) setLoading(false);
    }
  }, [path]);
  useEffect(() => {
    alive.current = true;
    setLoading(true);
    void load();
    const timer = pollMs ? setInterval(() => void load(), pollMs) : undefined;
    return () => {
      alive.current = false;
      if (timer) clearInterval(timer);
    };
  }, [load, pollMs]);
  return { data, error, loading, reload: load };
}

/** The three states every list has before it has rows to show. */
export function Loadable<T>({ state, empty, children, label }: { state: { data: T | null; error: string | null; loading: boolean }; empty?: (d: T) => ReactNode | null; children: (d: T) => ReactNode; label: string }) {
  if (state.error && !state.data) return <Alert>{state.error}</Alert>;
  if (state.loading && !state.data) return <p role="status" className="muted">Loading {label}…</p>;
  if (!state.data) return null;
  const e = empty?.(state.data);
  return (
    <>
      {state.error ? <Alert>{state.error}</Alert> : null}
      {e ?? children(state.data)}
    </>
  );
}

export function Alert({ children, tone = 'error' }: { children: ReactNode; tone?: 'error' | 'ok' }) {
  return (
    <p role={tone === 'error' ? 'alert' : 'status'} className={`alert ${tone}`}>
      {children}
    </p>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <p>
        <strong>{title}</strong>
      </p>
      {children}
    </div>
  );
}

/** A labelled input with its validation message tied to it for screen readers. */
export function Field({ id, label, error, children, hint }: { id: string; label: string; error?: string; hint?: string; children: ReactNode }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children}
      {hint ? <small id={`${id}-hint`}>{hint}</small> : null}
      {error ? (
        <small id={`${id}-error`} className="field-error" role="alert">
          {error}
        </small>
      ) : null}
    </div>
  );
}

/** Props that tie an input to its Field's message. */
export const described = (id: string, error?: string) => ({ id, name: id, 'aria-invalid': error ? true : undefined, 'aria-describedby': error ? `${id}-error` : undefined });

/** What an action ended with: its error, or its confirmation when it gave one. */
export function ActionStatus({ action }: { action: { error: string | null; done: string | null } }) {
  return (
    <>
      {action.error ? <Alert>{action.error}</Alert> : null}
      {action.done ? <Alert tone="ok">{action.done}</Alert> : null}
    </>
  );
}

/** Runs an action, with its busy state and its error or confirmation (shown by ActionStatus). */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const run = useCallback(async (fn: () => Promise<string | void>) => {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const message = await fn();
      if (message) setDone(message);
      return true;
    } catch (e) {
      setError(describeFailure(e));
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, done, run, setError };
}

export const when = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString('en-GB', { dateStyle: 'short', timeStyle: 'medium' }) : '—');
export const duration = (ms: number | null | undefined) => (ms == null ? '—' : ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);
