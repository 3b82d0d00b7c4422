// Stats: totals, and finished jobs over the last 24 hours (by the hour) or 14 days (by
// the day) from the stored history: transcodes apart from copies, their speeds apart,
// values on the bars and axes with units. Loaded when shown and again when a job ends.
import type { DailyStats, DayStats } from "../../bindings";
import type { Panel } from "../../panel";
import { setHtml } from "../../panel";
import { isLive } from "../../store";
import { barChart } from "../../chart";
import { bytes, duration } from "../../format";

type View = "hours" | "days";

/** A bucket's label in local time: the hour ("14h") or the day ("11-30"). */
function label(d: DayStats, view: View): string {
  if (view === "days") return d.day.slice(5);
  const t = new Date(`${d.day}:00:00Z`);
  return isNaN(t.getTime()) ? d.day.slice(11) : `${String(t.getHours()).padStart(2, "0")}h`;
}

/** An average of per-bucket averages, weighted by the jobs each stands for. */
function weighted(days: DayStats[], speed: (d: DayStats) => number, n: (d: DayStats) => number): number | null {
  let sum = 0;
  let count = 0;
  for (const d of days) if (n(d) > 0 && speed(d) > 0) { sum += speed(d) * n(d); count += n(d); }
  return count ? Math.round((sum / count) * 10) / 10 : null;
}

const x = (v: number) => `${+v.toFixed(v >= 10 ? 0 : 1)}×`;

function charts(data: DailyStats, view: View): string {
  const days = data.days;
  const labels = days.map((d) => label(d, view));
  const every = view === "hours" ? 4 : 2;
  const other = days.map((d) => Math.max(0, d.completed - d.transcoded - d.copied));
  const span = view === "hours" ? "last 24 hours" : "last 14 days";
  return `
    <section class="card"><h3>Finished jobs, ${span}</h3>
      ${barChart(labels, [
        { label: "Transcoded", values: days.map((d) => d.transcoded), color: "#6d4aff" },
        { label: "Copied (direct or remux)", values: days.map((d) => d.copied), color: "#22c55e" },
        ...(other.some((v) => v > 0) ? [{ label: "Done, older record", values: other, color: "#38bdf8" }] : []),
        { label: "Failed", values: days.map((d) => d.failed), color: "#ef4444" },
        { label: "Cancelled", values: days.map((d) => d.cancelled), color: "#9ca3af" },
      ], { every, width: 700 })}
    </section>
    <section class="card grid2">
      <div><h3>Transcode speed (× real time)</h3>${barChart(labels, [{ label: "Transcode speed", values: days.map((d) => d.transcode_speed ?? 0), color: "#6d4aff" }], { format: x, every })}</div>
      <div><h3>Copy speed (× real time)</h3>${barChart(labels, [{ label: "Copy speed", values: days.map((d) => d.copy_speed ?? 0), color: "#22c55e" }], { format: x, every })}</div>
    </section>`;
}

export const stats: Panel = {
  title: "Stats",
  mount(el, store) {
    let view: View = "hours";
    el.innerHTML = `<div data-field="totals"><section class="card"><p>Loading…</p></section></div>
      <div class="segmented" role="group" aria-label="Period">
        <button data-view="hours" aria-pressed="true" data-testid="stats-24h">Last 24 hours</button>
        <button data-view="days" aria-pressed="false" data-testid="stats-14d">Last 14 days</button>
      </div>
      <div data-field="charts"></div>`;
    const load = async () => {
      const [stats, daily, period] = await Promise.all([
        store.api.stats(),
        store.api.dailyStats(14),
        view === "hours" ? store.api.hourlyStats(24) : store.api.dailyStats(14),
      ]);
      const d = daily.days;
      const transcodes = d.reduce((t, x) => t + x.transcoded, 0);
      const copies = d.reduce((t, x) => t + x.copied, 0);
      const tSpeed = weighted(d, (x) => x.transcode_speed ?? 0, (x) => x.transcoded);
      const cSpeed = weighted(d, (x) => x.copy_speed ?? 0, (x) => x.copied);
      const hw = Object.entries(stats.hw_accel_usage ?? {}).map(([k, v]) => [k, Number(v)] as const);
      setHtml(el.querySelector('[data-field="totals"]'), `
        <section class="card"><h2>Totals</h2>
          <dl class="facts" data-testid="totals">
            <dt>Jobs processed</dt><dd data-testid="total-jobs">${stats.total_jobs_processed}</dd>
            <dt>Successful</dt><dd>${stats.successful_jobs}</dd>
            <dt>Failed</dt><dd>${stats.failed_jobs}</dd>
            <dt>Cancelled</dt><dd>${stats.cancelled_jobs}</dd>
            <dt>Transcodes, last 14 days</dt><dd data-testid="transcodes">${transcodes}${tSpeed != null ? `, average ${x(tSpeed)} real time` : ""}</dd>
            <dt>Copies, last 14 days</dt><dd data-testid="copies">${copies}${cSpeed != null ? `, average ${x(cSpeed)} real time` : ""}</dd>
            <dt>Output written</dt><dd>${bytes(stats.total_bytes_processed)}</dd>
            <dt>Uptime</dt><dd>${duration(stats.uptime_seconds)}</dd>
            <dt>Encoders used</dt><dd>${hw.length ? hw.map(([k, v]) => `${k}: ${v} job${v === 1 ? "" : "s"}`).join(" · ") : "none yet"}</dd>
          </dl>
        </section>`);
      setHtml(el.querySelector('[data-field="charts"]'), charts(period, view));
    };
    const reload = () => void load().catch((e) => setHtml(el.querySelector('[data-field="charts"]'), `<section class="card"><p class="error">${String(e instanceof Error ? e.message : e)}</p></section>`));
    el.querySelectorAll<HTMLButtonElement>("[data-view]").forEach((b) =>
      b.addEventListener("click", () => {
        view = b.dataset.view as View;
        el.querySelectorAll<HTMLButtonElement>("[data-view]").forEach((o) => o.setAttribute("aria-pressed", String(o === b)));
        reload();
      }),
    );
    reload();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const off = store.on("jobs", (ids) => {
      // A job ended: the totals changed (at most one reload a second).
      if ([...ids].some((id) => { const j = store.jobs.get(id); return j && !isLive(j); }) && !timer) {
        timer = setTimeout(() => { timer = undefined; reload(); }, 1000);
      }
    });
    return { unmount() { off(); clearTimeout(timer); } };
  },
};
