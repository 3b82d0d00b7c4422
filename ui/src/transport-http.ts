// HTTP + WebSocket transport, for the dashboard in a normal browser: each operation is
// built from its row of the generated `OPS` table, and events come over `/ws/progress`
// (job events, and server status after `watch_server`).
import { APP_ONLY, OPS, type JobEvent, type ServerStatus } from "./bindings";
import { ApiError, camel, type Api, type Calls } from "./api";

type Op = (typeof OPS)[number];

function apiKey(): string | null {
  const fromUrl = new URLSearchParams(window.location.search).get("api_key");
  if (fromUrl) localStorage.setItem("ghoststream.api_key", fromUrl);
  return fromUrl ?? localStorage.getItem("ghoststream.api_key");
}

export function httpApi(base: string): Api {
  async function call(op: Op, args: unknown[]): Promise<unknown> {
    const arg = (name: string) => args[(op.args as readonly string[]).indexOf(name)];
    let path = op.path.replace(/\{(\w+)\}/g, (_, n: string) => encodeURIComponent(String(arg(n))));
    const query = (op.query as readonly string[])
      .filter((n) => arg(n) != null)
      .map((n) => `${encodeURIComponent(n)}=${encodeURIComponent(String(arg(n)))}`);
    if (query.length) path += `?${query.join("&")}`;
    const h: Record<string, string> = { "X-GhostStream-Client": "ghoststream-dashboard" };
    const key = apiKey();
    if (key) h["X-API-Key"] = key;
    const body = op.body ? JSON.stringify(arg(op.body)) : undefined;
    if (body !== undefined) h["Content-Type"] = "application/json";
    const r = await fetch(base + path, { method: op.method, headers: h, body });
    const text = await r.text();
    if (!r.ok) {
      let err: unknown = null;
      try { err = JSON.parse(text); } catch { /* not JSON */ }
      throw ApiError.from((err as never) ?? { detail: r.statusText, code: "request-failed" }, r.status);
    }
    return op.text ? text : text ? JSON.parse(text) : null;
  }
  const calls: Record<string, (...a: unknown[]) => Promise<unknown>> = {};
  for (const op of OPS) calls[camel(op.name)] = (...args: unknown[]) => call(op, args);
  for (const name of APP_ONLY) {
    calls[camel(name)] = () => Promise.reject(new ApiError("shell-failed", "only the GhostStream app on the PC can do this"));
  }

  const listeners = { job: new Set<(e: JobEvent) => void>(), server: new Set<(s: ServerStatus) => void>() };
  let socket: WebSocket | null = null;
  function ensureSocket() {
    if (socket) return;
    const key = apiKey();
    const url = base.replace(/^http/, "ws") + "/ws/progress" + (key ? `?api_key=${encodeURIComponent(key)}` : "");
    const ws = new WebSocket(url);
    socket = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "identify", client: "ghoststream-dashboard" }));
      ws.send(JSON.stringify({ type: "watch_server" }));
    };
    ws.onmessage = (m) => {
      const msg = JSON.parse(String(m.data));
      if (msg.type === "ping") ws.send(JSON.stringify({ type: "pong" }));
      else if (msg.type === "server_status") listeners.server.forEach((cb) => cb(msg.data as ServerStatus));
      else if (["progress", "status_change", "analysis", "health"].includes(msg.type)) {
        listeners.job.forEach((cb) => cb(msg as JobEvent));
      }
    };
    ws.onclose = () => {
      socket = null;
      setTimeout(() => { if (listeners.job.size || listeners.server.size) ensureSocket(); }, 2000);
    };
  }
  return {
    ...(calls as unknown as Calls),
    mode: "http",
    canStartStop: false,
    desktop: null,
    async serverBase() {
      return base;
    },
    async uploadTarget() {
      const key = apiKey();
      const headers: Record<string, string> = key ? { "X-API-Key": key } : {};
      return { endpoint: `${base}/api/tus/`, headers };
    },
    // The dashboard page on this machine may read a job's log without its token.
    followLog(jobId, onLine, onEnd) {
      const key = apiKey();
      const url = `${base.replace(/^http/, "ws")}/ws/jobs/${encodeURIComponent(jobId)}/log${key ? `?api_key=${encodeURIComponent(key)}` : ""}`;
      const ws = new WebSocket(url);
      ws.onmessage = (m) => onLine(String(m.data));
      ws.onclose = () => onEnd();
      return () => ws.close();
    },
    onJobEvent(cb) {
      listeners.job.add(cb);
      ensureSocket();
      return () => listeners.job.delete(cb);
    },
    onServerChanged(cb) {
      listeners.server.add(cb);
      ensureSocket();
      return () => listeners.server.delete(cb);
    },
  };
}
