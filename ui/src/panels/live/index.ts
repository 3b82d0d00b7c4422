// Live: where OBS (or a console, or a phone) publishes, the stream keys, and every live
// stream with a preview, its renditions, and bytes and bitrate over time. The forms and
// each stream's preview are built once; only the figures follow new data (every 2 s).
import Hls from "hls.js";
import QRCode from "qrcode";
import type { IngestKey, IngestOverview, LiveStream } from "../../bindings";
import type { Panel } from "../../panel";
import { every, setHtml } from "../../panel";
import { ApiError } from "../../api";
import { lineChart } from "../../chart";
import { bytes, duration, escapeHtml } from "../../format";

/** Samples kept per stream for the charts: two minutes at one every 2 s. */
const SAMPLES = 60;

interface Shown {
  card: HTMLElement;
  hls: Hls | null;
  lastIn: number;
  lastOut: number;
  inKbps: number[];
  outKbps: number[];
}

const STATUS: Record<string, string> = {
  active: "live",
  idle: "waiting for the publisher",
  error: "failed",
  ended: "recorded",
};

function copyButton(value: string, label: string): string {
  return `<button type="button" class="copy" data-copy="${escapeHtml(value)}" aria-label="Copy ${escapeHtml(label)}">Copy</button>`;
}

function renditions(s: LiveStream): string {
  return `<table class="renditions"><thead><tr><th>Rendition</th><th>Size</th><th>Bitrate</th><th>Segments</th><th>Status</th></tr></thead><tbody>
    ${s.renditions.map((r) => `<tr><td>${escapeHtml(r.name)}</td><td>${r.width}×${r.height}</td>
      <td>${r.bitrate_kbps ? `${r.bitrate_kbps} kbit/s` : "as sent"}</td><td>${r.segments}</td>
      <td><span class="badge ${r.status === "error" ? "error" : r.status === "encoding" ? "processing" : "ready"}">${escapeHtml(r.status)}</span></td></tr>`).join("")}
  </tbody></table>`;
}

function facts(s: LiveStream): string {
  const i = s.input;
  const input = [i.video_codec, i.width && i.height ? `${i.width}×${i.height}` : null, i.fps ? `${Math.round(i.fps)} fps` : null, i.bitrate_kbps ? `${i.bitrate_kbps} kbit/s` : null, i.audio_codec]
    .filter(Boolean)
    .join(" · ");
  return `<dl class="facts">
    <dt>Status</dt><dd><span class="badge ${s.status === "active" ? "processing" : s.status === "error" ? "error" : "ready"}" data-testid="live-status">${STATUS[s.status] ?? s.status}</span>${s.error ? ` <span class="error">${escapeHtml(s.error)}</span>` : ""}</dd>
    <dt>Publisher</dt><dd>${escapeHtml(s.publisher ?? "–")} over ${s.protocol.toUpperCase()}${s.reconnects ? ` (came back ${s.reconnects}×)` : ""}</dd>
    <dt>Input</dt><dd>${escapeHtml(input || "–")}</dd>
    <dt>Encoder</dt><dd>${escapeHtml(s.encoder)}${s.hw_accel !== "software" ? " (GPU)" : ""}${s.speed != null ? ` · ${s.speed.toFixed(2)}× real time` : ""}</dd>
    <dt>Recorded</dt><dd>${duration(s.duration_seconds)} · ${s.dropped_frames} frames dropped</dd>
    <dt>Bytes</dt><dd>${bytes(s.bytes_in)} in · ${bytes(s.bytes_out)} to players</dd>
  </dl>`;
}

function keyRow(k: IngestKey, server: string | null, srt: string | null): string {
  const full = server ? `${server}/${k.key}` : "";
  const srtUrl = srt ? `${srt}?streamid=${k.key}` : "";
  return `<li class="key" data-key="${escapeHtml(k.key)}">
    <form class="rename"><label>Name <input name="name" value="${escapeHtml(k.name)}" maxlength="80" required></label>
      <button type="submit">Rename</button></form>
    <p>Stream key <code data-testid="stream-key">${escapeHtml(k.key)}</code> ${copyButton(k.key, `stream key of ${k.name}`)}
      ${k.live ? `<span class="badge processing">live</span>` : ""}</p>
    ${full ? `<p class="muted">Full URL <code>${escapeHtml(full)}</code> ${copyButton(full, "full RTMP URL")}</p>` : ""}
    ${srtUrl ? `<p class="muted">SRT <code>${escapeHtml(srtUrl)}</code> ${copyButton(srtUrl, "SRT URL")}</p>` : ""}
    <div class="qr" data-qr="${escapeHtml(full)}" aria-label="QR code of the full RTMP URL"></div>
    <button type="button" class="danger" data-act="revoke">Revoke</button>
  </li>`;
}

