import { useCallback, useEffect, useRef, useState } from 'react';
import { media, shows, type MediaKind, type MediaRecord, type SetlistSong, type ShowDetail } from '../../api';
import { useAuth } from '../../auth';
import { AudioPlayer } from '../../components/AudioPlayer';
import { BlurImage } from '../../components/BlurImage';
import { ClipSongs } from '../../components/ClipSongs';
import { FiledBadge } from '../../components/FiledBadge';
import { VideoPlayer } from '../../components/VideoPlayer';
import { Lightbox } from '../../components/Lightbox';
import { UploadPanel } from '../../components/UploadPanel';
import { Empty, ErrorText, Loading, errorMessage } from '../../components/ui';
import { formatBytes, formatDuration, thumbnailUrl } from '../../lib/format';

const EMBEDDED: Record<MediaKind, keyof ShowDetail> = { photo: 'photos', audio: 'audio', video: 'videos' };
const POLL_MS = 2000;

/** Merge a record into a list by id (new ones first). */
export function upsert(list: MediaRecord[], rec: MediaRecord): MediaRecord[] {
  const i = list.findIndex((x) => String(x.id) === String(rec.id));
  if (i < 0) return [rec, ...list];
  const copy = [...list];
  copy[i] = { ...copy[i], ...rec };
  return copy;
}

