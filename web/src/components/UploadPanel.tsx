import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { media, uploadQueue, type Id, type MediaKind, type MediaRecord } from '../api';
import type { PendingUpload, QueueItem, UploadQueue } from '../lib/uploads';
import { formatBytes } from '../lib/format';

const ACCEPT: Record<MediaKind | 'library', string> = {
  photo: 'image/*,.heic,.heif',
  audio: 'audio/*,.m4a,.flac,.opus',
  video: 'video/*,.mkv,.mov,.avi',
  library: 'image/*,video/*,.heic,.heif,.mov,.mkv',
};

const NOUN: Record<MediaKind | 'library', string> = { photo: 'photos', audio: 'recordings', video: 'videos', library: 'photos and videos' };

const STATE_TEXT: Partial<Record<QueueItem['state'], string>> = { queued: 'Queued', done: 'Uploaded' };

/**
 * Pick many files (or, for the library, a whole phone folder); each is a resumable (tus) upload with its own
 * progress bar, pause and resume, three at a time. A dropped connection resumes by itself; after a page reload
 * the interrupted uploads are listed and choosing the same file again continues where the server stopped.
 * Without `showId` the files go to the library, each as the kind its type says.
 */
export function UploadPanel({ kind, showId, onUploaded }: { kind?: MediaKind; showId?: Id | null; onUploaded: (rec: MediaRecord) => void }) {
  const scope = kind ?? 'library';
  const input = useRef<HTMLInputElement>(null);
  const folder = useRef<HTMLInputElement>(null);
  const [items, setItems] = useState<QueueItem[]>([]);
  const [pending, setPending] = useState<PendingUpload[]>([]);
  const [skipped, setSkipped] = useState(0);
  const [text, setText] = useState('');
  const onUploadedRef = useRef(onUploaded);
  onUploadedRef.current = onUploaded;

  const target = useCallback(() => ({ kind, showId: showId ?? null }), [kind, showId]);
  const loadPending = useCallback(() => {
    media.pendingUploads(target()).then(setPending).catch(() => setPending([]));
  }, [target]);

  const queue = useRef<UploadQueue | null>(null);
  if (!queue.current) {
    queue.current = uploadQueue({
      onChange: setItems,
      onDone: (item) => {
        loadPending();
        if (item.mediaId) media.meta(item.kind, item.mediaId).then((rec) => onUploadedRef.current(rec)).catch(() => undefined);
      },
    });
  }

  useEffect(loadPending, [loadPending]);
  // a folder picker: Chromium, Firefox and Safari all know the non-standard attribute
  useEffect(() => folder.current?.setAttribute('webkitdirectory', ''), []);

  const send = (files: File[]) => {
    if (!files.length) return;
    const extra: Record<string, string> = !kind || kind === 'photo' ? { caption: text } : { title: text };
    setSkipped(queue.current!.add(files, { ...target(), extra }));
    setText('');
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    send(Array.from(input.current?.files ?? []));
    if (input.current) input.current.value = '';
  };
  const pickFolder = () => {
    send(Array.from(folder.current?.files ?? []));
    if (folder.current) folder.current.value = '';
  };
  const forget = (p: PendingUpload) => void media.forgetUpload(p).finally(loadPending);

  return (
    <form className="upload" onSubmit={submit} data-testid={`upload-${scope}-form`}>
      <div className="row gap wrap end">
        <div className="field">
          <label htmlFor={`upload-${scope}-file`}>Choose {NOUN[scope]}</label>
          <input id={`upload-${scope}-file`} ref={input} type="file" accept={ACCEPT[scope]} multiple data-testid={`upload-${scope}-input`} />
        </div>
        {kind ? (
          <div className="field">
            <label htmlFor={`upload-${scope}-text`}>{kind === 'photo' ? 'Caption (optional)' : 'Title (optional)'}</label>
            <input id={`upload-${scope}-text`} value={text} onChange={(e) => setText(e.target.value)} data-testid={`upload-${scope}-text`} />
          </div>
        ) : (
          <div className="field">
            <label htmlFor="upload-library-folder">Or a whole phone folder</label>
            <input id="upload-library-folder" ref={folder} type="file" multiple onChange={pickFolder} data-testid="upload-library-folder" />
          </div>
        )}
        <button type="submit" className="btn primary" data-testid={`upload-${scope}-submit`}>Upload</button>
      </div>
      {skipped ? <p className="muted small" data-testid="upload-skipped">{skipped} file{skipped === 1 ? '' : 's'} skipped (not a photo, video or recording).</p> : null}
      {pending.length ? (
        <div className="muted small" data-testid="upload-pending">
          <p>Interrupted uploads: choose the same file again to continue where it stopped.</p>
          <ul>
            {pending.map((p) => (
              <li key={p.urlStorageKey} data-testid="upload-pending-item">
                <span data-testid="upload-pending-name">{p.name}</span> {p.size !== null ? `(${formatBytes(p.size)})` : ''}{' '}
                <button type="button" className="btn ghost small" onClick={() => forget(p)} data-testid="upload-pending-forget">Forget</button>
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      {items.length ? (
        <ul className="uploads" data-testid="upload-list">
          {[...items].reverse().map((it) => (
            <li key={it.key} className={`upload-item ${it.state}`} data-testid="upload-item" data-state={it.state}>
              <span className="upload-name">{it.name}</span>
              <progress max={100} value={Math.round(it.progress * 100)} aria-label={`Upload progress of ${it.name}`} data-testid="upload-progress" />
              <span className="upload-state">{it.state === 'uploading' ? `${Math.round(it.progress * 100)}%` : it.note ?? STATE_TEXT[it.state] ?? ''}</span>
              {it.state === 'uploading' || it.state === 'queued' ? (
                <button type="button" className="btn small" onClick={() => queue.current!.pause(it.key)} data-testid="upload-pause">Pause</button>
              ) : null}
              {it.state === 'paused' ? (
                <button type="button" className="btn small" onClick={() => queue.current!.resume(it.key)} data-testid="upload-resume">Resume</button>
              ) : null}
              {it.error ? <p className="error-text" role="alert" data-testid="upload-error">{it.error}</p> : null}
            </li>
          ))}
        </ul>
      ) : null}
    </form>
  );
}
