// The week grid and the windows it stands for convert both ways.
import { describe, expect, it } from "vitest";
import { toGrid, toWindows } from "./panels/settings/schedule";
import type { ScheduleWindow } from "./bindings";

describe("schedule grid", () => {
  it("round-trips windows, one per run of hours in a day", () => {
    const windows: ScheduleWindow[] = [
      { days: ["mon"], start: "01:00", end: "17:00", max_jobs: 2 },
      { days: ["sat"], start: "00:00", end: "24:00", max_jobs: 2 },
    ];
    const grid = toGrid(windows);
    expect(grid[0].filter(Boolean).length).toBe(16);
    expect(grid[0][0]).toBe(false);
    expect(grid[0][1]).toBe(true);
    expect(grid[0][17]).toBe(false);
    expect(toWindows(grid, 2)).toEqual(windows);
  });

  it("spreads a window past midnight over two days", () => {
    const grid = toGrid([{ days: ["sun"], start: "22:00", end: "02:00", max_jobs: 1 }]);
    expect(grid[6][22] && grid[6][23] && grid[0][0] && grid[0][1]).toBe(true);
    expect(grid[0][2]).toBe(false);
    expect(toWindows(grid, 1)).toEqual([
      { days: ["mon"], start: "00:00", end: "02:00", max_jobs: 1 },
      { days: ["sun"], start: "22:00", end: "24:00", max_jobs: 1 },
    ]);
  });
});
