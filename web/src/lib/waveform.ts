// Waveform peaks from `urls.waveform`: accept the common JSON shapes and normalise to 0..1.

/** Normalise peaks JSON ([..], {peaks}, {data}, audiowaveform's min/max pairs) to amplitudes 0..1. */
export function parsePeaks(json: unknown): number[] {
  let raw: unknown = json;
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    const o = raw as Record<string, unknown>;
    raw = o.peaks ?? o.data ?? o.samples ?? o.waveform ?? [];
    // audiowaveform: {channels, bits, data:[min,max,min,max...]}
    if (Array.isArray(raw) && o.bits !== undefined && raw.length % 2 === 0) {
      const pairs: number[] = [];
      for (let i = 0; i < raw.length; i += 2) pairs.push(Math.max(Math.abs(Number(raw[i])), Math.abs(Number(raw[i + 1]))));
      raw = pairs;
    }
  }
  if (!Array.isArray(raw)) return [];
  const flat = (raw as unknown[]).map((v) => (Array.isArray(v) ? Math.max(...v.map((x) => Math.abs(Number(x)))) : Math.abs(Number(v)))).filter((v) => Number.isFinite(v));
  const max = flat.reduce((m, v) => (v > m ? v : m), 0);
  if (max <= 0) return flat.map(() => 0);
  const scale = max > 1 ? max : 1;
  return flat.map((v) => v / scale);
}

/** Reduce peaks to `n` bars by taking the max of each bucket. */
export function downsample(peaks: number[], n: number): number[] {
  if (n <= 0 || peaks.length === 0) return [];
  if (peaks.length <= n) return [...peaks];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = Math.floor((i * peaks.length) / n);
    const end = Math.max(start + 1, Math.floor(((i + 1) * peaks.length) / n));
    let m = 0;
    for (let j = start; j < end; j++) if (peaks[j] > m) m = peaks[j];
    out.push(m);
  }
  return out;
}
