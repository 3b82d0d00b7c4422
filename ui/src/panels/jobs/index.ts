// Jobs: live and finished jobs as keyed rows, updated in place from events (focus and
// selection survive), and the selected job's log, appended to while it runs (scroll kept).
import type { JobResponse } from "../../bindings";
import type { Panel } from "../../panel";
import { every } from "../../panel";
import { isLive, type Store } from "../../store";
import { duration, escapeHtml, percent, sourceName, speed } from "../../format";
import { mountUpload, UPLOAD_CARD } from "./upload";

const HEAD = `<tr><th>Source</th><th>Mode</th><th>Resolution</th><th>Hardware</th><th>Progress</th><th>Speed</th><th>FPS</th><th>ETA</th><th>Stage</th><th></th></tr>`;

function resolution(j: JobResponse): string {
  const v = j.variants?.[0];
  if (j.variants && j.variants.length > 1) return j.variants.map((x) => x.name).join(" / ");
  if (v) return v.resolution;
  const m = j.media_info?.video;
  return m ? `${m.width}x${m.height}` : "–";
}

/** Fills a row's cells; the row element (and a focused button in it) stays. */
function fill(tr: HTMLTableRowElement, store: Store, j: JobResponse) {
  const p = store.progress.get(j.job_id);
  const live = isLive(j);
  if (!tr.cells.length) {
    tr.innerHTML = `<td class="name"></td><td></td><td></td><td></td>
      <td><div class="bar"><i></i></div><small data-testid="progress"></small></td>
      <td></td><td></td><td></td><td><span class="badge"></span></td><td></td>`;
  }
  const c = tr.cells;
  c[0].textContent = sourceName(j.source);
  c[0].title = j.source;
  c[1].textContent = j.mode;
  c[2].textContent = resolution(j);
  c[3].textContent = j.hw_accel_used ?? "–";
  c[4].querySelector("i")!.style.width = `${Math.min(100, j.progress ?? 0)}%`;
  c[4].querySelector("small")!.textContent = percent(j.progress);
  c[5].textContent = live ? speed(p?.speed) : speed(null);
  c[6].textContent = live && p?.fps != null ? String(Math.round(p.fps)) : "–";
  c[7].textContent = live ? duration(j.eta_seconds) : "–";
  const badge = c[8].querySelector("span")!;
  badge.className = `badge ${j.status}`;
  const slow = live && j.health?.degraded;
  badge.textContent = slow && p?.stage !== "paused" ? "slow" : live && p ? p.stage : j.status;
  // Why it is paused, or what the health checker saw and did ("0.6× real time; …").
  badge.title =
    j.paused_reason ?? (j.health ? `${j.health.speed}× real time; ${j.health.action}` : "");
  // Actions: rebuilt only when what they can do changes, so a focused button stays.
  const acts = !live ? "" : j.status !== "processing" ? "cancel" : j.paused_reason ? "resume cancel" : "pause cancel";
  if (c[9].dataset.acts !== acts) {
    c[9].dataset.acts = acts;
    const label: Record<string, string> = { pause: "Pause", resume: "Resume", cancel: "Cancel" };
    c[9].innerHTML = acts
      .split(" ")
      .filter(Boolean)
      .map((a) => `<button data-act="${a}" data-job="${j.job_id}">${label[a]}</button>`)
      .join(" ");
  }
}

