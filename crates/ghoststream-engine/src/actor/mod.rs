//! The engine's single owner of job state. Commands arrive on a channel, ffmpeg runs report
//! back on another; nothing else touches jobs.

pub(crate) mod argv;
mod freeze;
mod health;
mod hls;
mod lifecycle;
mod retention;
mod runs;
mod serve;
mod submit;

use crate::error::EngineError;
use crate::job::{JobRecord, JobSpec};
use crate::prober::{Prepared, Prober};
use crate::runner::{self, JobLog, RunControl, RunEvent, RunOutcome, RunRequest};
use crate::segments::{self, SegmentMap, SubtitleEntry};
use crate::shared::{Shared, Snapshot, StreamFile};
use crate::store::{Loaded, Store, Totals};
use crate::tokens::{Scope, StreamGate};
use chrono::Utc;
use ghoststream_media::command::{self, init_name, segment_list_path, segment_name, SegmentFile};
use ghoststream_media::plan::{AudioAction, Plan, VideoAction};
use ghoststream_types::{
    CleanupRun, CleanupStats, HwKind, JobEvent, JobStatus, LeaveResponse, MediaInfo, Mode,
    ProgressData, SharedStream, SharedStreams, Stage, StartRequest, Stats, StatusData, Variant,
};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

type Reply<T> = oneshot::Sender<T>;

pub(crate) enum Cmd {
    /// Start (or join) a job. Answered once, when the job exists: the probe runs in a task.
    Start {
        spec: Box<JobSpec>,
        request: Box<StartRequest>,
        client: Option<ghoststream_types::JobClient>,
        reply: Reply<Result<Snapshot, EngineError>>,
    },
    Get {
        id: Uuid,
        reply: Reply<Option<Snapshot>>,
    },
    /// The jobs in memory: queued, running, and finished ones whose files are kept.
    List {
        reply: Reply<Vec<Snapshot>>,
    },
    /// One page of the whole history, newest first, and its length.
    Page {
        offset: u32,
        limit: u32,
        reply: Reply<Result<(Vec<Snapshot>, u64), EngineError>>,
    },
    /// The whole history in figures.
    Figures {
        reply: Reply<crate::store::HistoryFigures>,
    },
    Cancel {
        id: Uuid,
        session: Option<String>,
        reply: Reply<Result<(), EngineError>>,
    },
    Delete {
        id: Uuid,
        reply: Reply<Result<(), EngineError>>,
    },
    Leave {
        id: Uuid,
        session: Option<String>,
        reply: Reply<Result<LeaveResponse, EngineError>>,
    },
    Shared {
        reply: Reply<SharedStreams>,
    },
    Stats {
        reply: Reply<Stats>,
    },
    CleanupStats {
        reply: Reply<CleanupStats>,
    },
    CleanupRun {
        reply: Reply<CleanupRun>,
    },
    StreamFile {
        id: Uuid,
        name: String,
        gate: StreamGate,
        reply: Reply<oneshot::Receiver<Result<StreamFile, EngineError>>>,
    },
    Download {
        id: Uuid,
        gate: StreamGate,
        reply: Reply<Result<(PathBuf, String), EngineError>>,
    },
    Log {
        id: Uuid,
        reply: Reply<Result<String, EngineError>>,
    },
    /// The log so far and its new lines as they come.
    LogFollow {
        id: Uuid,
        reply: Reply<Result<runner::LogFollow, EngineError>>,
    },
    Reschedule {
        reply: Reply<()>,
    },
    Daily {
        days: u32,
        hourly: bool,
        reply: Reply<ghoststream_types::DailyStats>,
    },
    Shutdown {
        reply: Reply<()>,
    },
    /// A live stream's job, as it starts and as it ends (the live ingest runs it).
    LiveRecord {
        rec: Box<JobRecord>,
        log: JobLog,
    },
    /// The ffmpeg pid of each job's run now (for the GPU accounting).
    RunPids {
        reply: Reply<Vec<(Uuid, u32)>>,
    },
    /// The schedule closed with `outside_window = stop`: batch jobs back to the queue.
    Requeue {
        reply: Reply<()>,
    },
    /// Streams at this priority while a game runs; `None`: back to `gaming.priority`.
    StreamPriority {
        priority: Option<ghoststream_types::Priority>,
        reply: Reply<()>,
    },
    /// Freeze (with a reason) or thaw (`None`) the jobs `which` names.
    Freeze {
        which: freeze::Which,
        reason: Option<String>,
        reply: Reply<Result<Vec<Snapshot>, EngineError>>,
    },
}

