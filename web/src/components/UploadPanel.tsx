import { useEffect, useRef, useState, type FormEvent } from 'react';
import { media, type Id, type MediaKind, type MediaRecord } from '../api';
import { TusError, type PendingUpload, type TusUpload } from '../lib/tus';
import { errorMessage } from './ui';

interface UploadItem {
  key: string;
  name: string;
  progress: number;
  state: 'uploading' | 'paused' | 'waiting' | 'done' | 'error';
  error?: string;
  note?: string;
}

/** How often one file is tried again after the server's upload rate limit (429) said to wait. */
const MAX_RATE_RETRIES = 10;

const ACCEPT: Record<MediaKind, string> = {
  photo: 'image/*,.heic,.heif',
  audio: 'audio/*,.m4a,.flac,.opus',
  video: 'video/*,.mkv,.mov,.avi',
};

const NOUN: Record<MediaKind, string> = { photo: 'photos', audio: 'recordings', video: 'videos' };

/**
 * Pick several files; each one is a resumable (tus) upload with its own progress bar, pause and resume. A dropped
 * connection resumes by itself; after a page reload the interrupted uploads are listed and choosing the same file
 * again continues where the server stopped.
 */
export function UploadPanel({ kind, showId, onUploaded }: { kind: MediaKind; showId: Id; onUploaded: (rec: MediaRecord) => void }) {
  const input = useRef<HTMLInputElement>(null);
  const uploads = useRef(new Map<string, TusUpload>());
  const [items, setItems] = useState<UploadItem[]>([]);
  const [pending, setPending] = useState<PendingUpload[]>([]);
  const [text, setText] = useState('');
  const patch = (key: string, p: Partial<UploadItem>) => setItems((list) => list.map((it) => (it.key === key ? { ...it, ...p } : it)));

  useEffect(() => {
    setPending(media.pendingUploads(kind, showId));
  }, [kind, showId]);

  const run = (key: string, attempt = 0): void => {
    const up = uploads.current.get(key);
    if (!up) return;
    patch(key, { state: 'uploading', note: undefined, error: undefined });
    up.start()
      .then((id) => media.meta(kind, id))
      .then((rec) => {
        patch(key, { state: 'done', progress: 1 });
        uploads.current.delete(key);
        setPending((list) => list.filter((p) => p.fingerprint !== up.fingerprint));
        onUploaded(rec);
      })
      .catch((err) => {
        if (err instanceof TusError && err.code === 'paused') {
          patch(key, { state: 'paused', note: 'Paused' });
          return;
        }
        // Many files at once can pass the upload rate: wait as long as the server says, then go on.
        if (err instanceof TusError && err.status === 429 && attempt < MAX_RATE_RETRIES) {
          const wait = Math.max(1, err.retryAfter ?? 5);
          patch(key, { state: 'waiting', progress: 0, note: `Waiting ${wait} s (upload limit)` });
          setTimeout(() => run(key, attempt + 1), wait * 1000);
          return;
        }
        patch(key, { state: 'error', error: errorMessage(err) });
      });
  };

  const start = (e: FormEvent) => {
    e.preventDefault();
    const files = Array.from(input.current?.files ?? []);
    if (!files.length) return;
    const extra: Record<string, string> = kind === 'photo' ? { caption: text } : { title: text };
    const fresh = files.map((f, i) => ({ key: `${Date.now()}-${i}-${f.name}`, name: f.name, progress: 0, state: 'uploading' as const }));
    setItems((list) => [...fresh, ...list.filter((it) => it.state === 'uploading' || it.state === 'waiting')]);
    files.forEach((file, i) => {
      const key = fresh[i].key;
      const onProgress = (sent: number, total: number) => patch(key, { progress: total ? sent / total : 1 });
      uploads.current.set(key, media.resumable(kind, showId, file, extra, { onProgress }));
      run(key);
    });
    if (input.current) input.current.value = '';
    setText('');
  };

  return (
    <form className="upload" onSubmit={start} data-testid={`upload-${kind}-form`}>
      <div className="row gap wrap end">
        <div className="field">
          <label htmlFor={`upload-${kind}-file`}>Choose {NOUN[kind]}</label>
          <input id={`upload-${kind}-file`} ref={input} type="file" accept={ACCEPT[kind]} multiple data-testid={`upload-${kind}-input`} />
        </div>
        <div className="field">
          <label htmlFor={`upload-${kind}-text`}>{kind === 'photo' ? 'Caption (optional)' : 'Title (optional)'}</label>
          <input id={`upload-${kind}-text`} value={text} onChange={(e) => setText(e.target.value)} data-testid={`upload-${kind}-text`} />
        </div>
        <button type="submit" className="btn primary" data-testid={`upload-${kind}-submit`}>Upload</button>
      </div>
      {pending.length ? (
        <div className="muted small" data-testid="upload-pending">
          <p>Interrupted uploads: choose the same file again to continue where it stopped.</p>
          <ul>
            {pending.map((p) => (
              <li key={p.fingerprint} data-testid="upload-pending-item">
                {p.name} ({Math.round((p.offset / Math.max(1, p.size)) * 100)}%)
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      {items.length ? (
        <ul className="uploads" data-testid="upload-list">
          {items.map((it) => (
            <li key={it.key} className={`upload-item ${it.state}`} data-testid="upload-item" data-state={it.state}>
              <span className="upload-name">{it.name}</span>
              <progress max={100} value={Math.round(it.progress * 100)} aria-label={`Upload progress of ${it.name}`} data-testid="upload-progress" />
              <span className="upload-state">
                {it.state === 'uploading' ? `${Math.round(it.progress * 100)}%` : it.state === 'done' ? 'Uploaded' : it.note ?? ''}
              </span>
              {it.state === 'uploading' ? (
                <button type="button" className="btn small" onClick={() => uploads.current.get(it.key)?.pause()} data-testid="upload-pause">Pause</button>
              ) : null}
              {it.state === 'paused' ? (
                <button type="button" className="btn small" onClick={() => run(it.key)} data-testid="upload-resume">Resume</button>
              ) : null}
              {it.error ? <p className="error-text" role="alert" data-testid="upload-error">{it.error}</p> : null}
            </li>
          ))}
        </ul>
      ) : null}
    </form>
  );
}
