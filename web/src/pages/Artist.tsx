// One artist: the catalogue's facts, when I have seen them, songs heard and not heard yet.
import { useState } from 'react';
import { catalog, stats, type Id, type Job } from '../api';
import { JobProgress } from '../components/JobProgress';
import { Empty, ErrorText, Loading, useAction, useLoad } from '../components/ui';
import { formatDate } from '../lib/format';
import { Link } from '../lib/router';

interface Candidate {
  mbid: string;
  name: string;
  disambiguation: string;
  score: number;
}

export function ArtistPage({ params }: { params: Record<string, string> }) {
  const hist = useLoad(() => stats.artist(params.id), [params.id]);
  const [jobId, setJobId] = useState<Id | null>(null);
  const [candidates, setCandidates] = useState<Candidate[]>([]);
  const lookup = useAction(async (mbid?: string) => {
    setJobId(null);
    setCandidates([]);
    setJobId((await catalog.lookupArtist(params.id, mbid)).job_id);
  });
  const done = (job: Job) => {
    if (job.status !== 'succeeded') return;
    if (job.result?.ambiguous) setCandidates((job.result.candidates as Candidate[]) ?? []);
    else hist.reload();
  };
  if (hist.loading && !hist.data) return <Loading />;
  if (!hist.data) return <ErrorText error={hist.error} />;
  const h = hist.data;
  const a = h.artist;
  return (
    <section className="page" data-testid="artist-page" data-artist-id={String(a.id)}>
      <div className="artist-head">
        {a.image_url ? <img className="artist-image" src={a.image_url} alt="" data-testid="artist-image" onError={(e) => { e.currentTarget.style.display = 'none'; }} /> : null}
        <div>
          <h1 data-testid="artist-name">{a.name}</h1>
          {a.disambiguation ? <p className="muted" data-testid="artist-disambiguation">{a.disambiguation}</p> : null}
          {a.description ? <p data-testid="artist-description">{a.description}</p> : null}
          {a.aliases?.length ? <p className="muted small">Also known as {a.aliases.join(', ')}</p> : null}
          <button type="button" className="btn ghost small" onClick={() => void lookup.run()} disabled={lookup.pending} data-testid="artist-lookup">
            {a.mbid ? 'Refresh from MusicBrainz' : 'Look up on MusicBrainz'}
          </button>
          <ErrorText error={lookup.error} testid="artist-lookup-error" />
          <JobProgress jobId={jobId} testid="artist-lookup-job" onDone={done} />
          {candidates.length ? (
            <div className="panel" data-testid="artist-candidates">
              <p>Several artists have this name. Which one did you see?</p>
              {candidates.map((c) => (
                <button key={c.mbid} type="button" className="btn small" data-testid="artist-candidate" onClick={() => void lookup.run(c.mbid)}>
                  {c.name}{c.disambiguation ? ` (${c.disambiguation})` : ''}
                </button>
              ))}
            </div>
          ) : null}
        </div>
      </div>
      <ul className="stat-grid" aria-label="Your history with this artist">
        <li className="stat-card" data-testid="artist-shows-count"><span className="stat-value">{h.shows.length}</span><span className="stat-label">Shows</span></li>
        <li className="stat-card"><span className="stat-value" data-testid="artist-first-seen">{h.first_seen ? formatDate(h.first_seen) : '–'}</span><span className="stat-label">First seen</span></li>
        <li className="stat-card"><span className="stat-value" data-testid="artist-last-seen">{h.last_seen ? formatDate(h.last_seen) : '–'}</span><span className="stat-label">Last seen</span></li>
        <li className="stat-card" data-testid="artist-coverage">
          <span className="stat-value">{h.songs_heard}{h.songs_known !== null ? ` / ${h.songs_known}` : ''}</span>
          <span className="stat-label">{h.songs_known !== null ? 'songs heard live of those they recorded' : 'songs heard live'}</span>
        </li>
      </ul>
      <div className="grid-2">
        <div className="panel">
          <h2>When I saw them</h2>
          {!h.shows.length ? <Empty>You have not logged a show with them yet.</Empty> : null}
          <ul className="plain" data-testid="artist-shows">
            {h.shows.map((s) => (
              <li key={String(s.show_id)} data-testid="artist-show">
                <Link to={`/shows/${s.show_id}`}>{formatDate(s.date)} — {s.venue.name}{s.venue.city ? `, ${s.venue.city}` : ''}</Link>
                {s.festival ? <span className="muted small"> ({s.festival})</span> : null} <span className="chip">{s.role}</span>
              </li>
            ))}
          </ul>
        </div>
        <div className="panel">
          <h2>Songs heard live</h2>
          {!h.heard.length ? <Empty>No setlist songs yet.</Empty> : null}
          <ol className="plain" data-testid="artist-heard">
            {h.heard.map((s) => <li key={s.title} data-testid="artist-heard-song">{s.title} <span className="muted small">×{s.times_heard}</span></li>)}
          </ol>
          <h2>Not heard yet</h2>
          {h.songs_known === null ? <Empty>Look the artist up on MusicBrainz to see the songs you have not heard yet.</Empty> : null}
          <ul className="plain" data-testid="artist-not-heard">
            {h.not_heard.map((t) => <li key={t} data-testid="artist-not-heard-song">{t}</li>)}
          </ul>
        </div>
      </div>
    </section>
  );
}
