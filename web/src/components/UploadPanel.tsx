import { useRef, useState, type FormEvent } from 'react';
import { ApiError, media, type Id, type MediaKind, type MediaRecord } from '../api';
import { errorMessage } from './ui';

interface UploadItem {
  key: string;
  name: string;
  progress: number;
  state: 'uploading' | 'waiting' | 'done' | 'error';
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

/** Pick several files; each uploads on its own XHR with its own progress bar. */
export function UploadPanel({ kind, showId, onUploaded }: { kind: MediaKind; showId: Id; onUploaded: (rec: MediaRecord) => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [items, setItems] = useState<UploadItem[]>([]);
  const [text, setText] = useState('');
  const patch = (key: string, p: Partial<UploadItem>) => setItems((list) => list.map((it) => (it.key === key ? { ...it, ...p } : it)));

  const start = (e: FormEvent) => {
    e.preventDefault();
    const files = Array.from(input.current?.files ?? []);
    if (!files.length) return;
    const extra: Record<string, string> = kind === 'photo' ? { caption: text } : { title: text };
    const fresh = files.map((f, i) => ({ key: `${Date.now()}-${i}-${f.name}`, name: f.name, progress: 0, state: 'uploading' as const }));
    setItems((list) => [...fresh, ...list.filter((it) => it.state === 'uploading' || it.state === 'waiting')]);
    files.forEach((file, i) => {
      const key = fresh[i].key;
      const send = (attempt: number): void => {
        media
          .upload(kind, showId, file, extra, { onProgress: (f) => patch(key, { state: 'uploading', note: undefined, progress: f }) })
          .then((rec) => {
            patch(key, { state: 'done', progress: 1 });
            onUploaded(rec);
          })
          .catch((err) => {
            // Many files at once can pass the upload rate: wait as long as the server says, then go on.
            if (err instanceof ApiError && err.status === 429 && attempt < MAX_RATE_RETRIES) {
              const wait = Math.max(1, err.retryAfter ?? 5);
              patch(key, { state: 'waiting', progress: 0, note: `Waiting ${wait} s (upload limit)` });
              setTimeout(() => send(attempt + 1), wait * 1000);
              return;
            }
            patch(key, { state: 'error', error: errorMessage(err) });
          });
      };
      send(0);
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
      {items.length ? (
        <ul className="uploads" data-testid="upload-list">
          {items.map((it) => (
            <li key={it.key} className={`upload-item ${it.state}`} data-testid="upload-item" data-state={it.state}>
              <span className="upload-name">{it.name}</span>
              <progress max={100} value={Math.round(it.progress * 100)} aria-label={`Upload progress of ${it.name}`} data-testid="upload-progress" />
              <span className="upload-state">
                {it.state === 'uploading' ? `${Math.round(it.progress * 100)}%` : it.state === 'done' ? 'Uploaded' : it.note ?? ''}
              </span>
              {it.error ? <p className="error-text" role="alert" data-testid="upload-error">{it.error}</p> : null}
            </li>
          ))}
        </ul>
      ) : null}
    </form>
  );
}
