import { useEffect, useRef, useState } from 'react';
import { client, notifications, type AppNotification } from '../api';
import { formatDateTime } from '../lib/format';
import { initialNotifyState, NotifyConnection, type NotifyState } from '../lib/notify';
import { Link } from '../lib/router';

/** Where a notification leads. */
export function notificationLink(n: AppNotification): string {
  if (n.type === 'friend_request' || n.type === 'friend_accepted') return '/friends';
  if (n.show_id !== null && n.show_id !== undefined) {
    const tab = n.type === 'comment' || n.type === 'mention' ? '?tab=comments' : n.type === 'friend_checkin' ? '?tab=live' : '';
    return `/shows/${n.show_id}${tab}`;
  }
  return '/notifications';
}

/** The top bar's bell: unread badge, a toast for what arrives live, a panel with the latest ones. */
export function NotificationBell() {
  const [state, setState] = useState<NotifyState>(initialNotifyState);
  const [open, setOpen] = useState(false);
  const [items, setItems] = useState<AppNotification[] | null>(null);
  const conn = useRef<NotifyConnection | null>(null);

  useEffect(() => {
    const c = new NotifyConnection({ path: notifications.socketPath(), onState: setState, refreshSession: () => client.refresh() });
    conn.current = c;
    c.start();
    return () => c.stop();
  }, []);

  useEffect(() => {
    if (!state.toast) return;
    const t = setTimeout(() => conn.current?.set({ ...conn.current.state, toast: null }), 6000);
    return () => clearTimeout(t);
  }, [state.toast]);

  const toggle = async () => {
    const next = !open;
    setOpen(next);
    if (next) {
      const page = await notifications.list({ limit: 10 });
      setItems(page.notifications);
      conn.current?.set({ ...(conn.current?.state ?? initialNotifyState), unread: page.unread });
    }
  };

  const readAll = async () => {
    const res = await notifications.markRead('all');
    conn.current?.set({ ...(conn.current?.state ?? initialNotifyState), unread: res.unread });
    setItems((list) => list?.map((n) => ({ ...n, read_at: n.read_at ?? new Date().toISOString() })) ?? null);
  };

  return (
    <div className="bell">
      <button type="button" className="btn ghost small" aria-expanded={open} aria-haspopup="true" onClick={() => void toggle()} data-testid="notif-bell">
        <span aria-hidden="true">🔔</span>
        <span className="sr-only">Notifications</span>
        {state.unread > 0 ? <span className="count-badge" data-testid="notif-badge">{state.unread > 99 ? '99+' : state.unread}</span> : null}
      </button>
      {open ? (
        <div className="bell-panel" role="dialog" aria-label="Notifications" data-testid="notif-panel">
          <div className="row between">
            <strong>Notifications</strong>
            <button type="button" className="btn ghost small" onClick={() => void readAll()} data-testid="notif-read-all">Mark all read</button>
          </div>
          {items && !items.length ? <p className="muted small">Nothing yet.</p> : null}
          <ul>
            {(items ?? []).map((n) => (
              <li key={String(n.id)} className={n.read_at ? 'read' : 'unread'} data-testid="notif-item">
                <Link to={notificationLink(n)} onClick={() => setOpen(false)}>{n.text}</Link>
                <span className="muted small"> · {formatDateTime(n.created_at)}</span>
              </li>
            ))}
          </ul>
          <Link to="/messages" className="small" onClick={() => setOpen(false)}>Messages</Link>
        </div>
      ) : null}
      {state.toast ? (
        <div className="toast" role="status" aria-live="polite" data-testid="toast">
          <Link to={notificationLink(state.toast)}>{state.toast.text}</Link>
          <button type="button" className="btn ghost small" aria-label="Dismiss" onClick={() => conn.current?.set({ ...conn.current.state, toast: null })}>×</button>
        </div>
      ) : null}
    </div>
  );
}
