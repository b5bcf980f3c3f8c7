import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { useState } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { shows } from '../api';
import type { Friendship } from '../api/types';
import { Autocomplete } from '../components/Autocomplete';
import { describeFeedItem } from '../pages/Feed';
import { otherUser } from '../pages/Friends';
import { draftFromShow, extrasFromDraft, inputFromDraft, requiredProblems } from '../pages/ShowForm';
import { queryFromSearch, searchFromQuery } from '../pages/Shows';
import { passwordProblem } from '../pages/auth/Register';
import { fakeFetch } from './fakes';

afterEach(() => vi.unstubAllGlobals());

describe('shows list URL state', () => {
  it('round-trips filters and page through the query string', () => {
    const q = queryFromSearch('?q=live&year=2024&filter=past&sort=date&page=3&junk=1');
    expect(q).toEqual({ q: 'live', year: '2024', filter: 'past', sort: 'date', page: 3 });
    expect(searchFromQuery({ q: 'live', artist: '', page: 1 })).toBe('?q=live');
    expect(searchFromQuery({ city: 'New York', page: 2 })).toBe('?city=New+York&page=2');
  });
  it('reads the total from X-Total-Count', async () => {
    const { fn, calls } = fakeFetch([['GET', /\/api\/shows\?/, () => ({ body: [{ id: 1 }], headers: { 'X-Total-Count': '41' } })]]);
    vi.stubGlobal('fetch', fn);
    const r = await shows.list({ limit: 20, offset: 40, artist: 'Muse', q: '' });
    expect(r.total).toBe(41);
    expect(calls[0].url).toBe('/api/shows?limit=20&offset=40&artist=Muse');
  });
});

describe('show form mapping', () => {
  it('maps a show to the form and back, sending null for cleared optional fields', () => {
    const d = draftFromShow({ id: 1, user_id: 1, artist_name: 'Muse', venue_name: 'O2', date: '2024-05-01', time: '19:30:00', visibility: 'public', rating: 4, venue: { id: 1, name: 'O2', city: 'London', country: 'UK' } });
    expect(d).toMatchObject({ artist_name: 'Muse', venue_location: 'London, UK', time: '19:30', rating: '4', visibility: 'public' });
    expect(inputFromDraft({ ...d, time: '', notes: '  ', rating: '' })).toEqual({ artist_name: 'Muse', venue_name: 'O2', venue_location: 'London, UK', date: '2024-05-01', time: null, notes: null, rating: null, visibility: 'public' });
  });
});

describe('show form bill, festival and ticket', () => {
  const base = { artist_name: 'Florence Vale', venue_name: 'Grant Park', venue_location: '', date: '2019-08-02', time: '', notes: '', rating: '', visibility: 'friends' as const };
  it('sends the bill with the headliner first, and only what was filled in', () => {
    expect(extrasFromDraft(base)).toEqual({});
    const d = { ...base, acts: [{ name: ' The Lanterns ', role: 'support' as const }, { name: '', role: 'guest' as const }], festival_name: 'Lollapalooza', festival_day: 'Friday', ticket_price: '120', currency: 'usd' };
    expect(extrasFromDraft(d)).toEqual({
      artists: [{ name: 'Florence Vale', role: 'headliner' }, { name: 'The Lanterns', role: 'support' }],
      festival: { name: 'Lollapalooza', day: 'Friday', stage: null },
      ticket_price: 120,
      currency: 'USD',
    });
  });
  it('clears what was emptied once edited, and reads a show back', () => {
    expect(extrasFromDraft({ ...base, extras_touched: true })).toEqual({ artists: [{ name: 'Florence Vale', role: 'headliner' }], festival: null, ticket_price: null, currency: null, seat: null });
    const d = draftFromShow({ id: 1, user_id: 1, artist_name: 'Florence Vale', venue_name: 'Grant Park', date: '2019-08-02', visibility: 'friends', festival: { name: 'Lolla', day: 'Fri' }, ticket_price: 99.5, currency: 'USD',
      lineup: [{ artist: { id: 1, name: 'Florence Vale' }, role: 'headliner', position: 1 }, { artist: { id: 2, name: 'The Lanterns' }, role: 'support', position: 2 }] });
    expect(d).toMatchObject({ acts: [{ name: 'The Lanterns', role: 'support' }], festival_name: 'Lolla', festival_day: 'Fri', ticket_price: '99.5', currency: 'USD' });
  });
});

