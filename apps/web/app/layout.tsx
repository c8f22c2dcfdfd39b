import type { ReactNode } from 'react';
import { Header } from '../src/header';
import './globals.css';

export const metadata = { title: 'Gateway admin', description: 'On-premises data gateway clusters' };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <a href="#content" className="skip">
          Skip to content
        </a>
        <Header />
        <main id="content">{children}</main>
      </body>
    </html>
  );
}
