// Every venue I have been to on a map (Leaflet; the tile server comes from the API's settings), and my home.
import 'leaflet/dist/leaflet.css';
import L from 'leaflet';
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { catalog, stats, type MapVenue } from '../api';
import { Empty, ErrorText, Loading, Notice, TextField, useAction, useLoad } from '../components/ui';
import { formatDate } from '../lib/format';

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function VenueLeaflet({ venues, tileUrl, attribution }: { venues: MapVenue[]; tileUrl: string; attribution: string }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!el.current) return undefined;
    const map = L.map(el.current, { worldCopyJump: true });
    L.tileLayer(tileUrl, { attribution, maxZoom: 18 }).addTo(map);
    const bounds: L.LatLngTuple[] = [];
    for (const v of venues) {
      const size = Math.min(40, 14 + v.show_count * 3);
      const icon = L.divIcon({
        className: 'venue-marker',
        html: `<span data-testid="map-marker" data-venue-id="${v.venue_id}" data-count="${v.show_count}" style="width:${size}px;height:${size}px">${v.show_count}</span>`,
        iconSize: [size, size],
      });
      L.marker([v.latitude, v.longitude], { icon, title: v.name, alt: v.name })
        .bindPopup(`<strong>${escapeHtml(v.name)}</strong><br>${escapeHtml(v.city)} · ${v.show_count} show${v.show_count === 1 ? '' : 's'}`)
        .addTo(map);
      bounds.push([v.latitude, v.longitude]);
    }
    if (bounds.length) map.fitBounds(bounds, { padding: [40, 40], maxZoom: 12 });
    else map.setView([30, 0], 2);
    return () => {
      map.remove();
    };
  }, [venues, tileUrl, attribution]);
  return <div ref={el} className="venue-map" data-testid="venue-map" role="region" aria-label="Map of your venues" />;
}

export function MapPage() {
  const venues = useLoad(() => stats.map(), []);
  const sources = useLoad(() => catalog.sources(), []);
  const home = useLoad(() => stats.home(), []);
  const [draft, setDraft] = useState({ city: '', latitude: '', longitude: '' });
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    if (home.data?.latitude !== null && home.data?.latitude !== undefined) {
      setDraft({ city: home.data.city ?? '', latitude: String(home.data.latitude), longitude: String(home.data.longitude) });
    }
  }, [home.data]);
  const save = useAction(async () => {
    setSaved(false);
    await stats.setHome({ city: draft.city.trim(), latitude: Number(draft.latitude), longitude: Number(draft.longitude) });
    setSaved(true);
  });
  return (
    <section className="page" data-testid="map-page">
      <h1>Where I have been</h1>
      {venues.loading || sources.loading ? <Loading /> : null}
      <ErrorText error={venues.error ?? sources.error} />
      {venues.data && sources.data ? (
        <>
          <VenueLeaflet venues={venues.data.venues} tileUrl={sources.data.map.tile_url} attribution={sources.data.map.attribution} />
          {!venues.data.venues.length ? <Empty>No venue with a known place yet: importing setlists from setlist.fm fills in the places.</Empty> : null}
          {venues.data.without_coordinates ? <p className="muted small" data-testid="map-missing">{venues.data.without_coordinates} venues have no known place yet.</p> : null}
          <ul className="plain venue-list" data-testid="map-venues">
            {venues.data.venues.map((v) => (
              <li key={String(v.venue_id)} data-testid="map-venue">{v.name}, {v.city} — {v.show_count} shows, last {formatDate(v.last_seen)}</li>
            ))}
          </ul>
        </>
      ) : null}
      <form className="panel narrow" noValidate onSubmit={(e: FormEvent) => { e.preventDefault(); void save.run(); }}>
        <h2>Home</h2>
        <p className="hint">For the farthest trip of each year in review.</p>
        <div className="row gap wrap">
          <TextField label="City" name="city" testid="home-city" value={draft.city} onChange={(e) => setDraft((d) => ({ ...d, city: e.target.value }))} />
          <TextField label="Latitude" name="latitude" testid="home-latitude" inputMode="decimal" value={draft.latitude} onChange={(e) => setDraft((d) => ({ ...d, latitude: e.target.value }))} />
          <TextField label="Longitude" name="longitude" testid="home-longitude" inputMode="decimal" value={draft.longitude} onChange={(e) => setDraft((d) => ({ ...d, longitude: e.target.value }))} />
        </div>
        <button type="submit" className="btn" disabled={save.pending} data-testid="home-save">Save home</button>
        <ErrorText error={save.error} testid="home-error" />
        {saved ? <Notice testid="home-saved">Saved.</Notice> : null}
      </form>
    </section>
  );
}
