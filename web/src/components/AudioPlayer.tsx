import { useEffect, useRef, useState } from 'react';
import type { MediaRecord } from '../api';
import { mediaUrl } from '../lib/format';
import { downsample, parsePeaks } from '../lib/waveform';

const BARS = 120;

/** <audio> with a waveform drawn from `urls.waveform` peaks; click or arrow keys on it to seek. */
export function AudioPlayer({ rec }: { rec: MediaRecord }) {
  const audio = useRef<HTMLAudioElement>(null);
  const [peaks, setPeaks] = useState<number[] | null>(null);
  const [pos, setPos] = useState(0);
  const [waveError, setWaveError] = useState(false);
  const src = rec.urls?.waveform;

  useEffect(() => {
    if (!src) return;
    let live = true;
    fetch(src, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(String(r.status)))))
      .then((j) => live && setPeaks(downsample(parsePeaks(j), BARS)))
      .catch(() => live && setWaveError(true));
    return () => {
      live = false;
    };
  }, [src]);

  const seek = (fraction: number) => {
    const a = audio.current;
    if (!a || !Number.isFinite(a.duration)) return;
    a.currentTime = Math.max(0, Math.min(1, fraction)) * a.duration;
  };

  return (
    <div className="audio-player" data-testid="audio-player">
      {peaks && peaks.length ? (
        <svg
          className="waveform"
          viewBox={`0 0 ${peaks.length * 3} 60`}
          preserveAspectRatio="none"
          role="slider"
          tabIndex={0}
          aria-label={`Seek in ${rec.title || 'recording'}`}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={Math.round(pos * 100)}
          data-testid="waveform"
          onClick={(e) => {
            const r = (e.currentTarget as SVGSVGElement).getBoundingClientRect();
            seek((e.clientX - r.left) / r.width);
          }}
          onKeyDown={(e) => {
            if (e.key === 'ArrowRight') seek(pos + 0.05);
            if (e.key === 'ArrowLeft') seek(pos - 0.05);
          }}
        >
          {peaks.map((p, i) => {
            const h = Math.max(2, p * 56);
            return <rect key={i} x={i * 3} y={30 - h / 2} width={2} height={h} className={i / peaks.length <= pos ? 'played' : 'unplayed'} />;
          })}
        </svg>
      ) : waveError ? (
        <p className="muted small">Waveform unavailable.</p>
      ) : null}
      <audio ref={audio} controls preload="metadata" src={mediaUrl(rec)} onTimeUpdate={(e) => {
        const a = e.currentTarget;
        setPos(a.duration ? a.currentTime / a.duration : 0);
      }} data-testid="audio-element">
        Your browser cannot play this recording.
      </audio>
    </div>
  );
}
