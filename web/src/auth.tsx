// Who is signed in: loaded from GET /api/auth/me, cleared when the client reports the session lost.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { auth as authApi, client, type Me } from './api';
import { navigate } from './lib/router';

export interface PendingMfa {
  mfa_token: string;
  methods: string[];
  message?: string;
  login?: string;
}

interface AuthValue {
  user: Me | null;
  loading: boolean;
  reload: () => Promise<Me | null>;
  setUser: (u: Me | null) => void;
  logout: () => Promise<void>;
}

const AuthContext = createContext<AuthValue | null>(null);

const MFA_KEY = 'sms.pendingMfa';

export function savePendingMfa(p: PendingMfa | null): void {
  try {
    if (p) sessionStorage.setItem(MFA_KEY, JSON.stringify(p));
    else sessionStorage.removeItem(MFA_KEY);
  } catch {
    /* storage unavailable: the HttpOnly mfa_pending cookie still binds the attempt */
  }
}

export function loadPendingMfa(): PendingMfa | null {
  try {
    const raw = sessionStorage.getItem(MFA_KEY);
    return raw ? (JSON.parse(raw) as PendingMfa) : null;
  } catch {
    return null;
  }
}

export function AuthProvider({ children, initialUser }: { children: ReactNode; initialUser?: Me | null }) {
  const [user, setUser] = useState<Me | null>(initialUser ?? null);
  const [loading, setLoading] = useState(initialUser === undefined);

  const reload = useCallback(async () => {
    try {
      const me = await authApi.me();
      setUser(me);
      return me;
    } catch {
      setUser(null);
      return null;
    } finally {
      setLoading(false);
    }
  }, []);

  useEffect(() => {
    if (initialUser === undefined) void reload();
  }, [initialUser, reload]);

  useEffect(() => {
    client.onAuthLost(() => {
      client.stopRefreshing();
      setUser(null);
    });
    return () => client.onAuthLost(null);
  }, []);

  const logout = useCallback(async () => {
    try {
      await authApi.logout();
    } catch {
      /* cookies are cleared server-side when possible; forget the user locally either way */
    }
    client.stopRefreshing();
    setUser(null);
    navigate('/login', { replace: true });
  }, []);

  const value = useMemo(() => ({ user, loading, reload, setUser, logout }), [user, loading, reload, logout]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthValue {
  const v = useContext(AuthContext);
  if (!v) throw new Error('useAuth outside AuthProvider');
  return v;
}
