import { useState } from 'react';
import { media, type Id, type MediaRecord, type SetlistSong } from '../api';
import { formatDuration } from '../lib/format';
import { ErrorText, useAction } from './ui';

/** The songs to tick at first: what the owner confirmed, else what the timing suggests. */
export function initialSongIds(rec: MediaRecord): string[] {
  if (rec.song_ids?.length) return rec.song_ids.map(String);
  return (rec.song_suggestions ?? []).map((s) => String(s.song_id));
}

/** "Songs in this clip" on the owner's video or recording: the suggestions pre-ticked, saved as `song_ids`. */
export function ClipSongs({ rec, setlist, onSaved }: { rec: MediaRecord; setlist: SetlistSong[]; onSaved: (rec: MediaRecord) => void }) {
  const [ticked, setTicked] = useState<Set<string>>(() => new Set(initialSongIds(rec)));
  const [saved, setSaved] = useState(false);
  const suggested = new Map((rec.song_suggestions ?? []).map((s) => [String(s.song_id), s]));
  const save = useAction(async () => {
    const ids: Id[] = setlist.filter((s) => ticked.has(String(s.id))).map((s) => s.id);
    const updated = await media.setSongs(rec.kind === 'audio' ? 'audio' : 'video', rec.id, ids);
    setSaved(true);
    onSaved({ ...rec, ...updated, song_ids: updated.song_ids ?? ids });
  });
  if (!setlist.length || (rec.kind !== 'video' && rec.kind !== 'audio')) return null;
  const toggle = (id: string) => {
    setSaved(false);
    setTicked((t) => {
      const next = new Set(t);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  };
  return (
    <details className="clip-songs" data-testid="clip-songs" open={!rec.song_ids?.length && suggested.size > 0}>
      <summary>Songs in this clip{rec.song_ids?.length ? ` (${rec.song_ids.length})` : suggested.size ? ' — suggested' : ''}</summary>
      <ul>
        {setlist.map((s) => {
          const id = String(s.id);
          const hint = suggested.get(id);
          return (
            <li key={id} data-testid="clip-song" data-song-id={id}>
              <label>
                <input type="checkbox" checked={ticked.has(id)} onChange={() => toggle(id)} data-testid={`clip-song-${id}`} /> {s.title}
                {hint ? (
                  <span className="muted small" data-testid="clip-song-suggested">
                    {' '}suggested{typeof hint.start_s === 'number' ? ` at ${formatDuration(hint.start_s)}` : ''}
                  </span>
                ) : null}
              </label>
            </li>
          );
        })}
      </ul>
      <button type="button" className="btn small primary" onClick={() => void save.run()} disabled={save.pending} data-testid="clip-songs-save">Save songs</button>
      {saved ? <span className="muted small" role="status" data-testid="clip-songs-saved"> Saved</span> : null}
      <ErrorText error={save.error} testid="clip-songs-error" />
    </details>
  );
}
