import { useEffect, useState, type FormEvent } from 'react';
import { shows, type ActRole, type Artist, type Show, type ShowInput, type Venue, type Visibility } from '../api';
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
  /** The other acts of the bill (the headliner is `artist_name`). */
  acts?: { name: string; role: ActRole }[];
  festival_name?: string;
  festival_day?: string;
  festival_stage?: string;
  ticket_price?: string;
  currency?: string;
  seat?: string;
  /** The bill, festival or ticket were edited: send them even when emptied. */
  extras_touched?: boolean;
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
    ...(s.lineup && s.lineup.length > 1 ? { acts: s.lineup.slice(1).map((a) => ({ name: a.artist.name, role: a.role })) } : {}),
    ...(s.festival ? { festival_name: s.festival.name, festival_day: s.festival.day ?? '', festival_stage: s.festival.stage ?? '' } : {}),
    ...(s.ticket_price !== null && s.ticket_price !== undefined ? { ticket_price: String(s.ticket_price), currency: s.currency ?? '' } : {}),
    ...(s.seat ? { seat: s.seat } : {}),
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
    ...extrasFromDraft(d),
  };
}

/** The bill, festival and ticket fields of a draft (only what was filled in, or all of them once edited). */
export function extrasFromDraft(d: Draft): Partial<ShowInput> {
  const out: Partial<ShowInput> = {};
  const acts = (d.acts ?? []).filter((a) => a.name.trim());
  if (acts.length || d.extras_touched) {
    out.artists = [{ name: d.artist_name.trim(), role: 'headliner' }, ...acts.map((a) => ({ name: a.name.trim(), role: a.role }))];
  }
  if (d.festival_name?.trim()) {
    out.festival = { name: d.festival_name.trim(), day: d.festival_day?.trim() || null, stage: d.festival_stage?.trim() || null };
  } else if (d.extras_touched) out.festival = null;
  if (d.ticket_price?.trim()) {
    out.ticket_price = Number(d.ticket_price);
    out.currency = d.currency?.trim().toUpperCase() || null;
  } else if (d.extras_touched) {
    out.ticket_price = null;
    out.currency = null;
  }
  if (d.seat?.trim() || d.extras_touched) out.seat = d.seat?.trim() || null;
  return out;
}

function LineupEditor({ d, setD }: { d: Draft; setD: (fn: (x: Draft) => Draft) => void }) {
  const acts = d.acts ?? [];
  const change = (i: number, patch: Partial<{ name: string; role: ActRole }>) =>
    setD((x) => ({ ...x, extras_touched: true, acts: (x.acts ?? []).map((a, j) => (j === i ? { ...a, ...patch } : a)) }));
  const text = (k: 'festival_name' | 'festival_day' | 'festival_stage' | 'ticket_price' | 'currency' | 'seat') => (e: { target: { value: string } }) =>
    setD((x) => ({ ...x, extras_touched: true, [k]: e.target.value }));
  return (
    <fieldset className="lineup-editor" data-testid="lineup-editor">
      <legend>Bill, festival and ticket</legend>
      <p className="hint">The artist above headlines. Add the support acts and guests you saw.</p>
      {acts.map((a, i) => (
        <div className="row gap" key={i} data-testid="lineup-row">
          <TextField label={`Act ${i + 2}`} name={`act-${i}`} testid={`lineup-act-name-${i + 1}`} value={a.name} onChange={(e) => change(i, { name: e.target.value })} />
          <SelectField label="Role" name={`role-${i}`} testid={`lineup-act-role-${i + 1}`} value={a.role} onChange={(e) => change(i, { role: e.target.value as ActRole })}>
            <option value="support">Support</option>
            <option value="guest">Guest</option>
            <option value="headliner">Co-headliner</option>
          </SelectField>
          <button type="button" className="btn icon danger" aria-label={`Remove ${a.name || 'act'}`} data-testid={`lineup-act-remove-${i + 1}`}
            onClick={() => setD((x) => ({ ...x, extras_touched: true, acts: (x.acts ?? []).filter((_, j) => j !== i) }))}>✕</button>
        </div>
      ))}
      <button type="button" className="btn ghost small" data-testid="lineup-add" onClick={() => setD((x) => ({ ...x, extras_touched: true, acts: [...(x.acts ?? []), { name: '', role: 'support' }] }))}>
        + Add an act
      </button>
      <div className="row gap wrap">
        <TextField label="Festival (optional)" name="festival_name" testid="show-festival-name" value={d.festival_name ?? ''} onChange={text('festival_name')} />
        <TextField label="Day" name="festival_day" testid="show-festival-day" value={d.festival_day ?? ''} onChange={text('festival_day')} />
        <TextField label="Stage" name="festival_stage" testid="show-festival-stage" value={d.festival_stage ?? ''} onChange={text('festival_stage')} />
      </div>
      <div className="row gap wrap">
        <TextField label="Ticket price" name="ticket_price" testid="show-ticket-price" inputMode="decimal" value={d.ticket_price ?? ''} onChange={text('ticket_price')} />
        <TextField label="Currency" name="currency" testid="show-currency" placeholder="USD" maxLength={3} value={d.currency ?? ''} onChange={text('currency')} />
        <TextField label="Seat" name="seat" testid="show-seat" value={d.seat ?? ''} onChange={text('seat')} />
      </div>
    </fieldset>
  );
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
        toSuggestion={(art) => ({ key: String(art.id), label: art.name, detail: (art as Artist & { disambiguation?: string }).disambiguation || undefined })}
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
      <LineupEditor d={d} setD={setD} />
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
