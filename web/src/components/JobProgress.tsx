// A background job's progress: polls GET /api/jobs/{id} until it has succeeded or failed.
import { useEffect, useRef, useState, type ReactNode } from 'react';
import { catalog, type Id, type Job } from '../api';
import { errorMessage } from './ui';

export function useJob(jobId: Id | null, onDone?: (job: Job) => void, intervalMs = 700) {
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<unknown>(null);
  const done = useRef(onDone);
  done.current = onDone;
  useEffect(() => {
    setJob(null);
    setError(null);
    if (jobId === null) return undefined;
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const next = await catalog.job(jobId);
        if (!live) return;
        setJob(next);
        if (next.status === 'succeeded' || next.status === 'failed') {
          done.current?.(next);
          return;
        }
      } catch (e) {
        if (live) setError(e);
        return;
      }
      timer = setTimeout(poll, intervalMs);
    };
    void poll();
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
  }, [jobId, intervalMs]);
  return { job, error };
}

const LABEL: Record<string, string> = { queued: 'Waiting for the worker…', running: 'Working…', succeeded: 'Done', failed: 'Failed' };

export function JobProgress({ jobId, onDone, testid = 'job', children }: { jobId: Id | null; onDone?: (job: Job) => void; testid?: string; children?: (job: Job) => ReactNode }) {
  const { job, error } = useJob(jobId, onDone);
  if (jobId === null) return null;
  return (
    <div className="job" data-testid={testid} data-status={job?.status ?? 'queued'} aria-live="polite">
      <div className="job-line">
        <span className={`chip job-${job?.status ?? 'queued'}`} data-testid={`${testid}-status`}>{LABEL[job?.status ?? 'queued']}</span>
        <progress max={100} value={job?.progress ?? 0} data-testid={`${testid}-progress`} aria-label="Progress" />
      </div>
      {job?.error ? <p className={job.status === 'failed' ? 'error' : 'hint'} role={job.status === 'failed' ? 'alert' : undefined} data-testid={`${testid}-error`}>{job.error}</p> : null}
      {error ? <p className="error" role="alert">{errorMessage(error)}</p> : null}
      {job && job.status === 'succeeded' && children ? children(job) : null}
    </div>
  );
}
