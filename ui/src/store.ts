// The event hub: the one place either transport's events land. It keeps the jobs (by id,
// updated in place), the server status and the latest progress, and tells subscribers
// which topic changed and, for jobs, which ids — coalesced to one notice per frame.
// Nothing here polls: job events and server status are pushed.
import type { JobEvent, JobResponse, ProgressData, ServerStatus } from "./bindings";
import type { Api } from "./api";

export type Topic = "jobs" | "status";
type Listener = (ids: Set<string>) => void;

const LIVE = new Set(["processing", "queued"]);
export const isLive = (j: JobResponse) => LIVE.has(j.status);

export class Store {
  jobs = new Map<string, JobResponse>();
  progress = new Map<string, ProgressData>();
  status: ServerStatus | null = null;
  /** When `status` arrived (for a local uptime clock). */
  statusAt = 0;
  private listeners = new Map<Topic, Set<Listener>>();
  private pending = new Map<Topic, Set<string>>();
  private scheduled = false;
  private listing: Promise<void> | null = null;

  constructor(public api: Api) {
    api.onJobEvent((e) => this.apply(e));
    api.onServerChanged((s) => this.setStatus(s));
  }

  on(topic: Topic, cb: Listener): () => void {
    if (!this.listeners.has(topic)) this.listeners.set(topic, new Set());
    this.listeners.get(topic)!.add(cb);
    return () => this.listeners.get(topic)?.delete(cb);
  }

  private emit(topic: Topic, id?: string) {
    if (!this.pending.has(topic)) this.pending.set(topic, new Set());
    if (id) this.pending.get(topic)!.add(id);
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      const batch = this.pending;
      this.pending = new Map();
      for (const [t, ids] of batch) this.listeners.get(t)?.forEach((cb) => cb(ids));
    });
  }

  setStatus(s: ServerStatus | null) {
    this.status = s;
    this.statusAt = Date.now();
    this.emit("status");
  }

  /** The first page of jobs (at start, and after a missed event); concurrent calls share one request. */
  loadJobs(): Promise<void> {
    this.listing ??= this.api
      .listJobs(null, null)
      .then((list) => {
        const seen = new Set<string>();
        for (const j of list.jobs) {
          seen.add(j.job_id);
          this.put(j);
        }
        for (const id of [...this.jobs.keys()]) if (!seen.has(id)) { this.jobs.delete(id); this.emit("jobs", id); }
      })
      .catch(() => {})
      .finally(() => { this.listing = null; });
    return this.listing;
  }

  async loadStatus() {
    this.setStatus(await this.api.serverStatus().catch(() => null));
  }

  private put(j: JobResponse) {
    this.jobs.set(j.job_id, j);
    this.emit("jobs", j.job_id);
  }

  /** A job as an action answered it (pause, resume, retry). */
  update(j: JobResponse) {
    this.put(j);
  }

  /** A job the server no longer has (removed). */
  forget(id: string) {
    this.jobs.delete(id);
    this.progress.delete(id);
    this.emit("jobs", id);
  }

  /** One job's record after it appeared or ended; where the server will not show it (a
   * browser elsewhere without its token), the list instead. */
  private async fetchJob(id: string) {
    try {
      this.put(await this.api.job(id));
    } catch {
      await this.loadJobs();
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
        job.paused_reason = e.data.paused_reason ?? null;
      }
      this.emit("jobs", e.job_id);
    } else if (e.type === "status_change") {
      if (job) {
        job.status = e.data.status;
        if (e.data.error_message) job.error_message = e.data.error_message;
        if (e.data.status === "ready") job.progress = 100;
        this.emit("jobs", e.job_id);
      }
      // A new job, or the final fields of an ended one (timestamps, outputs).
      if (!job || !LIVE.has(e.data.status)) void this.fetchJob(e.job_id);
    } else if (e.type === "health") {
      if (job) {
        job.health = e.data;
        this.emit("jobs", e.job_id);
      }
    }
  }
}
