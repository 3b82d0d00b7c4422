import QRCode from "qrcode";
import type { PairingInfo, Reachability, Registration } from "../bindings";
import type { Store } from "../store";
import { escapeHtml } from "../format";

let info: PairingInfo | null = null;
let reach: Reachability | null = null;
let qrFor = "";
let qrSvg = "";
let message = "";
let loadedAt = 0;

function reg(r: Registration | null | undefined): string {
  if (!r) return "not yet";
  return `<span class="${r.ok ? "ok" : "error"}">${r.ok ? "accepted" : "failed"} (${escapeHtml(r.detail)})</span> · ${new Date(r.at).toLocaleTimeString()}`;
}

export function pairing(el: HTMLElement, store: Store) {
  const api = store.api;
  if (Date.now() - loadedAt > 5000) {
    loadedAt = Date.now();
    api.pairingInfo().then((p) => { info = p; store.changed(); }).catch((e) => { message = String(e); store.changed(); });
  }
  if (info && info.pair_url !== qrFor) {
    qrFor = info.pair_url;
    QRCode.toString(info.pair_url, { type: "svg", margin: 1, width: 220 }).then((svg) => { qrSvg = svg; store.changed(); });
  }
  if (el.querySelector("form") && el.contains(document.activeElement) && document.activeElement?.matches("input, textarea, select")) return;
  const p = info;
  el.innerHTML = !p ? `<section class="card"><p>${escapeHtml(message || "Loading…")}</p></section>` : `
    <section class="card pairing grid2">
      <div>
        <h2>Pair with GhostHub</h2>
        <div class="qr" data-testid="qr">${qrSvg}</div>
        <p>Scan with a phone, or add an address below in GhostHub.</p>
        <p class="code">Code <b data-testid="pair-code">${escapeHtml(p.code)}</b> <button data-act="rotate">New code</button></p>
      </div>
      <div>
        <dl class="facts">
          <dt>Name on the LAN</dt><dd data-testid="pair-label">${escapeHtml(p.label)}</dd>
          <dt>mDNS</dt><dd>${p.mdns_enabled ? "advertising _ghoststream._tcp" : "off"}</dd>
          <dt>UDP discovery</dt><dd>${p.udp_port ? `port ${p.udp_port}` : "off"}</dd>
          <dt>Last registration</dt><dd data-testid="last-registration">${reg(p.last_registration)}</dd>
          ${p.url ? `<dt>Rendezvous</dt><dd>${reg(p.last_rendezvous)}</dd>` : ""}
        </dl>
        <ul class="urls">${p.lan_urls.map((u) => `<li><code>${escapeHtml(u)}</code></li>`).join("")}</ul>
        <form data-testid="ghosthub-form">
          <label>GhostHub address <input name="ghosthub_url" type="url" placeholder="http://192.168.1.10:5000" value="${escapeHtml(p.ghosthub_url ?? "")}"></label>
          <div class="actions"><button type="submit">Save and register</button><button type="button" data-act="announce">Announce now</button><button type="button" data-act="check">Check reachability</button></div>
        </form>
        <p class="message" data-testid="pair-message">${escapeHtml(message)}</p>
      </div>
    </section>
    ${reach ? `<section class="card" data-testid="reachability"><h3>Reachability from this machine</h3>
      <ul>${reach.checks.map((c) => `<li class="${c.ok ? "ok" : "error"}"><code>${escapeHtml(c.url)}</code> ${escapeHtml(c.detail)}</li>`).join("")}</ul>
      ${reach.hints.map((h) => `<p class="muted"><code>${escapeHtml(h)}</code></p>`).join("")}</section>` : ""}`;
  const act = async (f: () => Promise<void>) => {
    try { await f(); } catch (e) { message = e instanceof Error ? e.message : String(e); }
    store.changed();
  };
  el.querySelector("[data-act=rotate]")?.addEventListener("click", () => act(async () => { info = await api.rotatePairingCode(); message = "New code issued."; }));
  el.querySelector("[data-act=announce]")?.addEventListener("click", () => act(async () => {
    const r = await api.announceNow();
    message = `Announced${r.mdns ? " over mDNS" : ""}${r.registration ? `; GhostHub ${r.registration.ok ? "accepted" : "refused"} (${r.registration.detail})` : ""}.`;
    info = await api.pairingInfo();
  }));
  el.querySelector("[data-act=check]")?.addEventListener("click", () => act(async () => { reach = await api.reachability(); message = ""; }));
  el.querySelector("form")?.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const url = String(new FormData(ev.target as HTMLFormElement).get("ghosthub_url") ?? "").trim();
    void act(async () => {
      info = await api.setGhostHub(url || null);
      const r = info.last_registration;
      message = url ? (r?.ok ? `Registered with ${url}.` : `Saved; GhostHub did not accept yet (${r?.detail ?? "no answer"}). GhostStream keeps trying.`) : "GhostHub removed.";
      (document.activeElement as HTMLElement | null)?.blur();
    });
  });
}
