import { useEffect, useMemo, useRef, useState } from 'react';
import type Hls from 'hls.js';
// hls.js's worker as a file of the build (its ESM build cannot inline one): the CSP's worker-src 'self' holds
import hlsWorkerUrl from 'hls.js/dist/hls.worker.js?url';
import type { MediaRecord } from '../api';
import { mediaUrl, thumbnailUrl } from '../lib/format';
import { parseChapters, type Chapter } from '../lib/vtt';

const HLS_TYPE = 'application/vnd.apple.mpegurl';
const PROBE_CODECS = 'video/mp4; codecs="avc1.42E01E,mp4a.40.2"';

export type PlaybackMode = 'hlsjs' | 'native' | 'mp4';

export interface PlaybackEnv {
  /** Media Source Extensions with H.264/AAC (what hls.js needs). */
  mse: boolean;
  /** The <video> element plays HLS itself (Safari, iOS). */
  nativeHls: boolean;
}

/** The adaptive stream through hls.js where MSE exists, natively on Safari, else (or until the ladder is ready) the MP4. */
export function choosePlayback(rec: MediaRecord, env: PlaybackEnv): { mode: PlaybackMode; src: string } {
  const hls = rec.urls?.hls;
  const ready = !!hls && (rec.hls?.status ?? 'ready') === 'ready';
  if (ready && env.mse) return { mode: 'hlsjs', src: hls };
  if (ready && env.nativeHls) return { mode: 'native', src: hls };
  return { mode: 'mp4', src: mediaUrl(rec) };
}

export function browserEnv(): PlaybackEnv {
  const w = window as unknown as { MediaSource?: typeof MediaSource; ManagedMediaSource?: typeof MediaSource };
  const ms = w.ManagedMediaSource ?? w.MediaSource;
  const nativeHls = !!document.createElement('video').canPlayType?.(HLS_TYPE);
  return { mse: !!ms && typeof ms.isTypeSupported === 'function' && ms.isTypeSupported(PROBE_CODECS), nativeHls };
}

interface Quality {
  index: number;
  label: string;
}

export function qualityLabel(height: number | undefined, bitrate: number): string {
  return height ? `${height}p` : `${Math.round(bitrate / 1000)} kbps`;
}

/**
 * A video: HLS with quality by bandwidth (hls.js's ABR) and a manual quality menu, chapters (one per song) as a
 * track and seek buttons, the progressive MP4 where HLS cannot play or is not ready yet.
 */
export function VideoPlayer({ rec, env = browserEnv }: { rec: MediaRecord; env?: () => PlaybackEnv }) {
  const video = useRef<HTMLVideoElement>(null);
  const hlsRef = useRef<Hls | null>(null);
  const [failed, setFailed] = useState(false);
  const [qualities, setQualities] = useState<Quality[]>([]);
  const [chosen, setChosen] = useState(-1);
  const [playing, setPlaying] = useState<number | null>(null);
  const [chapters, setChapters] = useState<Chapter[]>([]);
  const hlsUrl = rec.urls?.hls;
  const hlsStatus = rec.hls?.status;
  const playback = useMemo(
    () => (failed ? { mode: 'mp4' as const, src: mediaUrl(rec) } : choosePlayback(rec, env())),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [failed, hlsUrl, hlsStatus, rec.id, rec.url, env],
  );
  const poster = rec.urls?.poster || (rec.thumbnail_url ? thumbnailUrl(rec, 'medium') : undefined);
  const chaptersUrl = rec.urls?.chapters;

  useEffect(() => {
    const el = video.current;
    if (playback.mode !== 'hlsjs' || !el) return;
    let gone = false;
    let hls: Hls | null = null;
    void import('hls.js').then(({ default: HlsClass }) => {
      if (gone) return;
      if (!HlsClass.isSupported()) {
        setFailed(true);
        return;
      }
      hls = new HlsClass({ workerPath: hlsWorkerUrl, capLevelToPlayerSize: true });
      hlsRef.current = hls;
      hls.on(HlsClass.Events.MANIFEST_PARSED, (_e, data) => {
        const list = data.levels.map((l, index) => ({ index, height: l.height, label: qualityLabel(l.height, l.bitrate) }));
        setQualities(list.sort((a, b) => (b.height ?? 0) - (a.height ?? 0)));
      });
      hls.on(HlsClass.Events.LEVEL_SWITCHED, (_e, data) => setPlaying(data.level));
      hls.on(HlsClass.Events.ERROR, (_e, data) => {
        if (!data.fatal || !hls) return;
        // a dropped segment request is retried; a decode error once recovered; anything else plays the MP4
        if (data.type === HlsClass.ErrorTypes.NETWORK_ERROR) hls.startLoad();
        else if (data.type === HlsClass.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
        else setFailed(true);
      });
      hls.loadSource(playback.src);
      hls.attachMedia(el);
    });
    return () => {
      gone = true;
      hls?.destroy();
      hlsRef.current = null;
      setQualities([]);
      setPlaying(null);
    };
  }, [playback.mode, playback.src]);

  useEffect(() => {
    if (!chaptersUrl) return;
    let live = true;
    fetch(chaptersUrl, { credentials: 'same-origin' })
      .then((r) => (r.ok ? r.text() : ''))
      .then((text) => live && setChapters(parseChapters(text)))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [chaptersUrl]);

  const choose = (index: number) => {
    setChosen(index);
    // -1 hands the choice back to the bandwidth estimate
    if (hlsRef.current) hlsRef.current.currentLevel = index;
  };
  const seek = (t: number) => {
    if (video.current) video.current.currentTime = t;
  };
  const playingLabel = qualities.find((q) => q.index === playing)?.label;

  return (
    <div className="video-player" data-testid="video-player" data-mode={playback.mode}>
      <video
        ref={video}
        className="video"
        controls
        preload="metadata"
        playsInline
        poster={poster ?? undefined}
        src={playback.mode === 'hlsjs' ? undefined : playback.src}
        data-testid="video-element"
      >
        {chaptersUrl ? <track kind="chapters" src={chaptersUrl} srcLang="en" label="Songs" default /> : null}
        Your browser cannot play this video. <a href={mediaUrl(rec)}>Download it</a>.
      </video>
      {qualities.length > 1 ? (
        <div className="field inline">
          <label htmlFor={`quality-${rec.id}`}>Quality</label>
          <select id={`quality-${rec.id}`} value={chosen} onChange={(e) => choose(Number(e.target.value))} data-testid="video-quality">
            <option value={-1}>Auto{chosen === -1 && playingLabel ? ` (${playingLabel})` : ''}</option>
            {qualities.map((q) => (
              <option key={q.index} value={q.index}>{q.label}</option>
            ))}
          </select>
        </div>
      ) : null}
      {chapters.length ? (
        <ol className="chapters" data-testid="video-chapters" aria-label="Songs in this video">
          {chapters.map((c) => (
            <li key={`${c.start}-${c.title}`}>
              <button type="button" className="btn ghost small" onClick={() => seek(c.start)} data-testid="video-chapter">
                {c.title}
              </button>
            </li>
          ))}
        </ol>
      ) : null}
    </div>
  );
}
