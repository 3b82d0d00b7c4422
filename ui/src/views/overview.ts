import type { Store } from "../store";
import { duration, escapeHtml } from "../format";

export function overview(el: HTMLElement, store: Store) {
  const s = store.status;
  const api = store.api;
  const state = s?.state ?? "stopped";
  const up = state === "running" || state === "paused";
  el.innerHTML = `
    <section class="card">
      <h2>Server <span class="badge ${state}" data-testid="server-state">${state}</span></h2>
      ${s?.error ? `<p class="error">${escapeHtml(s.error)}</p>` : ""}
      <div class="actions">
        ${api.canStartStop ? `<button data-act="start" ${up ? "disabled" : ""}>Start server</button>
        <button data-act="stop" ${up ? "" : "disabled"}>Stop server</button>` : ""}
        <button data-act="pause" ${state === "running" ? "" : "disabled"}>Pause new jobs</button>
        <button data-act="resume" ${state === "paused" ? "" : "disabled"}>Resume</button>
        ${api.canStartStop ? `<button data-act="logs">Open logs folder</button>
        <button data-act="quit" data-testid="quit">Quit GhostStream</button>` : ""}
      </div>
      <dl class="facts">
        <dt>Uptime</dt><dd>${duration(s?.uptime_seconds)}</dd>
        <dt>Active jobs</dt><dd data-testid="active-jobs">${s?.active_jobs ?? 0}</dd>
        <dt>Queued jobs</dt><dd>${s?.queued_jobs ?? 0}</dd>
        <dt>Connected clients</dt><dd>${s?.connected_clients ?? 0}</dd>
        <dt>Hardware</dt><dd>${(s?.hw_accels ?? []).join(", ") || "–"}</dd>
        <dt>Version</dt><dd>${s?.version ?? "–"}</dd>
      </dl>
    </section>
    <section class="card">
      <h2>Addresses</h2>
      <ul class="urls">${(s?.lan_urls ?? []).map((u) => `<li><code>${escapeHtml(u)}</code></li>`).join("") || "<li>not listening</li>"}</ul>
    </section>`;
  el.querySelectorAll<HTMLButtonElement>("button[data-act]").forEach((b) =>
    b.addEventListener("click", async () => {
      b.disabled = true;
      const act = b.dataset.act;
      try {
        if (act === "start") store.status = await api.startServer();
        if (act === "stop") store.status = await api.stopServer();
        if (act === "pause") store.status = await api.setPaused(true);
        if (act === "resume") store.status = await api.setPaused(false);
        if (act === "logs") await api.openLogsFolder();
        if (act === "quit") await api.quitApp();
      } catch (e) {
        alert(String(e));
      }
      store.changed();
    }),
  );
}
