// WebVTT chapters (one cue per song of a long video): parsed to seek buttons beside the player.

export interface Chapter {
  start: number;
  end: number;
  title: string;
}

/** "01:02:03.500" or "02:03.500" → seconds; NaN when it is not a timestamp. */
export function vttTime(text: string): number {
  const m = /^(?:(\d+):)?(\d{2}):(\d{2})(?:\.(\d{1,3}))?$/.exec(text.trim());
  if (!m) return NaN;
  return Number(m[1] ?? 0) * 3600 + Number(m[2]) * 60 + Number(m[3]) + Number((m[4] ?? '0').padEnd(3, '0')) / 1000;
}

/** The cues of a WebVTT file (first text line of each cue as its title), in start order. */
export function parseChapters(vtt: string): Chapter[] {
  if (!vtt.replace(/^\uFEFF/, '').startsWith('WEBVTT')) return [];
  const out: Chapter[] = [];
  for (const block of vtt.replace(/\r\n?/g, '\n').split(/\n{2,}/)) {
    const lines = block.split('\n');
    const at = lines.findIndex((l) => l.includes('-->'));
    if (at < 0) continue;
    const [from, rest] = lines[at].split('-->');
    const start = vttTime(from);
    const end = vttTime(rest.trim().split(/\s+/)[0] ?? '');
    const title = lines.slice(at + 1).join(' ').trim();
    if (Number.isFinite(start) && title) out.push({ start, end: Number.isFinite(end) ? end : start, title });
  }
  return out.sort((a, b) => a.start - b.start);
}
