import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { chat, client, type ShowDetail } from '../../api';
import { useAuth } from '../../auth';
import { Empty, ErrorText, useAction } from '../../components/ui';
import { FriendsAtConcert } from '../../components/FriendsMap';
import { ChatConnection, type ChatState, type Frame } from '../../lib/chat';
import { formatTime } from '../../lib/format';

export function LiveTab({ show }: { show: ShowDetail }) {
  const { user } = useAuth();
  const [state, setState] = useState<ChatState>({ messages: [], present: [], typing: [], error: null, connected: false });
  const [text, setText] = useState('');
  const [localError, setLocalError] = useState<string | null>(null);
  const conn = useRef<ChatConnection | null>(null);
  const listRef = useRef<HTMLOListElement>(null);
  const lastTyping = useRef(0);
  const frameHandlers = useRef(new Set<(f: Frame) => void>());
  const subscribe = useCallback((fn: (f: Frame) => void) => {
    frameHandlers.current.add(fn);
    return () => {
      frameHandlers.current.delete(fn);
    };
  }, []);

  useEffect(() => {
    const c = new ChatConnection({
      path: chat.socketPath(show.id),
      onState: setState,
      onFrame: (f) => frameHandlers.current.forEach((h) => h(f)),
      selfId: user?.id,
      refreshSession: () => client.refresh(),
    });
    conn.current = c;
    c.start();
    chat
      .activeUsers(show.id)
      .then((r) => {
        if (!c.state.present.length && r.users?.length) {
          c.state = { ...c.state, present: r.users.map((u) => ({ id: u.user_id, username: u.username })) };
          setState(c.state);
        }
      })
      .catch(() => undefined);
    return () => c.stop();
  }, [show.id, user?.id]);

  useEffect(() => {
    const el = listRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [state.messages.length]);

  // Fallback when the socket is down: post over REST (the message arrives via the socket later).
  const rest = useAction(async (m: string) => chat.send(show.id, m));

  const send = async (e: FormEvent) => {
    e.preventDefault();
    const m = text.trim();
    if (!m) return;
    setLocalError(null);
    conn.current?.clearError();
    if (m.length > 1000) {
      setLocalError('Messages are at most 1000 characters.');
      return;
    }
    if (conn.current?.send(m)) {
      setText('');
      return;
    }
    const ok = await rest.run(m);
    if (ok !== undefined) setText('');
  };

  const onType = (v: string) => {
    setText(v);
    const now = Date.now();
    if (now - lastTyping.current > 2500) {
      lastTyping.current = now;
      conn.current?.typing();
    }
  };

  const err = localError ?? state.error;
  return (
    <div className="live grid-chat">
      <div className="panel chat-panel">
        <div className="row between">
          <h2>Live chat</h2>
          <span className={`dot ${state.connected ? 'on' : 'off'}`} data-testid="chat-status">{state.connected ? 'Connected' : state.reconnecting ? 'Reconnecting…' : state.error ? 'Disconnected' : 'Connecting…'}</span>
        </div>
        <ol className="chat-messages" ref={listRef} aria-live="polite" aria-label="Chat messages" data-testid="chat-messages">
          {state.messages.map((m) => {
            const mine = user && String(m.user?.id) === String(user.id);
            return (
              <li key={String(m.id)} className={`chat-msg${mine ? ' mine' : ''}`} data-testid="chat-message" data-message-id={String(m.id)}>
                <span className="chat-author">{mine ? 'You' : m.user?.username}</span>
                <span className="chat-text">{m.message}</span>
                <time className="muted small" dateTime={m.created_at}>{formatTime(m.created_at)}</time>
              </li>
            );
          })}
        </ol>
        {!state.messages.length ? <Empty>No messages yet. Say hi to everyone at the show.</Empty> : null}
        <p className="typing muted small" aria-live="polite" data-testid="chat-typing">{state.typing.length ? `${state.typing.join(', ')} ${state.typing.length === 1 ? 'is' : 'are'} typing…` : ''}</p>
        <form className="chat-form" onSubmit={(e) => void send(e)} noValidate>
          <label htmlFor="chat-input" className="sr-only">Message</label>
          <input id="chat-input" value={text} onChange={(e) => onType(e.target.value)} placeholder="Message everyone at this concert" maxLength={1000} autoComplete="off" data-testid="chat-input" aria-invalid={err ? true : undefined} aria-describedby={err ? 'chat-error' : undefined} />
          <button type="submit" className="btn primary" disabled={!text.trim()} data-testid="chat-send">Send</button>
        </form>
        {err ? <p className="error-text" role="alert" id="chat-error" data-testid="chat-error">{err}</p> : null}
        <ErrorText error={rest.error} testid="chat-send-error" />
      </div>
      <div className="panel">
        <h2>Who is here</h2>
        {!state.present.length ? <Empty>Nobody else yet.</Empty> : null}
        <ul className="people" data-testid="chat-present">
          {state.present.map((p) => (
            <li key={String(p.id)}>
              <span className="avatar" aria-hidden="true">{p.username.slice(0, 1).toUpperCase()}</span> {p.username}
            </li>
          ))}
        </ul>
      </div>
      <FriendsAtConcert showId={show.id} subscribe={subscribe} />
    </div>
  );
}
