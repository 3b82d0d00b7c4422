import type { Settings } from "../bindings";
import type { Store } from "../store";
import { escapeHtml } from "../format";

let current: Settings | null = null;
let message = "";
let loading = false;

export function settings(el: HTMLElement, store: Store) {
  if (!current && !loading) {
    loading = true;
    store.api.getSettings().then((s) => { current = s; loading = false; store.changed(); }).catch((e) => { message = String(e); loading = false; store.changed(); });
  }
  if (el.querySelector("form") && el.contains(document.activeElement) && document.activeElement?.matches("input, textarea, select")) return; // don't clobber typing
  const s = current;
  el.innerHTML = s ? `
    <section class="card"><h2>Settings</h2>
      <form data-testid="settings">
        <label>Port <input name="port" type="number" min="1" max="65535" value="${s.port}"></label>
        <label>Max concurrent jobs <input name="max_concurrent_jobs" type="number" min="1" max="64" value="${s.max_concurrent_jobs}"></label>
        <label>Hardware <select name="hw_preference">
          <option value="auto" ${s.hw_preference === "auto" ? "selected" : ""}>Best proven GPU, else software</option>
          <option value="software" ${s.hw_preference === "software" ? "selected" : ""}>Software only</option></select></label>
        <label>Job tokens <select name="job_tokens">
          <option value="enforce" ${s.job_tokens === "enforce" ? "selected" : ""}>Enforce (recommended)</option>
          <option value="open" ${s.job_tokens === "open" ? "selected" : ""}>Open (legacy clients)</option></select></label>
        <label>API key <input name="api_key" type="password" autocomplete="off" value="${escapeHtml(s.api_key ?? "")}" placeholder="none"></label>
        <label>Library folders (one per line)<textarea name="library_roots" rows="3">${escapeHtml(s.library_roots.join("\n"))}</textarea></label>
        <label>Local addresses sources may use (one per line, e.g. 127.0.0.1 for a media server on this PC)<textarea name="allowed_targets" rows="2">${escapeHtml((s.allowed_targets ?? []).join("\n"))}</textarea></label>
        <label class="check"><input name="start_at_login" type="checkbox" ${s.start_at_login ? "checked" : ""}> Start at login</label>
        <button type="submit">Save</button>
      </form>
      <p class="message" data-testid="settings-message">${escapeHtml(message)}</p>
    </section>` : `<section class="card"><p>${escapeHtml(message || "Loading…")}</p></section>`;
  el.querySelector("form")?.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target as HTMLFormElement);
    const next: Settings = {
      port: Number(f.get("port")),
      max_concurrent_jobs: Number(f.get("max_concurrent_jobs")),
      hw_preference: f.get("hw_preference") as Settings["hw_preference"],
      job_tokens: f.get("job_tokens") as Settings["job_tokens"],
      api_key: String(f.get("api_key") ?? "") || null,
      library_roots: String(f.get("library_roots") ?? "").split("\n").map((x) => x.trim()).filter(Boolean),
      allowed_targets: String(f.get("allowed_targets") ?? "").split("\n").map((x) => x.trim()).filter(Boolean),
      start_at_login: f.get("start_at_login") === "on",
    };
    try {
      const saved = await store.api.saveSettings(next);
      current = saved.settings;
      const now = saved.applied_now.length ? `Applied now: ${saved.applied_now.join(", ")}.` : "Saved.";
      const later = saved.needs_server_restart.length ? ` Takes effect when the server restarts: ${saved.needs_server_restart.join(", ")}.` : "";
      message = `${now}${later} (${saved.config_path})`;
    } catch (e) {
      message = `Not saved: ${e instanceof Error ? e.message : String(e)}`;
    }
    (document.activeElement as HTMLElement | null)?.blur();
    store.changed();
  });
}
