// Small SVG charts: a line for live series, bars for per-day figures. Each carries its
// figures in words (aria-label) for screen readers.
import { escapeHtml } from "./format";

const escapeAttr = escapeHtml; // quotes included

export interface Series {
  label: string;
  values: number[];
  color: string;
}

export function lineChart(series: Series[], opts: { max?: number; height?: number; unit?: string } = {}): string {
  const w = 320;
  const h = opts.height ?? 90;
  const n = Math.max(2, ...series.map((s) => s.values.length));
  const max = opts.max ?? Math.max(1, ...series.flatMap((s) => s.values));
  const paths = series
    .map((s) => {
      const vals = s.values.length === 1 ? [s.values[0], s.values[0]] : s.values;
      const pts = vals.map((v, i) => `${((i / (n - 1)) * w).toFixed(1)},${(h - (Math.min(v, max) / max) * (h - 4) - 2).toFixed(1)}`);
      return pts.length ? `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.join(" ")}"/>` : "";
    })
    .join("");
  const legend = series
    .map((s) => {
      const last = s.values[s.values.length - 1];
      return `<span class="legend"><i style="background:${s.color}"></i>${s.label} ${last == null ? "–" : Math.round(last) + (opts.unit ?? "")}</span>`;
    })
    .join("");
  // The words a screen reader reads instead of the lines.
  const unit = opts.unit ?? "";
  const said = series
    .map((s) => {
      if (!s.values.length) return `${s.label}: no samples yet`;
      const r = (v: number) => `${Math.round(v)}${unit}`;
      return `${s.label}: now ${r(s.values[s.values.length - 1])}, lowest ${r(Math.min(...s.values))}, highest ${r(Math.max(...s.values))} over the last ${s.values.length} samples`;
    })
    .join("; ");
  return `<svg class="chart" viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" role="img" aria-label="${escapeAttr(said)}"><rect width="${w}" height="${h}" class="chart-bg"/>${paths}</svg><div class="legends">${legend}</div>`;
}

export function barChart(labels: string[], values: number[], opts: { color?: string; height?: number; format?: (v: number) => string } = {}): string {
  const w = 320;
  const h = opts.height ?? 110;
  const max = Math.max(1, ...values);
  const bw = w / Math.max(1, values.length);
  const bars = values
    .map((v, i) => {
      const bh = (v / max) * (h - 18);
      const label = opts.format ? opts.format(v) : String(v);
      return `<rect x="${(i * bw + 2).toFixed(1)}" y="${(h - 14 - bh).toFixed(1)}" width="${(bw - 4).toFixed(1)}" height="${bh.toFixed(1)}" fill="${opts.color ?? "#6d4aff"}"><title>${labels[i]}: ${label}</title></rect>`;
    })
    .join("");
  const ticks = labels
    .map((l, i) => (i % Math.ceil(labels.length / 7) === 0 ? `<text x="${(i * bw + bw / 2).toFixed(1)}" y="${h - 2}" text-anchor="middle">${l}</text>` : ""))
    .join("");
  const said = values.map((v, i) => `${labels[i]}: ${opts.format ? opts.format(v) : String(v)}`).join(", ");
  return `<svg class="chart" viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" role="img" aria-label="${escapeAttr(said || "no data yet")}"><rect width="${w}" height="${h}" class="chart-bg"/>${bars}${ticks}</svg>`;
}
