// A tiny history router: path patterns with :params, a Link that keeps keyboard and modifier
// behaviour, and a location hook. The gateway serves index.html for every HTML navigation.
import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent, type ReactNode } from 'react';

const EVENT = 'sms:navigate';

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (to === currentPath()) return;
  if (opts.replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  window.dispatchEvent(new Event(EVENT));
  if (!opts.replace) window.scrollTo?.(0, 0);
}

function currentPath(): string {
  return window.location.pathname + window.location.search;
}

function subscribe(cb: () => void): () => void {
  window.addEventListener('popstate', cb);
  window.addEventListener(EVENT, cb);
  return () => {
    window.removeEventListener('popstate', cb);
    window.removeEventListener(EVENT, cb);
  };
}

export interface LocationState {
  pathname: string;
  search: string;
}

let cached: LocationState = { pathname: '', search: '' };
function snapshot(): LocationState {
  const { pathname, search } = window.location;
  if (cached.pathname !== pathname || cached.search !== search) cached = { pathname, search };
  return cached;
}

export function useLocation(): LocationState {
  return useSyncExternalStore(subscribe, snapshot, snapshot);
}

export function useQuery(): URLSearchParams {
  const { search } = useLocation();
  return new URLSearchParams(search);
}

/** Match "/shows/:id" against "/shows/12" -> {id: "12"}; null when it does not match. */
export function matchPath(pattern: string, pathname: string): Record<string, string> | null {
  const clean = (s: string) => s.replace(/\/+$/, '') || '/';
  const pp = clean(pattern).split('/');
  const ap = clean(pathname).split('/');
  if (pp.length !== ap.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pp.length; i++) {
    if (pp[i].startsWith(':')) {
      if (!ap[i]) return null;
      try {
        params[pp[i].slice(1)] = decodeURIComponent(ap[i]);
      } catch {
        return null;
      }
    } else if (pp[i] !== ap[i]) return null;
  }
  return params;
}

type LinkProps = AnchorHTMLAttributes<HTMLAnchorElement> & { to: string; children?: ReactNode };

export function Link({ to, onClick, children, ...rest }: LinkProps) {
  const handle = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    if (rest.target && rest.target !== '_self') return;
    e.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} onClick={handle} {...rest}>
      {children}
    </a>
  );
}
