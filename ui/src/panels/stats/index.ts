// Stats: totals and the last 14 days, loaded when shown and again when a job ends.
import type { Panel } from "../../panel";
import { setHtml } from "../../panel";
import { isLive } from "../../store";
import { barChart } from "../../chart";
import { bytes, duration } from "../../format";

export const stats: Panel = {
  title: "Stats",
  mount(el, store) {
    el.innerHTML = `<div data-field="body"><section class="card"><p>Loading…</p></section></div>`;
    const load = async () => {
      const [stats, daily] = await Promise.all([store.api.stats(), store.api.dailyStats(14)]);
      const days = daily.days;
      const labels = days.map((d) => d.day.slice(5));
      const hw = new Map<string, number>();
      for (const [k, v] of Object.entries(stats.hw_accel_usage ?? {})) hw.set(k, Number(v));
      setHtml(el.querySelector('[data-field="body"]'), `
        <section class="card"><h2>Totals</h2>
          <dl class="facts" data-testid="totals">
            <dt>Jobs processed</dt><dd data-testid="total-jobs">${stats.total_jobs_processed}</dd>
            <dt>Successful</dt><dd>${stats.successful_jobs}</dd>
            <dt>Failed</dt><dd>${stats.failed_jobs}</dd>
            <dt>Cancelled</dt><dd>${stats.cancelled_jobs}</dd>
            <dt>Average speed</dt><dd>${stats.average_transcode_speed}×</dd>
            <dt>Output written</dt><dd>${bytes(stats.total_bytes_processed)}</dd>
            <dt>Uptime</dt><dd>${duration(stats.uptime_seconds)}</dd>
          </dl>
        </section>
        <section class="card grid2">
          <div><h3>Jobs per day</h3>${barChart(labels, days.map((d) => d.completed + d.failed + d.cancelled))}</div>
          <div><h3>Average speed per day</h3>${barChart(labels, days.map((d) => d.average_speed ?? 0), { color: "#22c55e", format: (v) => `${v}×` })}</div>
        </section>
        <section class="card"><h3>Hardware share</h3>
          ${hw.size ? barChart([...hw.keys()], [...hw.values()], { color: "#f59e0b" }) : `<p class="muted">No finished job yet.</p>`}
          <p class="muted">${[...hw.entries()].map(([k, v]) => `${k}: ${v}`).join(" · ")}</p>
        </section>`);
    };
    const reload = () => void load().catch((e) => setHtml(el.querySelector('[data-field="body"]'), `<section class="card"><p class="error">${String(e instanceof Error ? e.message : e)}</p></section>`));
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
