// A year in review: shows, new artists, venues, cities, songs, the farthest trip, spending, photos and videos.
import { stats } from '../api';
import { BarChart } from '../components/BarChart';
import { ErrorText, Loading, useLoad } from '../components/ui';
import { Link, navigate } from '../lib/router';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export function YearPage({ params }: { params: Record<string, string> }) {
  const year = Number(params.year) || new Date().getFullYear();
  const y = useLoad(() => stats.year(year), [year]);
  return (
    <section className="page" data-testid="year-page" data-year={year}>
      <div className="page-head">
        <h1>{year} in review</h1>
        <div className="row gap">
          <button type="button" className="btn ghost" onClick={() => navigate(`/years/${year - 1}`)} data-testid="year-prev">← {year - 1}</button>
          <button type="button" className="btn ghost" onClick={() => navigate(`/years/${year + 1}`)} data-testid="year-next">{year + 1} →</button>
        </div>
      </div>
      {y.loading && !y.data ? <Loading /> : null}
      <ErrorText error={y.error} />
      {y.data ? (
        <>
          <ul className="stat-grid" aria-label={`Your ${year}`}>
            <li className="stat-card" data-testid="year-shows"><span className="stat-value">{y.data.shows}</span><span className="stat-label">Shows</span></li>
            <li className="stat-card" data-testid="year-artists"><span className="stat-value">{y.data.artists}</span><span className="stat-label">Artists</span></li>
            <li className="stat-card" data-testid="year-new-artists"><span className="stat-value">{y.data.new_artists.length}</span><span className="stat-label">New to you</span></li>
            <li className="stat-card" data-testid="year-venues"><span className="stat-value">{y.data.venues}</span><span className="stat-label">Venues</span></li>
            <li className="stat-card" data-testid="year-songs"><span className="stat-value">{y.data.songs_heard}</span><span className="stat-label">Songs heard ({y.data.unique_songs} different)</span></li>
            <li className="stat-card" data-testid="year-photos"><span className="stat-value">{y.data.photos}</span><span className="stat-label">Photos</span></li>
            <li className="stat-card" data-testid="year-videos"><span className="stat-value">{y.data.videos}</span><span className="stat-label">Videos</span></li>
          </ul>
          <div className="grid-2">
            <div className="panel">
              <h2>Most seen</h2>
              <p data-testid="year-most-seen">{y.data.most_seen_artist ? <><Link to={`/artists/${y.data.most_seen_artist.id}`}>{y.data.most_seen_artist.name}</Link> — {y.data.most_seen_artist.shows} shows</> : 'Nobody yet.'}</p>
              <h2>New artists</h2>
              <ul className="plain" data-testid="year-new-artist-list">
                {y.data.new_artists.map((a) => <li key={String(a.id)} data-testid="year-new-artist"><Link to={`/artists/${a.id}`}>{a.name}</Link></li>)}
              </ul>
              <h2>Cities</h2>
              <p data-testid="year-cities">{y.data.cities.join(', ') || '–'}</p>
            </div>
            <div className="panel">
              <h2>Farthest from home</h2>
              <p data-testid="year-trip">
                {y.data.longest_trip ? `${y.data.longest_trip.venue}, ${y.data.longest_trip.city} — ${Math.round(y.data.longest_trip.km)} km` : y.data.home ? 'No venue with a known place this year.' : 'Set your home city on the map page to see this.'}
              </p>
              <h2>Spending</h2>
              <ul className="plain" data-testid="year-spending">
                {y.data.spending.length ? y.data.spending.map((s) => <li key={s.currency ?? ''}>{s.total.toFixed(2)} {s.currency ?? ''} on {s.shows} tickets</li>) : <li>No ticket prices logged.</li>}
              </ul>
              {y.data.shows ? <BarChart title="Shows per month" data={y.data.months.map((m) => ({ year: MONTHS[m.month - 1], count: m.shows }))} /> : null}
            </div>
          </div>
        </>
      ) : null}
    </section>
  );
}
