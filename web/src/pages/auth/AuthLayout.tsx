import type { ReactNode } from 'react';
import { Link } from '../../lib/router';

export function AuthLayout({ title, children, footer }: { title: string; children: ReactNode; footer?: ReactNode }) {
  return (
    <main className="auth-page" id="main">
      <div className="auth-card">
        <Link to="/" className="brand brand-lg" aria-label="ShareMyShows home">
          <span className="logo" aria-hidden="true">♪</span> ShareMyShows
        </Link>
        <p className="tagline">Document your concert experiences</p>
        <h1>{title}</h1>
        {children}
        {footer ? <div className="auth-footer">{footer}</div> : null}
      </div>
    </main>
  );
}

export const PASSWORD_RULE = 'At least 15 characters; not a common password. Long passphrases are best.';
