// Import a show's setlist from setlist.fm or MusicBrainz in the background, with the job's progress.
import { useState } from 'react';
import { catalog, type Id, type ShowDetail } from '../../api';
import { JobProgress } from '../../components/JobProgress';
import { ErrorText, SelectField, TextField, useAction, useLoad } from '../../components/ui';

export function SetlistImport({ show, onImported }: { show: ShowDetail; onImported: () => void }) {
  const sources = useLoad(() => catalog.sources(), []);
  const [source, setSource] = useState<'setlistfm' | 'musicbrainz'>('setlistfm');
  const [externalId, setExternalId] = useState('');
  const [replace, setReplace] = useState(false);
  const [act, setAct] = useState('');
  const [jobId, setJobId] = useState<Id | null>(null);
  const state = sources.data?.sources[source];
  const start = useAction(async () => {
    setJobId(null);
    const accepted = await catalog.importSetlist(show.id, {
      source,
      external_id: externalId.trim() || undefined,
      replace,
      artist_id: act || undefined,
    });
    setJobId(accepted.job_id);
  });
  const acts = show.lineup ?? [];
  return (
    <details className="panel import-panel" data-testid="setlist-import">
      <summary>Import the setlist</summary>
      <div className="row gap wrap">
        <SelectField label="From" name="source" testid="setlist-import-source" value={source} onChange={(e) => setSource(e.target.value as 'setlistfm' | 'musicbrainz')}>
          <option value="setlistfm">setlist.fm{sources.data && !sources.data.sources.setlistfm.configured ? ' (not configured)' : ''}</option>
          <option value="musicbrainz">MusicBrainz{sources.data && !sources.data.sources.musicbrainz.configured ? ' (not configured)' : ''}</option>
        </SelectField>
        <TextField label={source === 'setlistfm' ? 'setlist.fm id (optional)' : 'MusicBrainz event id (optional)'} name="external_id" testid="setlist-import-id" value={externalId} onChange={(e) => setExternalId(e.target.value)} hint="Without an id, the setlist is found by artist, date and venue." />
        {acts.length > 1 ? (
          <SelectField label="Act" name="act" testid="setlist-import-act" value={act} onChange={(e) => setAct(e.target.value)}>
            <option value="">{acts[0].artist.name} (headliner)</option>
            {acts.slice(1).map((a) => (
              <option key={String(a.artist.id)} value={String(a.artist.id)}>{a.artist.name} ({a.role})</option>
            ))}
          </SelectField>
        ) : null}
      </div>
      {state && !state.configured ? <p className="notice" role="status" data-testid="setlist-import-not-configured">{state.reason ?? 'This source is not configured here.'}</p> : null}
      <label className="check">
        <input type="checkbox" checked={replace} onChange={(e) => setReplace(e.target.checked)} data-testid="setlist-import-replace" /> Replace the songs already there
      </label>
      <button type="button" className="btn" disabled={start.pending || (state ? !state.configured : false)} onClick={() => void start.run()} data-testid="setlist-import-start">
        {start.pending ? 'Starting…' : 'Import setlist'}
      </button>
      <ErrorText error={start.error} testid="setlist-import-error" />
      <JobProgress jobId={jobId} testid="setlist-import-job" onDone={(job) => job.status === 'succeeded' && onImported()}>
        {(job) => <p className="muted small">{String(job.result?.songs ?? 0)} songs imported.</p>}
      </JobProgress>
    </details>
  );
}
