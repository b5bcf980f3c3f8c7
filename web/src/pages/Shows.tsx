import { useEffect, useState, type FormEvent } from 'react';
import { shows, type ShowListQuery } from '../api';
import { ShowCard } from '../components/ShowCard';
import { Empty, ErrorText, Loading, SelectField, TextField, useLoad } from '../components/ui';
import { Link, navigate, useLocation } from '../lib/router';

export const PAGE_SIZE = 20;
const FILTER_KEYS = ['q', 'artist', 'venue', 'city', 'year', 'filter', 'sort', 'user_id', 'artist_id', 'venue_id'] as const;

export function queryFromSearch(search: string): ShowListQuery & { page: number } {
  const sp = new URLSearchParams(search);
  const out: Record<string, string> = {};
  for (const k of FILTER_KEYS) {
    const v = sp.get(k);
    if (v) out[k] = v;
  }
  const page = Math.max(1, Number(sp.get('page')) || 1);
  return { ...(out as ShowListQuery), page };
}

export function searchFromQuery(q: Record<string, string | number | undefined>): string {
  const sp = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '' && !(k === 'page' && Number(v) === 1)) sp.set(k, String(v));
  const s = sp.toString();
  return s ? `?${s}` : '';
}

export function ShowsPage() {
  const { search } = useLocation();
  const current = queryFromSearch(search);
  const { page, ...filters } = current;
  const [draft, setDraft] = useState<Record<string, string>>({});
  const [more, setMore] = useState(false);
  useEffect(() => {
    setDraft({ q: filters.q ?? '', artist: filters.artist ?? '', venue: filters.venue ?? '', city: filters.city ?? '', year: filters.year ?? '', filter: filters.filter ?? '', sort: filters.sort ?? '-date' });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [search]);

  const list = useLoad(() => shows.list({ ...filters, sort: filters.sort || '-date', limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE }), [search]);
  const total = list.data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));

  const apply = (e?: FormEvent) => {
    e?.preventDefault();
    navigate(`/shows${searchFromQuery({ ...draft, user_id: filters.user_id, page: 1 })}`);
  };
  const goPage = (p: number) => navigate(`/shows${searchFromQuery({ ...filters, page: p })}`);
  const set = (k: string) => (e: { target: { value: string } }) => setDraft((d) => ({ ...d, [k]: e.target.value }));
  const otherUser = filters.user_id;
  const ownerName = otherUser ? list.data?.shows[0]?.owner?.username : null;

  return (
    <section className="page" data-testid="shows-page">
      <div className="page-head">
        <h1>{otherUser ? `${ownerName ?? 'Friend'}’s shows` : 'Your shows'}</h1>
        <div className="row gap">
          {!otherUser ? <a className="btn ghost small" href={shows.exportCsvUrl()} download data-testid="shows-export-csv">CSV</a> : null}
          {!otherUser ? <a className="btn ghost small" href={shows.calendarUrl()} download data-testid="shows-export-ics">iCal</a> : null}
          <Link to="/shows/new" className="btn primary" data-testid="shows-add">+ Add show</Link>
        </div>
      </div>

      <form className={`filters${more ? ' open' : ''}`} onSubmit={apply} role="search" aria-label="Filter shows" data-testid="shows-filters">
        <TextField label="Search" name="q" testid="filter-q" type="search" placeholder="Artist, venue, city, notes" value={draft.q ?? ''} onChange={set('q')} />
        <TextField label="Artist" name="artist" testid="filter-artist" value={draft.artist ?? ''} onChange={set('artist')} />
        <TextField label="Venue" name="venue" testid="filter-venue" value={draft.venue ?? ''} onChange={set('venue')} />
        <TextField label="City" name="city" testid="filter-city" value={draft.city ?? ''} onChange={set('city')} />
        <TextField label="Year" name="year" testid="filter-year" inputMode="numeric" pattern="\d{4}" value={draft.year ?? ''} onChange={set('year')} />
        <SelectField label="When" name="filter" testid="filter-when" value={draft.filter ?? ''} onChange={set('filter')}>
          <option value="">All</option>
          <option value="past">Past</option>
          <option value="upcoming">Upcoming</option>
        </SelectField>
        <SelectField label="Sort" name="sort" testid="filter-sort" value={draft.sort ?? '-date'} onChange={set('sort')}>
          <option value="-date">Newest first</option>
          <option value="date">Oldest first</option>
        </SelectField>
        <div className="filter-actions">
          <button type="button" className="btn ghost more-filters" aria-expanded={more} onClick={() => setMore((m) => !m)} data-testid="filter-more">
            {more ? 'Fewer filters' : 'More filters'}
          </button>
          <button type="submit" className="btn primary" data-testid="filter-apply">Apply</button>
          <button type="button" className="btn ghost" onClick={() => navigate(otherUser ? `/shows?user_id=${otherUser}` : '/shows')} data-testid="filter-clear">Clear</button>
        </div>
      </form>

      <ErrorText error={list.error} testid="shows-error" />
      {list.loading ? <Loading /> : null}
      {list.data && !list.data.shows.length ? (
        <Empty>
          No shows match. {otherUser ? null : <Link to="/shows/new">Log your first show</Link>}
        </Empty>
      ) : null}
      <p className="muted small" aria-live="polite" data-testid="shows-total">
        {list.data ? `${total} show${total === 1 ? '' : 's'}` : ''}
      </p>
      <ul className="show-list" data-testid="shows-list">
        {list.data?.shows.map((s) => <ShowCard key={String(s.id)} show={s} />)}
      </ul>
      {pages > 1 ? (
        <nav className="pager" aria-label="Pages">
          <button type="button" className="btn ghost" disabled={page <= 1} onClick={() => goPage(page - 1)} data-testid="page-prev">← Previous</button>
          <span>
            Page {page} of {pages}
          </span>
          <button type="button" className="btn ghost" disabled={page >= pages} onClick={() => goPage(page + 1)} data-testid="page-next">Next →</button>
        </nav>
      ) : null}
    </section>
  );
}
