import type { ReactNode } from 'react';
import './globals.css';

export const metadata = { title: 'Gateway admin', description: 'On-premises data gateway clusters' };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <header className="bar">
          <strong>Gateway</strong> <span>admin portal</span>
        </header>
        <main>{children}</main>
      </body>
    </html>
  );
}
