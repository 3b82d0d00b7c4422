// Jobs: live and finished jobs as keyed rows, updated in place from events (focus and
// selection survive), and the selected job's log, appended to while it runs (scroll kept).
import type { JobResponse } from "../../bindings";
import type { Panel } from "../../panel";
import { every } from "../../panel";
import { isLive, type Store } from "../../store";
import { between, bytes, duration, escapeHtml, gpuText, percent, sourceName, speed, when } from "../../format";
import { mountUpload, UPLOAD_CARD } from "./upload";

const LIVE_HEAD = `<tr><th scope="col">Source</th><th scope="col">Client</th><th scope="col">Delivery</th><th scope="col">Picture</th><th scope="col">Encoder</th><th scope="col">Progress</th><th scope="col">Speed</th><th scope="col">ETA</th><th scope="col">Status</th><th scope="col"><span class="sr-only">Actions</span></th></tr>`;
const DONE_HEAD = `<tr><th scope="col">Source</th><th scope="col">Client</th><th scope="col">Delivery</th><th scope="col">Picture</th><th scope="col">Encoder</th><th scope="col">Started</th><th scope="col">Took</th><th scope="col">Size</th><th scope="col">Speed</th><th scope="col">Outcome</th><th scope="col"><span class="sr-only">Actions</span></th></tr>`;

const KIND_WORD: Record<string, string> = { direct: "Direct", remux: "Remux", transcode: "Transcode" };
const CLIENT_WORD: Record<string, string> = { ghosthub: "GhostHub", sdk: "SDK", browser: "Browser", app: "This app", other: "Other" };

/** Who asked: the name it gave, what kind of program it is, and from where. */
export function clientText(j: JobResponse): { name: string; detail: string } {
  const c = j.client;
  if (!c) return { name: "–", detail: "" };
  const kind = CLIENT_WORD[c.kind] ?? c.kind;
  const name = c.kind === "app" ? "This app" : c.name === "ghoststream-dashboard" ? "Dashboard" : c.name;
  const detail = [name === kind ? "" : kind, c.address ?? ""].filter(Boolean).join(" · ");
  return { name, detail };
}

/** The picture in → out: the source size and each size written. */
export function pictureText(j: JobResponse): string {
  const d = j.delivery;
  const src = d?.input ?? (j.media_info?.video ? `${j.media_info.video.width}x${j.media_info.video.height}` : null);
  const out = d?.output ?? (j.variants?.length ? j.variants.map((v) => v.resolution).join(", ") : null);
  if (!src && !out) return "–";
  if (src && out && src === out) return `${src} (kept)`;
  return `${src ?? "?"} → ${out ?? "?"}`;
}

/** The text a search matches: source, client, delivery and its reason, outcome. */
function haystack(j: JobResponse): string {
  return [j.source, j.client?.name, j.client?.address, j.client?.kind, j.delivery?.kind, j.delivery?.reason, j.status, j.error_message, j.mode]
    .filter(Boolean)
    .join(" ")
    .toLowerCase();
}

/** Sets a cell's two lines (a value and a muted note under it) only when they changed. */
function twoLines(td: HTMLTableCellElement, main: string, note: string) {
  if (!td.firstElementChild) td.innerHTML = `<span></span> <small class="muted note"></small>`;
  const [a, b] = [td.children[0] as HTMLElement, td.children[1] as HTMLElement];
  if (a.textContent !== main) a.textContent = main;
  if (b.textContent !== note) b.textContent = note;
  b.hidden = !note;
}

