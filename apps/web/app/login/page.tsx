'use client';
import { Credentials, type TokenResponse } from '@gateway/domain';
import { useRouter, useSearchParams } from 'next/navigation';
import { Suspense, useState, type FormEvent } from 'react';
import { api } from '../../src/api';
import { validate, type FieldErrors } from '../../src/forms';
import { ActionStatus, described, Field, useAction } from '../../src/ui';

function SignIn() {
  const router = useRouter();
  const next = useSearchParams().get('next');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [errors, setErrors] = useState<FieldErrors>({});
  const action = useAction();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const v = validate(Credentials, { email, password });
    setErrors(v.ok ? {} : v.errors);
    if (!v.ok) return;
    const ok = await action.run(async () => {
      await api<TokenResponse>('/auth/login', { method: 'POST', body: v.data });
    });
    // Only paths of this portal: never an address given by someone else.
    if (ok) router.push(next && next.startsWith('/') && !next.startsWith('//') ? next : '/');
  };

  return (
    <section className="narrow">
      <h1>Sign in</h1>
      <form onSubmit={submit} noValidate aria-label="Sign in">
        <Field id="email" label="Email" error={errors.email}>
          <input {...described('email', errors.email)} type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} />
        </Field>
        <Field id="password" label="Password" error={errors.password}>
          <input {...described('password', errors.password)} type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />
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

export default function LoginPage() {
  return (
    <Suspense>
      <SignIn />
    </Suspense>
  );
}
