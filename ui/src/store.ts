// Live state shared by the views: jobs (updated by events), server status, and rolling
// resource samples for the charts.
import type { JobEvent, JobResponse, ProgressData, Resources, ServerStatus } from "./bindings";
import type { Api } from "./api";

export class Store {
  jobs = new Map<string, JobResponse>();
  progress = new Map<string, ProgressData>();
  status: ServerStatus | null = null;
  samples: Resources[] = [];
  private listeners = new Set<() => void>();
  private scheduled = false;

  constructor(public api: Api) {}

  subscribe(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Coalesces bursts of events into one redraw per frame. */
  changed() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.listeners.forEach((cb) => cb());
    });
  }

  async refreshJobs() {
    try {
      const list = await this.api.listJobs();
      this.jobs = new Map(list.map((j) => [j.job_id, j]));
    } catch {
      this.jobs = new Map();
    }
    this.changed();
  }

  async refreshStatus() {
    this.status = await this.api.serverStatus().catch(() => null);
    this.changed();
  }

  async sample() {
    try {
      const r = await this.api.resources();
      this.samples.push(r);
      if (this.samples.length > 90) this.samples.shift();
      this.changed();
    } catch {
      /* server stopped */
    }
  }

  apply(e: JobEvent) {
    const job = this.jobs.get(e.job_id);
    if (e.type === "progress") {
      this.progress.set(e.job_id, e.data);
      if (job) {
        job.progress = e.data.progress;
        job.eta_seconds = e.data.eta_seconds;
        job.current_time = e.data.time;
      }
    } else if (e.type === "status_change") {
      if (job) {
        job.status = e.data.status;
        if (e.data.error_message) job.error_message = e.data.error_message;
        if (e.data.status === "ready") job.progress = 100;
      }
      // New jobs and final fields (download URL, timestamps) come from a fresh list.
      void this.refreshJobs();
      void this.refreshStatus();
    }
    this.changed();
  }
}