/** Fills a row's cells; the row element (and a focused button in it) stays. */
function fill(tr: HTMLTableRowElement, store: Store, j: JobResponse) {
  const p = store.progress.get(j.job_id);
  const live = isLive(j);
  const shape = live ? "live" : "done";
  if (tr.dataset.shape !== shape) {
    tr.dataset.shape = shape;
    tr.innerHTML = live
      ? `<td class="name"></td><td data-testid="client"></td><td data-testid="delivery"></td><td></td><td></td>
      <td><div class="bar" aria-hidden="true"><i></i></div><small data-testid="progress"></small></td>
      <td></td><td></td><td><span class="badge"></span></td><td class="acts"></td>`
      : `<td class="name"></td><td data-testid="client"></td><td data-testid="delivery"></td><td></td><td></td><td></td><td></td><td></td><td></td><td><span class="badge"></span></td><td class="acts"></td>`;
  }
  const c = tr.cells;
  c[0].textContent = sourceName(j.source);
  c[0].title = j.source;
  const who = clientText(j);
  twoLines(c[1], who.name, who.detail);
  const d = j.delivery;
  twoLines(c[2], d ? KIND_WORD[d.kind] ?? d.kind : j.mode, d?.reason ?? "");
  c[3].textContent = pictureText(j);
  const encoder = d ? d.encoder ?? "none (copied)" : j.hw_accel_used ?? "–";
  twoLines(c[4], encoder, gpuText(j.gpu ?? null));
  const badge = tr.querySelector<HTMLElement>(".badge")!;
  if (live) {
    c[5].querySelector("i")!.style.width = `${Math.min(100, j.progress ?? 0)}%`;
    c[5].querySelector("small")!.textContent = percent(j.progress);
    c[6].textContent = speed(p?.speed);
    c[7].textContent = duration(j.eta_seconds);
    const slow = j.health?.degraded;
    badge.className = `badge ${j.status}`;
    badge.textContent = slow && p?.stage !== "paused" ? "slow" : p ? p.stage : j.status;
    // Why it is paused, or what the health checker saw and did ("0.6× real time; …").
    badge.title = j.paused_reason ?? (j.health ? `${j.health.speed}× real time; ${j.health.action}` : "");
  } else {
    c[5].textContent = when(j.started_at ?? j.created_at);
    c[5].title = j.started_at ?? j.created_at;
    c[6].textContent = duration(between(j.started_at, j.completed_at));
    c[7].textContent = bytes(j.output_size ?? null);
    c[8].textContent = speed(j.speed);
    badge.className = `badge ${j.status}`;
    badge.textContent = j.status === "ready" ? "done" : j.status === "error" ? "failed" : j.status;
    badge.title = j.error_message ?? "";
  }
  // Actions: rebuilt only when what they can do changes, so a focused button stays.
  const acts = !live
    ? j.source.includes(" live: ") ? "remove" : "retry remove"
    : j.status !== "processing" ? "cancel" : j.paused_reason ? "resume cancel" : "pause cancel";
  const cell = tr.querySelector<HTMLElement>("td.acts")!;
  if (cell.dataset.acts !== acts) {
    cell.dataset.acts = acts;
    const label: Record<string, string> = { pause: "Pause", resume: "Resume", cancel: "Cancel", retry: "Retry", remove: "Remove" };
    const name = escapeHtml(sourceName(j.source));
    cell.innerHTML = acts
      .split(" ")
      .filter(Boolean)
      .map((a) => `<button data-act="${a}" data-job="${j.job_id}" aria-label="${label[a]} ${name}">${label[a]}</button>`)
      .join(" ");
  }
}

