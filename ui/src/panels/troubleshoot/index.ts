// Troubleshooting: the application log as it is written (server start and address, jobs,
// refused requests with the reason and the client), each accelerator that failed with
// the fix in words, the reachability self-test, and a diagnostics report to copy.
import type { LogLine } from "../../bindings";
import type { Panel } from "../../panel";
import { every, setHtml } from "../../panel";
import { SETTING_FIELDS } from "../../bindings";
import { escapeHtml } from "../../format";
import { whyNot } from "../hardware";
import { runReachability } from "../../reach";

/** Lines kept on screen (the server keeps its own last 1000). */
const SHOWN = 1000;

function stamp(l: LogLine): string {
  return new Date(l.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export const troubleshoot: Panel = {
  title: "Troubleshooting",
  mount(el, store) {
    const api = store.api;
    el.innerHTML = `
      <section class="card"><h2>Application log</h2>
        <div class="filters">
          <label class="inline"><input type="checkbox" data-testid="log-problems"> Only problems (refusals, failures)</label>
          <button data-act="copy" data-testid="copy-diagnostics">Copy diagnostics</button>
        </div>
        <p class="message" data-testid="diag-message" role="status" aria-live="polite"></p>
        <pre class="log applog" data-testid="app-log" role="log" aria-label="Application log" tabindex="0">Loading…</pre>
      </section>
      <section class="card"><h2>Hardware</h2><div data-field="hw"><p>Loading…</p></div></section>
      <section class="card"><h2>Reachability</h2>
        <p class="muted">Fetches each address GhostStream advertises, from this machine, to tell a firewall from a wrong address.</p>
        <button data-act="reach" data-testid="run-reachability">Run the check</button>
        <div data-field="reach" data-testid="reachability" aria-live="polite"></div>
      </section>
      <textarea data-field="diag" class="sr-only" aria-hidden="true" tabindex="-1"></textarea>`;
    const pre = el.querySelector<HTMLPreElement>('[data-testid="app-log"]')!;
    const onlyProblems = el.querySelector<HTMLInputElement>('[data-testid="log-problems"]')!;
    const message = (m: string) => { el.querySelector('[data-testid="diag-message"]')!.textContent = m; };
    const lines: LogLine[] = [];
    let after = 0;
    let failing = "";

    const render = (l: LogLine) => {
      const div = document.createElement("div");
      div.className = `line ${l.level}`;
      div.dataset.level = l.level;
      div.hidden = onlyProblems.checked && l.level === "info";
      div.textContent = `${stamp(l)}  ${l.level === "info" ? "" : l.level.toUpperCase() + "  "}${l.text}`;
      return div;
    };
    /** New lines are appended; the reader's place is kept unless they were at the bottom. */
    const poll = async () => {
      let page;
      try {
        page = await api.appLog(after, null);
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        if (why !== failing) { failing = why; pre.textContent = `The log cannot be read: ${why}`; }
        return;
      }
      // A restarted server counts its lines from 1 again: start over with its log.
      if (page.next < after) {
        lines.length = 0;
        after = 0;
        pre.textContent = "";
        return;
      }
      if (failing || after === 0) { pre.textContent = ""; failing = ""; }
      if (!page.lines.length) {
        if (!lines.length) pre.textContent = "Nothing logged yet.";
        return;
      }
      if (!lines.length) pre.textContent = "";
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      for (const l of page.lines) {
        lines.push(l);
        pre.append(render(l));
      }
      while (lines.length > SHOWN) { lines.shift(); pre.firstElementChild?.remove(); }
      after = page.next;
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    };
    onlyProblems.addEventListener("change", () => {
      pre.querySelectorAll<HTMLElement>(".line").forEach((d) => { d.hidden = onlyProblems.checked && d.dataset.level === "info"; });
    });

    api.capabilities().then((c) => {
      const failed = c.hw_accels.filter((a) => !a.available && a.type !== "software");
      const proven = c.hw_accels.filter((a) => a.available).map((a) => a.type);
      setHtml(el.querySelector('[data-field="hw"]'), `
        <p>ffmpeg ${escapeHtml(c.ffmpeg_version)} on ${escapeHtml(c.platform)}. Proven by a trial encode: <b data-testid="hw-proven">${escapeHtml(proven.join(", ") || "none")}</b>.</p>
        ${failed.length ? `<ul class="fixes" data-testid="hw-fixes">${failed.map((a) => `<li><b>${escapeHtml(a.type)}</b>: ${whyNot(a.type, a.reason, c.platform)}</li>`).join("")}</ul>` : `<p class="ok">Every accelerator this system can have works.</p>`}`);
    }).catch((e) => setHtml(el.querySelector('[data-field="hw"]'), `<p class="error">${escapeHtml(e instanceof Error ? e.message : String(e))}</p>`));

    el.querySelector<HTMLButtonElement>('[data-act="reach"]')!.addEventListener("click", async (ev) => {
      await runReachability(api, ev.currentTarget as HTMLButtonElement, el.querySelector<HTMLElement>('[data-field="reach"]')!);
    });

    /** Versions, capabilities, settings without secrets and the last log lines. */
    const diagnostics = async (): Promise<string> => {
      const part = async <T,>(f: () => Promise<T>): Promise<T | string> => f().catch((e) => `unavailable: ${e instanceof Error ? e.message : String(e)}`);
      const [status, caps, settings] = await Promise.all([part(() => api.serverStatus()), part(() => api.capabilities()), part(() => api.getSettings())]);
      if (typeof settings === "object" && settings) {
        for (const f of SETTING_FIELDS) if (f.input.kind === "secret") (settings as Record<string, unknown>)[f.name] = "(hidden)";
      }
      const log = lines.slice(-100).map((l) => `${l.at} ${l.level} ${l.text}`).join("\n");
      return [
        "GhostStream diagnostics",
        `made ${new Date().toISOString()} in the ${api.mode === "tauri" ? "app" : "browser dashboard"}; ${navigator.userAgent}`,
        "",
        "## Server", JSON.stringify(status, null, 2),
        "", "## Capabilities", JSON.stringify(caps, null, 2),
        "", "## Settings (secrets hidden)", JSON.stringify(settings, null, 2),
        "", "## Last log lines", log || "(none)",
      ].join("\n");
    };
    el.querySelector<HTMLButtonElement>('[data-act="copy"]')!.addEventListener("click", async () => {
      const text = await diagnostics();
      const area = el.querySelector<HTMLTextAreaElement>('[data-field="diag"]')!;
      area.value = text;
      let copied = false;
      try {
        await navigator.clipboard.writeText(text);
        copied = true;
      } catch {
        // Without the clipboard API (an insecure origin, an old WebView): the selection.
        area.select();
        copied = document.execCommand("copy");
      }
      message(copied ? `Diagnostics copied (${text.split("\n").length} lines): paste them into a bug report.` : "The clipboard refused; the report is selected below instead.");
      if (!copied) { area.classList.remove("sr-only"); area.removeAttribute("aria-hidden"); area.focus(); }
    });

    const stop = every(2000, () => void poll());
    return { unmount: stop };
  },
};
