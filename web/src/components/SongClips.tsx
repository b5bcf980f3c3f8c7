import { media, type Id, type SetlistSong } from '../api';
import { AudioPlayer } from './AudioPlayer';
import { VideoPlayer } from './VideoPlayer';
import { Empty, ErrorText, Loading, useLoad } from './ui';
import { formatTime } from '../lib/format';

/** Every visible clip of one song at this concert, from every attendee, each playable. */
export function SongClips({ showId, song, onClose }: { showId: Id; song: SetlistSong; onClose: () => void }) {
  const clips = useLoad(() => media.songClips(showId, song.id), [showId, song.id]);
  return (
    <section className="song-clips panel" data-testid="song-clips" data-song-id={String(song.id)} aria-label={`Clips of ${song.title}`}>
      <div className="row between">
        <h3>Clips of “{song.title}”</h3>
        <button type="button" className="btn ghost small" onClick={onClose} data-testid="song-clips-close">Close</button>
      </div>
      {clips.loading ? <Loading /> : null}
      <ErrorText error={clips.error} testid="song-clips-error" />
      {clips.data && !clips.data.items.length ? <Empty>No clips of this song.</Empty> : null}
      <ul className="recordings">
        {clips.data?.items.map((m) => (
          <li key={`${m.kind}-${m.id}`} className="recording" data-testid="song-clip" data-media-id={String(m.id)} data-kind={m.kind}>
            <p className="small">
              <strong data-testid="song-clip-user">{m.user?.username ?? 'someone'}</strong>
              <span className="muted"> {m.title || m.original_filename || ''} {m.taken_at ? `· ${formatTime(m.taken_at)}` : ''}</span>
            </p>
            {m.status !== 'ready' ? <span className="muted small">Processing…</span> : m.kind === 'audio' ? <AudioPlayer rec={m} /> : <VideoPlayer rec={m} />}
          </li>
        ))}
      </ul>
    </section>
  );
}
