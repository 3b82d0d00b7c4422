// Small SVG charts with axes: a line for live series, stacked bars for per-day and
// per-hour figures (each bar's total written over it). Each carries its figures in words
// (aria-label) for screen readers.
import { escapeHtml } from "./format";

const escapeAttr = escapeHtml; // quotes included

export interface Series {
  label: string;
  values: number[];
  color: string;
}

const W = 340;
/** Room for the y-axis labels (left) and the x-axis labels (bottom). */
const LEFT = 36;
const BOTTOM = 16;
const TOP = 10;

/** A round top for an axis: 1, 2 or 5 times a power of ten, at least `v`. */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function short(v: number): string {
  if (v >= 1000) return `${+(v / 1000).toFixed(1)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

/** The y axis: gridlines at 0, half and the top (the half only where it is a whole
 * number of whole-number figures), labelled with the unit. */
function yAxis(max: number, h: number, unit: string, whole = false, w = W): string {
  return (whole && max % 2 ? [0, max] : [0, max / 2, max])
    .map((v) => {
      const y = (h - BOTTOM - (v / max) * (h - BOTTOM - TOP)).toFixed(1);
      return `<line x1="${LEFT}" x2="${w}" y1="${y}" y2="${y}" class="grid"/><text x="${LEFT - 4}" y="${y}" dy="3" text-anchor="end">${short(v)}${escapeHtml(unit)}</text>`;
    })
    .join("");
}

export function lineChart(series: Series[], opts: { max?: number; height?: number; unit?: string; span?: string } = {}): string {
  const h = opts.height ?? 110;
  const n = Math.max(2, ...series.map((s) => s.values.length));
  const max = opts.max ?? niceMax(Math.max(1, ...series.flatMap((s) => s.values)));
  const unit = opts.unit ?? "";
  const plotW = W - LEFT;
  const paths = series
    .map((s) => {
      const vals = s.values.length === 1 ? [s.values[0], s.values[0]] : s.values;
      const pts = vals.map((v, i) => `${(LEFT + (i / (n - 1)) * plotW).toFixed(1)},${(h - BOTTOM - (Math.min(v, max) / max) * (h - BOTTOM - TOP)).toFixed(1)}`);
      return pts.length ? `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.join(" ")}"/>` : "";
    })
    .join("");
  const xAxis = `<text x="${LEFT}" y="${h - 3}">${escapeHtml(opts.span ?? "earlier")}</text><text x="${W}" y="${h - 3}" text-anchor="end">now</text>`;
  const legend = series
    .map((s) => {
      const last = s.values[s.values.length - 1];
      return `<span class="legend"><i style="background:${s.color}"></i>${s.label} ${last == null ? "–" : Math.round(last) + unit}</span>`;
    })
    .join("");
  // The words a screen reader reads instead of the lines.
  const said = series
    .map((s) => {
      if (!s.values.length) return `${s.label}: no samples yet`;
      const r = (v: number) => `${Math.round(v)}${unit}`;
      return `${s.label}: now ${r(s.values[s.values.length - 1])}, lowest ${r(Math.min(...s.values))}, highest ${r(Math.max(...s.values))} over the last ${s.values.length} samples`;
    })
    .join("; ");
  return `<svg class="chart" viewBox="0 0 ${W} ${h}" role="img" aria-label="${escapeAttr(said)}"><rect x="${LEFT}" y="${TOP}" width="${plotW}" height="${h - BOTTOM - TOP}" class="chart-bg"/>${yAxis(max, h, unit)}${paths}${xAxis}</svg><div class="legends">${legend}</div>`;
}

/** Stacked bars: one per label, each series a layer; the total is written over each bar
 * (when bars are wide enough) and every figure is in the label for screen readers. */
export function barChart(
  labels: string[],
  series: Series[],
  opts: { height?: number; width?: number; unit?: string; format?: (v: number) => string; every?: number } = {},
): string {
  const h = opts.height ?? 130;
  const W = opts.width ?? 340;
  const fmt = opts.format ?? ((v: number) => `${short(v)}${opts.unit ?? ""}`);
  const totals = labels.map((_, i) => series.reduce((t, s) => t + (s.values[i] ?? 0), 0));
  const max = niceMax(Math.max(1, ...totals));
  const plotW = W - LEFT;
  const bw = plotW / Math.max(1, labels.length);
  const scale = (v: number) => (v / max) * (h - BOTTOM - TOP);
  const bars = labels
    .map((l, i) => {
      let y = h - BOTTOM;
      const x = LEFT + i * bw + 1.5;
      const parts = series
        .map((s) => {
          const v = s.values[i] ?? 0;
          if (v <= 0) return "";
          const bh = scale(v);
          y -= bh;
          return `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(bw - 3).toFixed(1)}" height="${bh.toFixed(1)}" fill="${s.color}"><title>${escapeHtml(l)}, ${escapeHtml(s.label)}: ${fmt(v)}</title></rect>`;
        })
        .join("");
      const value = totals[i] > 0 && bw >= 11 ? `<text class="value" x="${(x + (bw - 3) / 2).toFixed(1)}" y="${(y - 2).toFixed(1)}" text-anchor="middle">${fmt(totals[i])}</text>` : "";
      return parts + value;
    })
    .join("");
  const step = opts.every ?? Math.ceil(labels.length / 7);
  const ticks = labels
    .map((l, i) => (i % step === 0 ? `<text x="${(LEFT + i * bw + bw / 2).toFixed(1)}" y="${h - 3}" text-anchor="middle">${escapeHtml(l)}</text>` : ""))
    .join("");
  const said = labels
    .map((l, i) => {
      const layers = series.length > 1 ? ` (${series.map((s) => `${s.label} ${fmt(s.values[i] ?? 0)}`).join(", ")})` : "";
      return `${l}: ${fmt(totals[i])}${layers}`;
    })
    .join("; ");
  const legend = series.length > 1 ? `<div class="legends">${series.map((s) => `<span class="legend"><i style="background:${s.color}"></i>${escapeHtml(s.label)}</span>`).join("")}</div>` : "";
  return `<svg class="chart" viewBox="0 0 ${W} ${h}" role="img" aria-label="${escapeAttr(said || "no data yet")}"><rect x="${LEFT}" y="${TOP}" width="${plotW}" height="${h - BOTTOM - TOP}" class="chart-bg"/>${yAxis(max, h, opts.unit ?? "", totals.every(Number.isInteger), W)}${bars}${ticks}</svg>${legend}`;
}