pub(crate) use freeze::Which;
use hls::Hls;

type Waiter = oneshot::Sender<Result<StreamFile, EngineError>>;

struct ActiveRun {
    id: u64,
    first: u32,
    /// Next segment this run is expected to write.
    head: u32,
    cancel: CancellationToken,
    control: Arc<RunControl>,
    /// Output time where this run's timeline starts (stream) or 0 (batch).
    offset: f64,
    started: tokio::time::Instant,
    /// The output time this run has reached, from its progress (none before the first).
    position: Option<f64>,
}

struct Job {
    rec: JobRecord,
    spec: Option<JobSpec>,
    plan: Option<Plan>,
    hls: Option<Hls>,
    hw: HwKind,
    sessions: HashSet<String>,
    anon: u32,
    share_key: Option<String>,
    run: Option<ActiveRun>,
    attempts: u32,
    eta: Option<u64>,
    log: JobLog,
    /// The last progress sent and when: re-sent while ffmpeg is quiet, so clients hear
    /// from a running job at least twice a second.
    last_progress: Option<(ProgressData, std::time::Instant)>,
    /// Frozen, and why: its runs' processes are stopped until thawed.
    frozen: Option<String>,
    /// The encoding health checker's view of the job (streams only).
    health: health::Watch,
    /// A two-pass batch job's pass (1 or 2); 0 for one pass.
    pass: u8,
    /// Stops the job's work beside its runs (subtitle extraction) when the job fails, is
    /// cancelled or removed, or the server stops.
    side: CancellationToken,
}

impl Job {
    /// A job known only by its record: one a previous run left, or a live stream's (the
    /// live ingest runs those). Nothing runs for it here.
    fn from_record(rec: JobRecord, log: JobLog) -> Job {
        Job {
            rec,
            spec: None,
            plan: None,
            hls: None,
            hw: HwKind::Software,
            sessions: HashSet::new(),
            anon: 0,
            share_key: None,
            run: None,
            attempts: 0,
            eta: None,
            log,
            last_progress: None,
            frozen: None,
            health: Default::default(),
            side: CancellationToken::new(),
            pass: 0,
        }
    }

    fn viewers(&self) -> u32 {
        self.sessions.len() as u32 + self.anon
    }
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            record: self.rec.clone(),
            eta_seconds: self.eta,
            viewers: if self.rec.mode.is_hls() {
                self.viewers()
            } else {
                1
            },
            paused: self.frozen.clone(),
            health: self.health.report.clone(),
            gpu: None,
        }
    }
}

enum Internal {
    Run(RunEvent),
    /// A start's probe task asks whether the job would still fit, now it has a slot.
    Room {
        reply: Reply<Result<(), EngineError>>,
    },
    /// A start's probe task is done: create the job (or join one created meanwhile).
    Prepared {
        spec: Box<JobSpec>,
        request: Box<StartRequest>,
        prepared: Result<Box<Prepared>, String>,
        client: Option<ghoststream_types::JobClient>,
        reply: Reply<Result<Snapshot, EngineError>>,
    },
    SubtitleDone {
        job: Uuid,
        index: usize,
    },
    Retry {
        job: Uuid,
    },
}

/// What starts an ffmpeg run. In tests the actor is driven without ffmpeg: a recorder
/// hands each run request (and the channel its events go to) to the test, which plays
/// the runner's part.
pub(crate) enum Launcher {
    Ffmpeg,
    #[cfg(test)]
    Recorder(mpsc::UnboundedSender<(RunRequest, mpsc::Sender<RunEvent>)>),
}

