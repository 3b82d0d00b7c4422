// The schedule as a week grid: a row per day, a cell per hour, on where jobs may run.
// The grid is the editor; the windows it means go to the server as `gaming.schedule`
// (one window per run of open hours in a day, each with the same job limit).
import type { ScheduleWindow, Weekday } from "../../bindings";
import { escapeHtml } from "../../format";

const DAYS: Weekday[] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

const hour = (s: string) => Number(s.split(":")[0]) + (Number(s.split(":")[1] ?? 0) > 0 ? 1 : 0);
const hh = (h: number) => `${String(h).padStart(2, "0")}:00`;

/** Open hours, `grid[day][hour]`, from windows. */
export function toGrid(windows: ScheduleWindow[]): boolean[][] {
  const grid = DAYS.map(() => Array<boolean>(24).fill(false));
  for (const w of windows) {
    const a = Number(w.start.split(":")[0]);
    const b = hour(w.end);
    for (const d of w.days) {
      const i = DAYS.indexOf(d);
      if (i < 0) continue;
      const span = b > a ? b - a : 24 - a + b;
      for (let k = 0; k < span; k++) {
        const h = a + k;
        grid[(i + Math.floor(h / 24)) % 7][h % 24] = true;
      }
    }
  }
  return grid;
}

/** Windows from open hours: one per run of open hours in a day. */
export function toWindows(grid: boolean[][], maxJobs: number): ScheduleWindow[] {
  const out: ScheduleWindow[] = [];
  grid.forEach((hours, d) => {
    let start = -1;
    for (let h = 0; h <= 24; h++) {
      const on = h < 24 && hours[h];
      if (on && start < 0) start = h;
      if (!on && start >= 0) {
        out.push({ days: [DAYS[d]], start: hh(start), end: hh(h), max_jobs: maxJobs });
        start = -1;
      }
    }
  });
  return out;
}

export function scheduleControl(name: string, label: string, windows: ScheduleWindow[]): string {
  const grid = toGrid(windows);
  const jobs = Math.max(1, ...windows.map((w) => w.max_jobs));
  const head = `<tr><th></th>${Array.from({ length: 24 }, (_, h) => `<th>${h % 3 === 0 ? h : ""}</th>`).join("")}</tr>`;
  const rows = grid
    .map((hours, d) => `<tr><th scope="row">${NAMES[d]}</th>${hours
      .map((on, h) => `<td><button type="button" class="cell${on ? " on" : ""}" data-day="${d}" data-hour="${h}" aria-pressed="${on}" aria-label="${NAMES[d]} ${hh(h)}"></button></td>`)
      .join("")}</tr>`)
    .join("");
  return `<fieldset class="schedule" data-testid="schedule"><legend>${escapeHtml(label)}</legend>
    <label class="check"><input type="checkbox" data-role="use" ${windows.length ? "checked" : ""}> Only run jobs in the marked hours</label>
    <table class="week">${head}${rows}</table>
    <label>Jobs at once while open <input type="number" min="1" max="64" data-role="jobs" value="${jobs}"></label>
    <input type="hidden" name="${name}" value="${escapeHtml(JSON.stringify(windows))}">
  </fieldset>`;
}

/** Keeps the hidden value in step with the grid. */
export function wireSchedule(root: HTMLElement) {
  const box = root.querySelector<HTMLElement>('[data-testid="schedule"]');
  if (!box) return;
  const hidden = box.querySelector<HTMLInputElement>('input[type="hidden"]')!;
  const use = box.querySelector<HTMLInputElement>('[data-role="use"]')!;
  const jobs = box.querySelector<HTMLInputElement>('[data-role="jobs"]')!;
  const sync = () => {
    const grid = DAYS.map(() => Array<boolean>(24).fill(false));
    box.querySelectorAll<HTMLButtonElement>("button.cell.on").forEach((c) => {
      grid[Number(c.dataset.day)][Number(c.dataset.hour)] = true;
    });
    hidden.value = JSON.stringify(use.checked ? toWindows(grid, Math.max(1, Number(jobs.value) || 1)) : []);
  };
  box.addEventListener("click", (ev) => {
    const c = (ev.target as HTMLElement).closest<HTMLButtonElement>("button.cell");
    if (!c) return;
    const on = !c.classList.contains("on");
    c.classList.toggle("on", on);
    c.setAttribute("aria-pressed", String(on));
    if (on) use.checked = true;
    sync();
  });
  use.addEventListener("change", sync);
  jobs.addEventListener("input", sync);
}
