// The one seam between the dashboard and the server. The API is generated, never written
// by hand: its methods are the app's IPC commands (`commands` in the generated bindings),
// and the HTTP transport offers the same methods from `OPS`, the server's table of where
// each one lives over HTTP. Adding an operation on the Rust side adds it here.
import type { commands, DesktopNotice, ErrorBody, ErrorCode, ExitAction, JobEvent, ServerStatus } from "./bindings";

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

type Commands = typeof commands;
type Answer<R> = R extends Promise<{ status: "ok"; data: infer D } | { status: "error"; error: unknown }> ? D : never;

/** Every operation, typed from the generated commands; each throws {@link ApiError}. */
export type Calls = {
  [K in keyof Commands]: (...args: Parameters<Commands[K]>) => Promise<Answer<ReturnType<Commands[K]>>>;
};

/** What a transport pushes: job events and server status, never polled. */
export interface Events {
  onJobEvent(cb: (e: JobEvent) => void): () => void;
  onServerChanged(cb: (s: ServerStatus) => void): () => void;
}

/** What only the app pushes: the tray's Stop or Quit waiting for a confirmation, and
 * desktop notifications that could not be shown. */
export interface DesktopEvents {
  onExitAsked(cb: (action: ExitAction) => void): () => void;
  onNoticeMissed(cb: (n: DesktopNotice) => void): () => void;
}

/** Where files are uploaded (tus 1.0), and the headers each request needs. */
export interface UploadTarget {
  endpoint: string;
  headers: Record<string, string>;
}

export type Api = Calls & Events & {
  readonly mode: "tauri" | "http";
  /** Start, stop, quit and the logs folder exist only inside the app. */
  readonly canStartStop: boolean;
  /** The app's own events; `null` in a browser. */
  readonly desktop: DesktopEvents | null;
  /** Uploads go over HTTP in both transports: file bytes do not travel over IPC. */
  uploadTarget(): Promise<UploadTarget>;
  /** Where players fetch streams from (`http://host:port`): live previews use it. */
  serverBase(): Promise<string>;
  /** New lines of a job's log as they are written; `null` where only polling works. */
  followLog: ((jobId: string, onLine: (line: string) => void, onEnd: () => void) => () => void) | null;
};

/** `list_jobs` → `listJobs`, as tauri-specta names the commands. */
export function camel(name: string): string {
  return name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}
