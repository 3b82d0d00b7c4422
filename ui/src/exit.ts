// Stop and Quit end every job: with jobs running they ask first, naming them, whether
// they came from the window's buttons or from the tray (which opens the window for it).
import type { ExitAction, ServerStatus } from "./bindings";
import { isLive, type Store } from "./store";
import { escapeHtml, percent, sourceName } from "./format";

const WORDS: Record<ExitAction, { title: string; go: string; done: string }> = {
  quit: { title: "Quit GhostStream?", go: "Quit and cancel", done: "quit" },
  stop: { title: "Stop the server?", go: "Stop and cancel", done: "stop" },
};

/** The names of the jobs Stop or Quit would end. */
export function liveJobNames(store: Store): string[] {
  return [...store.jobs.values()].filter(isLive).map((j) => `${sourceName(j.source)} (${j.mode}, ${j.status === "queued" ? "queued" : percent(j.progress)})`);
}

/** Asks when jobs run; true to go ahead. A modal `<dialog>`: Escape and Keep running cancel. */
export async function confirmExit(store: Store, action: ExitAction): Promise<boolean> {
  await store.loadJobs();
  const names = liveJobNames(store);
  if (!names.length) return true;
  const w = WORDS[action];
  const n = names.length === 1 ? "1 job" : `${names.length} jobs`;
  const d = document.createElement("dialog");
  d.className = "confirm";
  d.setAttribute("aria-labelledby", "confirm-title");
  d.dataset.testid = "confirm-exit";
  d.innerHTML = `<h2 id="confirm-title">${w.title}</h2>
    <p>${n} will be cancelled (recorded as cancelled, with the reason):</p>
    <ul>${names.map((x) => `<li>${escapeHtml(x)}</li>`).join("")}</ul>
    <div class="actions">
      <button value="keep" data-act="keep" autofocus>Keep running</button>
      <button value="go" data-act="go" class="danger">${w.go} ${n}</button>
    </div>`;
  document.body.append(d);
  const answer = await new Promise<boolean>((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "go"));
    d.querySelectorAll<HTMLButtonElement>("button").forEach((b) => b.addEventListener("click", () => d.close(b.value)));
    d.showModal();
  });
  d.remove();
  return answer;
}

/** Stop or Quit, asking first when jobs run. Returns the new status after a stop. */
export async function stopOrQuit(store: Store, action: ExitAction): Promise<ServerStatus | null> {
  if (!(await confirmExit(store, action))) return null;
  if (action === "quit") {
    await store.api.quitApp();
    return null;
  }
  return store.api.stopServer();
}

/** The tray's Stop or Quit, asked while the window was closed or open. */
export function answerTray(store: Store) {
  const desktop = store.api.desktop;
  if (!desktop) return;
  const ask = async (action: ExitAction) => {
    const s = await stopOrQuit(store, action).catch(() => null);
    if (s) store.setStatus(s);
  };
  // The event only says to look: taking the pending request clears it, so a window made
  // later does not ask again, and a request made before this window loaded is found.
  const take = () => void store.api.takePendingExit().then((a) => { if (a) void ask(a); }).catch(() => {});
  desktop.onExitAsked(take);
  take();
}
