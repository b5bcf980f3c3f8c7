// Import a history: a CSV file (Concert Archives, setlist.fm-style, generic) or a setlist.fm user's attended list.
import { useState, type FormEvent } from 'react';
import { catalog, type Id, type Job } from '../api';
import { JobProgress } from '../components/JobProgress';
import { ErrorText, SelectField, TextField, useAction, useLoad } from '../components/ui';

interface Row {
  line: number;
  status: 'created' | 'matched' | 'skipped';
  reason?: string | null;
  artist?: string | null;
  date?: string | null;
  show_id?: Id | null;
}

export function ImportResult({ job, testid }: { job: Job; testid: string }) {
  const r = job.result ?? {};
  const rows = (r.rows as Row[] | undefined) ?? [];
  return (
    <div data-testid={`${testid}-result`}>
      <p>
        {r.dry_run ? 'Dry run: nothing was saved. ' : ''}
        <strong data-testid={`${testid}-created`}>{String(r.created ?? 0)}</strong> created,{' '}
        <strong data-testid={`${testid}-matched`}>{String(r.matched ?? 0)}</strong> already there,{' '}
        <strong data-testid={`${testid}-skipped`}>{String(r.skipped ?? 0)}</strong> skipped.
      </p>
      {rows.some((x) => x.status === 'skipped') ? (
        <ul className="import-skipped">
          {rows.filter((x) => x.status === 'skipped').map((x) => (
            <li key={x.line} data-testid={`${testid}-skipped-row`}>Line {x.line}{x.artist ? ` (${x.artist})` : ''}: {x.reason}</li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

export function ImportPage() {
  const sources = useLoad(() => catalog.sources(), []);
  const [file, setFile] = useState<File | null>(null);
  const [format, setFormat] = useState('concertarchives');
  const [dryRun, setDryRun] = useState(false);
  const [fileJob, setFileJob] = useState<Id | null>(null);
  const [username, setUsername] = useState('');
  const [userJob, setUserJob] = useState<Id | null>(null);
  const upload = useAction(async () => {
    if (!file) throw new Error('Choose a CSV file first.');
    setFileJob(null);
    setFileJob((await catalog.importHistory(file, format, dryRun)).job_id);
  });
  const attended = useAction(async () => {
    setUserJob(null);
    setUserJob((await catalog.importAttended(username.trim())).job_id);
  });
  const setlistfm = sources.data?.sources.setlistfm;
  return (
    <section className="page" data-testid="import-page">
      <h1>Import your concert history</h1>
      <div className="grid-2">
        <form className="panel" noValidate onSubmit={(e: FormEvent) => { e.preventDefault(); void upload.run(); }}>
          <h2>From a file</h2>
          <p className="hint">A Concert Archives export, a setlist.fm-style list (eventDate, artist, venue, city…) or a generic CSV (date, artist, support, venue, city, country, festival, ticket_price, currency, seat, notes). Importing twice creates nothing new.</p>
          <label className="field">
            <span>CSV file</span>
            <input type="file" accept=".csv,text/csv" data-testid="import-file" onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
          </label>
          <SelectField label="Format" name="format" testid="import-format" value={format} onChange={(e) => setFormat(e.target.value)}>
            <option value="concertarchives">Concert Archives</option>
            <option value="setlistfm">setlist.fm</option>
            <option value="generic">Generic CSV</option>
          </SelectField>
          <label className="check"><input type="checkbox" checked={dryRun} onChange={(e) => setDryRun(e.target.checked)} data-testid="import-dry-run" /> Dry run (show what would happen)</label>
          <button type="submit" className="btn primary" disabled={upload.pending} data-testid="import-submit">{upload.pending ? 'Uploading…' : 'Import'}</button>
          <ErrorText error={upload.error} testid="import-error" />
          <JobProgress jobId={fileJob} testid="import-job">{(job) => <ImportResult job={job} testid="import" />}</JobProgress>
        </form>
        <form className="panel" noValidate onSubmit={(e: FormEvent) => { e.preventDefault(); void attended.run(); }}>
          <h2>From setlist.fm</h2>
          {setlistfm && !setlistfm.configured ? (
            <p className="notice" role="status" data-testid="attended-not-configured">{setlistfm.reason ?? 'setlist.fm is not configured here.'}</p>
          ) : (
            <p className="hint">Every concert you marked as attended on setlist.fm, with its setlist.</p>
          )}
          <TextField label="setlist.fm username" name="username" testid="attended-username" value={username} onChange={(e) => setUsername(e.target.value)} />
          <button type="submit" className="btn" disabled={attended.pending || !username.trim() || (setlistfm ? !setlistfm.configured : false)} data-testid="attended-submit">Import attended concerts</button>
          <ErrorText error={attended.error} testid="attended-error" />
          <JobProgress jobId={userJob} testid="attended-job">{(job) => <ImportResult job={job} testid="attended" />}</JobProgress>
        </form>
      </div>
    </section>
  );
}
