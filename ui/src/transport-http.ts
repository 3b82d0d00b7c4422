// HTTP + WebSocket transport, for the dashboard in a normal browser.
import type {
  AnnounceResult, PairingInfo, Reachability,
  Capabilities, DailyStats, JobEvent, JobResponse, Resources, ServerStatus, Settings,
  SettingsSaved, Stats,
} from "./bindings";
import { ApiError, type Api } from "./api";

function apiKey(): string | null {
  const fromUrl = new URLSearchParams(window.location.search).get("api_key");
  if (fromUrl) localStorage.setItem("ghoststream.api_key", fromUrl);
  return fromUrl ?? localStorage.getItem("ghoststream.api_key");
}

export function httpApi(base: string): Api {
  async function call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const key = apiKey();
    const h: Record<string, string> = { ...headers, "X-GhostStream-Client": "ghoststream-dashboard" };
    if (key) h["X-API-Key"] = key;
    if (body !== undefined) h["Content-Type"] = "application/json";
    const r = await fetch(base + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    const data = text ? JSON.parse(text) : null;
    if (!r.ok) {
      throw ApiError.from(data ?? { detail: r.statusText, code: "request-failed" }, r.status);
    }
    return data as T;
  }
  const token = (job: JobResponse): Record<string, string> => {
    const h: Record<string, string> = {};
    if (job.control_token) h["X-GhostStream-Control-Token"] = job.control_token;
    const key = apiKey();
    if (key) h["X-API-Key"] = key;
    return h;
  };
  const listeners = { job: new Set<(e: JobEvent) => void>(), server: new Set<(s: ServerStatus) => void>() };
  let socket: WebSocket | null = null;
  function ensureSocket() {
    if (socket) return;
    const key = apiKey();
    const url = base.replace(/^http/, "ws") + "/ws/progress" + (key ? `?api_key=${encodeURIComponent(key)}` : "");
    socket = new WebSocket(url);
    socket.onopen = () => socket?.send(JSON.stringify({ type: "identify", client: "ghoststream-dashboard" }));
    socket.onmessage = (m) => {
      const msg = JSON.parse(String(m.data));
      if (msg.type === "ping") socket?.send(JSON.stringify({ type: "pong" }));
      else if (msg.type === "progress" || msg.type === "status_change" || msg.type === "analysis") {
        listeners.job.forEach((cb) => cb(msg as JobEvent));
      }
    };
    socket.onclose = () => {
      socket = null;
      setTimeout(() => { if (listeners.job.size) ensureSocket(); }, 2000);
    };
  }
  const unsupported = () => Promise.reject(new Error("start and stop are available in the GhostStream app"));
  return {
    mode: "http",
    canStartStop: false,
    serverStatus: () => call("GET", "/api/server"),
    startServer: unsupported,
    stopServer: unsupported,
    async setPaused(p) {
      const s = await call<ServerStatus>("POST", p ? "/api/server/pause" : "/api/server/resume");
      listeners.server.forEach((cb) => cb(s));
      return s;
    },
    listJobs: async () => (await call<{ jobs: JobResponse[] }>("GET", "/api/transcode/jobs")).jobs,
    cancelJob: async (job) => { await call("POST", `/api/transcode/${job.job_id}/cancel`, undefined, token(job)); },
    jobLog: (job) => fetch(`${base}/api/transcode/${job.job_id}/log`, { headers: token(job) }).then((r) => r.text()),
    capabilities: () => call<Capabilities>("GET", "/api/capabilities"),
    resources: () => call<Resources>("GET", "/api/resources"),
    stats: () => call<Stats>("GET", "/api/stats"),
    dailyStats: (d) => call<DailyStats>("GET", `/api/stats/daily?days=${d}`),
    getSettings: () => call<Settings>("GET", "/api/settings"),
    saveSettings: (s) => call<SettingsSaved>("PUT", "/api/settings", s),
    openLogsFolder: () => Promise.reject(new Error("the logs folder opens from the GhostStream app")),
    quitApp: () => Promise.reject(new Error("quit from the GhostStream app")),
    pairingInfo: () => call<PairingInfo>("GET", "/api/rendezvous"),
    rotatePairingCode: () => call<PairingInfo>("POST", "/api/rendezvous/rotate"),
    async setGhostHub(url) {
      await call("POST", "/api/pair/ghosthub", { ghosthub_url: url });
      return call<PairingInfo>("GET", "/api/rendezvous");
    },
    announceNow: () => call<AnnounceResult>("POST", "/api/announce-now"),
    reachability: () => call<Reachability>("GET", "/api/reachability"),
    onJobEvent(cb) {
      listeners.job.add(cb);
      ensureSocket();
      return () => listeners.job.delete(cb);
    },
    onServerChanged(cb) {
      listeners.server.add(cb);
      return () => listeners.server.delete(cb);
    },
  };
}
