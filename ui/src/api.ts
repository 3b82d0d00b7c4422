// The one seam between the dashboard and the server: the same typed calls over Tauri IPC
// (inside the app) or over HTTP and WebSocket (in a browser). Types come only from the
// generated bindings.
import type {
  AnnounceResult, PairingInfo, Reachability,
  Capabilities, DailyStats, ErrorBody, ErrorCode, JobEvent, JobResponse, Resources, ServerStatus, Settings,
  SettingsSaved, Stats,
} from "./bindings";

/** What every call throws, over either transport: the server's `{detail, code}`. The UI
 * branches on `code`, never on the message. */
export class ApiError extends Error {
  constructor(public code: ErrorCode, message: string, public status?: number) {
    super(message);
  }

  static from(body: ErrorBody, status?: number): ApiError {
    const d = body.detail as unknown;
    const msg = Array.isArray(d)
      ? d.map((x: { msg?: string }) => x.msg ?? "").join("; ")
      : String(d ?? "error");
    return new ApiError(body.code, msg, status);
  }
}

export interface Api {
  readonly mode: "tauri" | "http";
  /** Start and stop exist only inside the app (a browser talks to the server itself). */
  readonly canStartStop: boolean;
  serverStatus(): Promise<ServerStatus>;
  startServer(): Promise<ServerStatus>;
  stopServer(): Promise<ServerStatus>;
  setPaused(paused: boolean): Promise<ServerStatus>;
  listJobs(): Promise<JobResponse[]>;
  cancelJob(job: JobResponse): Promise<void>;
  jobLog(job: JobResponse): Promise<string>;
  capabilities(): Promise<Capabilities>;
  resources(): Promise<Resources>;
  stats(): Promise<Stats>;
  dailyStats(days: number): Promise<DailyStats>;
  getSettings(): Promise<Settings>;
  saveSettings(s: Settings): Promise<SettingsSaved>;
  openLogsFolder(): Promise<void>;
  quitApp(): Promise<void>;
  pairingInfo(): Promise<PairingInfo>;
  rotatePairingCode(): Promise<PairingInfo>;
  setGhostHub(url: string | null): Promise<PairingInfo>;
  announceNow(): Promise<AnnounceResult>;
  reachability(): Promise<Reachability>;
  onJobEvent(cb: (e: JobEvent) => void): () => void;
  onServerChanged(cb: (s: ServerStatus) => void): () => void;
}

export function inTauri(): boolean {
  return typeof window !== "undefined" && "__TAURI_INTERNALS__" in window;
}

export async function createApi(): Promise<Api> {
  if (inTauri()) {
    const { tauriApi } = await import("./transport-tauri");
    return tauriApi();
  }
  const { httpApi } = await import("./transport-http");
  return httpApi(window.location.origin);
}
