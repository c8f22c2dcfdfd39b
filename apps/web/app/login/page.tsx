'use client';
import { Credentials, type TokenResponse } from '@gateway/domain';
import { useRouter } from 'next/navigation';
import { useState, type FormEvent } from 'react';
import { api } from '../../src/api';
import { validate, type FieldErrors } from '../../src/forms';
import { ActionStatus, described, Field, useAction } from '../../src/ui';

/** Only paths of this portal: never an address given by someone else. */
function nextPath(): string {
  const next = new URLSearchParams(window.location.search).get('next');
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

export default function LoginPage() {
  const router = useRouter();
  const [errors, setErrors] = useState<FieldErrors>({});
  const action = useAction();

  // The inputs are uncontrolled and read at submit: what a visitor types before the page hydrates is kept (a
  // controlled input's empty initial state would overwrite it). `next` is read then too, so the form is part of
  // the prerendered HTML instead of waiting for the client to read the query string.
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const v = validate(Credentials, { email: form.get('email'), password: form.get('password') });
    setErrors(v.ok ? {} : v.errors);
    if (!v.ok) return;
    const ok = await action.run(async () => {
      await api<TokenResponse>('/auth/login', { method: 'POST', body: v.data });
    });
    if (ok) router.push(nextPath());
  };

  return (
    <section className="narrow">
      <h1>Sign in</h1>
      <form onSubmit={submit} noValidate aria-label="Sign in">
        <Field id="email" label="Email" error={errors.email}>
          <input {...described('email', errors.email)} type="email" autoComplete="username" />
        </Field>
        <Field id="password" label="Password" error={errors.password}>
          <input {...described('password', errors.password)} type="password" autoComplete="current-password" />
        </Field>
        <ActionStatus action={action} />
        <button type="submit" className="primary" disabled={action.busy}>
          {action.busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <p className="muted">
        No account yet? The first one is created with <code>POST /api/auth/signup</code> (or by <code>npm start</code>, which prints a demo
        account); later ones by invitation from an admin.
      </p>
    </section>
  );
}
