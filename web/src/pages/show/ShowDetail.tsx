import { useState } from 'react';
import { shows, type ShowDetail } from '../../api';
import { ShareButton } from '../../components/ShareButton';
import { Tabs } from '../../components/Tabs';
import { ErrorText, Loading, Stars, useAction, useLoad } from '../../components/ui';
import { formatDate, showPlace } from '../../lib/format';
import { Link, navigate, useQuery } from '../../lib/router';
import { CommentsTab } from './CommentsTab';
import { InfoTab } from './InfoTab';
import { LiveTab } from './LiveTab';
import { MediaTab } from './MediaTab';
import { SetlistTab } from './SetlistTab';

const TAB_IDS = ['info', 'setlist', 'photos', 'audio', 'videos', 'comments', 'live'] as const;
type TabId = (typeof TAB_IDS)[number];

export function ShowDetailPage({ params }: { params: Record<string, string> }) {
  const q = useQuery();
  const requested = q.get('tab') as TabId | null;
  const tab: TabId = requested && (TAB_IDS as readonly string[]).includes(requested) ? requested : 'info';
  const { data: show, error, loading, setData } = useLoad(() => shows.get(params.id), [params.id]);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const del = useAction(async () => {
    await shows.remove(params.id);
    navigate('/shows', { replace: true });
  });

  if (loading && !show) return <Loading />;
  if (error && !show)
    return (
      <section className="page">
        <ErrorText error={error} testid="show-error" />
        <Link to="/shows" className="btn">Back to shows</Link>
      </section>
    );
  if (!show) return null;
  const s = show as ShowDetail;
  const select = (id: string) => navigate(`/shows/${params.id}?tab=${id}`, { replace: true });
  const count = (n?: number, arr?: unknown[]) => (n ?? arr?.length ?? 0);
  const tabs = [
    { id: 'info', label: 'Info' },
    { id: 'setlist', label: `Setlist (${count(s.song_count, s.setlist)})` },
    { id: 'photos', label: `Photos (${count(s.photo_count, s.photos)})` },
    { id: 'audio', label: `Audio (${count(s.audio_count, s.audio)})` },
    { id: 'videos', label: `Videos (${count(s.video_count, s.videos)})` },
    { id: 'comments', label: `Comments (${count(s.comment_count, s.comments)})` },
    { id: 'live', label: 'Live' },
  ];
  const owner = s.is_owner !== false;

  return (
    <section className="page" data-testid="show-detail" data-show-id={String(s.id)}>
      <Link to="/shows" className="back">← Shows</Link>
      <header className="show-hero">
        <div>
          <p className="eyebrow">{formatDate(s.date)}{s.time ? ` · ${s.time.slice(0, 5)}` : ''}</p>
          <h1 data-testid="show-title">{s.artist_name || s.artist?.name}</h1>
          <p className="show-hero-venue">
            {s.venue_name || s.venue?.name}
            {showPlace(s) ? ` · ${showPlace(s)}` : ''}
          </p>
          <p className="row gap wrap">
            <Stars value={s.rating} testid="show-stars" />
            <span className={`chip vis-${s.visibility}`} data-testid="show-visibility-chip">{s.visibility}</span>
            {!owner && s.owner ? <span className="chip" data-testid="show-owner">{s.owner.username}’s show</span> : null}
          </p>
          {s.concert_id ? (
            <p>
              <Link to={`/concerts/${s.concert_id}/album?show=${s.id}`} data-testid="concert-album-link">Everyone’s photos of this concert</Link>
            </p>
          ) : null}
        </div>
        {owner ? (
          <div className="row gap">
            <ShareButton showId={s.id} ownerId={s.user_id} />
            <Link to={`/shows/${s.id}/edit`} className="btn ghost" data-testid="show-edit">Edit</Link>
            {confirmDelete ? (
              <>
                <button type="button" className="btn danger" onClick={() => void del.run()} disabled={del.pending} data-testid="show-delete-confirm">
                  Delete for good
                </button>
                <button type="button" className="btn ghost" onClick={() => setConfirmDelete(false)}>Keep it</button>
              </>
            ) : (
              <button type="button" className="btn ghost" onClick={() => setConfirmDelete(true)} data-testid="show-delete">Delete</button>
            )}
          </div>
        ) : null}
      </header>
      <ErrorText error={del.error} testid="show-delete-error" />

      <Tabs tabs={tabs} current={tab} onSelect={select} label="Show sections" />
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`} className="tab-panel" tabIndex={0}>
        {tab === 'info' ? <InfoTab show={s} /> : null}
        {tab === 'setlist' ? <SetlistTab show={s} onChanged={(setlist) => setData({ ...s, setlist, song_count: setlist.length })} /> : null}
        {tab === 'photos' ? <MediaTab kind="photo" show={s} onCount={(n) => n !== s.photo_count && setData((d) => (d ? { ...d, photo_count: n } : d))} /> : null}
        {tab === 'audio' ? <MediaTab kind="audio" show={s} onCount={(n) => n !== s.audio_count && setData((d) => (d ? { ...d, audio_count: n } : d))} /> : null}
        {tab === 'videos' ? <MediaTab kind="video" show={s} onCount={(n) => n !== s.video_count && setData((d) => (d ? { ...d, video_count: n } : d))} /> : null}
        {tab === 'comments' ? <CommentsTab show={s} onCount={(n) => setData({ ...s, comment_count: n })} /> : null}
        {tab === 'live' ? <LiveTab show={s} /> : null}
      </div>
    </section>
  );
}
