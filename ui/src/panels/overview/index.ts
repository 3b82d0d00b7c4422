// Overview: the server's state and addresses, from pushed status; the uptime clock runs
// locally between pushes.
import type { Panel } from "../../panel";
import { every, setHtml } from "../../panel";
import { duration, escapeHtml } from "../../format";
import { stopOrQuit } from "../../exit";

export const overview: Panel = {
  title: "Overview",
  mount(el, store) {
    const api = store.api;
    el.innerHTML = `
      <section class="card">
        <h2>Server <span class="badge" data-testid="server-state"></span></h2>
        <p class="error" data-field="error" hidden></p>
        <p class="banner" data-field="reason" data-testid="paused-reason" aria-live="polite" hidden></p>
        <div class="actions">
          ${api.canStartStop ? `<button data-act="start">Start server</button>
          <button data-act="stop">Stop server</button>` : ""}
          <button data-act="pause">Pause new jobs</button>
          <button data-act="resume">Resume</button>
          ${api.canStartStop ? `<button data-act="logs">Open logs folder</button>
          <button data-act="quit" data-testid="quit">Quit GhostStream</button>` : ""}
        </div>
        <dl class="facts">
          <dt>Uptime</dt><dd data-field="uptime">–</dd>
          <dt>Active jobs</dt><dd data-testid="active-jobs" data-field="active">0</dd>
          <dt>Queued jobs</dt><dd data-field="queued">0</dd>
          <dt>Connected clients</dt><dd data-field="clients">0</dd>
          <dt>Hardware</dt><dd data-field="hw">–</dd>
          <dt>Version</dt><dd data-field="version">–</dd>
        </dl>
      </section>
      <section class="card">
        <h2>Addresses</h2>
        <ul class="urls" data-field="urls"></ul>
      </section>`;
    const field = (name: string) => el.querySelector<HTMLElement>(`[data-field="${name}"]`)!;
    const button = (act: string) => el.querySelector<HTMLButtonElement>(`button[data-act="${act}"]`);
    const uptime = () => {
      const s = store.status;
      const up = s && (s.state === "running" || s.state === "paused");
      field("uptime").textContent = s && up ? duration((s.uptime_seconds ?? 0) + (Date.now() - store.statusAt) / 1000) : "–";
    };
    const update = () => {
      const s = store.status;
      const state = s?.state ?? "stopped";
      const up = state === "running" || state === "paused";
      const badge = el.querySelector<HTMLElement>('[data-testid="server-state"]')!;
      badge.textContent = state;
      badge.className = `badge ${state}`;
      field("error").hidden = !s?.error;
      field("error").textContent = s?.error ?? "";
      field("reason").hidden = !s?.paused_reason;
      field("reason").textContent = s?.paused_reason ? `${s.paused_reason} · ${s.paused_jobs} job(s) paused` : "";
      field("active").textContent = String(s?.active_jobs ?? 0);
      field("queued").textContent = String(s?.queued_jobs ?? 0);
      field("clients").textContent = String(s?.connected_clients ?? 0);
      field("hw").textContent = (s?.hw_accels ?? []).join(", ") || "–";
      field("version").textContent = s?.version ?? "–";
      setHtml(field("urls"), (s?.lan_urls ?? []).map((u) => `<li><code>${escapeHtml(u)}</code></li>`).join("") || "<li>not listening</li>");
      const enable = (act: string, on: boolean) => { const b = button(act); if (b) b.disabled = !on; };
      enable("start", !up);
      enable("stop", up);
      enable("pause", state === "running");
      enable("resume", state === "paused");
      uptime();
    };
    el.querySelectorAll<HTMLButtonElement>("button[data-act]").forEach((b) =>
      b.addEventListener("click", async () => {
        b.disabled = true;
        const act = b.dataset.act;
        try {
          if (act === "start") store.setStatus(await api.startServer());
          if (act === "stop") { const s = await stopOrQuit(store, "stop"); if (s) store.setStatus(s); }
          if (act === "pause") store.setStatus(await api.pauseServer());
          if (act === "resume") store.setStatus(await api.resumeServer());
          if (act === "logs") await api.openLogsFolder();
          if (act === "quit") await stopOrQuit(store, "quit");
        } catch (e) {
          alert(e instanceof Error ? e.message : String(e));
        }
        // Buttons the state does not govern (logs, quit) come back; update() sets the rest.
        b.disabled = false;
        update();
      }),
    );
    update();
    const off = [store.on("status", update), every(1000, uptime)];
    return { unmount: () => off.forEach((f) => f()) };
  },
};