export function MediaTab({ kind, show, onCount }: { kind: MediaKind; show: ShowDetail; onCount: (n: number) => void }) {
  const { user } = useAuth();
  const [items, setItems] = useState<MediaRecord[]>(((show[EMBEDDED[kind]] as MediaRecord[] | undefined) ?? []).map((m) => ({ ...m, kind: m.kind ?? kind })));
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const [rowErrors, setRowErrors] = useState<Record<string, string>>({});
  const [open, setOpen] = useState<number | null>(null);
  const [setlist, setSetlist] = useState<SetlistSong[]>(show.setlist ?? []);
  const itemsRef = useRef(items);
  itemsRef.current = items;

  // the owner ticks the songs of a clip against the setlist (the show's own, or fetched once)
  useEffect(() => {
    if (kind === 'photo' || show.setlist) return;
    let live = true;
    shows.setlist(show.id).then((list) => live && setSetlist(list)).catch(() => undefined);
    return () => {
      live = false;
    };
  }, [kind, show.id, show.setlist]);

  useEffect(() => {
    let live = true;
    media
      .forShow(kind, show.id)
      .then((list) => live && setItems(list.map((m) => ({ ...m, kind: m.kind ?? kind }))))
      .catch((e) => live && setError(e))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [kind, show.id]);

  // Poll every record still processing until it is ready or failed, and a video until its HLS ladder is done
  // (per-rendition progress; the player moves from the MP4 to the adaptive stream when it is ready).
  const processing = items
    .filter((m) => m.status === 'processing' || (m.status === 'ready' && m.hls?.status === 'working'))
    .map((m) => String(m.id))
    .join(',');
  useEffect(() => {
    if (!processing) return;
    const t = setInterval(() => {
      for (const id of processing.split(',')) {
        media
          .meta(kind, id)
          .then((rec) => setItems((list) => upsert(list, { ...rec, kind: rec.kind ?? kind })))
          .catch(() => undefined);
      }
    }, POLL_MS);
    return () => clearInterval(t);
  }, [processing, kind]);

  const onUploaded = useCallback((rec: MediaRecord) => setItems((list) => upsert(list, { ...rec, kind: rec.kind ?? kind })), [kind]);

  // Keep the tab's count in step with what this tab shows (the show's counters follow by events).
  const onCountRef = useRef(onCount);
  onCountRef.current = onCount;
  useEffect(() => {
    if (!loading) onCountRef.current(items.length);
  }, [items.length, loading]);

  const remove = async (m: MediaRecord) => {
    try {
      await media.remove(kind, m.id);
      setItems((list) => list.filter((x) => x.id !== m.id));
    } catch (e) {
      setRowErrors((r) => ({ ...r, [String(m.id)]: errorMessage(e) }));
    }
  };
  const canDelete = (m: MediaRecord) => show.is_owner !== false || (user && String(user.id) === String(m.user_id));
  const readyPhotos = items.filter((m) => m.status === 'ready');

  return (
    <div className="panel">
      <UploadPanel kind={kind} showId={show.id} onUploaded={onUploaded} />
      <ErrorText error={error} />
      {loading && !items.length ? <Loading /> : null}
      {!loading && !items.length ? <Empty>Nothing here yet.</Empty> : null}
      {kind === 'photo' ? (
        <ul className="photo-grid" data-testid="photo-grid">
          {items.map((m) => (
            <li key={String(m.id)} className="photo-cell" data-testid="photo-item" data-status={m.status} data-media-id={String(m.id)}>
              {m.status === 'ready' ? (
                <button type="button" className="photo-btn" onClick={() => setOpen(readyPhotos.indexOf(m))} aria-label={`Open ${m.caption || m.original_filename || 'photo'}`} data-testid="photo-open">
                  <BlurImage src={thumbnailUrl(m, 'small')} placeholder={m.placeholder} alt={m.caption || m.original_filename || 'Concert photo'} data-testid="photo-thumb" />
                </button>
              ) : (
                <StatusBox m={m} />
              )}
              {m.caption ? <span className="photo-caption">{m.caption}</span> : null}
              <FiledBadge filedBy={m.filed_by} />
              {canDelete(m) ? (
                <button type="button" className="btn icon danger tiny" onClick={() => void remove(m)} aria-label={`Delete ${m.caption || m.original_filename || 'photo'}`} data-testid="media-delete">✕</button>
              ) : null}
              {rowErrors[String(m.id)] ? <p className="error-text" role="alert">{rowErrors[String(m.id)]}</p> : null}
            </li>
          ))}
        </ul>
      ) : (
        <ul className="recordings" data-testid={`${kind}-list`}>
          {items.map((m) => (
            <li key={String(m.id)} className="recording" data-testid={`${kind}-item`} data-status={m.status} data-media-id={String(m.id)}>
              <div className="recording-head">
                <strong>{m.title || m.original_filename || (kind === 'audio' ? 'Recording' : 'Video')}</strong>
                <span className="muted small">
                  {[formatDuration(m.duration), formatBytes(m.file_size)].filter(Boolean).join(' · ')}
                </span>
                <FiledBadge filedBy={m.filed_by} />
                {canDelete(m) ? (
                  <button type="button" className="btn ghost small" onClick={() => void remove(m)} data-testid="media-delete">Delete</button>
                ) : null}
              </div>
              {m.description ? <p className="muted">{m.description}</p> : null}
              {m.status !== 'ready' ? <StatusBox m={m} /> : kind === 'audio' ? <AudioPlayer rec={m} /> : <VideoPlayer rec={m} />}
              {m.status === 'ready' && user && String(user.id) === String(m.user_id) ? (
                <ClipSongs rec={m} setlist={setlist} onSaved={(rec) => setItems((list) => upsert(list, rec))} />
              ) : null}
              {m.hls?.status === 'working' && Object.keys(m.hls.progress ?? {}).length ? (
                <p className="muted small" data-testid="hls-progress">
                  Preparing adaptive quality: {Object.entries(m.hls.progress).map(([name, pct]) => `${name} ${pct}%`).join(', ')}
                </p>
              ) : null}
              {rowErrors[String(m.id)] ? <p className="error-text" role="alert">{rowErrors[String(m.id)]}</p> : null}
            </li>
          ))}
        </ul>
      )}
      {open !== null && open >= 0 && readyPhotos[open] ? <Lightbox photos={readyPhotos} index={open} onIndex={setOpen} onClose={() => setOpen(null)} /> : null}
    </div>
  );
}

function StatusBox({ m }: { m: MediaRecord }) {
  if (m.status === 'failed') {
    return (
      <div className="status-box failed" data-testid="media-failed">
        <span className="badge danger">Failed</span>
        <p className="error-text" role="alert">{m.error || 'Processing failed.'}</p>
      </div>
    );
  }
  const pct = typeof m.progress === 'number' ? Math.round(m.progress) : null;
  return (
    <div className="status-box processing" data-testid="media-processing">
      <span className="badge">Processing</span>
      {pct !== null ? <progress max={100} value={pct} aria-label="Processing progress" data-testid="processing-progress" /> : <span className="spinner" aria-hidden="true" />}
      {pct !== null ? <span className="muted small">{pct}%</span> : null}
    </div>
  );
}
