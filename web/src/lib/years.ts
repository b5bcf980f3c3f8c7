import type { DashboardStats } from '../api/types';

export interface YearCount {
  year: string;
  count: number;
}

/** Shows per year from the stats endpoint when it has them, else counted from show dates. */
export function showsPerYear(stats: Pick<DashboardStats, 'shows_per_year'> | null, dates: string[] = []): YearCount[] {
  const counts = new Map<string, number>();
  const spy = stats?.shows_per_year;
  if (spy && Array.isArray(spy) && spy.length) {
    for (const r of spy) counts.set(String(r.year), (counts.get(String(r.year)) ?? 0) + Number(r.count || 0));
  } else if (spy && !Array.isArray(spy) && Object.keys(spy).length) {
    for (const [y, c] of Object.entries(spy)) counts.set(String(y), Number(c) || 0);
  } else {
    for (const d of dates) {
      const y = (d || '').slice(0, 4);
      if (/^\d{4}$/.test(y)) counts.set(y, (counts.get(y) ?? 0) + 1);
    }
  }
  const years = [...counts.keys()].map(Number).filter(Number.isFinite).sort((a, b) => a - b);
  if (!years.length) return [];
  // Fill gaps so the chart's x axis is continuous.
  const out: YearCount[] = [];
  for (let y = years[0]; y <= years[years.length - 1]; y++) out.push({ year: String(y), count: counts.get(String(y)) ?? 0 });
  return out;
}
