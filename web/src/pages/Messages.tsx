import { useEffect, useRef, useState, type FormEvent } from 'react';
import { client, messages, notifications, type DirectMessage } from '../api';
import { useAuth } from '../auth';
import { Empty, ErrorText, Loading, useAction, useLoad } from '../components/ui';
import { formatDateTime } from '../lib/format';
import { NotifyConnection } from '../lib/notify';
import { Link } from '../lib/router';

/** Merge messages by id in id order (a live frame and a reload may bring the same one). */
export function mergeDirect(list: DirectMessage[], more: DirectMessage[]): DirectMessage[] {
  const byId = new Map<string, DirectMessage>();
  for (const m of [...list, ...more]) byId.set(String(m.id), m);
  return [...byId.values()].sort((a, b) => Number(a.id) - Number(b.id));
}

export function MessagesPage({ params }: { params: Record<string, string> }) {
  const other = params.id;
  const convs = useLoad(() => messages.conversations(), [other]);
  return (
    <section className="page messages-page" data-testid="messages-page">
      <h1>Messages</h1>
      <div className="messages-layout">
        <nav aria-label="Conversations" className="conversations">
          {convs.loading && !convs.data ? <Loading /> : null}
          <ErrorText error={convs.error} testid="conversations-error" />
          {convs.data && !convs.data.conversations.length ? <Empty>No messages yet. Write to a friend from the <Link to="/friends">Friends</Link> page.</Empty> : null}
          <ul>
            {convs.data?.conversations.map((c) => (
              <li key={String(c.user.id)} className={String(c.user.id) === other ? 'active' : ''}>
                <Link to={`/messages/${c.user.id}`} data-testid="conversation">
                  <strong>{c.user.username}</strong>
                  {c.unread ? <span className="count-badge">{c.unread}</span> : null}
                  <span className="muted small block">{c.last_message.text.slice(0, 60)}</span>
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        {other ? <Thread userId={other} onRead={convs.reload} /> : <p className="muted">Choose a conversation.</p>}
      </div>
    </section>
  );
}

function Thread({ userId, onRead }: { userId: string; onRead: () => void }) {
  const { user } = useAuth();
  const [list, setList] = useState<DirectMessage[]>([]);
  const [canSend, setCanSend] = useState(true);
  const [text, setText] = useState('');
  const end = useRef<HTMLLIElement | null>(null);
  const load = useLoad(async () => {
    const page = await messages.thread(userId);
    setList(page.messages);
    setCanSend(page.can_send);
    if (page.messages.some((m) => String(m.recipient.id) === String(user?.id) && !m.read_at)) {
      await messages.markRead(userId);
      onRead();
    }
    return page;
  }, [userId]);

  useEffect(() => {
    // new messages of this conversation arrive on the notifications socket
    const c = new NotifyConnection({
      path: notifications.socketPath(),
      onState: () => undefined,
      onMessage: (m) => {
        if ([String(m.sender.id), String(m.recipient.id)].includes(userId)) setList((l) => mergeDirect(l, [m]));
      },
      refreshSession: () => client.refresh(),
    });
    c.start();
    return () => c.stop();
  }, [userId]);

  useEffect(() => {
    // a block body: Chromium's scrollIntoView returns a Promise, which React would take for a cleanup
    void end.current?.scrollIntoView?.({ block: 'end' });
  }, [list.length]);

  const send = useAction(async (e: FormEvent) => {
    e.preventDefault();
    const body = text.trim();
    if (!body) return;
    const m = await messages.send(userId, body);
    setList((l) => mergeDirect(l, [m]));
    setText('');
  });

  return (
    <div className="thread" data-testid="thread">
      {load.loading && !load.data ? <Loading /> : null}
      <ErrorText error={load.error} testid="thread-error" />
      <ul className="dm-list" aria-live="polite">
        {list.map((m) => (
          <li key={String(m.id)} className={String(m.sender.id) === String(user?.id) ? 'mine' : 'theirs'} data-testid="dm">
            <p>{m.text}</p>
            <span className="muted small">{formatDateTime(m.created_at)}{m.read_at && String(m.sender.id) === String(user?.id) ? ' · read' : ''}</span>
          </li>
        ))}
        <li ref={end} aria-hidden="true" />
      </ul>
      {canSend ? (
        <form className="row gap" onSubmit={(e) => void send.run(e)}>
          <input className="grow" value={text} onChange={(e) => setText(e.target.value)} maxLength={2000} aria-label="Message" placeholder="Write a message…" data-testid="dm-input" />
          <button type="submit" className="btn primary" disabled={send.pending || !text.trim()} data-testid="dm-send">Send</button>
        </form>
      ) : (
        <p className="muted" data-testid="dm-closed">You can only write to friends; this conversation is closed.</p>
      )}
      <ErrorText error={send.error} testid="dm-error" />
    </div>
  );
}
