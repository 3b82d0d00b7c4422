// The reachability self-test's answer, as Pairing, Troubleshooting and the welcome show
// it: each address checked from this machine, and the firewall rules to add.
import type { Reachability } from "./bindings";
import type { Api } from "./api";
import { escapeHtml } from "./format";

export function reachabilityHtml(reach: Reachability): string {
  const ok = reach.checks.filter((c) => c.ok).length;
  return `<p data-testid="reach-summary">${ok} of ${reach.checks.length} address${reach.checks.length === 1 ? "" : "es"} answer from this machine.</p>
    <ul>${reach.checks.map((c) => `<li class="${c.ok ? "ok" : "error"}"><code>${escapeHtml(c.url)}</code> ${c.ok ? "answers" : "does not answer"}: ${escapeHtml(c.detail)}</li>`).join("")}</ul>
    ${reach.hints.length ? `<p class="muted">If other devices cannot reach GhostStream, allow it through the firewall:</p>` : ""}
    ${reach.hints.map((h) => `<p><code class="select">${escapeHtml(h)}</code></p>`).join("")}`;
}

/** Runs the check from `button`, writing the answer (or why it failed) into `out`. */
export async function runReachability(api: Api, button: HTMLButtonElement, out: HTMLElement) {
  button.disabled = true;
  out.textContent = "Checking…";
  try {
    out.innerHTML = reachabilityHtml(await api.reachability());
  } catch (e) {
    out.innerHTML = `<p class="error">${escapeHtml(e instanceof Error ? e.message : String(e))}</p>`;
  }
  button.disabled = false;
}
