import QRCode from "qrcode";
import type { Store } from "../store";
import { escapeHtml } from "../format";

let qrFor = "";
let qrSvg = "";

export function pairing(el: HTMLElement, store: Store) {
  const urls = store.status?.lan_urls ?? [];
  const url = urls[0] ?? "";
  if (url && url !== qrFor) {
    qrFor = url;
    QRCode.toString(url, { type: "svg", margin: 1, width: 220 }).then((svg) => { qrSvg = svg; store.changed(); });
  }
  el.innerHTML = `
    <section class="card pairing">
      <h2>Pair with GhostHub</h2>
      <div class="qr" data-testid="qr">${url ? qrSvg : "<p class='muted'>The server is not listening.</p>"}</div>
      <p>Scan with a phone, or add this address in GhostHub's settings:</p>
      <ul class="urls">${urls.map((u) => `<li><code>${escapeHtml(u)}</code></li>`).join("")}</ul>
      <p class="muted">A pairing code and GhostHub registration arrive with discovery; this panel will show them.</p>
    </section>`;
}