export const jobs: Panel = {
  title: "Jobs",
  mount(el, store) {
    el.innerHTML = `${UPLOAD_CARD}
      <section class="card"><h2>Live jobs</h2>
        <table class="jobs" data-testid="live-jobs"><thead>${LIVE_HEAD}</thead><tbody></tbody></table>
        <p class="muted" data-empty="live">No job is running.</p>
      </section>
      <section class="card"><h2>History</h2>
        <div class="filters" role="search" aria-label="Filter the history">
          <label>Search <input type="search" data-testid="history-search" placeholder="file, client, reason…"></label>
          <label>Outcome <select data-testid="history-outcome"><option value="">All</option><option value="ready">Done</option><option value="error">Failed</option><option value="cancelled">Cancelled</option></select></label>
          <label>Delivery <select data-testid="history-kind"><option value="">All</option><option value="direct">Direct</option><option value="remux">Remux</option><option value="transcode">Transcode</option></select></label>
          <button data-testid="history-clear" class="danger">Clear history</button>
        </div>
        <table class="jobs" data-testid="history"><thead>${DONE_HEAD}</thead><tbody></tbody></table>
        <p class="muted" data-empty="history">Nothing yet.</p>
        <p class="muted" data-empty="filtered" hidden>No finished job matches.</p>
        <p class="error" data-field="action-error" role="alert" hidden></p>
        <div data-field="errors"></div>
      </section>
      <p class="sr-only" role="status" aria-live="polite" data-testid="jobs-announce"></p>
      <section class="card" id="detail" hidden><h2>Job detail</h2><pre class="log" data-testid="job-log" tabindex="0">Loading…</pre></section>`;
    const liveBody = el.querySelector<HTMLElement>('[data-testid="live-jobs"] tbody')!;
    const doneBody = el.querySelector<HTMLElement>('[data-testid="history"] tbody')!;
    const errors = el.querySelector<HTMLElement>('[data-field="errors"]')!;
    const rows = new Map<string, HTMLTableRowElement>();
    const pre = el.querySelector<HTMLPreElement>('[data-testid="job-log"]')!;
    const search = el.querySelector<HTMLInputElement>('[data-testid="history-search"]')!;
    const outcome = el.querySelector<HTMLSelectElement>('[data-testid="history-outcome"]')!;
    const kind = el.querySelector<HTMLSelectElement>('[data-testid="history-kind"]')!;
    const clearBtn = el.querySelector<HTMLButtonElement>('[data-testid="history-clear"]')!;
    /** Whether a finished job passes the history's search and filters. */
    const matches = (j: JobResponse) => {
      const words = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      const hay = haystack(j);
      return (
        (!outcome.value || j.status === outcome.value) &&
        (!kind.value || j.delivery?.kind === kind.value) &&
        words.every((w) => hay.includes(w))
      );
    };
    const refilter = () => {
      for (const id of rows.keys()) place(id);
      empties();
    };
    search.addEventListener("input", refilter);
    outcome.addEventListener("change", refilter);
    kind.addEventListener("change", refilter);
    let selected: string | null = null;
    let logText = "";
    let stopLog: (() => void) | null = null;

    const place = (id: string) => {
      const j = store.jobs.get(id);
      let tr = rows.get(id);
      if (!j) {
        tr?.remove();
        rows.delete(id);
        errors.querySelector(`[data-job-error="${id}"]`)?.remove();
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
      tr.hidden = !isLive(j) && !matches(j);
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
      const shown = [...doneBody.children].some((r) => !(r as HTMLElement).hidden);
      el.querySelector<HTMLElement>('[data-empty="filtered"]')!.hidden = shown || doneBody.children.length === 0;
      clearBtn.disabled = !shown;
    };
    const actionError = el.querySelector<HTMLElement>('[data-field="action-error"]')!;
    const sayError = (e: unknown) => {
      actionError.textContent = e instanceof Error ? e.message : String(e);
      actionError.hidden = false;
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
        actionError.hidden = true;
        try {
          if (b.dataset.act === "cancel") await store.api.cancelJob(id);
          if (b.dataset.act === "pause") store.update(await store.api.pauseJob(id));
          if (b.dataset.act === "resume") store.update(await store.api.resumeJob(id));
          if (b.dataset.act === "retry") {
            const fresh = await store.api.retryJob(id);
            store.update(fresh);
            // Focus follows the job to its new row, at the top of Live jobs.
            requestAnimationFrame(() => rows.get(fresh.job_id)?.focus());
          }
          if (b.dataset.act === "remove") {
            const row = rows.get(id);
            const next = (row?.nextElementSibling ?? row?.previousElementSibling) as HTMLElement | null;
            await store.api.deleteJob(id);
            store.forget(id);
            requestAnimationFrame(() => (next?.isConnected ? next : search).focus());
          }
        } catch (e) {
          sayError(e);
        }
        b.disabled = false;
        return;
      }
      if (target === clearBtn) {
        askClear();
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

    /** Clear history asks first, in place: how many jobs, and that their files go too. */
    const askClear = () => {
      const shown = [...doneBody.children].filter((r) => !(r as HTMLElement).hidden).map((r) => (r as HTMLElement).dataset.job!);
      if (!shown.length || el.querySelector('[data-field="confirm-clear"]')) return;
      const box = document.createElement("div");
      box.dataset.field = "confirm-clear";
      box.className = "confirm-inline";
      box.setAttribute("role", "group");
      box.setAttribute("aria-label", "Confirm clearing the history");
      const filtered = search.value.trim() || outcome.value || kind.value;
      box.innerHTML = `<span>Remove ${shown.length} finished job${shown.length === 1 ? "" : "s"}${filtered ? " (those shown)" : ""} and their files?</span>
        <button class="danger" data-testid="history-clear-yes">Remove</button> <button data-testid="history-clear-no">Keep</button>`;
      clearBtn.after(box);
      const done = () => { box.remove(); clearBtn.focus(); };
      box.querySelector<HTMLButtonElement>('[data-testid="history-clear-no"]')!.onclick = done;
      box.addEventListener("keydown", (e) => { if (e.key === "Escape") done(); });
      box.querySelector<HTMLButtonElement>('[data-testid="history-clear-yes"]')!.onclick = async () => {
        actionError.hidden = true;
        box.querySelectorAll("button").forEach((x) => (x.disabled = true));
        for (const id of shown) {
          try {
            await store.api.deleteJob(id);
            store.forget(id);
          } catch (e) {
            sayError(e);
            break;
          }
        }
        done();
      };
      box.querySelector<HTMLButtonElement>('[data-testid="history-clear-no"]')!.focus();
    };

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
