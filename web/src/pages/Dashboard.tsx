import { dashboard, shows, type DashboardStats, type MediaRecord, type Show } from '../api';
import { useAuth } from '../auth';
import { BarChart } from '../components/BarChart';
import { BlurImage } from '../components/BlurImage';
import { ShowCard } from '../components/ShowCard';
import { Empty, ErrorText, Loading, useLoad } from '../components/ui';
import { formatDate, formatDuration, thumbnailUrl } from '../lib/format';
import { Link } from '../lib/router';
import { showsPerYear } from '../lib/years';

const STATS: { key: keyof DashboardStats; label: string; to: string }[] = [
  { key: 'total_shows', label: 'Shows', to: '/shows' },
  { key: 'total_artists', label: 'Artists', to: '/shows' },
  { key: 'total_venues', label: 'Venues', to: '/shows' },
  { key: 'total_photos', label: 'Photos', to: '/shows' },
  { key: 'total_audio', label: 'Audio', to: '/shows' },
  { key: 'total_videos', label: 'Videos', to: '/shows' },
  { key: 'total_comments', label: 'Comments', to: '/shows' },
  { key: 'total_friends', label: 'Friends', to: '/friends' },
];

async function loadYears(stats: DashboardStats | undefined): Promise<string[]> {
  if (stats?.shows_per_year && Object.keys(stats.shows_per_year).length) return [];
  const dates: string[] = [];
  for (let offset = 0; offset < 500; offset += 100) {
    const page = await shows.list({ limit: 100, offset, sort: 'date' });
    dates.push(...page.shows.map((s) => s.date));
    if (offset + 100 >= page.total || page.shows.length < 100) break;
  }
  return dates;
}

export function DashboardPage() {
  const { user } = useAuth();
  const stats = useLoad(() => dashboard.stats(), []);
  const years = useLoad(() => loadYears(stats.data), [stats.data]);
  const artists = useLoad(() => dashboard.artists(5), []);
  const venues = useLoad(() => dashboard.venues(5), []);
  const recent = useLoad(() => shows.list({ limit: 5, sort: '-date', filter: 'past' }), []);
  const upcoming = useLoad(() => shows.list({ limit: 5, sort: 'date', filter: 'upcoming' }), []);
  const photos = useLoad(() => dashboard.recentPhotos(8), []);
  const audio = useLoad(() => dashboard.recentAudio(4), []);
  const videos = useLoad(() => dashboard.recentVideos(4), []);

  return (
    <section className="page" data-testid="dashboard">
      <div className="page-head">
        <h1>Welcome back{user ? `, ${user.username}` : ''}</h1>
        <Link to="/shows/new" className="btn primary" data-testid="dashboard-add-show">+ Add a show</Link>
      </div>

      <ErrorText error={stats.error} testid="stats-error" />
      <ul className="stat-grid" aria-label="Your totals">
        {STATS.map((s) => (
          <li key={s.key} className="stat-card" data-testid={`stat-${s.key.replace('total_', '')}`}>
            <Link to={s.to}>
              <span className="stat-value">{stats.data ? Number(stats.data[s.key] ?? 0) : '–'}</span>
              <span className="stat-label">{s.label}</span>
            </Link>
          </li>
        ))}
      </ul>

      <div className="grid-2">
        <div className="panel">
          <h2>Shows per year</h2>
          {years.loading && stats.loading ? <Loading /> : <BarChart data={showsPerYear(stats.data ?? null, years.data ?? [])} />}
          <ErrorText error={years.error} />
        </div>
        <div className="panel">
          <h2>Upcoming</h2>
          <ErrorText error={upcoming.error} />
          {upcoming.data && !upcoming.data.shows.length ? <Empty>Nothing planned. <Link to="/shows/new">Add a show</Link></Empty> : null}
          <ul className="show-list compact">{upcoming.data?.shows.map((s: Show) => <ShowCard key={String(s.id)} show={s} />)}</ul>
        </div>
      </div>

      <div className="grid-3">
        <div className="panel">
          <h2>Top artists</h2>
          <ErrorText error={artists.error} />
          {artists.data && !artists.data.length ? <Empty>No artists yet.</Empty> : null}
          <ol className="rank" data-testid="top-artists">
            {artists.data?.map((a) => (
              <li key={String(a.artist_id)}>
                <Link to={`/shows?artist=${encodeURIComponent(a.artist_name)}`}>{a.artist_name}</Link>
                <span className="count">{a.show_count}</span>
              </li>
            ))}
          </ol>
        </div>
        <div className="panel">
          <h2>Top venues</h2>
          <ErrorText error={venues.error} />
          {venues.data && !venues.data.length ? <Empty>No venues yet.</Empty> : null}
          <ol className="rank" data-testid="top-venues">
            {venues.data?.map((v) => (
              <li key={String(v.venue_id)}>
                <Link to={`/shows?venue=${encodeURIComponent(v.venue_name)}`}>{v.venue_name}</Link>
                <span className="muted small">{[v.city, v.state].filter(Boolean).join(', ')}</span>
                <span className="count">{v.show_count}</span>
              </li>
            ))}
          </ol>
        </div>
        <div className="panel">
          <h2>Recent shows</h2>
          <ErrorText error={recent.error} />
          {recent.data && !recent.data.shows.length ? <Empty>No past shows yet.</Empty> : null}
          <ul className="show-list compact" data-testid="recent-shows">{recent.data?.shows.map((s) => <ShowCard key={String(s.id)} show={s} />)}</ul>
        </div>
      </div>

      <div className="panel">
        <h2>Recent media</h2>
        <ErrorText error={photos.error ?? audio.error ?? videos.error} />
        {photos.loading ? <Loading /> : null}
        <ul className="media-strip" data-testid="recent-media">
          {photos.data?.map((p) => <RecentMedia key={`p${p.id}`} m={p} />)}
          {videos.data?.map((v) => <RecentMedia key={`v${v.id}`} m={v} />)}
          {audio.data?.map((a) => <RecentMedia key={`a${a.id}`} m={a} />)}
        </ul>
        {photos.data && videos.data && audio.data && !photos.data.length && !videos.data.length && !audio.data.length ? <Empty>Upload photos, audio or video from a show’s page.</Empty> : null}
      </div>
    </section>
  );
}

function RecentMedia({ m }: { m: MediaRecord }) {
  const label = m.kind === 'photo' ? m.caption || 'Photo' : m.title || (m.kind === 'audio' ? 'Recording' : 'Video');
  return (
    <li className="media-tile">
      <Link to={`/shows/${m.show_id}?tab=${m.kind === 'photo' ? 'photos' : m.kind === 'audio' ? 'audio' : 'videos'}`} title={m.show_name}>
        {m.kind === 'audio' ? (
          <span className="audio-tile" aria-hidden="true">♫</span>
        ) : m.status === 'ready' ? (
          <BlurImage src={thumbnailUrl(m, 'small')} placeholder={m.placeholder} alt={`${label} from ${m.show_name ?? 'a show'}`} />
        ) : (
          <span className="audio-tile">{m.status}</span>
        )}
        <span className="media-caption">
          {label}
          {m.duration ? ` · ${formatDuration(m.duration)}` : ''}
          <br />
          <span className="muted small">{m.show_name ?? formatDate(m.created_at)}</span>
        </span>
      </Link>
    </li>
  );
}
