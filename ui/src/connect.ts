// Picks the transport: IPC inside the app, HTTP and WebSocket in a browser.
import type { Api } from "./api";

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
