'use client';
import Link from 'next/link';
import { usePathname, useRouter } from 'next/navigation';
import { useEffect, useState } from 'react';
import type { UserView } from '@gateway/domain';
import { api } from './api';

/** The top bar: where you are, who you are, and sign out. */
export function Header() {
  const pathname = usePathname();
  const router = useRouter();
  const [user, setUser] = useState<UserView | null>(null);
  useEffect(() => {
    if (pathname === '/login') return setUser(null);
    api<UserView>('/auth/me').then(setUser, () => setUser(null));
  }, [pathname]);
  const signOut = async () => {
    await api('/auth/logout', { method: 'POST' }).catch(() => undefined);
    setUser(null);
    router.push('/login');
  };
  return (
    <header className="bar">
      <nav aria-label="Main">
        <Link href="/" className="brand">
          Gateway <span>admin portal</span>
        </Link>
        <Link href="/">Gateway clusters</Link>
        <Link href="/status">Status</Link>
      </nav>
      {user ? (
        <div className="who">
          <span>{user.email}</span>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </div>
      ) : null}
    </header>
  );
}
