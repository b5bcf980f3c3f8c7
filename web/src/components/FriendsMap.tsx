// Friends' positions at this concert: only accepted friends checked in here share them with me (the API
// enforces it); a small Leaflet map (tiles from the API's settings) and a list, live over the chat socket.
import 'leaflet/dist/leaflet.css';
import L from 'leaflet';
import { useCallback, useEffect, useRef, useState } from 'react';
import { catalog, positions, type FriendLocation, type Id } from '../api';
import type { Frame } from '../lib/chat';
import { formatTime } from '../lib/format';
import { ErrorText, useAction, useLoad } from './ui';

/** Apply a live `location` / `location_removed` frame to the list (pure). */
export function applyLocationFrame(list: FriendLocation[], frame: Frame): FriendLocation[] {
  const user = frame.user as { id?: Id } | undefined;
  if (!user || user.id === undefined) return list;
  const others = list.filter((l) => String(l.user.id) !== String(user.id));
  if (frame.type === 'location_removed') return others;
  if (frame.type !== 'location' || typeof frame.latitude !== 'number' || typeof frame.longitude !== 'number') return list;
  return [...others, frame as unknown as FriendLocation].sort((a, b) => Number(a.user.id) - Number(b.user.id));
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function FriendsLeaflet({ list, tileUrl, attribution }: { list: FriendLocation[]; tileUrl: string; attribution: string }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!el.current || !list.length) return undefined;
    const map = L.map(el.current);
    L.tileLayer(tileUrl, { attribution, maxZoom: 19 }).addTo(map);
    const bounds: L.LatLngTuple[] = [];
    for (const f of list) {
      const icon = L.divIcon({
        className: 'friend-marker',
        html: `<span data-testid="friend-marker" data-user-id="${escapeHtml(String(f.user.id))}">${escapeHtml(f.user.username.slice(0, 1).toUpperCase())}</span>`,
        iconSize: [26, 26],
      });
      L.marker([f.latitude, f.longitude], { icon, title: f.user.username, alt: f.user.username }).addTo(map);
      L.circle([f.latitude, f.longitude], { radius: f.accuracy_m, weight: 1 }).addTo(map);
      bounds.push([f.latitude, f.longitude]);
    }
    map.fitBounds(bounds, { padding: [30, 30], maxZoom: 17 });
    return () => {
      map.remove();
    };
  }, [list, tileUrl, attribution]);
  return <div ref={el} className="friends-map" data-testid="friends-map" role="region" aria-label="Friends at this concert" />;
}

/** The panel; `subscribe` registers a handler for the chat socket's frames. */
export function FriendsAtConcert({ showId, subscribe }: { showId: Id; subscribe: (fn: (f: Frame) => void) => () => void }) {
  const [list, setList] = useState<FriendLocation[]>([]);
  const [sharing, setSharing] = useState(false);
  const [precise, setPrecise] = useState(false);
  const watch = useRef<number | null>(null);
  const sources = useLoad(() => catalog.sources(), []);
  const load = useLoad(async () => {
    const r = await positions.friends(showId);
    setList(r.locations);
    return r;
  }, [showId]);

  useEffect(() => subscribe((frame) => setList((l) => applyLocationFrame(l, frame))), [subscribe]);

  const send = useAction(async (pos: GeolocationPosition) =>
    positions.share(showId, {
      latitude: pos.coords.latitude,
      longitude: pos.coords.longitude,
      accuracy_m: Math.min(10_000, Math.round(pos.coords.accuracy || 50)),
      precision: precise ? 'exact' : 'approximate',
    }),
  );
  const stopWatch = useCallback(() => {
    if (watch.current !== null) navigator.geolocation?.clearWatch(watch.current);
    watch.current = null;
  }, []);
  useEffect(() => stopWatch, [stopWatch]);

  const start = () => {
    if (!navigator.geolocation) return;
    setSharing(true);
    watch.current = navigator.geolocation.watchPosition((p) => void send.run(p), () => setSharing(false), { enableHighAccuracy: precise, maximumAge: 30_000 });
  };
  const stop = async () => {
    stopWatch();
    setSharing(false);
    await positions.stop(showId).catch(() => undefined);
  };

  const notHere = (load.error as { code?: string } | null)?.code === 'not_checked_in';
  return (
    <div className="panel friends-panel" data-testid="friends-panel">
      <h2>Friends here</h2>
      {notHere ? <p className="muted small">Check in to see friends who share their position here, and to share yours.</p> : <ErrorText error={load.error} testid="friends-error" />}
      {!notHere ? (
        <div className="row gap wrap">
          {sharing ? (
            <button type="button" className="btn ghost small" onClick={() => void stop()} data-testid="position-stop">Stop sharing my position</button>
          ) : (
            <button type="button" className="btn ghost small" onClick={start} data-testid="position-share">Share my position with friends here</button>
          )}
          <label className="small"><input type="checkbox" checked={precise} onChange={(e) => setPrecise(e.target.checked)} disabled={sharing} /> exact (otherwise ≈100 m)</label>
        </div>
      ) : null}
      <ErrorText error={send.error} testid="position-error" />
      {list.length && sources.data ? <FriendsLeaflet list={list} tileUrl={sources.data.map.tile_url} attribution={sources.data.map.attribution} /> : null}
      <ul className="friend-positions">
        {list.map((f) => (
          <li key={String(f.user.id)} data-testid="friend-position">{f.user.username} · ±{Math.round(f.accuracy_m)} m · {formatTime(f.updated_at)}</li>
        ))}
      </ul>
    </div>
  );
}
