import "./style.css";
import { createApi } from "./api";
import { Store } from "./store";
import { overview } from "./views/overview";
import { jobs } from "./views/jobs";
import { hardware } from "./views/hardware";
import { statsView } from "./views/stats";
import { pairing } from "./views/pairing";
import { settings } from "./views/settings";

const views: Record<string, { title: string; render: (el: HTMLElement, s: Store) => void }> = {
  overview: { title: "Overview", render: overview },
  jobs: { title: "Jobs", render: jobs },
  hardware: { title: "Hardware", render: hardware },
  stats: { title: "Stats", render: statsView },
  pairing: { title: "Pairing", render: pairing },
  settings: { title: "Settings", render: settings },
};

function current(): string {
  const v = location.hash.replace("#", "");
  return v in views ? v : "overview";
}

async function main() {
  const api = await createApi();
  const store = new Store(api);
  const root = document.getElementById("app")!;
  root.innerHTML = `
    <nav><div class="brand">GhostStream <small data-testid="mode">${api.mode}</small></div>
      ${Object.entries(views).map(([k, v]) => `<a href="#${k}" data-view="${k}">${v.title}</a>`).join("")}</nav>
    <main id="view"></main>`;
  const view = document.getElementById("view")!;
  const draw = () => {
    const name = current();
    root.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", (a as HTMLElement).dataset.view === name));
    views[name].render(view, store);
  };
  store.subscribe(draw);
  window.addEventListener("hashchange", () => store.changed());
  api.onJobEvent((e) => store.apply(e));
  api.onServerChanged((s) => { store.status = s; void store.refreshJobs(); store.changed(); });
  await Promise.all([store.refreshStatus(), store.refreshJobs(), store.sample()]);
  setInterval(() => void store.sample(), 2000);
  setInterval(() => void store.refreshStatus(), 3000);
  setInterval(() => void store.refreshJobs(), 5000);
  draw();
}

main().catch((e) => {
  document.getElementById("app")!.textContent = `The dashboard could not start: ${e}`;
});
