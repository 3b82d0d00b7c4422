// Pairing: the QR code and code, discovery facts, the GhostHub form and the reachability
// self-test. The form is built once; only the facts and the QR code follow new data.
import QRCode from "qrcode";
import type { PairingInfo, Registration } from "../../bindings";
import type { Panel } from "../../panel";
import { setHtml } from "../../panel";
import { escapeHtml } from "../../format";
import { reachabilityHtml } from "../../reach";

function reg(r: Registration | null | undefined): string {
  if (!r) return "not yet";
  return `<span class="${r.ok ? "ok" : "error"}">${r.ok ? "accepted" : "failed"} (${escapeHtml(r.detail)})</span> · ${new Date(r.at).toLocaleTimeString()}`;
}

function facts(p: PairingInfo): string {
  return `<dl class="facts">
      <dt>Name on the LAN</dt><dd data-testid="pair-label">${escapeHtml(p.label)}</dd>
      <dt>mDNS</dt><dd>${p.mdns_enabled ? "advertising _ghoststream._tcp" : "off"}</dd>
      <dt>UDP discovery</dt><dd>${p.udp_port ? `port ${p.udp_port}` : "off"}</dd>
      <dt>Last registration</dt><dd data-testid="last-registration">${reg(p.last_registration)}</dd>
      ${p.url ? `<dt>Rendezvous</dt><dd>${reg(p.last_rendezvous)}</dd>` : ""}
    </dl>
    <ul class="urls">${p.lan_urls.map((u) => `<li><code>${escapeHtml(u)}</code></li>`).join("")}</ul>`;
}

export const pairing: Panel = {
  title: "Pairing",
  mount(el, store) {
    const api = store.api;
    el.innerHTML = `
      <section class="card pairing grid2">
        <div>
          <h2>Pair with GhostHub</h2>
          <div class="qr" data-testid="qr"></div>
          <p>Scan with a phone, or add an address below in GhostHub.</p>
          <p class="code">Code <b data-testid="pair-code"></b> <button data-act="rotate">New code</button></p>
        </div>
        <div>
          <div data-field="facts"><p>Loading…</p></div>
          <form data-testid="ghosthub-form">
            <label>GhostHub address <input name="ghosthub_url" type="url" placeholder="http://192.168.1.10:5000"></label>
            <div class="actions"><button type="submit">Save and register</button><button type="button" data-act="announce">Announce now</button><button type="button" data-act="check">Check reachability</button></div>
          </form>
          <p class="message" data-testid="pair-message" aria-live="polite"></p>
        </div>
      </section>
      <section class="card" data-testid="reachability" hidden></section>`;
    const message = (m: string) => { el.querySelector('[data-testid="pair-message"]')!.textContent = m; };
    const input = el.querySelector<HTMLInputElement>('input[name="ghosthub_url"]')!;
    let qrFor = "";
    let first = true;
    const show = (p: PairingInfo) => {
      el.querySelector('[data-testid="pair-code"]')!.textContent = p.code;
      setHtml(el.querySelector('[data-field="facts"]'), facts(p));
      if (first) { input.value = p.ghosthub_url ?? ""; first = false; }
      if (p.pair_url !== qrFor) {
        qrFor = p.pair_url;
        void QRCode.toString(p.pair_url, { type: "svg", margin: 1, width: 220 }).then((svg) => setHtml(el.querySelector('[data-testid="qr"]'), svg));
      }
    };
    const act = async (f: () => Promise<void>) => {
      try { await f(); } catch (e) { message(e instanceof Error ? e.message : String(e)); }
    };
    void act(async () => show(await api.pairingInfo()));
    el.querySelector("[data-act=rotate]")!.addEventListener("click", () => act(async () => { show(await api.rotatePairingCode()); message("New code issued."); }));
    el.querySelector("[data-act=announce]")!.addEventListener("click", () => act(async () => {
      const r = await api.announceNow();
      message(`Announced${r.mdns ? " over mDNS" : ""}${r.registration ? `; GhostHub ${r.registration.ok ? "accepted" : "refused"} (${r.registration.detail})` : ""}.`);
      show(await api.pairingInfo());
    }));
    el.querySelector("[data-act=check]")!.addEventListener("click", () => act(async () => {
      const reach = await api.reachability();
      const sec = el.querySelector<HTMLElement>('[data-testid="reachability"]')!;
      sec.hidden = false;
      sec.innerHTML = `<h3>Reachability from this machine</h3>${reachabilityHtml(reach)}`;
      message("");
    }));
    el.querySelector("form")!.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const url = input.value.trim();
      void act(async () => {
        const saved = await api.setGhosthub({ ghosthub_url: url || null, code: null });
        const r = saved.registration;
        message(url ? (r?.ok ? `Registered with ${url}.` : `Saved; GhostHub did not accept yet (${r?.detail ?? "no answer"}). GhostStream keeps trying.`) : "GhostHub removed.");
        show(await api.pairingInfo());
      });
    });
    return { unmount() {} };
  },
};