export const jobs: Panel = {
  title: "Jobs",
  mount(el, store) {
    el.innerHTML = `${UPLOAD_CARD}
      <section class="card"><h2>Live jobs</h2>
        <table class="jobs" data-testid="live-jobs"><thead>${HEAD}</thead><tbody></tbody></table>
        <p class="muted" data-empty="live">No job is running.</p>
      </section>
      <section class="card"><h2>History</h2>
        <table class="jobs" data-testid="history"><thead>${HEAD}</thead><tbody></tbody></table>
        <p class="muted" data-empty="history">Nothing yet.</p>
        <div data-field="errors"></div>
      </section>
      <p class="sr-only" role="status" aria-live="polite" data-testid="jobs-announce"></p>
      <section class="card" id="detail" hidden><h2>Job detail</h2><pre class="log" data-testid="job-log" tabindex="0">Loading…</pre></section>`;
    const liveBody = el.querySelector<HTMLElement>('[data-testid="live-jobs"] tbody')!;
    const doneBody = el.querySelector<HTMLElement>('[data-testid="history"] tbody')!;
    const errors = el.querySelector<HTMLElement>('[data-field="errors"]')!;
    const rows = new Map<string, HTMLTableRowElement>();
    const pre = el.querySelector<HTMLPreElement>('[data-testid="job-log"]')!;
    let selected: string | null = null;
    let logText = "";
    let stopLog: (() => void) | null = null;

    const place = (id: string) => {
      const j = store.jobs.get(id);
      let tr = rows.get(id);
      if (!j) {
        tr?.remove();
        rows.delete(id);
        return;
      }
      if (!tr) {
        tr = document.createElement("tr");
        tr.dataset.job = id;
        tr.tabIndex = 0;
        rows.set(id, tr);
      }
      fill(tr, store, j);
      tr.classList.toggle("selected", id === selected);
      const body = isLive(j) ? liveBody : doneBody;
      if (tr.parentElement !== body) {
        // Newest first: before the first row created later than this one.
        const next = [...body.children].find((r) => (store.jobs.get((r as HTMLElement).dataset.job!)?.created_at ?? "") < j.created_at);
        body.insertBefore(tr, next ?? null);
      }
      const err = errors.querySelector<HTMLElement>(`[data-job-error="${id}"]`);
      if (!isLive(j) && j.error_message && !err) {
        const p = document.createElement("p");
        p.className = "error";
        p.dataset.jobError = id;
        p.innerHTML = `<b>${escapeHtml(sourceName(j.source))}</b>: ${escapeHtml(j.error_message)}`;
        errors.append(p);
      }
    };
    const empties = () => {
      el.querySelector<HTMLElement>('[data-empty="live"]')!.hidden = liveBody.children.length > 0;
      el.querySelector<HTMLElement>('[data-empty="history"]')!.hidden = doneBody.children.length > 0;
    };

    /** Shows the log; while the job runs, appends what is new and keeps the reader's place. */
    const showLog = async () => {
      const job = selected ? store.jobs.get(selected) : undefined;
      if (!job) return;
      let text: string;
      try {
        text = (await store.api.jobLog(job.job_id)) || "(no output yet)";
      } catch (e) {
        text = e instanceof Error ? e.message : String(e);
      }
      if (text === logText) return;
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      if (logText && text.startsWith(logText)) pre.append(text.slice(logText.length));
      else pre.textContent = text;
      logText = text;
      if (atBottom) pre.scrollTop = pre.scrollHeight;
      if (!isLive(job)) { stopLog?.(); stopLog = null; }
    };
    /** Appends lines as they come, keeping the reader's place unless at the bottom. */
    const append = (line: string) => {
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      if (!logText) pre.textContent = "";
      pre.append(`${line}\n`);
      logText += `${line}\n`;
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    };
    const select = (id: string) => {
      if (selected) rows.get(selected)?.classList.remove("selected");
      selected = id;
      rows.get(id)?.classList.add("selected");
      el.querySelector<HTMLElement>("#detail")!.hidden = false;
      logText = "";
      pre.textContent = "Loading…";
      stopLog?.();
      const job = store.jobs.get(id);
      if (job && isLive(job) && store.api.followLog) {
        // Live over a WebSocket: its last lines, then each new one as it is written.
        stopLog = store.api.followLog(id, append, () => { if (!logText) void showLog(); });
      } else {
        // The app's window polls the log of the job on screen while it runs.
        stopLog = every(2000, () => void showLog());
      }
    };

    el.addEventListener("click", async (ev) => {
      const target = ev.target as HTMLElement;
      const b = target.closest<HTMLButtonElement>("button[data-act]");
      if (b) {
        ev.stopPropagation();
        b.disabled = true;
        const id = b.dataset.job!;
        try {
          if (b.dataset.act === "cancel") await store.api.cancelJob(id);
          if (b.dataset.act === "pause") store.update(await store.api.pauseJob(id));
          if (b.dataset.act === "resume") store.update(await store.api.resumeJob(id));
        } catch (e) {
          alert(e instanceof Error ? e.message : String(e));
        }
        b.disabled = false;
        return;
      }
      const tr = target.closest<HTMLTableRowElement>("tr[data-job]");
      if (tr) select(tr.dataset.job!);
    });
    el.addEventListener("keydown", (ev) => {
      const tr = (ev.target as HTMLElement).closest<HTMLTableRowElement>("tr[data-job]");
      if (tr && (ev.key === "Enter" || ev.key === " ") && ev.target === tr) {
        ev.preventDefault();
        select(tr.dataset.job!);
      }
    });

    const unUpload = mountUpload(el, store);
    // Status changes (not each progress tick) are read out by screen readers.
    const said = el.querySelector<HTMLElement>('[data-testid="jobs-announce"]')!;
    const lastStatus = new Map<string, string>();
    const announce = (id: string) => {
      const j = store.jobs.get(id);
      if (!j || lastStatus.get(id) === j.status) return;
      const before = lastStatus.get(id);
      lastStatus.set(id, j.status);
      if (before === undefined) return;
      const why = j.status === "error" && j.error_message ? `: ${j.error_message}` : "";
      said.textContent = `${sourceName(j.source)} is ${j.status === "error" ? "failed" : j.status}${why}`;
    };
    for (const id of store.jobs.keys()) { place(id); announce(id); }
    empties();
    const off = store.on("jobs", (ids) => {
      for (const id of ids) { place(id); announce(id); }
      empties();
      if (selected && ids.has(selected) && !stopLog) void showLog();
    });
    return {
      unmount() {
        off();
        unUpload();
        stopLog?.();
      },
    };
  },
};
