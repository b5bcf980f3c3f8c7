import { Suspense, lazy, useEffect, useState, type ComponentType } from 'react';
import { AuthProvider, useAuth } from './auth';
import { NotificationBell } from './components/NotificationBell';
import { ReauthDialog } from './components/ReauthDialog';
import { Loading } from './components/ui';
import { guard, type Access } from './lib/guards';
import { Link, matchPath, navigate, useLocation } from './lib/router';
import { LoginPage } from './pages/auth/Login';
import { MfaPage } from './pages/auth/Mfa';
import { ForgotPasswordPage, ResetPasswordPage, SecureAccountPage, VerifyEmailPage } from './pages/auth/Recovery';
import { RegisterPage } from './pages/auth/Register';
import { NotFoundPage } from './pages/NotFound';

// Signed-in pages load on demand, so the login page ships only what it needs.
type Page = ComponentType<{ params: Record<string, string> }>;
const page = <K extends string>(load: () => Promise<Record<K, Page>>, name: K) => lazy(() => load().then((m) => ({ default: m[name] })));
const DashboardPage = page(() => import('./pages/Dashboard'), 'DashboardPage');
const ExportPage = page(() => import('./pages/Export'), 'ExportPage');
const FeedPage = page(() => import('./pages/Feed'), 'FeedPage');
const FriendsPage = page(() => import('./pages/Friends'), 'FriendsPage');
const SettingsPage = page(() => import('./pages/Settings'), 'SettingsPage');
const ShowDetailPage = page(() => import('./pages/show/ShowDetail'), 'ShowDetailPage');
const ShowEditPage = page(() => import('./pages/ShowForm'), 'ShowEditPage');
const ShowNewPage = page(() => import('./pages/ShowForm'), 'ShowNewPage');
const ShowsPage = page(() => import('./pages/Shows'), 'ShowsPage');
const ImportPage = page(() => import('./pages/Import'), 'ImportPage');
const ArtistPage = page(() => import('./pages/Artist'), 'ArtistPage');
const SongsPage = page(() => import('./pages/Songs'), 'SongsPage');
const YearPage = page(() => import('./pages/Year'), 'YearPage');
const MapPage = page(() => import('./pages/VenueMap'), 'MapPage');
const MessagesPage = page(() => import('./pages/Messages'), 'MessagesPage');
const LibraryPage = page(() => import('./pages/Library'), 'LibraryPage');
const ConcertAlbumPage = page(() => import('./pages/ConcertAlbum'), 'ConcertAlbumPage');

export interface RouteDef {
  path: string;
  access: Access;
  component: ComponentType<{ params: Record<string, string> }>;
  title: string;
  shell?: boolean;
}

export const routes: RouteDef[] = [
  { path: '/', access: 'auth', component: DashboardPage, title: 'Dashboard', shell: true },
  { path: '/dashboard', access: 'auth', component: DashboardPage, title: 'Dashboard', shell: true },
  { path: '/login', access: 'guest', component: LoginPage, title: 'Log in' },
  { path: '/login/mfa', access: 'guest', component: MfaPage, title: 'Two-step verification' },
  { path: '/register', access: 'guest', component: RegisterPage, title: 'Sign up' },
  { path: '/forgot-password', access: 'guest', component: ForgotPasswordPage, title: 'Forgot password' },
  { path: '/reset-password', access: 'public', component: ResetPasswordPage, title: 'Reset password' },
  { path: '/verify-email', access: 'public', component: VerifyEmailPage, title: 'Verify email' },
  { path: '/secure-account', access: 'public', component: SecureAccountPage, title: 'Secure your account' },
  { path: '/shows', access: 'auth', component: ShowsPage, title: 'Shows', shell: true },
  { path: '/shows/new', access: 'auth', component: ShowNewPage, title: 'Add a show', shell: true },
  { path: '/shows/:id', access: 'auth', component: ShowDetailPage, title: 'Show', shell: true },
  { path: '/shows/:id/edit', access: 'auth', component: ShowEditPage, title: 'Edit show', shell: true },
  { path: '/friends', access: 'auth', component: FriendsPage, title: 'Friends', shell: true },
  { path: '/import', access: 'auth', component: ImportPage, title: 'Import', shell: true },
  { path: '/artists/:id', access: 'auth', component: ArtistPage, title: 'Artist', shell: true },
  { path: '/songs', access: 'auth', component: SongsPage, title: 'Songs heard live', shell: true },
  { path: '/years/:year', access: 'auth', component: YearPage, title: 'Year in review', shell: true },
  { path: '/map', access: 'auth', component: MapPage, title: 'Venue map', shell: true },
  { path: '/feed', access: 'auth', component: FeedPage, title: 'Feed', shell: true },
  { path: '/library', access: 'auth', component: LibraryPage, title: 'Library', shell: true },
  { path: '/concerts/:id/album', access: 'auth', component: ConcertAlbumPage, title: 'Concert album', shell: true },
  { path: '/messages', access: 'auth', component: MessagesPage, title: 'Messages', shell: true },
  { path: '/messages/:id', access: 'auth', component: MessagesPage, title: 'Messages', shell: true },
  { path: '/export', access: 'auth', component: ExportPage, title: 'Export', shell: true },
  { path: '/settings', access: 'auth', component: SettingsPage, title: 'Settings', shell: true },
];

