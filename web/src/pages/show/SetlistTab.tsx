import { useEffect, useState, type DragEvent, type FormEvent } from 'react';
import { media, shows, type SetlistSong, type ShowDetail } from '../../api';
import { SongClips } from '../../components/SongClips';
import { Empty, ErrorText, FormError, SelectField, TextField, fieldError, useAction } from '../../components/ui';
import { dropIndex, isDuration, moveSong, normalise } from '../../lib/setlist';
import { SetlistImport } from './SetlistImport';

const EMPTY = { title: '', duration: '', is_cover: false, original_artist: '', with_artist: '', songwriter: '', notes: '', act: '' };

export function SetlistTab({ show, onChanged }: { show: ShowDetail; onChanged: (songs: SetlistSong[]) => void }) {
  const [songs, setSongs] = useState<SetlistSong[]>(normalise(show.setlist ?? []));
  const [draft, setDraft] = useState(EMPTY);
  const [more, setMore] = useState(false);
  const [dragFrom, setDragFrom] = useState<number | null>(null);
  const [dragOver, setDragOver] = useState<{ i: number; after: boolean } | null>(null);
  const [announce, setAnnounce] = useState('');
  const [clipCounts, setClipCounts] = useState<Record<string, number>>({});
  const [clipsOf, setClipsOf] = useState<SetlistSong | null>(null);

  // a camera by each song someone filmed (no icons when the count cannot be had)
  useEffect(() => {
    let live = true;
    media
      .clipCounts(show.id)
      .then((r) => live && setClipCounts(Object.fromEntries(r.songs.filter((x) => x.clips > 0).map((x) => [String(x.song_id), x.clips]))))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [show.id]);
  const owner = show.is_owner !== false;

  useEffect(() => {
    setSongs(normalise(show.setlist ?? []));
  }, [show.setlist]);

  const refresh = async () => {
    try {
      const fresh = normalise(await shows.setlist(show.id));
      setSongs(fresh);
      onChanged(fresh);
    } catch {
      /* keep the optimistic list; the error of the failed change is shown */
    }
  };

  const add = useAction(async () => {
    if (!isDuration(draft.duration)) throw new Error('Duration must look like 3:45 (minutes:seconds).');
    await shows.addSong(show.id, {
      title: draft.title.trim(),
      duration: draft.duration.trim() || undefined,
      is_cover: draft.is_cover,
      original_artist: draft.is_cover ? draft.original_artist.trim() || undefined : undefined,
      with_artist: draft.with_artist.trim() || undefined,
      songwriter: draft.songwriter.trim() || undefined,
      notes: draft.notes.trim() || undefined,
      artist_id: draft.act || undefined,
    });
    setDraft((d) => ({ ...EMPTY, notes: d.notes, act: d.act }));
    await refresh();
  });

  const move = useAction(async (from: number, to: number) => {
    const next = moveSong(songs, from, to);
    if (next === songs || to < 0 || to >= songs.length || from === to) return;
    const song = songs[from];
    setSongs(next);
    setAnnounce(`${song.title} moved to position ${to + 1} of ${songs.length}.`);
    try {
      await shows.updateSong(show.id, song.id, { order: to + 1 });
    } finally {
      await refresh();
    }
  });

  const remove = useAction(async (song: SetlistSong) => {
    setSongs((s) => normalise(s.filter((x) => x.id !== song.id)));
    try {
      await shows.deleteSong(show.id, song.id);
    } finally {
      await refresh();
    }
  });

  const onDragStart = (i: number) => (e: DragEvent) => {
    setDragFrom(i);
    e.dataTransfer.effectAllowed = 'move';
    e.dataTransfer.setData('text/plain', String(i));
  };
  const onDragOver = (i: number) => (e: DragEvent<HTMLLIElement>) => {
    if (dragFrom === null) return;
    e.preventDefault();
    const rect = e.currentTarget.getBoundingClientRect();
    setDragOver({ i, after: e.clientY > rect.top + rect.height / 2 });
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    if (dragFrom !== null && dragOver) void move.run(dragFrom, dropIndex(dragFrom, dragOver.i, dragOver.after));
    setDragFrom(null);
    setDragOver(null);
  };

  const set = (k: keyof typeof EMPTY) => (e: { target: { value: string } }) => setDraft((d) => ({ ...d, [k]: e.target.value }));
  const acts = show.lineup ?? [];
  const actName = (id: SetlistSong['artist_id']) => acts.find((a) => String(a.artist.id) === String(id))?.artist.name;

  return (
    <div className="panel">
      <h2>Setlist</h2>
      <p className="sr-only" aria-live="polite">{announce}</p>
      {!songs.length ? <Empty>No songs yet.{owner ? ' Add the first one below.' : ''}</Empty> : null}
      <ol className="setlist" data-testid="setlist">
        {songs.map((s, i) => (
          <li
            key={String(s.id)}
            className={`song${dragFrom === i ? ' dragging' : ''}${dragOver?.i === i ? (dragOver.after ? ' drop-after' : ' drop-before') : ''}`}
            draggable={owner}
            onDragStart={owner ? onDragStart(i) : undefined}
            onDragOver={owner ? onDragOver(i) : undefined}
            onDrop={owner ? onDrop : undefined}
            onDragEnd={() => {
              setDragFrom(null);
              setDragOver(null);
            }}
            data-testid="setlist-song"
            data-song-id={String(s.id)}
          >
            {owner ? <span className="handle" aria-hidden="true" title="Drag to reorder">⠿</span> : null}
            <span className="song-no">{s.order}</span>
            <span className="song-main">
              <span className="song-title" data-testid="setlist-song-title">{s.title}</span>
              <span className="song-extra">
                {s.artist_id && actName(s.artist_id) ? <span className="chip" data-testid="setlist-song-act">{actName(s.artist_id)}</span> : null}
                {s.is_tape ? <span className="chip" data-testid="setlist-song-tape">tape</span> : null}
                {s.encore ? <span className="chip" data-testid="setlist-song-encore">{s.set_name || `encore ${s.encore}`}</span> : s.set_name ? <span className="chip">{s.set_name}</span> : null}
                {s.is_cover ? <span className="chip">cover{s.original_artist ? ` of ${s.original_artist}` : ''}</span> : null}
                {s.with_artist ? <span className="chip">with {s.with_artist}</span> : null}
                {s.songwriter ? <span className="muted small">written by {s.songwriter}</span> : null}
                {s.notes ? <span className="muted small">{s.notes}</span> : null}
              </span>
            </span>
            {s.duration ? <span className="song-duration">{s.duration}</span> : null}
            {clipCounts[String(s.id)] ? (
              <button
                type="button"
                className="btn icon clips"
                onClick={() => setClipsOf(s)}
                aria-label={`${clipCounts[String(s.id)]} clip${clipCounts[String(s.id)] === 1 ? '' : 's'} of ${s.title}`}
                data-testid="setlist-song-clips"
                data-song-id={String(s.id)}
              >
                <svg className="cam" viewBox="0 0 24 24" aria-hidden="true" fill="currentColor">
                  <path d="M4 6h11a2 2 0 0 1 2 2v1.5l4-2.5v10l-4-2.5V16a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2z" />
                </svg>{' '}
                {clipCounts[String(s.id)]}
              </button>
            ) : null}
            {owner ? (
              <span className="song-actions">
                <button type="button" className="btn icon" onClick={() => void move.run(i, i - 1)} disabled={i === 0 || move.pending} aria-label={`Move ${s.title} up`} data-testid={`song-up-${i + 1}`}>↑</button>
                <button type="button" className="btn icon" onClick={() => void move.run(i, i + 1)} disabled={i === songs.length - 1 || move.pending} aria-label={`Move ${s.title} down`} data-testid={`song-down-${i + 1}`}>↓</button>
                <button type="button" className="btn icon danger" onClick={() => void remove.run(s)} aria-label={`Delete ${s.title}`} data-testid={`song-delete-${i + 1}`}>✕</button>
              </span>
            ) : null}
          </li>
        ))}
      </ol>
      <ErrorText error={move.error ?? remove.error} testid="setlist-error" />
      {clipsOf ? <SongClips showId={show.id} song={clipsOf} onClose={() => setClipsOf(null)} /> : null}

      {owner ? <SetlistImport show={show} onImported={() => void refresh()} /> : null}
      {owner ? (
        <form
          className="song-form"
          noValidate
          data-testid="song-form"
          onSubmit={(e: FormEvent) => {
            e.preventDefault();
            void add.run();
          }}
        >
          <h3>Add a song</h3>
          <div className="row gap wrap">
            {acts.length > 1 ? (
              <SelectField label="Act" name="act" testid="song-act" value={draft.act} onChange={set('act')}>
                <option value="">{acts[0].artist.name}</option>
                {acts.slice(1).map((a) => <option key={String(a.artist.id)} value={String(a.artist.id)}>{a.artist.name}</option>)}
              </SelectField>
            ) : null}
            <TextField label="Song title" name="title" testid="song-title" required value={draft.title} onChange={set('title')} error={fieldError(add.error, 'title', 'song_name')} />
            <TextField label="Duration (m:ss)" name="duration" testid="song-duration" placeholder="3:45" value={draft.duration} onChange={set('duration')} error={fieldError(add.error, 'duration') ?? (draft.duration && !isDuration(draft.duration) ? 'Use minutes:seconds, e.g. 3:45.' : undefined)} />
          </div>
          <label className="check">
            <input type="checkbox" checked={draft.is_cover} onChange={(e) => setDraft((d) => ({ ...d, is_cover: e.target.checked }))} data-testid="song-cover" /> It’s a cover
          </label>
          {draft.is_cover ? <TextField label="Original artist" name="original_artist" testid="song-original-artist" value={draft.original_artist} onChange={set('original_artist')} error={fieldError(add.error, 'original_artist')} /> : null}
          <button type="button" className="btn ghost small" aria-expanded={more} onClick={() => setMore((m) => !m)} data-testid="song-more">
            {more ? 'Fewer details' : 'More details'}
          </button>
          {more ? (
            <div className="row gap wrap">
              <TextField label="Guest artist" name="with_artist" testid="song-guest" value={draft.with_artist} onChange={set('with_artist')} error={fieldError(add.error, 'with_artist')} />
              <TextField label="Songwriter" name="songwriter" testid="song-songwriter" value={draft.songwriter} onChange={set('songwriter')} error={fieldError(add.error, 'songwriter')} />
              <TextField label="Notes (set, encore…)" name="notes" testid="song-notes" value={draft.notes} onChange={set('notes')} error={fieldError(add.error, 'notes')} />
            </div>
          ) : null}
          <FormError error={add.error} fields={['title', 'song_name', 'duration', 'original_artist', 'with_artist', 'songwriter', 'notes']} testid="song-error" />
          <button type="submit" className="btn primary" disabled={add.pending || !draft.title.trim()} data-testid="song-add">
            {add.pending ? 'Adding…' : 'Add song'}
          </button>
        </form>
      ) : null}
    </div>
  );
}
