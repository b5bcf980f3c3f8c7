import { useCallback, useEffect, useState } from 'react';
import { media, shows, type Id, type Show, type UnfiledItem } from '../api';
import { BlurImage } from '../components/BlurImage';
import { UploadPanel } from '../components/UploadPanel';
import { Empty, ErrorText, Loading, errorMessage } from '../components/ui';
import { formatDate, formatDateTime, thumbnailUrl } from '../lib/format';
import { Link } from '../lib/router';

const PAGE = 24;
/** The user's shows offered by "pick another show" (the most recent; the API's largest page). */
const SHOWS_PAGE = 100;

export function showLabel(s: Pick<Show, 'artist_name' | 'venue_name' | 'date'> & Partial<Show>): string {
  return `${s.artist_name || s.artist?.name || '?'} · ${s.venue_name || s.venue?.name || '?'} · ${formatDate(s.date)}`;
}

const REASONS: Record<string, string> = { time: 'same day', gps: 'near the venue', checkin: 'checked in', date: 'same day' };

/**
 * The library: upload photos and videos without a show (files or a whole phone folder); the filing task puts
 * them under the right show, and what it was unsure of is listed here with its suggested shows, one click to file.
 */
export function LibraryPage() {
  const [items, setItems] = useState<UnfiledItem[]>([]);
  const [total, setTotal] = useState(0);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const [rowErrors, setRowErrors] = useState<Record<string, string>>({});
  const [notice, setNotice] = useState('');
  const [myShows, setMyShows] = useState<Show[]>([]);
  const [extra, setExtra] = useState<Record<string, Show>>({});
  const [picked, setPicked] = useState<Record<string, string>>({});

  const load = useCallback(async (offset: number) => {
    setLoading(true);
    setError(null);
    try {
      const page = await media.unfiled(PAGE, offset);
      setItems((list) => (offset ? [...list, ...page.items] : page.items));
      setTotal(page.total);
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  }, []);

  useEffect(() => {
    void load(0);
    // the user's shows once: labels of the suggestions and the "another show" menu
    shows.list({ sort: '-date', limit: SHOWS_PAGE }).then((r) => setMyShows(r.shows)).catch(() => undefined);
  }, [load]);

  const byId = new Map<string, Show>([...myShows.map((s) => [String(s.id), s] as const), ...Object.entries(extra)]);
  // a suggested show older than the menu's page: fetch it once for its label
  const missing = [...new Set(items.flatMap((it) => it.suggestions.map((s) => String(s.show_id))))].filter((id) => !byId.has(id));
  const missingKey = myShows.length ? missing.join(',') : '';
  useEffect(() => {
    if (!missingKey) return;
    for (const id of missingKey.split(',')) {
      shows.get(id).then((s) => setExtra((m) => ({ ...m, [id]: s }))).catch(() => undefined);
    }
  }, [missingKey]);

  const file = async (it: UnfiledItem, showId: Id) => {
    const key = String(it.id);
    try {
      await media.file(it.id, showId);
      setItems((list) => list.filter((x) => String(x.id) !== key));
      setTotal((t) => Math.max(0, t - 1));
      const s = byId.get(String(showId));
      setNotice(`Filed ${it.original_filename || 'the item'} to ${s ? showLabel(s) : `show ${showId}`}.`);
      setRowErrors(({ [key]: _gone, ...rest }) => rest);
    } catch (e) {
      setRowErrors((r) => ({ ...r, [key]: errorMessage(e) }));
    }
  };

  return (
    <section className="page" data-testid="library">
      <h1>Library</h1>
      <p className="muted">
        Upload a concert’s photos and videos without choosing a show: each one is filed under the show of the day it
        was taken (and the venue, when the phone knew where). What could not be filed for sure waits here.
      </p>
      <UploadPanel onUploaded={() => void load(0)} />
      <div className="row gap wrap between">
        <h2>Not filed yet <span className="muted small" data-testid="unfiled-total">({total})</span></h2>
        <button type="button" className="btn ghost small" onClick={() => void load(0)} data-testid="library-refresh">Refresh</button>
      </div>
      {notice ? <p className="notice" role="status" data-testid="library-notice">{notice}</p> : null}
      <ErrorText error={error} testid="unfiled-error" />
      {loading && !items.length ? <Loading /> : null}
      {!loading && !items.length && !error ? <Empty><span data-testid="unfiled-empty">Everything is filed.</span></Empty> : null}
      <ul className="unfiled-list" data-testid="unfiled-list">
        {items.map((it) => {
          const key = String(it.id);
          const others = myShows.filter((s) => !it.suggestions.some((g) => String(g.show_id) === String(s.id)));
          return (
            <li key={key} className="unfiled-item" data-testid="unfiled-item" data-media-id={key}>
              {it.status === 'ready' ? (
                <BlurImage className="unfiled-thumb" src={thumbnailUrl(it, 'small')} placeholder={it.placeholder} alt={it.original_filename || 'Library item'} data-testid="unfiled-thumb" />
              ) : (
                <span className="unfiled-thumb placeholder" data-testid="unfiled-processing">{it.status === 'failed' ? 'Failed' : 'Processing…'}</span>
              )}
              <div className="grow">
                <p className="unfiled-name">{it.original_filename || `${it.kind} ${key}`}</p>
                <p className="muted small" data-testid="unfiled-taken">{it.taken_at ? `Taken ${formatDateTime(it.taken_at)}` : 'No capture time'}</p>
                {it.suggestions.length ? (
                  <ul className="file-suggestions">
                    {it.suggestions.map((g) => {
                      const s = byId.get(String(g.show_id));
                      return (
                        <li key={String(g.show_id)}>
                          <button type="button" className="btn small" onClick={() => void file(it, g.show_id)} data-testid="unfiled-suggestion" data-show-id={String(g.show_id)}>
                            File to {s ? showLabel(s) : `show ${g.show_id}`}
                          </button>
                          <span className="muted small"> {REASONS[g.reason] ?? g.reason} · {Math.round(g.score * 100)}%</span>
                        </li>
                      );
                    })}
                  </ul>
                ) : (
                  <p className="muted small">No show matches its time or place.</p>
                )}
                {others.length ? (
                  <div className="row gap wrap">
                    <label className="sr-only" htmlFor={`pick-${key}`}>Another show</label>
                    <select id={`pick-${key}`} value={picked[key] ?? ''} onChange={(e) => setPicked((p) => ({ ...p, [key]: e.target.value }))} data-testid="unfiled-pick">
                      <option value="">Another show…</option>
                      {others.map((s) => (
                        <option key={String(s.id)} value={String(s.id)}>{showLabel(s)}</option>
                      ))}
                    </select>
                    <button type="button" className="btn small" disabled={!picked[key]} onClick={() => void file(it, picked[key])} data-testid="unfiled-pick-file">File</button>
                  </div>
                ) : !myShows.length ? (
                  <p className="muted small"><Link to="/shows/new">Add the show</Link> to file it.</p>
                ) : null}
                {rowErrors[key] ? <p className="error-text" role="alert" data-testid="unfiled-item-error">{rowErrors[key]}</p> : null}
              </div>
            </li>
          );
        })}
      </ul>
      {items.length < total ? (
        <button type="button" className="btn" onClick={() => void load(items.length)} disabled={loading} data-testid="library-more">Show more</button>
      ) : null}
    </section>
  );
}
