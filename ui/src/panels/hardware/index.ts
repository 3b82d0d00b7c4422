// Hardware: the proven accelerators (once) and live charts, sampled every 2 s only while
// this panel is on screen.
import type { Capabilities, Resources } from "../../bindings";
import type { Panel } from "../../panel";
import { every, setHtml } from "../../panel";
import { codeWords, escapeHtml, gpuText } from "../../format";
import { hwFix } from "../../hwfix";
import { lineChart } from "../../chart";

/** Kept across visits, so the charts resume where they were. */
const samples: Resources[] = [];

/** What failed, in words, and what to do about it; the raw reason under it. */
export function whyNot(type: string, reason: string | null | undefined, platform = ""): string {
  const f = hwFix(type, reason, platform);
  return `${escapeHtml(f.problem)}${f.fix ? `<br><b>Fix:</b> ${codeWords(f.fix)}` : ""}${reason && !f.problem.includes(reason) ? `<br><small class="muted">${escapeHtml(reason)}</small>` : ""}`;
}

function accelerators(caps: Capabilities): string {
  return (caps.hw_accels ?? [])
    .map((a) => `<tr data-accel="${a.type}"><td>${a.type}</td><td><span class="badge ${a.available ? "ready" : "error"}">${a.available ? "proven" : "not available"}</span></td>
      <td>${a.encoders.map(escapeHtml).join(", ") || "–"}</td><td>${a.available ? "trial encode passed" : whyNot(a.type, a.reason, caps.platform)}</td>
      <td>${a.gpu_info ? `${escapeHtml(a.gpu_info.name)}, ${a.gpu_info.memory_mb} MB, driver ${escapeHtml(a.gpu_info.driver_version ?? "?")}` : "–"}</td></tr>`)
    .join("");
}

function charts(): string {
  const last = samples[samples.length - 1];
  const gpus = last?.gpus ?? [];
  const mem = samples.map((s) => (s.memory_total_mb ? (100 * s.memory_used_mb) / s.memory_total_mb : 0));
  return `
    <section class="card grid2">
      <div><h3>CPU</h3>${lineChart([{ label: "CPU", values: samples.map((s) => s.cpu_percent ?? 0), color: "#6d4aff" }], { max: 100, unit: "%", span: "3 min ago" })}</div>
      <div><h3>Memory</h3>${lineChart([{ label: "used", values: mem, color: "#22c55e" }], { max: 100, unit: "%", span: "3 min ago" })}
        <p class="muted">${last ? `${last.memory_used_mb} / ${last.memory_total_mb} MB · disk free ${last.disk_free_gb} GB of ${last.disk_total_gb} GB` : ""}</p></div>
    </section>
    ${gpus.length === 0 ? `<section class="card"><h3>GPU</h3><p class="muted" data-testid="no-gpu">No NVIDIA GPU reported by NVML on this machine.</p></section>` :
      gpus.map((g) => `<section class="card grid2"><div><h3>${escapeHtml(g.name)}</h3>
        ${lineChart([
          { label: "GPU", values: samples.map((s) => s.gpus[g.index]?.utilization_percent ?? 0), color: "#6d4aff" },
          { label: "NVENC", values: samples.map((s) => s.gpus[g.index]?.encoder_percent ?? 0), color: "#22c55e" },
          { label: "NVDEC", values: samples.map((s) => s.gpus[g.index]?.decoder_percent ?? 0), color: "#f59e0b" },
        ], { max: 100, unit: "%", span: "3 min ago" })}</div>
        <div><h3>VRAM and temperature</h3>${lineChart([
          { label: "VRAM MB", values: samples.map((s) => s.gpus[g.index]?.memory_used_mb ?? 0), color: "#38bdf8" },
        ], { max: g.memory_total_mb ?? undefined, unit: " MB", span: "3 min ago" })}
        <p class="muted">${g.temperature_c ?? "–"} °C · ${g.power_w?.toFixed(0) ?? "–"} W</p>
        ${(g.jobs ?? []).length ? `<h3>Jobs on this GPU</h3><ul data-testid="gpu-jobs">${(g.jobs ?? []).map((j) => `<li><code>${escapeHtml(j.job_id.slice(0, 8))}</code> ${escapeHtml(gpuText(j))}</li>`).join("")}</ul>` : ""}</div></section>`).join("")}`;
}

export const hardware: Panel = {
  title: "Hardware",
  mount(el, store) {
    el.innerHTML = `
      <section class="card"><h2>Accelerators</h2>
        <p class="muted" data-field="ffmpeg">ffmpeg …</p>
        <table data-testid="accelerators"><thead><tr><th>Type</th><th>Status</th><th>Encoders</th><th>Why, and the fix</th><th>GPU</th></tr></thead><tbody></tbody></table>
        <p data-testid="tone-mapping"></p>
      </section>
      <div data-field="charts"></div>`;
    store.api.capabilities().then((c) => {
      el.querySelector('[data-field="ffmpeg"]')!.textContent = `ffmpeg ${c.ffmpeg_version} on ${c.platform}`;
      setHtml(el.querySelector('[data-testid="accelerators"] tbody'), accelerators(c));
      const tone = c.gpu_tone_mapping ?? [];
      setHtml(
        el.querySelector('[data-testid="tone-mapping"]'),
        `<b>HDR tone mapping:</b> ${tone.length ? `on the GPU (${tone.map(escapeHtml).join(", ")})` : "on the CPU (zscale)"}${c.gpu_tone_mapping_reason ? `<br><small class="muted">${escapeHtml(c.gpu_tone_mapping_reason)}</small>` : ""}`,
      );
    }).catch((e) => { el.querySelector('[data-field="ffmpeg"]')!.textContent = String(e instanceof Error ? e.message : e); });
    const sample = async () => {
      try {
        samples.push(await store.api.resources());
        if (samples.length > 90) samples.shift();
      } catch { /* server stopped */ }
      setHtml(el.querySelector('[data-field="charts"]'), charts());
    };
    const stop = every(2000, () => void sample());
    return { unmount: stop };
  },
};
