// Route access rules, pure so they can be unit-tested.
export type Access = 'auth' | 'guest' | 'public';

export interface GuardInput {
  access: Access;
  loading: boolean;
  signedIn: boolean;
  pathname: string;
  search: string;
}

export type GuardResult = { kind: 'render' } | { kind: 'wait' } | { kind: 'redirect'; to: string };

const SAFE_NEXT = /^\/(?!\/)[^\s]*$/;

/** Only same-site relative paths are followed after login (no open redirect to //evil.example). */
export function safeNext(next: string | null | undefined, fallback = '/dashboard'): string {
  if (!next || !SAFE_NEXT.test(next) || next.startsWith('/login')) return fallback;
  return next;
}

export function guard({ access, loading, signedIn, pathname, search }: GuardInput): GuardResult {
  if (access === 'public') return { kind: 'render' };
  if (loading) return { kind: 'wait' };
  if (access === 'auth' && !signedIn) {
    const next = pathname + search;
    return { kind: 'redirect', to: next && next !== '/' ? `/login?next=${encodeURIComponent(next)}` : '/login' };
  }
  if (access === 'guest' && signedIn) {
    const next = new URLSearchParams(search).get('next');
    return { kind: 'redirect', to: safeNext(next) };
  }
  return { kind: 'render' };
}
