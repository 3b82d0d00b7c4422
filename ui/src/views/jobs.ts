import type { JobResponse } from "../bindings";
import type { Store } from "../store";
import { duration, escapeHtml, percent, sourceName, speed } from "../format";

let selected: string | null = null;

function resolution(j: JobResponse): string {
  const v = j.variants?.[0];
  if (j.variants && j.variants.length > 1) return j.variants.map((x) => x.name).join(" / ");
  if (v) return v.resolution;
  const m = j.media_info?.video;
  return m ? `${m.width}x${m.height}` : "–";
}

function row(store: Store, j: JobResponse): string {
  const p = store.progress.get(j.job_id);
  const live = j.status === "processing" || j.status === "queued";
  return `<tr data-job="${j.job_id}" class="${j.job_id === selected ? "selected" : ""}">
    <td class="name" title="${escapeHtml(j.source)}">${escapeHtml(sourceName(j.source))}</td>
    <td>${j.mode}</td><td>${escapeHtml(resolution(j))}</td><td>${j.hw_accel_used ?? "–"}</td>
    <td><div class="bar"><i style="width:${Math.min(100, j.progress ?? 0)}%"></i></div><small data-testid="progress">${percent(j.progress)}</small></td>
    <td>${live ? speed(p?.speed) : speed(null)}</td><td>${live && p?.fps != null ? Math.round(p.fps) : "–"}</td>
    <td>${live ? duration(j.eta_seconds) : "–"}</td>
    <td><span class="badge ${j.status}">${live && p ? p.stage : j.status}</span></td>
    <td>${live ? `<button data-act="cancel" data-job="${j.job_id}">Cancel</button>` : ""}</td></tr>`;
}

export function jobs(el: HTMLElement, store: Store) {
  const all = [...store.jobs.values()].sort((a, b) => b.created_at.localeCompare(a.created_at));
  const live = all.filter((j) => j.status === "processing" || j.status === "queued");
  const done = all.filter((j) => !(j.status === "processing" || j.status === "queued"));
  const head = `<tr><th>Source</th><th>Mode</th><th>Resolution</th><th>Hardware</th><th>Progress</th><th>Speed</th><th>FPS</th><th>ETA</th><th>Stage</th><th></th></tr>`;
  el.innerHTML = `
    <section class="card"><h2>Live jobs</h2>
      <table class="jobs" data-testid="live-jobs">${head}${live.map((j) => row(store, j)).join("") || `<tr><td colspan="10" class="muted">No job is running.</td></tr>`}</table>
    </section>
    <section class="card"><h2>History</h2>
      <table class="jobs" data-testid="history">${head}${done.map((j) => row(store, j)).join("") || `<tr><td colspan="10" class="muted">Nothing yet.</td></tr>`}</table>
      ${done.filter((j) => j.error_message).map((j) => `<p class="error" data-job-error="${j.job_id}"><b>${escapeHtml(sourceName(j.source))}</b>: ${escapeHtml(j.error_message!)}</p>`).join("")}
    </section>
    <section class="card" id="detail" ${selected ? "" : "hidden"}><h2>Job detail</h2><pre class="log" data-testid="job-log">Loading…</pre></section>`;
  el.querySelectorAll<HTMLButtonElement>("button[data-act=cancel]").forEach((b) =>
    b.addEventListener("click", async (ev) => {
      ev.stopPropagation();
      const job = store.jobs.get(b.dataset.job!);
      if (!job) return;
      b.disabled = true;
      try {
        await store.api.cancelJob(job);
      } catch (e) {
        alert(String(e));
      }
      await store.refreshJobs();
    }),
  );
  el.querySelectorAll<HTMLTableRowElement>("tr[data-job]").forEach((tr) =>
    tr.addEventListener("click", () => {
      selected = tr.dataset.job!;
      store.changed();
    }),
  );
  const job = selected ? store.jobs.get(selected) : undefined;
  if (job) {
    store.api
      .jobLog(job)
      .then((text) => {
        const pre = el.querySelector("#detail pre");
        if (pre) pre.textContent = text || "(no output yet)";
      })
      .catch((e) => {
        const pre = el.querySelector("#detail pre");
        if (pre) pre.textContent = String(e);
      });
  }
}