describe('show form required fields', () => {
  it('names each missing required field', () => {
    expect(requiredProblems({ artist_name: ' ', venue_name: 'O2', date: '' })).toEqual({ artist_name: 'Enter the artist (or band).', date: 'Pick the date of the show.' });
    expect(requiredProblems({ artist_name: 'Muse', venue_name: 'O2', date: '2024-01-01' })).toEqual({});
  });
});

describe('friends and feed helpers', () => {
  it('finds the other person of a friendship row', () => {
    const f: Friendship = { id: 1, user_id: 1, friend_id: 2, status: 'pending', created_at: '', user: { id: 1, username: 'ann' }, friend: { id: 2, username: 'bob' } };
    expect(otherUser(f, 1).username).toBe('bob');
    expect(otherUser(f, 2).username).toBe('ann');
    expect(otherUser({ id: 1, user_id: 1, friend_id: 9, status: 'accepted', created_at: '' }, 1)).toEqual({ id: 9, username: 'user 9' });
  });
  it('describes feed items of shows and media', () => {
    expect(describeFeedItem({ type: 'show.created', user: { id: 2, username: 'bob' }, show: { id: 5, artist_name: 'Muse', venue_name: 'O2' } })).toEqual({ who: 'bob', what: 'went to a show', showId: '5', title: 'Muse at O2' });
    expect(describeFeedItem({ type: 'media.ready', user: { id: 2, username: 'bob' }, media: { id: 3, kind: 'photo', show_id: 5, show_name: 'Muse at O2' } })).toMatchObject({ what: 'added a photo', showId: '5', title: 'Muse at O2' });
  });
  it('checks the password rule locally before the API does', () => {
    expect(passwordProblem('short', '')).toMatch(/At least 15 characters \(5 so far\)/);
    expect(passwordProblem('correct horse battery', 'correct horse battery')).toBeNull();
    expect(passwordProblem('correct horse battery', 'different')).toMatch(/differ/);
  });
});

describe('Autocomplete', () => {
  it('searches as you type and picks with the keyboard', async () => {
    const fetchArtists = vi.fn(async (q: string) => [{ id: 1, name: `${q}e` }, { id: 2, name: `${q}eum` }]);
    const picked = vi.fn();
    function Harness() {
      const [v, setV] = useState('');
      return (
        <Autocomplete<{ id: number; name: string }>
          label="Artist"
          name="artist"
          testid="artist"
          value={v}
          onChange={setV}
          onPick={picked}
          fetch={fetchArtists}
          toSuggestion={(a) => ({ key: String(a.id), label: a.name })}
        />
      );
    }
    render(<Harness />);
    const input = screen.getByRole('combobox', { name: 'Artist' });
    fireEvent.change(input, { target: { value: 'Mus' } });
    await waitFor(() => expect(screen.getAllByRole('option')).toHaveLength(2));
    expect(fetchArtists).toHaveBeenCalledWith('Mus', expect.any(AbortSignal));
    fireEvent.keyDown(input, { key: 'ArrowDown' });
    fireEvent.keyDown(input, { key: 'ArrowDown' });
    expect(input.getAttribute('aria-activedescendant')).toMatch(/opt-1$/);
    fireEvent.keyDown(input, { key: 'Enter' });
    expect(picked).toHaveBeenCalledWith({ id: 2, name: 'Museum' });
  });

  it('asks the API for artists with ?q=', async () => {
    const { fn, calls } = fakeFetch([['GET', /\/api\/artists/, () => ({ body: { artists: [{ id: 1, name: 'Muse' }], total: 1 } })]]);
    vi.stubGlobal('fetch', fn);
    expect(await shows.artists('mu')).toEqual([{ id: 1, name: 'Muse' }]);
    expect(calls[0].url).toBe('/api/artists?q=mu&limit=8');
  });
});
