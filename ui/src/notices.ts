// Desktop notifications the desktop could not show (no notification daemon): listed at
// the top of every view, announced politely, dismissed together.
import type { DesktopNotice } from "./bindings";
import type { Api } from "./api";
import { escapeHtml } from "./format";

export function mountNotices(el: HTMLElement, api: Api) {
  const desktop = api.desktop;
  if (!desktop) return;
  let shown: DesktopNotice[] = [];
  const render = () => {
    el.hidden = shown.length === 0;
    el.innerHTML = shown.length
      ? `<h2 class="sr-only">Notifications</h2><ul>${shown
          .slice(-5)
          .map((n) => `<li><b>${escapeHtml(n.summary)}</b> ${escapeHtml(n.body)} <small class="muted">${new Date(n.at).toLocaleTimeString()}</small></li>`)
          .join("")}</ul>${shown.length > 5 ? `<p class="muted">and ${shown.length - 5} earlier</p>` : ""}
        <button data-act="dismiss">Dismiss${shown.length > 1 ? ` all ${shown.length}` : ""}</button>`
      : "";
    el.querySelector("button")?.addEventListener("click", async () => {
      const last = shown[shown.length - 1];
      if (last) shown = await api.dismissNotices(last.id).catch(() => []);
      render();
    });
  };
  desktop.onNoticeMissed((n) => {
    if (!shown.some((x) => x.id === n.id)) shown.push(n);
    render();
  });
  void api.missedNotices().then((list) => {
    const ids = new Set(list.map((n) => n.id));
    shown = [...list, ...shown.filter((n) => !ids.has(n.id))];
    render();
  }).catch(() => {});
}
