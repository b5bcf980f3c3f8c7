import { useState } from 'react';
import { sharing, type Id, type ShareLink } from '../api';
import { ErrorText, useAction } from './ui';

/** The owner's "Share" button: makes a public link (shown once: the token is not kept readable) and can revoke it. */
export function ShareButton({ showId }: { showId: Id }) {
  const [link, setLink] = useState<ShareLink | null>(null);
  const [copied, setCopied] = useState(false);
  const create = useAction(async () => setLink(await sharing.create(showId, 30)));
  const revoke = useAction(async () => {
    if (link?.token) await sharing.revoke(link.token);
    setLink(null);
  });
  const copy = async () => {
    if (!link?.url) return;
    await navigator.clipboard?.writeText(link.url).catch(() => undefined);
    setCopied(true);
  };
  return (
    <div className="share" data-testid="share">
      {link?.url ? (
        <div className="row gap wrap">
          <input className="share-url" readOnly value={link.url} aria-label="Public link" data-testid="share-url" onFocus={(e) => e.currentTarget.select()} />
          <button type="button" className="btn ghost small" onClick={() => void copy()}>{copied ? 'Copied' : 'Copy'}</button>
          <button type="button" className="btn ghost small" onClick={() => void revoke.run()} disabled={revoke.pending} data-testid="share-revoke">Revoke</button>
        </div>
      ) : (
        <button type="button" className="btn ghost" onClick={() => void create.run()} disabled={create.pending} data-testid="share-create">Share</button>
      )}
      <ErrorText error={create.error ?? revoke.error} testid="share-error" />
    </div>
  );
}
