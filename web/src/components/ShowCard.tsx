import type { Show } from '../api';
import { formatDate, plural, showPlace } from '../lib/format';
import { Link } from '../lib/router';
import { Stars } from './ui';

export function ShowCard({ show }: { show: Show }) {
  const artist = show.artist_name || show.artist?.name;
  const venue = show.venue_name || show.venue?.name;
  return (
    <li className="show-card" data-testid="show-card" data-show-id={String(show.id)}>
      <Link to={`/shows/${show.id}`} className="show-link" data-testid={`show-link-${show.id}`}>
        <span className="show-date">{formatDate(show.date)}</span>
        <span className="show-artist">{artist}</span>
        <span className="show-venue">
          {venue}
          {showPlace(show) ? ` · ${showPlace(show)}` : ''}
        </span>
        <span className="show-meta">
          <Stars value={show.rating} />
          {show.owner && show.is_owner === false ? <span className="chip">{show.owner.username}’s show</span> : null}
          <span className={`chip vis-${show.visibility}`}>{show.visibility}</span>
          {show.song_count ? <span className="muted small">{plural(show.song_count, 'song')}</span> : null}
          {show.photo_count ? <span className="muted small">{plural(show.photo_count, 'photo')}</span> : null}
        </span>
      </Link>
    </li>
  );
}
