import { useState } from 'react';
import { media, sharing, type Id, type MediaRecord, type ShareLink } from '../api';
import { ErrorText, useAction, useLoad } from './ui';

const MAX_PHOTOS = 12;

/** The owner's "Share" button: makes a public link (shown once: the token is not kept readable) and can revoke it;
 * the owner picks which of their ready photos the public page shows (the first is the preview image). */
export function ShareButton({ showId, ownerId }: { showId: Id; ownerId: Id }) {
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
        <>
          <div className="row gap wrap">
            <input className="share-url" readOnly value={link.url} aria-label="Public link" data-testid="share-url" onFocus={(e) => e.currentTarget.select()} />
            <button type="button" className="btn ghost small" onClick={() => void copy()}>{copied ? 'Copied' : 'Copy'}</button>
            <button type="button" className="btn ghost small" onClick={() => void revoke.run()} disabled={revoke.pending} data-testid="share-revoke">Revoke</button>
          </div>
          <SharePhotos showId={showId} ownerId={ownerId} link={link} onChange={(l) => setLink({ ...link, photo_ids: l.photo_ids })} />
        </>
      ) : (
        <button type="button" className="btn ghost" onClick={() => void create.run()} disabled={create.pending} data-testid="share-create">Share</button>
      )}
      <ErrorText error={create.error ?? revoke.error} testid="share-error" />
    </div>
  );
}

/** Checkboxes over the owner's ready photos of the show; each change saves the list at once. */
function SharePhotos({ showId, ownerId, link, onChange }: { showId: Id; ownerId: Id; link: ShareLink; onChange: (l: ShareLink) => void }) {
  const photos = useLoad(() => media.forShow('photo', showId), [showId]);
  const save = useAction(async (ids: Id[]) => onChange(await sharing.setPhotos(link.token ?? '', ids)));
  const mine = (photos.data ?? []).filter((p: MediaRecord) => p.user_id === ownerId && p.status === 'ready');
  if (!mine.length) return null;
  const chosen = link.photo_ids ?? [];
  const toggle = (id: Id, on: boolean) => void save.run(on ? [...chosen, id] : chosen.filter((x) => x !== id));
  return (
    <fieldset className="share-photos" data-testid="share-photos">
      <legend>Photos on the public page (up to {MAX_PHOTOS})</legend>
      <div className="row gap wrap">
        {mine.map((p) => (
          <label key={p.id} className="check">
            <input
              type="checkbox"
              checked={chosen.includes(p.id)}
              disabled={save.pending || (!chosen.includes(p.id) && chosen.length >= MAX_PHOTOS)}
              onChange={(e) => toggle(p.id, e.target.checked)}
              data-testid="share-photo"
            />
            {p.thumbnail_url ? <img src={p.thumbnail_url} alt={p.caption || `Photo ${p.id}`} width={64} height={64} /> : `Photo ${p.id}`}
          </label>
        ))}
      </div>
      <ErrorText error={photos.error ?? save.error} />
    </fieldset>
  );
}
