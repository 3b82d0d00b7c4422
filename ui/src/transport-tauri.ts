// Tauri IPC transport: the generated commands and events.
import { commands, events, type ErrorBody } from "./bindings";
import { ApiError, type Api } from "./api";

type Result<T> = { status: "ok"; data: T } | { status: "error"; error: ErrorBody };

async function unwrap<T>(p: Promise<Result<T>>): Promise<T> {
  const r = await p;
  if (r.status === "error") throw ApiError.from(r.error);
  return r.data;
}

export function tauriApi(): Api {
  return {
    mode: "tauri",
    canStartStop: true,
    serverStatus: () => unwrap(commands.serverStatus()),
    startServer: () => unwrap(commands.startServer()),
    stopServer: () => unwrap(commands.stopServer()),
    setPaused: (p) => unwrap(commands.setPaused(p)),
    listJobs: () => unwrap(commands.listJobs()),
    cancelJob: (job) => unwrap(commands.cancelJob(job.job_id)).then(() => {}),
    jobLog: (job) => unwrap(commands.jobLog(job.job_id)),
    capabilities: () => unwrap(commands.capabilities()),
    resources: () => unwrap(commands.resources()),
    stats: () => unwrap(commands.stats()),
    dailyStats: (d) => unwrap(commands.dailyStats(d)),
    getSettings: () => unwrap(commands.getSettings()),
    saveSettings: (s) => unwrap(commands.saveSettings(s)),
    openLogsFolder: () => unwrap(commands.openLogsFolder()).then(() => {}),
    quitApp: () => unwrap(commands.quitApp()).then(() => {}),
    pairingInfo: () => unwrap(commands.pairingInfo()),
    rotatePairingCode: () => unwrap(commands.rotatePairingCode()),
    setGhostHub: (url) => unwrap(commands.setGhosthub(url)),
    announceNow: () => unwrap(commands.announceNow()),
    reachability: () => unwrap(commands.reachability()),
    onJobEvent(cb) {
      const un = events.jobUpdate.listen((e) => cb(e.payload));
      return () => void un.then((f) => f());
    },
    onServerChanged(cb) {
      const un = events.serverChanged.listen((e) => cb(e.payload));
      return () => void un.then((f) => f());
    },
  };
}