impl Launcher {
    fn launch(&self, req: RunRequest, tx: mpsc::Sender<RunEvent>, tracker: &TaskTracker) {
        match self {
            Launcher::Ffmpeg => runner::spawn(req, tx, tracker),
            #[cfg(test)]
            Launcher::Recorder(to_test) => {
                let _ = to_test.send((req, tx));
            }
        }
    }
}

struct Actor {
    inner: Arc<Shared>,
    launcher: Launcher,
    prober: Arc<Prober>,
    store: Store,
    jobs: HashMap<Uuid, Job>,
    queue: VecDeque<Uuid>,
    running: usize,
    totals: Totals,
    next_run: u64,
    /// Jobs whose outputs retention removed since start (`/api/cleanup/stats`).
    cleaned_total: u32,
    tracker: TaskTracker,
    run_tx: mpsc::Sender<RunEvent>,
    internal_tx: mpsc::Sender<Internal>,
    /// While a game runs, streams' runs start (and are moved) here.
    stream_priority: Option<ghoststream_types::Priority>,
    /// Archived jobs read back for the command now handled (see `fault_in`).
    faulted: Vec<Uuid>,
}

pub(crate) async fn spawn(
    inner: Arc<Shared>,
    prober: Arc<Prober>,
    mut rx: mpsc::Receiver<Cmd>,
    store: Store,
    loaded: Loaded,
    launcher: Launcher,
) -> tokio::task::JoinHandle<()> {
    let (run_tx, mut run_rx) = mpsc::channel::<RunEvent>(4096);
    let (internal_tx, mut internal_rx) = mpsc::channel::<Internal>(1024);
    let mut actor = Actor {
        inner,
        launcher,
        prober,
        store,
        jobs: HashMap::new(),
        queue: VecDeque::new(),
        running: 0,
        totals: loaded.totals.clone(),
        next_run: 1,
        cleaned_total: 0,
        tracker: TaskTracker::new(),
        run_tx,
        internal_tx,
        stream_priority: None,
        faulted: Vec::new(),
    };
    actor.reconcile(loaded).await;
    tokio::spawn(async move {
        let every = Duration::from_secs(
            actor
                .inner
                .config
                .transcoding
                .cleanup_interval_seconds
                .max(1),
        );
        let mut cleanup = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let mut cadence = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Cmd::Shutdown { reply }) => {
                        actor.shutdown().await;
                        let _ = reply.send(());
                        return;
                    }
                    Some(cmd) => actor.handle(cmd).await,
                    None => { actor.shutdown().await; return; }
                },
                Some(ev) = run_rx.recv() => actor.internal(Internal::Run(ev)).await,
                Some(ev) = internal_rx.recv() => actor.internal(ev).await,
                _ = cleanup.tick() => { actor.cleanup(false).await; }
                _ = cadence.tick() => actor.resend_quiet_progress(),
            }
            actor.archive().await;
        }
    })
}

