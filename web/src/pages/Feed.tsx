import { useState } from 'react';
import { friends, type FeedItem } from '../api';
import { BlurImage } from '../components/BlurImage';
import { Empty, ErrorText, Loading, useLoad } from '../components/ui';
import { formatDate, formatDateTime, thumbnailUrl } from '../lib/format';
import { Link } from '../lib/router';

const LIMIT = 20;

export function describeFeedItem(it: FeedItem): { who: string; what: string; showId: string | null; title: string } {
  const who = it.user?.username ?? it.owner?.username ?? it.show?.owner?.username ?? 'A friend';
  const type = String(it.type ?? it.kind ?? (it.media ? 'media' : 'show'));
  const show = it.show;
  const showId = show?.id ?? it.show_id ?? it.media?.show_id;
  const title = it.show_name ?? it.media?.show_name ?? (show ? `${show.artist_name ?? show.artist?.name ?? ''} at ${show.venue_name ?? show.venue?.name ?? ''}` : '');
  let what = 'shared something';
  if (/photo/.test(type) || it.media?.kind === 'photo') what = 'added a photo';
  else if (/video/.test(type) || it.media?.kind === 'video') what = 'added a video';
  else if (/audio/.test(type) || it.media?.kind === 'audio') what = 'added a recording';
  else if (/show/.test(type)) what = /updated/.test(type) ? 'updated a show' : 'went to a show';
  return { who, what, showId: showId !== undefined && showId !== null ? String(showId) : null, title };
}

export function FeedPage() {
  const [offset, setOffset] = useState(0);
  const feed = useLoad(() => friends.feed(LIMIT, offset), [offset]);
  return (
    <section className="page narrow" data-testid="feed-page">
      <h1>Friends’ feed</h1>
      {feed.loading ? <Loading /> : null}
      <ErrorText error={feed.error} testid="feed-error" />
      {feed.data && !feed.data.items.length ? <Empty>Nothing from your friends yet. <Link to="/friends?tab=find">Find friends</Link></Empty> : null}
      <ul className="feed" data-testid="feed">
        {feed.data?.items.map((it, i) => {
          const d = describeFeedItem(it);
          const when = (it.created_at ?? it.occurred_at) as string | undefined;
          return (
            <li key={String(it.id ?? i)} className="feed-item" data-testid="feed-item">
              <span className="avatar" aria-hidden="true">{d.who.slice(0, 1).toUpperCase()}</span>
              <div className="grow">
                <p>
                  <strong>{d.who}</strong> {d.what}
                  {d.title ? (
                    <>
                      {': '}
                      {d.showId ? <Link to={`/shows/${d.showId}`}>{d.title}</Link> : d.title}
                    </>
                  ) : null}
                </p>
                <p className="muted small">{(it.show?.date ?? it.date) ? `${formatDate((it.show?.date ?? it.date) as string)} · ` : ''}{formatDateTime(when)}</p>
                {it.media && it.media.kind !== 'audio' && it.media.id !== undefined && it.media.status !== 'processing' && (it.media.thumbnail_url || it.media.urls) ? (
                  <BlurImage className="feed-thumb" src={thumbnailUrl(it.media as never, 'small')} placeholder={it.media.placeholder} alt={d.title || 'media'} />
                ) : null}
              </div>
            </li>
          );
        })}
      </ul>
      {feed.data && (offset > 0 || feed.data.items.length === LIMIT) ? (
        <nav className="pager" aria-label="Feed pages">
          <button type="button" className="btn ghost" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - LIMIT))}>← Newer</button>
          <button type="button" className="btn ghost" disabled={feed.data.items.length < LIMIT && offset + LIMIT >= feed.data.total} onClick={() => setOffset(offset + LIMIT)}>Older →</button>
        </nav>
      ) : null}
    </section>
  );
}
