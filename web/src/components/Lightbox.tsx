import { useEffect, useRef } from 'react';
import type { MediaRecord } from '../api';
import { thumbnailUrl } from '../lib/format';
import { BlurImage } from './BlurImage';

/** Full view of one photo (size=large) in a modal dialog; ←/→ browse, Escape closes. */
export function Lightbox({ photos, index, onIndex, onClose }: { photos: MediaRecord[]; index: number; onIndex: (i: number) => void; onClose: () => void }) {
  const closeRef = useRef<HTMLButtonElement>(null);
  const p = photos[index];
  useEffect(() => {
    const prev = document.activeElement as HTMLElement | null;
    closeRef.current?.focus();
    return () => prev?.focus?.();
  }, []);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onClose();
      else if (e.key === 'ArrowRight' && index < photos.length - 1) onIndex(index + 1);
      else if (e.key === 'ArrowLeft' && index > 0) onIndex(index - 1);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [index, photos.length, onClose, onIndex]);
  if (!p) return null;
  return (
    <div className="lightbox" role="dialog" aria-modal="true" aria-label={p.caption || 'Photo'} data-testid="lightbox" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <div className="lightbox-inner">
        <BlurImage key={String(p.id)} src={thumbnailUrl(p, 'large')} placeholder={p.placeholder} alt={p.caption || p.original_filename || 'Concert photo'} className="lightbox-img" data-testid="lightbox-img" />
        <div className="lightbox-bar">
          <button type="button" className="btn icon" onClick={() => onIndex(index - 1)} disabled={index === 0} aria-label="Previous photo">←</button>
          <span>
            {p.caption || p.original_filename} <span className="muted small">({index + 1} / {photos.length})</span>
          </span>
          <button type="button" className="btn icon" onClick={() => onIndex(index + 1)} disabled={index >= photos.length - 1} aria-label="Next photo">→</button>
          <a className="btn ghost small" href={p.url || `/api/photos/${p.id}`} target="_blank" rel="noreferrer">Original</a>
          <button ref={closeRef} type="button" className="btn ghost small" onClick={onClose} data-testid="lightbox-close">Close</button>
        </div>
      </div>
    </div>
  );
}
