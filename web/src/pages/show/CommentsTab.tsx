import { useEffect, useState, type FormEvent, type KeyboardEvent } from 'react';
import { comments, type Comment, type ShowDetail } from '../../api';
import { useAuth } from '../../auth';
import { Empty, ErrorText, FormError, Loading, fieldError, useAction } from '../../components/ui';
import { formatDateTime } from '../../lib/format';

export function canEditComment(c: Comment, userId: unknown): boolean {
  return userId !== undefined && userId !== null && String(c.user?.id) === String(userId);
}

export function canDeleteComment(c: Comment, userId: unknown, isShowOwner: boolean): boolean {
  return isShowOwner || canEditComment(c, userId);
}

export function CommentsTab({ show, onCount }: { show: ShowDetail; onCount: (n: number) => void }) {
  const { user } = useAuth();
  const [list, setList] = useState<Comment[]>(show.comments ?? []);
  const [loading, setLoading] = useState(true);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [text, setText] = useState('');
  const [editing, setEditing] = useState<{ id: string; text: string } | null>(null);
  const [rowError, setRowError] = useState<Record<string, unknown>>({});
  const isOwner = show.is_owner !== false;

  useEffect(() => {
    let live = true;
    comments
      .forShow(show.id)
      .then((c) => live && setList(c))
      .catch((e) => live && setLoadError(e))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [show.id]);

  const add = useAction(async () => {
    const c = await comments.create(show.id, text.trim());
    const next = [...list, c];
    setList(next);
    onCount(next.length);
    setText('');
  });

  const save = async () => {
    if (!editing) return;
    try {
      const c = await comments.update(editing.id, editing.text.trim());
      setList((l) => l.map((x) => (String(x.id) === editing.id ? { ...x, ...c } : x)));
      setEditing(null);
    } catch (e) {
      setRowError((r) => ({ ...r, [editing.id]: e }));
    }
  };

  const remove = async (c: Comment) => {
    try {
      await comments.remove(c.id);
      const next = list.filter((x) => x.id !== c.id);
      setList(next);
      onCount(next.length);
    } catch (e) {
      setRowError((r) => ({ ...r, [String(c.id)]: e }));
    }
  };

  const onKey = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Enter' && !e.shiftKey && text.trim()) {
      e.preventDefault();
      void add.run();
    }
  };

  return (
    <div className="panel">
      <h2>Comments</h2>
      {loading && !list.length ? <Loading /> : null}
      <ErrorText error={loadError} />
      {!loading && !list.length ? <Empty>No comments yet. Say something about the show.</Empty> : null}
      <ul className="comments" data-testid="comments">
        {list.map((c) => {
          const id = String(c.id);
          const mine = canEditComment(c, user?.id);
          return (
            <li key={id} className="comment" data-testid="comment" data-comment-id={id}>
              <span className="avatar" aria-hidden="true">{c.user?.username?.slice(0, 1).toUpperCase()}</span>
              <div className="comment-body">
                <p className="comment-meta">
                  <strong>{c.user?.username}</strong> <span className="muted small">{formatDateTime(c.created_at)}{c.updated_at && c.updated_at !== c.created_at ? ' (edited)' : ''}</span>
                </p>
                {editing?.id === id ? (
                  <div className="edit-comment">
                    <label className="sr-only" htmlFor={`edit-${id}`}>Edit comment</label>
                    <textarea id={`edit-${id}`} value={editing.text} onChange={(e) => setEditing({ id, text: e.target.value })} data-testid="comment-edit-input" />
                    <div className="row gap">
                      <button type="button" className="btn primary small" onClick={() => void save()} data-testid="comment-save">Save</button>
                      <button type="button" className="btn ghost small" onClick={() => setEditing(null)}>Cancel</button>
                    </div>
                  </div>
                ) : (
                  <p className="comment-text" data-testid="comment-text">{c.text}</p>
                )}
                <div className="row gap">
                  {mine && editing?.id !== id ? (
                    <button type="button" className="btn link small" onClick={() => setEditing({ id, text: c.text })} data-testid="comment-edit">Edit</button>
                  ) : null}
                  {canDeleteComment(c, user?.id, isOwner) ? (
                    <button type="button" className="btn link small danger" onClick={() => void remove(c)} data-testid="comment-delete">Delete</button>
                  ) : null}
                </div>
                <ErrorText error={rowError[id]} />
              </div>
            </li>
          );
        })}
      </ul>
      <form
        className="comment-form"
        noValidate
        onSubmit={(e: FormEvent) => {
          e.preventDefault();
          void add.run();
        }}
      >
        <label htmlFor="comment-input">Add a comment</label>
        <textarea id="comment-input" rows={3} maxLength={2000} value={text} onChange={(e) => setText(e.target.value)} onKeyDown={onKey} placeholder="Enter to post, Shift+Enter for a new line" data-testid="comment-input" aria-invalid={fieldError(add.error, 'text') ? true : undefined} />
        {fieldError(add.error, 'text') ? <p className="error-text" data-testid="comment-input-error">{fieldError(add.error, 'text')}</p> : null}
        <FormError error={add.error} fields={['text']} testid="comment-error" />
        <button type="submit" className="btn primary" disabled={add.pending || !text.trim()} data-testid="comment-submit">
          {add.pending ? 'Posting…' : 'Post comment'}
        </button>
      </form>
    </div>
  );
}