export const live: Panel = {
  title: "Live",
  mount(el, store) {
    const api = store.api;
    el.innerHTML = `
      <section class="card grid2">
        <div>
          <h2>Stream from OBS</h2>
          <p>Settings → Stream → Service <b>Custom</b>. A console or phone app takes the full URL (or scan its QR code).</p>
          <dl class="facts">
            <dt>Server</dt><dd data-field="server">–</dd>
            <dt>SRT</dt><dd data-field="srt">–</dd>
          </dl>
          <p class="message" data-testid="live-message" aria-live="polite"></p>
        </div>
        <div>
          <h2>Stream keys</h2>
          <form data-testid="new-key"><label>Name <input name="name" placeholder="Living room PC" maxlength="80"></label>
            <button type="submit">New key</button></form>
          <ul class="keys" data-field="keys"></ul>
        </div>
      </section>
      <section data-field="streams" aria-live="polite"></section>
      <section class="card" data-field="refusals" hidden></section>`;
    const message = (m: string) => { el.querySelector('[data-testid="live-message"]')!.textContent = m; };
    const act = async (f: () => Promise<void>) => {
      try { await f(); } catch (e) { message(e instanceof Error ? e.message : String(e)); }
    };
    let overview: IngestOverview | null = null;
    let keysSeen = "";
    const shown = new Map<string, Shown>();
    const statuses = new Map<string, string>();
    let base = "";
    void api.serverBase().then((b) => { base = b; }).catch(() => {});

    const renderKeys = async () => {
      let keys: IngestKey[];
      try {
        keys = await api.ingestKeys();
      } catch (e) {
        if (e instanceof ApiError && (e.code === "local-only" || e.code === "host-not-allowed")) {
          setHtml(el.querySelector('[data-field="keys"]'), `<li class="muted">Stream keys are managed on the PC that runs GhostStream (or with the API key).</li>`);
          return;
        }
        throw e;
      }
      const sig = JSON.stringify([keys, overview?.rtmp_server, overview?.srt_url]);
      if (sig === keysSeen) return;
      keysSeen = sig;
      const list = el.querySelector<HTMLElement>('[data-field="keys"]')!;
      list.innerHTML = keys.length
        ? keys.map((k) => keyRow(k, overview?.rtmp_server ?? null, overview?.srt_url ?? null)).join("")
        : `<li class="muted">No key yet: make one, then paste it into OBS.</li>`;
      list.querySelectorAll<HTMLElement>("[data-qr]").forEach((q) => {
        const url = q.dataset.qr;
        if (url) void QRCode.toString(url, { type: "svg", margin: 1, width: 140 }).then((svg) => setHtml(q, svg));
      });
    };

    // The preview starts once the stream has a segment, and starts again after a fatal
    // player error (the next refresh).
    const preview = (s: LiveStream, sh: Shown) => {
      const ready = s.renditions.some((r) => r.segments > 0);
      if (sh.hls || !s.hls_path || !base || !ready) return;
      const video = sh.card.querySelector("video")!;
      const src = base + s.hls_path;
      if (!Hls.isSupported()) {
        if (!video.src) video.src = src;
        return;
      }
      const h = new Hls({ enableWorker: false, liveSyncDurationCount: 2 });
      h.loadSource(src);
      h.attachMedia(video);
      h.on(Hls.Events.MANIFEST_PARSED, () => void video.play().catch(() => {}));
      h.on(Hls.Events.ERROR, (_, d) => {
        if (d.fatal) { h.destroy(); if (sh.hls === h) sh.hls = null; }
      });
      sh.hls = h;
    };

    const renderStreams = (o: IngestOverview) => {
      const root = el.querySelector<HTMLElement>('[data-field="streams"]')!;
      const ids = new Set(o.streams.map((s) => s.job_id));
      for (const [id, sh] of shown) {
        if (!ids.has(id)) { sh.hls?.destroy(); sh.card.remove(); shown.delete(id); }
      }
      if (!o.streams.length) {
        setHtml(root, `<section class="card" data-empty><p class="muted">Nothing live yet. Start streaming in OBS with a key above; the stream shows here.</p></section>`);
        return;
      }
      root.querySelector("[data-empty]")?.remove();
      for (const s of o.streams) {
        let sh = shown.get(s.job_id);
        if (!sh) {
          const card = document.createElement("article");
          card.className = "card live-stream";
          card.dataset.job = s.job_id;
          card.innerHTML = `<h2><span data-field="name"></span> <button type="button" class="danger" data-act="stop" hidden>Stop</button></h2>
            <div class="grid2"><div><video muted playsinline controls data-testid="live-preview"></video><div data-field="chart"></div></div>
            <div><div data-field="facts"></div><div data-field="renditions"></div>
            <p class="muted" data-field="urls"></p></div></div>`;
          root.appendChild(card);
          sh = { card, hls: null, lastIn: s.bytes_in, lastOut: s.bytes_out, inKbps: [], outKbps: [] };
          shown.set(s.job_id, sh);
        }
        preview(s, sh);
        const c = sh.card;
        c.querySelector('[data-field="name"]')!.textContent = s.name;
        const stop = c.querySelector<HTMLButtonElement>('[data-act="stop"]')!;
        stop.hidden = !(s.key && (s.status === "active" || s.status === "idle"));
        stop.dataset.key = s.key ?? "";
        setHtml(c.querySelector('[data-field="facts"]'), facts(s));
        setHtml(c.querySelector('[data-field="renditions"]'), renditions(s));
        setHtml(c.querySelector('[data-field="urls"]'), s.hls_path ? `HLS <code>${escapeHtml(base + s.hls_path)}</code> · DASH <code>${escapeHtml(base + (s.dash_path ?? ""))}</code>` : "");
        // kbit/s in and out over the last two minutes.
        sh.inKbps.push(Math.max(0, ((s.bytes_in - sh.lastIn) * 8) / 1000 / 2));
        sh.outKbps.push(Math.max(0, ((s.bytes_out - sh.lastOut) * 8) / 1000 / 2));
        sh.lastIn = s.bytes_in;
        sh.lastOut = s.bytes_out;
        if (sh.inKbps.length > SAMPLES) { sh.inKbps.shift(); sh.outKbps.shift(); }
        setHtml(c.querySelector('[data-field="chart"]'), lineChart(
          [{ label: "in kbit/s", values: sh.inKbps, color: "#6d4aff" }, { label: "to players kbit/s", values: sh.outKbps, color: "#22c55e" }],
          { unit: "k", span: "2 min ago" },
        ));
        // Say when a stream starts, fails or ends.
        const before = statuses.get(s.job_id);
        if (before !== undefined && before !== s.status) {
          message(s.status === "active" ? `${s.name} is live.` : s.status === "error" ? `${s.name} failed: ${s.error ?? ""}` : s.status === "ended" ? `${s.name} ended; the recording plays at the same address.` : `${s.name}: the publisher went away; waiting for it.`);
        } else if (before === undefined && overview && s.status === "active") {
          message(`${s.name} is live.`);
        }
        statuses.set(s.job_id, s.status);
      }
    };

    const refresh = () => void act(async () => {
      const o = await api.ingestStatus();
      const first = overview === null;
      overview = o;
      setHtml(el.querySelector('[data-field="server"]'), o.rtmp_server
        ? `<code data-testid="rtmp-server">${escapeHtml(o.rtmp_server)}</code> ${copyButton(o.rtmp_server, "server URL")}`
        : `<span class="error">${o.enabled ? "not listening" : "off (live.enabled)"}</span>`);
      setHtml(el.querySelector('[data-field="srt"]'), o.srt_url ? `<code>${escapeHtml(o.srt_url)}?streamid=&lt;key&gt;</code>` : "–");
      const refusals = el.querySelector<HTMLElement>('[data-field="refusals"]')!;
      refusals.hidden = !o.errors.length;
      setHtml(refusals, `<h3>Refused and failed</h3><ul>${o.errors.slice().reverse().map((e) => `<li><code>${escapeHtml(e)}</code></li>`).join("")}</ul>`);
      renderStreams(o);
      await renderKeys();
      if (first) message("");
    });

    el.addEventListener("click", (ev) => {
      const t = ev.target as HTMLElement;
      const copy = t.closest<HTMLElement>("[data-copy]");
      if (copy) {
        const v = copy.dataset.copy ?? "";
        void navigator.clipboard?.writeText(v).then(() => message("Copied."), () => message(v));
        return;
      }
      const btn = t.closest<HTMLButtonElement>("button[data-act]");
      if (!btn) return;
      if (btn.dataset.act === "revoke") {
        const key = btn.closest<HTMLElement>("[data-key]")?.dataset.key;
        if (key && confirm("Revoke this key? A publisher live on it is cut off, and OBS must get a new key.")) {
          void act(async () => { await api.revokeIngestKey(key); keysSeen = ""; message("Key revoked."); refresh(); });
        }
      } else if (btn.dataset.act === "stop" && btn.dataset.key) {
        const key = btn.dataset.key;
        void act(async () => { await api.stopLive(key); message("Stopped; the recording is kept."); refresh(); });
      }
    });
    el.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const form = ev.target as HTMLFormElement;
      const name = (form.elements.namedItem("name") as HTMLInputElement).value.trim();
      if (form.dataset.testid === "new-key") {
        void act(async () => {
          const k = await api.createIngestKey({ name: name || null, key: null });
          form.reset();
          keysSeen = "";
          message(`Key for ${k.name} made: paste it into OBS as the Stream Key.`);
          await renderKeys();
        });
      } else if (form.classList.contains("rename")) {
        const key = form.closest<HTMLElement>("[data-key]")?.dataset.key;
        if (key) void act(async () => { await api.renameIngestKey(key, { name, key: null }); keysSeen = ""; message("Renamed."); await renderKeys(); });
      }
    });
    const stopTimer = every(2000, refresh);
    return {
      unmount() {
        stopTimer();
        for (const sh of shown.values()) sh.hls?.destroy();
        shown.clear();
      },
    };
  },
};
