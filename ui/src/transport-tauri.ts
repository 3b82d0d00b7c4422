// Tauri IPC transport: every generated command, unwrapped, and the generated events.
import { commands, events, type ErrorBody } from "./bindings";
import { ApiError, type Api, type Calls } from "./api";

type Result = { status: "ok"; data: unknown } | { status: "error"; error: ErrorBody };

export function tauriApi(): Api {
  const calls: Record<string, (...a: unknown[]) => Promise<unknown>> = {};
  for (const [name, f] of Object.entries(commands)) {
    calls[name] = async (...args: unknown[]) => {
      const r = (await (f as (...a: unknown[]) => Promise<Result>)(...args)) as Result;
      if (r.status === "error") throw ApiError.from(r.error);
      return r.data;
    };
  }
  async function serverBase() {
    const s = (await calls.serverStatus()) as { port: number | null };
    if (!s.port) throw new ApiError("server-stopped", "the server is not running");
    return `http://127.0.0.1:${s.port}`;
  }
  return {
    ...(calls as unknown as Calls),
    mode: "tauri",
    canStartStop: true,
    desktop: {
      onExitAsked: (cb) => listen(events.exitAsked, cb),
      onNoticeMissed: (cb) => listen(events.noticeMissed, cb),
    },
    // The server runs in this process; the window reaches it on loopback.
    serverBase,
    async uploadTarget() {
      return { endpoint: `${await serverBase()}/api/tus/`, headers: {} };
    },
    followLog: null,
    onJobEvent: (cb) => listen(events.jobUpdate, cb),
    onServerChanged: (cb) => listen(events.serverChanged, cb),
  };
}

/** A generated event's payloads to `cb`; the returned function stops listening. */
function listen<T>(event: { listen(cb: (e: { payload: T }) => void): Promise<() => void> }, cb: (payload: T) => void): () => void {
  const un = event.listen((e) => cb(e.payload));
  return () => void un.then((f) => f());
}
