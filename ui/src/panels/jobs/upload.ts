// The Jobs panel's upload card: drop a file on the panel (or choose one), watch it go up
// with its speed, then start a job from it. An upload cut short goes on where it stopped
// when the same file is dropped again, after a reload too.
import type { Store } from "../../store";
import { ApiError } from "../../api";
import { bytes, uploadFile, type Running } from "../../upload";

export const UPLOAD_CARD = `
  <section class="card" data-testid="upload"><h2>Upload a file</h2>
    <p class="drop" data-field="drop">Drop a media file on this page, or
      <label class="linklike">choose one<input type="file" data-field="file" hidden></label>.
      It is kept on this PC for a day, then deleted.</p>
    <div data-field="up-progress" hidden>
      <div class="bar"><i></i></div><small data-testid="upload-status" aria-live="polite"></small>
      <button type="button" data-field="up-cancel">Cancel</button>
    </div>
    <form data-field="up-start" hidden>
      <label>Mode <select name="mode">
        <option value="stream">Stream (HLS)</option><option value="abr">Adaptive (ABR)</option><option value="batch">File (MP4)</option>
      </select></label>
      <label>Resolution <select name="resolution">
        <option value="original">Original</option><option value="1080p">1080p</option><option value="720p">720p</option><option value="480p">480p</option>
      </select></label>
      <button type="submit">Start</button>
    </form>
    <p class="error" data-field="up-error" hidden></p>
  </section>`;

/** Wires the card inside `el` (the panel); answers what undoes it. */
export function mountUpload(el: HTMLElement, store: Store): () => void {
  const q = <T extends HTMLElement>(f: string) => el.querySelector<T>(`[data-field="${f}"]`)!;
  const progress = q<HTMLElement>("up-progress");
  const status = el.querySelector<HTMLElement>('[data-testid="upload-status"]')!;
  const form = q<HTMLFormElement>("up-start");
  const error = q<HTMLElement>("up-error");
  let running: Running | null = null;
  let uploaded: string | null = null;

  const fail = (e: unknown) => {
    error.hidden = false;
    error.textContent = e instanceof Error ? e.message : String(e);
  };
  const start = async (file: File) => {
    running?.abort();
    error.hidden = true;
    form.hidden = true;
    progress.hidden = false;
    q<HTMLButtonElement>("up-cancel").hidden = false;
    status.textContent = `${file.name}: starting…`;
    try {
      const target = await store.api.uploadTarget();
      running = uploadFile(file, target, (p) => {
        progress.querySelector<HTMLElement>("i")!.style.width = `${(100 * p.sent) / Math.max(1, p.total)}%`;
        status.textContent = `${file.name}: ${bytes(p.sent)} of ${bytes(p.total)} · ${bytes(p.bytesPerSecond)}/s`;
      });
      uploaded = await running.done;
      status.textContent = `${file.name}: uploaded (${bytes(file.size)})`;
      q<HTMLButtonElement>("up-cancel").hidden = true;
      form.hidden = false;
    } catch (e) {
      fail(e);
    } finally {
      running = null;
    }
  };

  const onDragOver = (ev: DragEvent) => {
    if (ev.dataTransfer?.types.includes("Files")) {
      ev.preventDefault();
      q<HTMLElement>("drop").classList.add("over");
    }
  };
  const onDrop = (ev: DragEvent) => {
    const file = ev.dataTransfer?.files[0];
    q<HTMLElement>("drop").classList.remove("over");
    if (!file) return;
    ev.preventDefault();
    void start(file);
  };
  const input = q<HTMLInputElement>("file");
  input.addEventListener("change", () => {
    if (input.files?.[0]) void start(input.files[0]);
    input.value = "";
  });
  q<HTMLButtonElement>("up-cancel").addEventListener("click", () => {
    running?.abort();
    status.textContent = "cancelled";
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!uploaded) return;
    const data = new FormData(form);
    try {
      const job = await store.api.startJob({
        source: `upload:${uploaded}`,
        mode: data.get("mode") as "stream" | "abr" | "batch",
        output: { resolution: data.get("resolution") as "original" },
      } as Parameters<typeof store.api.startJob>[0]);
      store.update(job);
      form.hidden = true;
      status.textContent = `started: job ${job.job_id.slice(0, 8)}`;
    } catch (e) {
      fail(e instanceof ApiError ? e : new Error(String(e)));
    }
  });
  el.addEventListener("dragover", onDragOver);
  el.addEventListener("drop", onDrop);
  return () => {
    el.removeEventListener("dragover", onDragOver);
    el.removeEventListener("drop", onDrop);
  };
}
