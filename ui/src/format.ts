// Formatting for the dashboard; pure, unit-tested.

import type { JobGpu } from "./bindings";

export function duration(seconds: number | null | undefined): string {
  if (seconds == null || !isFinite(seconds) || seconds < 0) return "–";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, "0")}m`;
  if (m > 0) return `${m}m ${String(r).padStart(2, "0")}s`;
  return `${r}s`;
}

export function bytes(n: number | null | undefined): string {
  if (n == null || !isFinite(n)) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 && i > 0 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function percent(p: number | null | undefined): string {
  if (p == null || !isFinite(p)) return "–";
  return `${Math.max(0, Math.min(100, p)).toFixed(p >= 10 || p === 0 ? 0 : 1)}%`;
}

/** The last path element of a URL or path, without query. */
export function sourceName(source: string): string {
  const noQuery = source.split(/[?#]/)[0];
  const parts = noQuery.split(/[\\/]/).filter(Boolean);
  const last = parts[parts.length - 1] ?? source;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

export function speed(x: number | null | undefined): string {
  if (x == null || !isFinite(x) || x <= 0) return "–";
  return `${x.toFixed(x >= 10 ? 0 : 1)}×`;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** A moment as the user's clock reads it: the time today, else the date and time. */
export function when(iso: string | null | undefined, now = new Date()): string {
  if (!iso) return "–";
  const d = new Date(iso);
  if (isNaN(d.getTime())) return "–";
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (d.toDateString() === now.toDateString()) return time;
  return `${d.toLocaleDateString([], { month: "short", day: "numeric" })} ${time}`;
}

/** Seconds between two moments, or `null` while either is missing. */
export function between(from: string | null | undefined, to: string | null | undefined): number | null {
  if (!from || !to) return null;
  const s = (new Date(to).getTime() - new Date(from).getTime()) / 1000;
  return isFinite(s) && s >= 0 ? s : null;
}

/** Escapes text and shows its `backticked` parts as code. */
export function codeWords(s: string): string {
  return escapeHtml(s).replace(/`([^`]+)`/g, "<code>$1</code>");
}

/** A job's share of its GPU (NVML), in a few words; empty without one. */
export function gpuText(g: JobGpu | null): string {
  if (!g) return "";
  const parts = [
    g.encoder_percent ? `NVENC ${g.encoder_percent}%` : "",
    g.decoder_percent ? `NVDEC ${g.decoder_percent}%` : "",
    g.sm_percent ? `3D ${g.sm_percent}%` : "",
    g.memory_mb != null ? `${g.memory_mb} MB` : "",
  ].filter(Boolean);
  return parts.length ? `GPU ${g.gpu}: ${parts.join(" · ")}` : "";
}
