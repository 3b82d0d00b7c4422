// The first-run welcome: three steps, each showing what is true on this machine now.
// 1. Hardware: what the trial encodes proved, and what to install for what they did not.
// 2. Network: the addresses other devices use, and a firewall check with the exact rule.
// 3. GhostHub: the QR code, the pairing code and the URL.
// Skippable at every step; shown once by the app, and again from Settings.
import QRCode from "qrcode";
import type { Store } from "./store";
import { codeWords, escapeHtml } from "./format";
import { hwFix } from "./hwfix";
import { runReachability } from "./reach";

const SEEN = "ghoststream.welcomed";

const STEPS = ["Hardware", "Network", "GhostHub"];

async function hardwareStep(store: Store): Promise<string> {
  const c = await store.api.capabilities();
  const proven = c.hw_accels.filter((a) => a.available);
  const failed = c.hw_accels.filter((a) => !a.available && a.type !== "software");
  const gpu = proven.filter((a) => a.type !== "software");
  return `<p>${gpu.length ? `GhostStream proved <b>${gpu.map((a) => escapeHtml(a.type)).join(", ")}</b> with a one-frame trial encode: jobs use the GPU.` : "No GPU encoder passed its trial encode: jobs encode on the CPU, and copy whatever is already playable."}</p>
    <ul class="fixes" data-testid="welcome-hw">${c.hw_accels.map((a) => {
      if (a.available) return `<li class="ok"><b>${escapeHtml(a.type)}</b>: works${a.gpu_info ? ` (${escapeHtml(a.gpu_info.name)})` : ""}</li>`;
      if (a.type === "software") return "";
      const f = hwFix(a.type, a.reason, c.platform);
      return `<li><b>${escapeHtml(a.type)}</b>: ${escapeHtml(f.problem)}${f.fix ? ` <span>${codeWords(f.fix)}</span>` : ""}</li>`;
    }).join("")}</ul>
    ${failed.length ? `<p class="muted">Install what a line says, then restart GhostStream; Troubleshooting shows these again.</p>` : ""}`;
}

async function networkStep(store: Store): Promise<string> {
  const s = store.status ?? (await store.api.serverStatus());
  return `<p>Other devices reach GhostStream at:</p>
    <ul class="urls">${s.lan_urls.map((u) => `<li><code>${escapeHtml(u)}</code></li>`).join("") || "<li>No address yet: is the server running?</li>"}</ul>
    <button data-act="reach" data-testid="welcome-reach">Check the firewall</button>
    <div data-field="reach" aria-live="polite"></div>`;
}

async function pairingStep(store: Store): Promise<string> {
  const p = await store.api.pairingInfo();
  const svg = await QRCode.toString(p.pair_url, { type: "svg", margin: 1, width: 180 });
  return `<div class="grid2"><div class="qr" role="img" aria-label="QR code for ${escapeHtml(p.pair_url)}">${svg}</div>
    <div><p>In GhostHub, scan the code with a phone, or add this server by its address and enter the code.</p>
    <p>Code <b data-testid="welcome-code">${escapeHtml(p.code)}</b></p>
    <p>Address <code data-testid="welcome-url">${escapeHtml(p.pair_url)}</code></p>
    <p class="muted">GhostHub on the same network also finds GhostStream by itself.</p></div></div>`;
}

/** Shows the welcome; resolves when it is closed (finished or skipped). */
export async function showWelcome(store: Store): Promise<void> {
  document.querySelector("dialog.welcome")?.remove();
  const d = document.createElement("dialog");
  d.className = "confirm welcome";
  d.dataset.testid = "welcome";
  d.setAttribute("aria-labelledby", "welcome-title");
  d.innerHTML = `<h2 id="welcome-title">Welcome to GhostStream</h2>
    <ol class="steps" aria-label="Steps">${STEPS.map((s, i) => `<li data-step="${i}">${s}</li>`).join("")}</ol>
    <section data-field="step" aria-live="polite"><h3 tabindex="-1"></h3><div data-field="body"></div></section>
    <div class="actions">
      <button value="skip" data-act="skip" data-testid="welcome-skip" class="secondary">Skip</button>
      <button data-act="back" data-testid="welcome-back">Back</button>
      <button data-act="next" data-testid="welcome-next">Next</button>
    </div>`;
  document.body.append(d);
  const body = d.querySelector<HTMLElement>('[data-field="body"]')!;
  const title = d.querySelector<HTMLElement>('[data-field="step"] h3')!;
  const back = d.querySelector<HTMLButtonElement>('[data-act="back"]')!;
  const next = d.querySelector<HTMLButtonElement>('[data-act="next"]')!;
  let at = 0;
  const show = async (i: number) => {
    at = i;
    d.querySelectorAll<HTMLElement>(".steps li").forEach((li, k) => {
      if (k === i) li.setAttribute("aria-current", "step");
      else li.removeAttribute("aria-current");
    });
    title.textContent = `Step ${i + 1} of ${STEPS.length}: ${STEPS[i]}`;
    back.disabled = i === 0;
    next.textContent = i === STEPS.length - 1 ? "Done" : "Next";
    body.textContent = "Loading…";
    try {
      body.innerHTML = await [hardwareStep, networkStep, pairingStep][i](store);
    } catch (e) {
      body.innerHTML = `<p class="error">${escapeHtml(e instanceof Error ? e.message : String(e))}</p>`;
    }
    d.dataset.step = String(i);
  };
  body.addEventListener("click", async (ev) => {
    const b = (ev.target as HTMLElement).closest<HTMLButtonElement>('button[data-act="reach"]');
    if (!b) return;
    await runReachability(store.api, b, body.querySelector<HTMLElement>('[data-field="reach"]')!);
  });
  back.addEventListener("click", () => { if (at > 0) void show(at - 1).then(() => title.focus()); });
  next.addEventListener("click", () => {
    if (at < STEPS.length - 1) void show(at + 1).then(() => title.focus());
    else d.close("done");
  });
  d.querySelector('[data-act="skip"]')!.addEventListener("click", () => d.close("skip"));
  const closed = new Promise<void>((resolve) => d.addEventListener("close", () => resolve()));
  d.showModal();
  await show(0);
  next.focus();
  await closed;
  try { localStorage.setItem(SEEN, new Date().toISOString()); } catch { /* storage off */ }
  d.remove();
}

/** The app shows the welcome once, the first time it opens a window, as soon as its
 * server runs (each step reads from it). */
export function welcomeOnFirstRun(store: Store) {
  if (store.api.mode !== "tauri") return;
  let seen: string | null = null;
  try { seen = localStorage.getItem(SEEN); } catch { /* storage off: show it */ }
  if (seen) return;
  if (store.status?.state === "running") {
    void showWelcome(store);
    return;
  }
  const off = store.on("status", () => {
    if (store.status?.state !== "running") return;
    off();
    void showWelcome(store);
  });
}