export function resolveRoute(pathname: string): { route: RouteDef | null; params: Record<string, string> } {
  for (const r of routes) {
    const params = matchPath(r.path, pathname);
    if (params) return { route: r, params };
  }
  return { route: null, params: {} };
}

const NAV = [
  { to: '/dashboard', label: 'Dashboard', icon: '◉', testid: 'nav-dashboard' },
  { to: '/shows', label: 'Shows', icon: '♫', testid: 'nav-shows' },
  { to: '/feed', label: 'Feed', icon: '≋', testid: 'nav-feed' },
  { to: '/library', label: 'Library', icon: '▦', testid: 'nav-library' },
  { to: '/songs', label: 'Songs', icon: '♪', testid: 'nav-songs' },
  { to: `/years/${new Date().getFullYear()}`, label: 'Year', icon: '★', testid: 'nav-year' },
  { to: '/map', label: 'Map', icon: '◎', testid: 'nav-map' },
  { to: '/import', label: 'Import', icon: '⇪', testid: 'nav-import' },
  { to: '/friends', label: 'Friends', icon: '☺', testid: 'nav-friends' },
  { to: '/messages', label: 'Messages', icon: '✉', testid: 'nav-messages' },
  { to: '/export', label: 'Export', icon: '⇩', testid: 'nav-export' },
  { to: '/settings', label: 'Settings', icon: '⚙', testid: 'nav-settings' },
];

function Shell({ children }: { children: React.ReactNode }) {
  const { user, logout } = useAuth();
  const { pathname } = useLocation();
  const [open, setOpen] = useState(false);
  useEffect(() => setOpen(false), [pathname]);
  return (
    <div className="shell">
      <a className="skip-link" href="#main">Skip to content</a>
      <header className="topbar">
        <button type="button" className="btn icon menu-toggle" aria-expanded={open} aria-controls="sidebar" onClick={() => setOpen((o) => !o)} data-testid="nav-toggle">
          <span aria-hidden="true">☰</span>
          <span className="sr-only">Menu</span>
        </button>
        <Link to="/dashboard" className="brand" aria-label="ShareMyShows dashboard">
          <span className="logo" aria-hidden="true">♪</span> <span className="brand-name">ShareMyShows</span>
        </Link>
        <div className="topbar-right">
          <Link to="/shows/new" className="btn primary small" data-testid="nav-add-show" aria-label="Add show">
            + <span className="long-label">Add show</span>
          </Link>
          <NotificationBell />
          <span className="who" data-testid="current-user">{user?.username}</span>
          <button type="button" className="btn ghost small" onClick={() => void logout()} data-testid="logout">Log out</button>
        </div>
      </header>
      <nav id="sidebar" className={`sidebar${open ? ' open' : ''}`} aria-label="Main">
        <ul>
          {NAV.map((n) => {
            const active = pathname === n.to || (n.to !== '/dashboard' && pathname.startsWith(n.to + '/')) || (n.to === '/dashboard' && pathname === '/');
            return (
              <li key={n.to}>
                <Link to={n.to} className={active ? 'active' : ''} aria-current={active ? 'page' : undefined} data-testid={n.testid}>
                  <span className="nav-icon" aria-hidden="true">{n.icon}</span> {n.label}
                </Link>
              </li>
            );
          })}
        </ul>
      </nav>
      <main className="content" id="main" tabIndex={-1}>
        {user && !user.email_verified ? (
          <p className="banner" role="status" data-testid="verify-banner">Check your inbox to verify {user.email}.</p>
        ) : null}
        {children}
      </main>
    </div>
  );
}

function Router() {
  const { user, loading } = useAuth();
  const { pathname, search } = useLocation();
  const { route, params } = resolveRoute(pathname);
  const decision = route ? guard({ access: route.access, loading, signedIn: !!user, pathname, search }) : { kind: 'render' as const };

  useEffect(() => {
    if (decision.kind === 'redirect') navigate(decision.to, { replace: true });
  }, [decision.kind, decision.kind === 'redirect' ? decision.to : '']);

  useEffect(() => {
    document.title = route ? `${route.title} · ShareMyShows` : 'Not found · ShareMyShows';
  }, [route]);

  if (!route) return user ? <Shell><NotFoundPage /></Shell> : <NotFoundPage />;
  if (decision.kind === 'wait') return <main className="center"><Loading /></main>;
  if (decision.kind === 'redirect') return null;
  const C = route.component;
  const body = (
    <Suspense fallback={<Loading />}>
      <C params={params} />
    </Suspense>
  );
  return route.shell ? <Shell>{body}</Shell> : body;
}

export function App() {
  return (
    <AuthProvider>
      <Router />
      <ReauthDialog />
    </AuthProvider>
  );
}
