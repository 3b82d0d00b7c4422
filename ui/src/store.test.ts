// The event hub: events update jobs in place and name the ids that changed; a job it has
// not seen is fetched alone, and the whole list only when that fetch is refused.
import { beforeAll, describe, expect, it } from "vitest";
import type { JobEvent, JobResponse, ServerStatus } from "./bindings";
import type { Api } from "./api";
import { Store } from "./store";

beforeAll(() => {
  (globalThis as { requestAnimationFrame?: unknown }).requestAnimationFrame = (f: () => void) => setTimeout(f, 0);
});

const tick = () => new Promise((r) => setTimeout(r, 5));

function job(id: string, status: JobResponse["status"]): JobResponse {
  return { job_id: id, status, progress: 0, source: `http://pi/${id}.mkv`, created_at: "2026-11-30T00:00:00Z" } as unknown as JobResponse;
}

function fakeApi(opts: { jobRefused?: boolean } = {}) {
  const calls: string[] = [];
  let emitJob: (e: JobEvent) => void = () => {};
  let emitServer: (s: ServerStatus) => void = () => {};
  const api = {
    mode: "http",
    canStartStop: false,
    onJobEvent(cb: (e: JobEvent) => void) { emitJob = cb; return () => {}; },
    onServerChanged(cb: (s: ServerStatus) => void) { emitServer = cb; return () => {}; },
    async job(id: string) {
      calls.push(`job ${id}`);
      if (opts.jobRefused) throw new Error("403");
      return job(id, "processing");
    },
    async listJobs() {
      calls.push("list");
      return { jobs: [job("a", "processing")], total: 1, offset: 0, limit: 200 };
    },
  } as unknown as Api;
  return { api, calls, emit: (e: JobEvent) => emitJob(e), server: (s: ServerStatus) => emitServer(s) };
}

describe("Store", () => {
  it("updates a known job in place and names it", async () => {
    const f = fakeApi();
    const store = new Store(f.api);
    await store.loadJobs();
    const before = store.jobs.get("a");
    const seen: string[][] = [];
    store.on("jobs", (ids) => seen.push([...ids]));
    f.emit({ type: "progress", job_id: "a", data: { progress: 42, eta_seconds: 7, time: 3 } } as unknown as JobEvent);
    await tick();
    expect(store.jobs.get("a")).toBe(before);
    expect(store.jobs.get("a")!.progress).toBe(42);
    expect(seen).toEqual([["a"]]);
    expect(f.calls).toEqual(["list"]);
  });

  it("fetches a new job alone, and the list only when refused", async () => {
    const f = fakeApi();
    const store = new Store(f.api);
    f.emit({ type: "status_change", job_id: "b", data: { status: "processing" } } as unknown as JobEvent);
    await tick();
    expect(f.calls).toEqual(["job b"]);
    expect(store.jobs.has("b")).toBe(true);
    const g = fakeApi({ jobRefused: true });
    const other = new Store(g.api);
    g.emit({ type: "status_change", job_id: "c", data: { status: "processing" } } as unknown as JobEvent);
    await tick();
    expect(g.calls).toEqual(["job c", "list"]);
  });

  it("takes pushed server status", async () => {
    const f = fakeApi();
    const store = new Store(f.api);
    let told = 0;
    store.on("status", () => told++);
    f.server({ state: "paused" } as ServerStatus);
    await tick();
    expect(store.status?.state).toBe("paused");
    expect(told).toBe(1);
  });
});
