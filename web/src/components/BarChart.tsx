import type { YearCount } from '../lib/years';

/** Shows per year as SVG bars, with a text table for screen readers. */
export function BarChart({ data, title = 'Shows per year' }: { data: YearCount[]; title?: string }) {
  if (!data.length) return <p className="empty">No shows yet.</p>;
  const max = Math.max(1, ...data.map((d) => d.count));
  const barW = 36;
  const gap = 12;
  const h = 160;
  const w = data.length * (barW + gap) + gap;
  return (
    <figure className="chart" data-testid="chart-shows-per-year">
      <svg viewBox={`0 0 ${w} ${h + 40}`} width="100%" height={h + 40} role="img" aria-label={`${title}: ${data.map((d) => `${d.year}: ${d.count}`).join(', ')}`} preserveAspectRatio="xMinYMid meet">
        {data.map((d, i) => {
          const bh = Math.round((d.count / max) * h);
          const x = gap + i * (barW + gap);
          return (
            <g key={d.year}>
              <rect x={x} y={h - bh + 16} width={barW} height={Math.max(bh, d.count ? 2 : 0)} rx={4} className="bar" />
              <text x={x + barW / 2} y={h - bh + 10} textAnchor="middle" className="bar-value">{d.count || ''}</text>
              <text x={x + barW / 2} y={h + 34} textAnchor="middle" className="bar-label">{d.year}</text>
            </g>
          );
        })}
      </svg>
      <figcaption className="sr-only">{title}</figcaption>
    </figure>
  );
}
