import { useCallback, useEffect, useRef, useState } from 'react';
import { media, type AttributedMedia } from '../api';
import { BlurImage } from '../components/BlurImage';
import { Lightbox } from '../components/Lightbox';
import { VideoPlayer } from '../components/VideoPlayer';
import { Empty, ErrorText, Loading } from '../components/ui';
import { formatDate, formatTime, thumbnailUrl } from '../lib/format';
import { Link, useQuery } from '../lib/router';

const PAGE = 30;

/** Day headings between items of another local date (a festival weekend, a show past midnight). */
function dayOf(it: AttributedMedia): string {
  return it.taken_at ? formatDate(it.taken_at) : '';
}

/**
 * One concert's album: every photo and video of every show of that concert the viewer may see, in capture-time
 * order, with who took each; more load as the end of the list comes into view.
 */
export function ConcertAlbumPage({ params }: { params: Record<string, string> }) {
  const q = useQuery();
  const from = q.get('show');
  const [items, setItems] = useState<AttributedMedia[]>([]);
  const [total, setTotal] = useState<number | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [open, setOpen] = useState<number | null>(null);
  const busy = useRef(false);
  const sentinel = useRef<HTMLDivElement>(null);

  const more = useCallback(
    async (offset: number) => {
      if (busy.current) return;
      busy.current = true;
      setLoading(true);
      setError(null);
      try {
        const page = await media.album(params.id, PAGE, offset);
        setItems((list) => (offset ? [...list, ...page.items] : page.items));
        setTotal(page.total);
      } catch (e) {
        setError(e);
      } finally {
        busy.current = false;
        setLoading(false);
      }
    },
    [params.id],
  );

  useEffect(() => {
    setItems([]);
    setTotal(null);
    void more(0);
  }, [more]);

  const hasMore = total !== null && items.length < total;
  useEffect(() => {
    const el = sentinel.current;
    if (!el || !hasMore || typeof IntersectionObserver === 'undefined') return;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) void more(items.length);
    }, { rootMargin: '400px' });
    io.observe(el);
    return () => io.disconnect();
  }, [hasMore, items.length, more]);

  const photos = items.filter((m) => m.kind === 'photo' && m.status === 'ready');

  return (
    <section className="page" data-testid="concert-album" data-concert-id={params.id}>
      {from ? <Link to={`/shows/${from}`} className="back">← Show</Link> : null}
      <h1>Everyone’s photos of this concert</h1>
      {total !== null ? <p className="muted" data-testid="album-total">{total} {total === 1 ? 'item' : 'items'}, oldest first</p> : null}
      <ErrorText error={error} testid="album-error" />
      {total === 0 ? <Empty><span data-testid="album-empty">No photos or videos of this concert yet.</span></Empty> : null}
      <ol className="album" data-testid="album-list">
        {items.map((m, i) => {
          const day = dayOf(m);
          const newDay = day && (i === 0 || dayOf(items[i - 1]) !== day);
          return (
            <li key={`${m.kind}-${m.id}`} className={`album-item ${m.kind}`} data-testid="album-item" data-media-id={String(m.id)} data-kind={m.kind}>
              {newDay ? <h2 className="album-day">{day}</h2> : null}
              <p className="album-meta small">
                <strong data-testid="album-user">{m.user?.username ?? 'someone'}</strong>
                <span className="muted" data-testid="album-time"> {m.taken_at ? formatTime(m.taken_at) : 'time unknown'}</span>
              </p>
              {m.kind === 'video' && m.status === 'ready' ? (
                <VideoPlayer rec={m} />
              ) : m.status === 'ready' ? (
                <button type="button" className="photo-btn" onClick={() => setOpen(photos.indexOf(m))} aria-label={`Open photo by ${m.user?.username ?? 'someone'}`} data-testid="album-open">
                  <BlurImage src={thumbnailUrl(m, 'medium')} placeholder={m.placeholder} alt={m.caption || `Photo by ${m.user?.username ?? 'someone'}`} />
                </button>
              ) : (
                <span className="muted small">Processing…</span>
              )}
              {m.caption || m.title ? <p className="small">{m.caption || m.title}</p> : null}
            </li>
          );
        })}
      </ol>
      {loading ? <Loading /> : null}
      <div ref={sentinel} aria-hidden="true" />
      {hasMore && !loading ? (
        <button type="button" className="btn" onClick={() => void more(items.length)} data-testid="album-more">Show more</button>
      ) : null}
      {open !== null && open >= 0 && photos[open] ? <Lightbox photos={photos} index={open} onIndex={setOpen} onClose={() => setOpen(null)} /> : null}
    </section>
  );
}
