// Every song I heard live, most heard first.
import { useState } from 'react';
import { stats } from '../api';
import { Empty, ErrorText, Loading, useLoad } from '../components/ui';
import { formatDate } from '../lib/format';
import { Link, useQuery } from '../lib/router';

const PAGE = 50;

export function SongsPage() {
  const query = useQuery();
  const artistId = query.get('artist_id') || undefined;
  const [offset, setOffset] = useState(0);
  const songs = useLoad(() => stats.songs({ artist_id: artistId, limit: PAGE, offset }), [artistId, offset]);
  return (
    <section className="page" data-testid="songs-page">
      <h1>Songs heard live</h1>
      {songs.loading && !songs.data ? <Loading /> : null}
      <ErrorText error={songs.error} />
      {songs.data ? <p className="muted" data-testid="songs-total">{songs.data.total} different songs</p> : null}
      {songs.data && !songs.data.songs.length ? <Empty>Add setlists to your shows (or import them) to see the songs you heard.</Empty> : null}
      <table className="table" data-testid="songs-table">
        <thead><tr><th>Song</th><th>Artist</th><th>Times</th><th>First</th><th>Last</th></tr></thead>
        <tbody>
          {songs.data?.songs.map((s) => (
            <tr key={`${s.artist.id}-${s.song_key}`} data-testid="song-row">
              <td data-testid="song-row-title">{s.title}</td>
              <td><Link to={`/artists/${s.artist.id}`}>{s.artist.name}</Link></td>
              <td data-testid="song-row-times">{s.times_heard}</td>
              <td><Link to={`/shows/${s.show_ids[0]}`}>{formatDate(s.first_heard)}</Link></td>
              <td><Link to={`/shows/${s.show_ids[s.show_ids.length - 1]}`}>{formatDate(s.last_heard)}</Link></td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="row gap">
        <button type="button" className="btn ghost" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))} data-testid="songs-prev">Previous</button>
        <button type="button" className="btn ghost" disabled={!songs.data || offset + PAGE >= songs.data.total} onClick={() => setOffset(offset + PAGE)} data-testid="songs-next">Next</button>
      </div>
    </section>
  );
}
