// Settings: a form generated from the server's settings schema (`SETTING_FIELDS` in the
// generated bindings), built once and never redrawn under the user's cursor.
import { SETTING_FIELDS, type ScheduleWindow, type Settings } from "../../bindings";
import type { Panel } from "../../panel";
import { escapeHtml } from "../../format";
import { scheduleControl, wireSchedule } from "./schedule";
import { showWelcome } from "../../welcome";

type Field = (typeof SETTING_FIELDS)[number];
type Values = Record<string, unknown>;

function control(f: Field, v: unknown): string {
  const i = f.input;
  const name = `name="${f.name}"`;
  switch (i.kind) {
    case "number":
      return `<label>${escapeHtml(f.label)} <input ${name} type="number" min="${i.of.min}" max="${i.of.max}" value="${Number(v)}"></label>`;
    case "choice":
      return `<label>${escapeHtml(f.label)} <select ${name}>${i.of.map(([val, label]) => `<option value="${val}" ${v === val ? "selected" : ""}>${escapeHtml(label)}</option>`).join("")}</select></label>`;
    case "secret":
      return `<label>${escapeHtml(f.label)} <input ${name} type="password" autocomplete="off" value="${escapeHtml(String(v ?? ""))}" placeholder="not set: no key is asked for"></label>`;
    case "lines":
      return `<label>${escapeHtml(f.label)}<textarea ${name} rows="3">${escapeHtml(((v as string[] | null) ?? []).join("\n"))}</textarea></label>`;
    case "toggle":
      return `<label class="check"><input ${name} type="checkbox" ${v ? "checked" : ""}> ${escapeHtml(f.label)}</label>`;
    case "schedule":
      return scheduleControl(f.name, f.label, (v as ScheduleWindow[] | null) ?? []);
  }
}

/** What the user saw: a setting's label, for the field names a save answers with. */
function labels(names: readonly string[]): string {
  return names.map((n) => `“${SETTING_FIELDS.find((f) => f.name === n || f.key === n)?.label ?? n}”`).join(", ");
}

function read(form: HTMLFormElement): Settings {
  const data = new FormData(form);
  const out: Values = {};
  for (const f of SETTING_FIELDS) {
    const raw = data.get(f.name);
    switch (f.input.kind) {
      case "number": out[f.name] = Number(raw); break;
      case "choice": out[f.name] = String(raw); break;
      case "secret": out[f.name] = String(raw ?? "") || null; break;
      case "lines": out[f.name] = String(raw ?? "").split("\n").map((x) => x.trim()).filter(Boolean); break;
      case "toggle": out[f.name] = raw === "on"; break;
      case "schedule": out[f.name] = JSON.parse(String(raw ?? "[]")); break;
    }
  }
  return out as Settings;
}

export const settings: Panel = {
  title: "Settings",
  mount(el, store) {
    el.innerHTML = `<section class="card"><h2>Settings</h2><div data-field="form"><p>Loading…</p></div>
      <p class="message" data-testid="settings-message" aria-live="polite"></p></section>
      <section class="card"><h2>Welcome</h2><p class="muted">The first-run guide: hardware, network and firewall, pairing with GhostHub.</p>
        <button data-testid="show-welcome">Show the welcome again</button></section>`;
    el.querySelector<HTMLButtonElement>('[data-testid="show-welcome"]')!.addEventListener("click", (ev) => {
      const b = ev.currentTarget as HTMLButtonElement;
      void showWelcome(store).then(() => { if (b.isConnected) b.focus(); });
    });
    const message = (m: string) => { el.querySelector('[data-testid="settings-message"]')!.textContent = m; };
    store.api.getSettings().then((s) => {
      const values = s as unknown as Values;
      el.querySelector('[data-field="form"]')!.innerHTML = `<form data-testid="settings">
        ${SETTING_FIELDS.map((f) => control(f, values[f.name])).join("\n")}
        <button type="submit">Save</button></form>`;
      wireSchedule(el);
      el.querySelector("form")!.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        try {
          const saved = await store.api.saveSettings(read(ev.target as HTMLFormElement));
          const now = saved.applied_now.length ? `Applied now: ${labels(saved.applied_now)}.` : "Saved.";
          const later = saved.needs_server_restart.length ? ` Takes effect when the server restarts: ${labels(saved.needs_server_restart)}.` : "";
          message(`${now}${later} (${saved.config_path})`);
        } catch (e) {
          message(`Not saved: ${e instanceof Error ? e.message : String(e)}`);
        }
      });
    }).catch((e) => message(e instanceof Error ? e.message : String(e)));
    return { unmount() {} };
  },
};
