import { Link } from '../lib/router';

export function NotFoundPage() {
  return (
    <section className="page narrow" data-testid="not-found">
      <h1>Page not found</h1>
      <p>That page does not exist or is not visible to you.</p>
      <Link to="/dashboard" className="btn primary">Go to your dashboard</Link>
    </section>
  );
}
