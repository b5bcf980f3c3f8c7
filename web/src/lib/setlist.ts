// Pure setlist ordering helpers (drag and drop and the ↑/↓ buttons both end here).
import type { SetlistSong } from '../api/types';

/** Sort by `order` and renumber 1..n so positions stay dense. */
export function normalise(songs: SetlistSong[]): SetlistSong[] {
  return [...songs].sort((a, b) => a.order - b.order).map((s, i) => ({ ...s, order: i + 1 }));
}

/** Move the song at index `from` to index `to` (0-based) and renumber every `order`. */
export function moveSong(songs: SetlistSong[], from: number, to: number): SetlistSong[] {
  const list = normalise(songs);
  if (from < 0 || from >= list.length) return list;
  const target = Math.max(0, Math.min(list.length - 1, to));
  if (target === from) return list;
  const [item] = list.splice(from, 1);
  list.splice(target, 0, item);
  return list.map((s, i) => ({ ...s, order: i + 1 }));
}

/** The drop index for dragging `from` onto the row at `over` (drop before/after by pointer half). */
export function dropIndex(from: number, over: number, after: boolean): number {
  let to = after ? over + 1 : over;
  if (from < to) to -= 1;
  return to;
}

/** "m:ss" check used by the song form before the API sees it. */
export function isDuration(v: string): boolean {
  return v === '' || /^\d{1,3}:[0-5]\d$/.test(v.trim());
}
