import { useEffect, useState, type FormEvent } from 'react';
import { shows, type Artist, type Show, type ShowInput, type Venue, type Visibility } from '../api';
import { Autocomplete } from '../components/Autocomplete';
import { ErrorText, FormError, Loading, SelectField, TextArea, TextField, fieldError, useAction, useLoad } from '../components/ui';
import { showPlace } from '../lib/format';
import { Link, navigate } from '../lib/router';

interface Draft {
  artist_name: string;
  venue_name: string;
  venue_location: string;
  date: string;
  time: string;
  notes: string;
  rating: string;
  visibility: Visibility;
}

const EMPTY: Draft = { artist_name: '', venue_name: '', venue_location: '', date: '', time: '', notes: '', rating: '', visibility: 'friends' };

export function draftFromShow(s: Show): Draft {
  return {
    artist_name: s.artist_name || s.artist?.name || '',
    venue_name: s.venue_name || s.venue?.name || '',
    venue_location: showPlace(s),
    date: s.date || '',
    time: (s.time || '').slice(0, 5),
    notes: s.notes || '',
    rating: s.rating ? String(s.rating) : '',
    visibility: s.visibility || 'friends',
  };
}

export function inputFromDraft(d: Draft): ShowInput {
  return {
    artist_name: d.artist_name.trim(),
    venue_name: d.venue_name.trim(),
    venue_location: d.venue_location.trim() || undefined,
    date: d.date,
    time: d.time || null,
    notes: d.notes.trim() || null,
    rating: d.rating ? Number(d.rating) : null,
    visibility: d.visibility,
  };
}

/** Friendly messages for the required fields, before the API is asked. */
export function requiredProblems(d: Pick<Draft, 'artist_name' | 'venue_name' | 'date'>): Record<string, string> {
  const out: Record<string, string> = {};
  if (!d.artist_name.trim()) out.artist_name = 'Enter the artist (or band).';
  if (!d.venue_name.trim()) out.venue_name = 'Enter the venue.';
  if (!d.date) out.date = 'Pick the date of the show.';
  return out;
}

const FIELDS = ['artist_name', 'venue_name', 'venue_location', 'city', 'state', 'country', 'date', 'time', 'notes', 'rating', 'visibility'];

function ShowFormView({ initial, onSubmit, submitLabel, cancelTo }: { initial: Draft; onSubmit: (input: ShowInput) => Promise<void>; submitLabel: string; cancelTo: string }) {
  const [d, setD] = useState<Draft>(initial);
  const [local, setLocal] = useState<Record<string, string>>({});
  const a = useAction(async () => onSubmit(inputFromDraft(d)));
  const set = (k: keyof Draft) => (e: { target: { value: string } }) => setD((x) => ({ ...x, [k]: e.target.value }));
  const err = (...n: string[]) => local[n[0]] ?? fieldError(a.error, ...n);
  const submit = () => {
    const problems = requiredProblems(d);
    setLocal(problems);
    if (!Object.keys(problems).length) void a.run();
  };
  return (
    <form
      className="form-grid"
      noValidate
      data-testid="show-form"
      onSubmit={(e: FormEvent) => {
        e.preventDefault();
        submit();
      }}
    >
      <Autocomplete<Artist>
        label="Artist"
        name="artist_name"
        testid="show-artist"
        required
        value={d.artist_name}
        onChange={(v) => setD((x) => ({ ...x, artist_name: v }))}
        onPick={(art) => setD((x) => ({ ...x, artist_name: art.name }))}
        fetch={(q, signal) => shows.artists(q, signal)}
        toSuggestion={(art) => ({ key: String(art.id), label: art.name })}
        error={err('artist_name', 'artist')}
      />
      <Autocomplete<Venue>
        label="Venue"
        name="venue_name"
        testid="show-venue"
        required
        value={d.venue_name}
        onChange={(v) => setD((x) => ({ ...x, venue_name: v }))}
        onPick={(v) => setD((x) => ({ ...x, venue_name: v.name, venue_location: v.location || [v.city, v.state || v.country].filter(Boolean).join(', ') || x.venue_location }))}
        fetch={(q, signal) => shows.venues(q, signal)}
        toSuggestion={(v) => ({ key: String(v.id), label: v.name, detail: v.location || [v.city, v.state || v.country].filter(Boolean).join(', ') })}
        error={err('venue_name', 'venue')}
      />
      <TextField label="City" name="venue_location" testid="show-location" placeholder="City, ST or City, Country" value={d.venue_location} onChange={set('venue_location')} error={err('venue_location', 'city', 'state', 'country')} />
      <div className="row gap">
        <TextField label="Date" name="date" testid="show-date" type="date" required value={d.date} onChange={set('date')} error={err('date')} />
        <TextField label="Time (optional)" name="time" testid="show-time" type="time" value={d.time} onChange={set('time')} error={err('time')} />
      </div>
      <fieldset className="rating-field" data-testid="show-rating">
        <legend>Rating</legend>
        <div className="rating-options">
          {['', '1', '2', '3', '4', '5'].map((r) => (
            <label key={r || 'none'} className="rating-option">
              <input type="radio" name="rating" value={r} checked={d.rating === r} onChange={set('rating')} data-testid={`show-rating-${r || 'none'}`} />
              <span>{r ? `${'★'.repeat(Number(r))}` : 'None'}</span>
              <span className="sr-only">{r ? `${r} of 5` : 'No rating'}</span>
            </label>
          ))}
        </div>
        {err('rating') ? <p className="error-text" data-testid="show-rating-error">{err('rating')}</p> : null}
      </fieldset>
      <SelectField label="Who can see it" name="visibility" testid="show-visibility" value={d.visibility} onChange={set('visibility')} error={err('visibility', 'visible_to')}>
        <option value="private">Only me</option>
        <option value="friends">My friends</option>
        <option value="public">Everyone signed in</option>
      </SelectField>
      <TextArea label="Notes" name="notes" testid="show-notes" rows={4} value={d.notes} onChange={set('notes')} error={err('notes')} />
      <FormError error={a.error} fields={FIELDS} testid="show-form-error" />
      <div className="row gap">
        <button type="submit" className="btn primary" disabled={a.pending} data-testid="show-submit">
          {a.pending ? 'Saving…' : submitLabel}
        </button>
        <Link to={cancelTo} className="btn ghost">Cancel</Link>
      </div>
    </form>
  );
}

export function ShowNewPage() {
  return (
    <section className="page narrow">
      <h1>Add a show</h1>
      <ShowFormView
        initial={EMPTY}
        submitLabel="Save show"
        cancelTo="/shows"
        onSubmit={async (input) => {
          const s = await shows.create(input);
          navigate(`/shows/${s.id}?tab=setlist`, { replace: true });
        }}
      />
    </section>
  );
}

export function ShowEditPage({ params }: { params: Record<string, string> }) {
  const { data, error, loading } = useLoad(() => shows.get(params.id), [params.id]);
  const [ready, setReady] = useState<Draft | null>(null);
  useEffect(() => {
    if (data) setReady(draftFromShow(data));
  }, [data]);
  return (
    <section className="page narrow">
      <h1>Edit show</h1>
      {loading ? <Loading /> : null}
      <ErrorText error={error} />
      {ready ? (
        <ShowFormView
          initial={ready}
          submitLabel="Save changes"
          cancelTo={`/shows/${params.id}`}
          onSubmit={async (input) => {
            await shows.update(params.id, input);
            navigate(`/shows/${params.id}`, { replace: true });
          }}
        />
      ) : null}
    </section>
  );
}