impl Actor {
    /// Finished jobs whose files are gone leave memory for the store, where the history
    /// is read a page at a time: memory holds what runs and what is served, not the past.
    async fn archive(&mut self) {
        let gone: Vec<Uuid> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.rec.status.is_terminal() && j.rec.files_removed && j.run.is_none())
            .map(|(id, _)| *id)
            .collect();
        let faulted = std::mem::take(&mut self.faulted);
        for id in gone {
            if let Some(j) = self.jobs.remove(&id) {
                // One read back only for a command is already in the store as it is: a
                // command that changed it persisted the change itself.
                if !faulted.contains(&id) {
                    self.store.upsert(j.rec).await;
                }
            }
        }
    }

    /// Brings an archived job back into memory for a command that names it (it leaves
    /// again after the command).
    async fn fault_in(&mut self, id: Uuid) {
        if self.jobs.contains_key(&id) {
            return;
        }
        if let Some(rec) = self.store.get(id).await {
            let log = self.inner.job_log(id);
            self.jobs.insert(id, Job::from_record(rec, log));
            self.faulted.push(id);
        }
    }

    /// One page of the history: the store's order, with the jobs in memory as they are now.
    async fn page(&self, offset: u32, limit: u32) -> Result<(Vec<Snapshot>, u64), EngineError> {
        let (recs, total) = self
            .store
            .page(offset, limit)
            .await
            // Only a closed store (the engine stopping) or a failed read (logged) gets here.
            .ok_or(EngineError::Stopped)?;
        let page = recs
            .into_iter()
            .map(|rec| match self.jobs.get(&rec.id) {
                Some(j) => j.snapshot(),
                None => {
                    let viewers = u32::from(!rec.mode.is_hls());
                    Snapshot {
                        record: rec,
                        eta_seconds: None,
                        viewers,
                        paused: None,
                        health: None,
                        gpu: None,
                    }
                }
            })
            .collect();
        Ok((page, total))
    }

    fn persist(&self, id: Uuid) -> impl std::future::Future<Output = ()> + 'static {
        let rec = self.jobs.get(&id).map(|j| j.rec.clone());
        let store = self.store.clone();
        async move {
            if let Some(rec) = rec {
                store.upsert(rec).await;
            }
        }
    }

    pub(super) fn room(&self) -> Result<(), EngineError> {
        let queued = self.queue.len() as u32;
        if self.running >= self.max_jobs() && queued >= self.inner.config.transcoding.max_queue_size
        {
            return Err(EngineError::QueueFull(queued));
        }
        Ok(())
    }

    /// `max_concurrent_jobs`, and no more than the schedule allows now (0 when closed).
    fn max_jobs(&self) -> usize {
        let live = self
            .inner
            .live
            .read()
            .map(|l| l.max_concurrent_jobs as usize)
            .unwrap_or(1)
            .max(1);
        let schedule = self
            .inner
            .schedule_limit
            .load(std::sync::atomic::Ordering::SeqCst) as usize;
        live.min(schedule)
    }

    /// Re-sends the latest progress of running jobs whose ffmpeg has not reported for a
    /// while (heavy filters or slow sources make its 0.5 s period irregular).
    fn resend_quiet_progress(&mut self) {
        let now = std::time::Instant::now();
        for (id, j) in self.jobs.iter_mut() {
            if j.rec.status != JobStatus::Processing {
                continue;
            }
            if let Some((data, at)) = j.last_progress.as_mut() {
                if now.duration_since(*at) >= Duration::from_millis(450) {
                    *at = now;
                    let _ = self.inner.events.send(JobEvent::Progress {
                        job_id: id.to_string(),
                        data: data.clone(),
                    });
                }
            }
        }
    }

    fn emit(&self, ev: JobEvent) {
        let _ = self.inner.events.send(ev);
    }

    fn emit_status(&self, id: Uuid) {
        if let Some(j) = self.jobs.get(&id) {
            self.emit(JobEvent::StatusChange {
                job_id: id.to_string(),
                data: StatusData {
                    status: j.rec.status,
                    error_message: j
                        .rec
                        .error_message
                        .as_deref()
                        .map(crate::redact::redact_text),
                    error_code: j.rec.error_code.clone(),
                    output_size: (j.rec.status == JobStatus::Ready).then_some(j.rec.output_bytes),
                    output_file: j
                        .rec
                        .output_file
                        .clone()
                        .filter(|_| j.rec.status == JobStatus::Ready),
                },
            });
        }
    }

    async fn handle(&mut self, cmd: Cmd) {
        let names = match &cmd {
            Cmd::Get { id, .. }
            | Cmd::Cancel { id, .. }
            | Cmd::Delete { id, .. }
            | Cmd::Leave { id, .. }
            | Cmd::StreamFile { id, .. }
            | Cmd::Download { id, .. }
            | Cmd::Log { id, .. }
            | Cmd::LogFollow { id, .. }
            | Cmd::Freeze {
                which: Which::Job(id),
                ..
            } => Some(*id),
            _ => None,
        };
        if let Some(id) = names {
            self.fault_in(id).await;
        }
        match cmd {
            Cmd::Start {
                spec,
                request,
                client,
                reply,
            } => self.start(spec, request, client, reply).await,
            Cmd::Get { id, reply } => {
                let _ = reply.send(self.jobs.get(&id).map(Job::snapshot));
            }
            Cmd::List { reply } => {
                let mut v: Vec<Snapshot> = self.jobs.values().map(Job::snapshot).collect();
                v.sort_by_key(|s| std::cmp::Reverse(s.record.created_at));
                let _ = reply.send(v);
            }
            Cmd::Page {
                offset,
                limit,
                reply,
            } => {
                let _ = reply.send(self.page(offset, limit).await);
            }
            Cmd::Figures { reply } => {
                let _ = reply.send(self.store.figures().await.unwrap_or_default());
            }
            Cmd::Cancel { id, session, reply } => {
                let r = self.cancel_or_leave(id, session).await;
                let _ = reply.send(r);
            }
            Cmd::Delete { id, reply } => {
                let _ = reply.send(self.delete(id).await);
            }
            Cmd::Freeze {
                which,
                reason,
                reply,
            } => {
                let _ = reply.send(self.freeze(which, reason));
            }
            Cmd::Requeue { reply } => {
                self.requeue_batch().await;
                let _ = reply.send(());
            }
            Cmd::StreamPriority { priority, reply } => {
                self.set_stream_priority(priority);
                let _ = reply.send(());
            }
            Cmd::Leave { id, session, reply } => {
                let _ = reply.send(self.leave(id, session).await);
            }
            Cmd::Shared { reply } => {
                let _ = reply.send(self.shared());
            }
            Cmd::Stats { reply } => {
                let _ = reply.send(self.stats());
            }
            Cmd::RunPids { reply } => {
                let pids = self
                    .jobs
                    .iter()
                    .filter_map(|(id, j)| Some((*id, j.run.as_ref()?.control.pid()?)))
                    .collect();
                let _ = reply.send(pids);
            }
            Cmd::CleanupStats { reply } => {
                let _ = reply.send(self.cleanup_stats().await);
            }
            Cmd::CleanupRun { reply } => {
                let r = self.cleanup(true).await;
                let _ = reply.send(r);
            }
            Cmd::StreamFile {
                id,
                name,
                gate,
                reply,
            } => {
                let (tx, rx) = oneshot::channel();
                match self.pass(id, gate) {
                    Ok(()) => self.stream_file(id, &name, tx).await,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
                let _ = reply.send(rx);
            }
            Cmd::Download { id, gate, reply } => {
                let r = self.pass(id, gate).and_then(|()| self.download(id));
                let _ = reply.send(r);
            }
            Cmd::Log { id, reply } => {
                let _ = reply.send(
                    self.jobs
                        .get(&id)
                        .map(|j| j.log.text())
                        .ok_or(EngineError::NotFound),
                );
            }
            Cmd::LogFollow { id, reply } => {
                let _ = reply.send(
                    self.jobs
                        .get(&id)
                        .map(|j| j.log.follow())
                        .ok_or(EngineError::NotFound),
                );
            }
            Cmd::Daily {
                days,
                hourly,
                reply,
            } => {
                let _ = reply.send(self.daily(days, hourly).await);
            }
            Cmd::Reschedule { reply } => {
                self.schedule().await;
                let _ = reply.send(());
            }
            Cmd::Shutdown { reply } => {
                let _ = reply.send(());
            }
            Cmd::LiveRecord { rec, log } => self.live_record(*rec, log).await,
        }
    }
}

fn cfg_work(inner: &Shared) -> String {
    inner.config.work_dir().to_string_lossy().into_owned()
}

async fn dir_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(mut rd) = tokio::fs::read_dir(dir).await {
        while let Ok(Some(e)) = rd.next_entry().await {
            if let Ok(m) = e.metadata().await {
                if m.is_file() {
                    total += m.len();
                } else if m.is_dir() {
                    total += Box::pin(dir_size(&e.path())).await;
                }
            }
        }
    }
    total
}

#[cfg(test)]
mod tests;
