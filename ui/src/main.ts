import "./style.css";
import { createApi } from "./connect";
import { Store } from "./store";
import type { Mounted, Panel } from "./panel";
import { overview } from "./panels/overview";
import { jobs } from "./panels/jobs";
import { live } from "./panels/live";
import { hardware } from "./panels/hardware";
import { stats } from "./panels/stats";
import { pairing } from "./panels/pairing";
import { settings } from "./panels/settings";
import { troubleshoot } from "./panels/troubleshoot";
import { answerTray } from "./exit";
import { mountNotices } from "./notices";
import { welcomeOnFirstRun } from "./welcome";

const panels: Record<string, Panel> = { overview, jobs, live, hardware, stats, pairing, settings, troubleshoot };

function current(): string {
  const v = location.hash.replace("#", "");
  return v in panels ? v : "overview";
}

async function main() {
  const api = await createApi();
  const store = new Store(api);
  const root = document.getElementById("app")!;
  root.innerHTML = `
    <nav aria-label="Sections"><div class="brand">GhostStream <small data-testid="mode">${api.mode}</small></div>
      ${Object.entries(panels).map(([k, v]) => `<a href="#${k}" data-view="${k}">${v.title}</a>`).join("")}</nav>
    <main><section class="notices" data-testid="notices" aria-live="polite" hidden></section><div id="view"></div></main>`;
  const view = document.getElementById("view")!;
  mountNotices(root.querySelector<HTMLElement>(".notices")!, api);
  let shown: { name: string; mounted: Mounted } | null = null;
  const show = () => {
    const name = current();
    if (shown?.name === name) return;
    shown?.mounted.unmount();
    root.querySelectorAll<HTMLElement>("nav a").forEach((a) => {
      const on = a.dataset.view === name;
      a.classList.toggle("active", on);
      if (on) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    });
    view.replaceChildren();
    const body = document.createElement("div");
    body.className = "view-body";
    const h1 = document.createElement("h1");
    h1.className = "view-title";
    h1.textContent = panels[name].title;
    view.append(h1, body);
    document.title = `${panels[name].title} · GhostStream`;
    shown = { name, mounted: panels[name].mount(body, store) };
  };
  // A card whose table is wider than the window scrolls sideways: it takes keyboard focus
  // then (arrow keys scroll it) and is named by its heading.
  let marking = false;
  const markScrollable = () => {
    if (marking) return;
    marking = true;
    requestAnimationFrame(() => {
      marking = false;
      view.querySelectorAll<HTMLElement>(".card").forEach((c) => {
        if (c.scrollWidth > c.clientWidth + 1) {
          c.tabIndex = 0;
          c.setAttribute("role", "region");
          c.setAttribute("aria-label", c.querySelector("h2")?.textContent?.trim() || "Table");
        } else if (c.getAttribute("role") === "region") {
          c.removeAttribute("tabindex");
          c.removeAttribute("role");
          c.removeAttribute("aria-label");
        }
      });
    });
  };
  new MutationObserver(markScrollable).observe(view, { childList: true, subtree: true });
  window.addEventListener("resize", markScrollable);
  window.addEventListener("hashchange", show);
  show();
  await Promise.all([store.loadStatus(), store.loadJobs()]);
  answerTray(store);
  welcomeOnFirstRun(store);
}

main().catch((e) => {
  document.getElementById("app")!.textContent = `The dashboard could not start: ${e}`;
});
