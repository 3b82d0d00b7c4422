//! The cloneable handle everything outside the engine uses.

mod manners;
pub(crate) use manners::Clock;
pub use manners::SCHEDULE_CLOSED;
mod preview;

use crate::actor::{self, Cmd, Which};
use crate::config::Config;
use crate::error::EngineError;
use crate::job::{field, validate};
use crate::live::Live;
use crate::prober::Prober;
use crate::shared::Shared;
pub use crate::shared::{CallbackAnswer, Snapshot, StreamFile};
use crate::store::Store;
use crate::tokens::{Scope, StreamGate, TokenKey};
use ghoststream_media::hw::Hardware;
use ghoststream_types::{
    CleanupRun, CleanupStats, JobEvent, LeaveResponse, Notice, ProbeRequest, ProbeResponse,
    SharedStreams, StartRequest, Stats,
};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// What the handle holds: the actor's mailbox, the prober (shared with the actor), the
/// pause flag, and the engine's lifetime (stop token, actor task, state lock).
pub(crate) struct Inner {
    pub(crate) shared: Arc<Shared>,
    /// Live ingest: RTMP/SRT publishers, their ladders and recordings.
    ingest: crate::ingest::Ingest,
    tx: mpsc::Sender<Cmd>,
    prober: Arc<Prober>,
    stopped: CancellationToken,
    paused: std::sync::atomic::AtomicBool,
    actor_done: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Held while the engine runs: one server per state directory.
    state_lock: Mutex<Option<std::fs::File>>,
}

/// The engine handle. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// A handle that does not keep the engine alive: whether the engine still exists.
#[derive(Clone)]
pub struct WeakEngine(std::sync::Weak<Inner>, std::sync::Weak<Shared>);

impl WeakEngine {
    /// True while any [`Engine`] handle, or a task holding its state (the actor), is alive.
    pub fn is_alive(&self) -> bool {
        self.0.strong_count() > 0 || self.1.strong_count() > 0
    }

    /// The engine, while a handle to it exists.
    pub(crate) fn upgrade(&self) -> Option<Engine> {
        self.0.upgrade().map(|inner| Engine { inner })
    }
}

impl Engine {
    pub fn downgrade(&self) -> WeakEngine {
        WeakEngine(
            Arc::downgrade(&self.inner),
            Arc::downgrade(&self.inner.shared),
        )
    }

    /// Opens the state database, reconciles what a previous run left behind, and starts
    /// the engine on the current runtime.
    pub async fn start(config: Config, hardware: Hardware) -> anyhow_free::Result<Engine> {
        Engine::start_with(config, hardware, actor::Launcher::Ffmpeg).await
    }

    /// [`Engine::start`] with the runs started by `launcher` (tests drive runs themselves).
    pub(crate) async fn start_with(
        config: Config,
        hardware: Hardware,
        launcher: actor::Launcher,
    ) -> anyhow_free::Result<Engine> {
        let config = Arc::new(config);
        let state = config.state_dir();
        let work = config.work_dir();
        std::fs::create_dir_all(&work).map_err(|e| {
            anyhow_free::Error(format!(
                "cannot create work directory {}: {e}",
                work.display()
            ))
        })?;
        let lock = lock_state_dir(&state)?;
        let (store, loaded) = Store::open(&state.join("ghoststream.db"))
            .map_err(|e| anyhow_free::Error(e.to_string()))?;
        let uploads = crate::uploads::Uploads::open(state.join("uploads"), config.uploads.clone())
            .map_err(|e| anyhow_free::Error(format!("cannot open the uploads folder: {e}")))?;
        let uploads = Arc::new(uploads);
        let (tx, rx) = mpsc::channel(1024);
        let (events, _) = broadcast::channel(4096);
        let shared = Arc::new(Shared {
            callback_answer: RwLock::new(None),
            config: config.clone(),
            hardware: Arc::new(hardware),
            tokens: TokenKey::new(loaded.secret.clone()),
            started: Instant::now(),
            events,
            egress: Arc::new(crate::egress::Egress::new(
                crate::egress::parse_allowed(&config.security.allowed_targets)
                    .map_err(anyhow_free::Error)?,
            )),
            live: RwLock::new(Live::from_config(&config)),
            notices: broadcast::channel(256).0,
            frozen: std::sync::atomic::AtomicU32::new(0),
            game: RwLock::new(None),
            schedule_limit: std::sync::atomic::AtomicU32::new(u32::MAX),
            schedule_wake: Arc::new(tokio::sync::Notify::new()),
            uploads: uploads.clone(),
            stop_reason: std::sync::Mutex::new(None),
            gpu_jobs: RwLock::new(Vec::new()),
        });
        let prober = Arc::new(Prober::new(shared.clone()));
        let ingest = {
            let record_tx = tx.clone();
            let log_shared = shared.clone();
            let hooks = crate::ingest::Hooks {
                notices: shared.notices.clone(),
                record: Box::new(move |rec, log| {
                    let cmd = Cmd::LiveRecord {
                        rec: Box::new(rec),
                        log,
                    };
                    if let Err(mpsc::error::TrySendError::Full(cmd)) = record_tx.try_send(cmd) {
                        let tx = record_tx.clone();
                        tokio::spawn(async move {
                            let _ = tx.send(cmd).await;
                        });
                    }
                }),
                log_for: Box::new(move |id| log_shared.job_log(id)),
            };
            crate::ingest::Ingest::open(
                config.live.clone(),
                config.transcoding.ffmpeg_path.clone(),
                state.join("live"),
                shared.hardware.clone(),
                hooks,
            )
            .map_err(|e| anyhow_free::Error(format!("cannot open the live folder: {e}")))?
        };
        let inner = Arc::new(Inner {
            shared: shared.clone(),
            ingest,
            tx,
            prober: prober.clone(),
            state_lock: Mutex::new(Some(lock)),
            stopped: CancellationToken::new(),
            paused: std::sync::atomic::AtomicBool::new(false),
            actor_done: Mutex::new(None),
        });
        let proxy = crate::egress::proxy::start(inner.shared.egress.clone(), inner.stopped.clone())
            .await
            .map_err(|e| anyhow_free::Error(format!("cannot start the egress proxy: {e}")))?;
        inner.shared.egress.set_proxy(proxy);
        let handle = actor::spawn(shared, prober, rx, store, loaded, launcher).await;
        if let Ok(mut g) = inner.actor_done.lock() {
            *g = Some(handle);
        }
        // Expired uploads and live recordings go once a minute, old job logs once an hour,
        // until the engine stops.
        let stopped = inner.stopped.clone();
        let (logs, keep_days) = (shared_logs_dir(&config), config.logs.keep_days);
        let ingest = inner.ingest.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            let mut n: u64 = 0;
            loop {
                tokio::select! {
                    _ = stopped.cancelled() => break,
                    _ = tick.tick() => {
                        uploads.sweep(chrono::Utc::now()).await;
                        // Live recordings past live.keep_hours.
                        ingest.prune();
                        if n.is_multiple_of(60) {
                            let logs = logs.clone();
                            let _ = tokio::task::spawn_blocking(move || sweep_logs(&logs, keep_days)).await;
                        }
                        n += 1;
                    }
                }
            }
        });
        let engine = Engine { inner };
        Ok(engine)
    }

    pub fn config(&self) -> &Config {
        &self.inner.shared.config
    }

    pub fn hardware(&self) -> &Hardware {
        &self.inner.shared.hardware
    }

    pub fn uptime(&self) -> Duration {
        self.inner.shared.started.elapsed()
    }

    /// What the prober knows of a source, as if ffprobe had said it (tests without ffmpeg).
    #[cfg(test)]
    pub(crate) fn seed_probe(
        &self,
        raw: &str,
        source: ghoststream_media::source::Source,
        media: ghoststream_types::MediaInfo,
        keyframes: Vec<f64>,
    ) {
        self.inner.prober.seed(raw, source, media, keyframes);
    }

    /// The port the API listens on: sources and callbacks may not point back at it.
    pub fn set_listen_port(&self, port: u16) {
        self.inner.shared.egress.set_own_port(port);
        self.inner.prober.clear();
    }

    /// How a callback's body is made from a job: the transport's answer, with its URLs.
    /// Until one is set, callbacks carry the answer without URLs.
    pub fn set_callback_answer(&self, answer: CallbackAnswer) {
        if let Ok(mut g) = self.inner.shared.callback_answer.write() {
            *g = Some(answer);
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.inner.shared.events.subscribe()
    }

    /// Things a person should hear about (desktop notifications).
    pub fn subscribe_notices(&self) -> broadcast::Receiver<Notice> {
        self.inner.shared.notices.subscribe()
    }

    /// Paused: new jobs are refused (503 `server-paused`); running jobs continue.
    pub fn set_paused(&self, paused: bool) {
        self.inner
            .paused
            .store(paused, std::sync::atomic::Ordering::SeqCst);
    }

    /// The settings that can change while running.
    pub fn live(&self) -> Live {
        self.inner
            .shared
            .live
            .read()
            .map(|l| l.clone())
            .unwrap_or_else(|_| Live::from_config(&self.inner.shared.config))
    }

    /// Applies new live settings; raising the concurrency starts queued jobs at once.
    pub async fn apply_live(&self, live: Live) -> Result<(), EngineError> {
        let allowed = crate::egress::parse_allowed(&live.allowed_targets).map_err(|e| {
            EngineError::Invalid(vec![field(&["allowed_targets"], e, "value_error")])
        })?;
        if self.live().allowed_targets != live.allowed_targets {
            self.inner.shared.egress.set_allowed(allowed);
            // Cached sources were vetted under the old rule.
            self.inner.prober.clear();
        }
        if let Ok(mut g) = self.inner.shared.live.write() {
            *g = live;
        }
        // The schedule may have changed: applied now, not at its next boundary.
        self.inner.shared.schedule_wake.notify_one();
        self.call(|reply| Cmd::Reschedule { reply }).await
    }

    pub fn is_paused(&self) -> bool {
        self.inner.paused.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Cmd,
    ) -> Result<T, EngineError> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .tx
            .send(make(tx))
            .await
            .map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)
    }

    /// Starts (or joins) a job.
    pub async fn submit(
        &self,
        req: StartRequest,
        client: Option<ghoststream_types::JobClient>,
    ) -> Result<Snapshot, EngineError> {
        if self.inner.stopped.is_cancelled() {
            return Err(EngineError::Stopped);
        }
        if self.is_paused() {
            return Err(EngineError::Paused);
        }
        let mut spec = self.validate(&req)?;
        self.inner.prober.vet(&mut spec).await?;
        // One round trip: the actor joins or admits, probes in a task of its own, and
        // answers when the job exists (see docs/ARCHITECTURE.md).
        self.call(|reply| Cmd::Start {
            spec: Box::new(spec),
            request: Box::new(req),
            client,
            reply,
        })
        .await?
    }

    /// Checks a URL this server will send requests to on the owner's behalf (a GhostHub)
    /// by the same rule as sources: the reason when it may not.
    pub async fn check_outbound(&self, url: &str) -> Result<(), String> {
        // The same URL rules as a callback (scheme, length, parser differentials).
        ghoststream_media::source::check_callback_url(url).map_err(|e| e.to_string())?;
        self.inner
            .prober
            .check_callback(url)
            .await
            .map_err(|r| r.to_string())
    }

    /// The HTTP client for outbound requests: it connects only through the egress proxy,
    /// which judges every connection as it is made. `None` before the proxy listens.
    pub fn outbound_client(&self) -> Option<reqwest::Client> {
        self.inner.shared.egress.client().cloned()
    }

    /// `POST /api/probe`: media info and the plan a start with these options would use.
    pub async fn probe(&self, req: ProbeRequest) -> Result<ProbeResponse, EngineError> {
        let start = StartRequest {
            source: req.source.clone(),
            mode: req.mode,
            output: req.output.clone(),
            ..Default::default()
        };
        let (spec, p) = self.prepare(&start).await?;
        Ok(ProbeResponse {
            source: spec.source_raw,
            media_info: p.media,
            plan: p.plan.streams,
        })
    }

    pub async fn job(&self, id: Uuid) -> Result<Snapshot, EngineError> {
        self.call(|reply| Cmd::Get { id, reply })
            .await?
            .map(|s| self.with_gpu(s))
            .ok_or(EngineError::NotFound)
    }

    /// The jobs in memory, newest first: queued, running, and finished ones whose files
    /// are still served. The rest of the history is read a page at a time ([`Self::jobs_page`]).
    pub async fn jobs(&self) -> Result<Vec<Snapshot>, EngineError> {
        let list = self.call(|reply| Cmd::List { reply }).await?;
        Ok(list.into_iter().map(|s| self.with_gpu(s)).collect())
    }

    /// The snapshot with the job's share of a GPU at the last sample.
    fn with_gpu(&self, mut s: Snapshot) -> Snapshot {
        let id = s.record.id.to_string();
        s.gpu = self
            .inner
            .shared
            .gpu_jobs
            .read()
            .ok()
            .and_then(|g| g.iter().find(|j| j.job_id == id).cloned());
        s
    }

    /// Every job's share of an NVIDIA GPU at the last sample (empty without NVML).
    pub fn gpu_jobs(&self) -> Vec<ghoststream_types::JobGpu> {
        self.inner
            .shared
            .gpu_jobs
            .read()
            .map(|g| g.clone())
            .unwrap_or_default()
    }

    /// The ffmpeg pid of each job's run now.
    pub(crate) async fn run_pids(&self) -> Result<Vec<(Uuid, u32)>, EngineError> {
        self.call(|reply| Cmd::RunPids { reply }).await
    }

    pub(crate) fn set_gpu_jobs(&self, jobs: Vec<ghoststream_types::JobGpu>) {
        if let Ok(mut g) = self.inner.shared.gpu_jobs.write() {
            *g = jobs;
        }
    }

    /// One page of the whole history, newest first, and how many jobs it holds.
    pub async fn jobs_page(
        &self,
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<Snapshot>, u64), EngineError> {
        let (page, total) = self
            .call(|reply| Cmd::Page {
                offset,
                limit,
                reply,
            })
            .await??;
        Ok((page.into_iter().map(|s| self.with_gpu(s)).collect(), total))
    }

    /// The whole history in figures: jobs by status and mode, speeds, first-segment times.
    pub async fn history_figures(&self) -> Result<crate::store::HistoryFigures, EngineError> {
        self.call(|reply| Cmd::Figures { reply }).await
    }

    /// Cancels a job; on a shared stream with other viewers, only this session leaves.
    /// A live stream's job ends the stream (its recording is kept).
    pub async fn cancel(&self, id: Uuid, session: Option<String>) -> Result<(), EngineError> {
        if self.inner.ingest.end_job(id, "cancelled").await {
            return Ok(());
        }
        self.call(|reply| Cmd::Cancel { id, session, reply })
            .await?
    }

    /// Deletes a job; an upload it was made from goes with it unless another job uses it.
    /// A live stream's job ends the stream first; its recording goes with the job.
    pub async fn delete(&self, id: Uuid) -> Result<(), EngineError> {
        let source = self.job(id).await.ok().map(|j| j.record.source);
        self.inner.ingest.end_job(id, "the job was deleted").await;
        self.call(|reply| Cmd::Delete { id, reply }).await??;
        self.inner.ingest.forget(id);
        if let Some(upload) = source.as_deref().and_then(|s| s.strip_prefix("upload:")) {
            let others = self.jobs().await?;
            if !others
                .iter()
                .any(|j| j.record.source == format!("upload:{upload}"))
            {
                let _ = self.inner.shared.uploads.remove(upload).await;
            }
        }
        Ok(())
    }

    /// Bytes fetched through the egress proxy (sources, subtitles) since the start.
    pub fn egress_bytes_in(&self) -> u64 {
        self.inner.shared.egress.bytes_in()
    }

    /// Live ingest: keys, streams, listeners.
    pub fn ingest(&self) -> &crate::ingest::Ingest {
        &self.inner.ingest
    }

    /// Every upload, and where they are stored.
    pub fn uploads(&self) -> &crate::uploads::Uploads {
        &self.inner.shared.uploads
    }

    /// Checks a start request; a source `upload:<id>` names a finished upload's file.
    pub(crate) fn validate(&self, req: &StartRequest) -> Result<crate::job::JobSpec, EngineError> {
        let config = &self.inner.shared.config;
        let upload = req
            .source
            .as_deref()
            .map(str::trim)
            .and_then(|s| s.strip_prefix("upload:"));
        let Some(upload) = upload else {
            return validate(req, config, &self.live()).map_err(EngineError::Invalid);
        };
        let uploads = &self.inner.shared.uploads;
        let path = uploads.resolve(upload).map_err(EngineError::Upload)?;
        let req = StartRequest {
            source: Some(path.display().to_string()),
            ..req.clone()
        };
        // The uploads folder is the only root such a source may be in.
        let live = Live {
            library_roots: vec![uploads.dir().to_path_buf()],
            ..self.live()
        };
        let mut spec = validate(&req, config, &live).map_err(EngineError::Invalid)?;
        spec.source_raw = format!("upload:{upload}");
        Ok(spec)
    }

    pub async fn leave(
        &self,
        id: Uuid,
        session: Option<String>,
    ) -> Result<LeaveResponse, EngineError> {
        self.call(|reply| Cmd::Leave { id, session, reply }).await?
    }

    pub async fn shared_streams(&self) -> Result<SharedStreams, EngineError> {
        self.call(|reply| Cmd::Shared { reply }).await
    }

    pub async fn stats(&self) -> Result<Stats, EngineError> {
        self.call(|reply| Cmd::Stats { reply }).await
    }

    /// Finished jobs per day over the last `days` days, from the history.
    pub async fn daily_stats(
        &self,
        days: u32,
    ) -> Result<ghoststream_types::DailyStats, EngineError> {
        self.call(|reply| Cmd::Daily {
            days,
            hourly: false,
            reply,
        })
        .await
    }

    /// Finished jobs per hour over the last `hours` hours, from the history.
    pub async fn hourly_stats(
        &self,
        hours: u32,
    ) -> Result<ghoststream_types::DailyStats, EngineError> {
        self.call(|reply| Cmd::Daily {
            days: hours,
            hourly: true,
            reply,
        })
        .await
    }

    pub async fn cleanup_stats(&self) -> Result<CleanupStats, EngineError> {
        self.call(|reply| Cmd::CleanupStats { reply }).await
    }

    /// Retention now: stale job outputs, orphaned folders and expired uploads.
    pub async fn cleanup_run(&self) -> Result<CleanupRun, EngineError> {
        let mut run = self.call(|reply| Cmd::CleanupRun { reply }).await?;
        let gone = self.uploads().sweep(chrono::Utc::now()).await;
        run.uploads_cleaned = gone.len() as u32;
        Ok(run)
    }

    /// Resolves a file of an HLS job, waiting (bounded) for segments not yet written and
    /// restarting the encoder when the request is far ahead of it.
    pub async fn stream_file(
        &self,
        id: Uuid,
        name: String,
        gate: StreamGate,
    ) -> Result<StreamFile, EngineError> {
        let rx = self
            .call(|reply| Cmd::StreamFile {
                id,
                name,
                gate,
                reply,
            })
            .await?;
        let wait = Duration::from_secs(
            self.inner
                .shared
                .config
                .transcoding
                .segment_wait_timeout
                .max(1),
        );
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(EngineError::Stopped),
            Err(_) => Err(EngineError::SegmentTimeout),
        }
    }

    /// The batch output: path and the file name to offer.
    pub async fn download(
        &self,
        id: Uuid,
        gate: StreamGate,
    ) -> Result<(PathBuf, String), EngineError> {
        self.call(|reply| Cmd::Download { id, gate, reply }).await?
    }

    /// The gate of a stream or download request, from its token (stream or control scope)
    /// and whether it carries the API key. Pure: the actor applies it with the job.
    pub fn stream_gate(&self, id: Uuid, token: Option<&str>, api_key_ok: bool) -> StreamGate {
        let now = chrono::Utc::now().timestamp();
        let verdict = token.map(|t| {
            self.inner
                .shared
                .tokens
                .verify(t, id, &[Scope::Stream, Scope::Control], now)
        });
        match self.live().job_tokens {
            crate::TokenMode::Enforce => {
                StreamGate::Enforced(verdict.unwrap_or(Err(crate::tokens::TokenError::Missing)))
            }
            crate::TokenMode::Open => StreamGate::Open {
                token: verdict.and_then(Result::ok),
                api_key_ok,
            },
        }
    }

    /// The job's ffmpeg commands and log.
    pub async fn log(&self, id: Uuid) -> Result<String, EngineError> {
        self.call(|reply| Cmd::Log { id, reply }).await?
    }

    /// Checks a control token (control routes; streams go through [`Engine::stream_gate`]).
    /// A job's log so far, and each new line as it is written (`WS /ws/jobs/{id}/log`).
    pub async fn log_follow(&self, id: Uuid) -> Result<crate::runner::LogFollow, EngineError> {
        self.call(|reply| Cmd::LogFollow { id, reply }).await?
    }

    pub fn check_control_token(&self, id: Uuid, token: Option<&str>) -> Result<(), EngineError> {
        let token = token.ok_or(EngineError::Token(crate::tokens::TokenError::Missing))?;
        self.inner
            .shared
            .tokens
            .verify(token, id, &[Scope::Control], chrono::Utc::now().timestamp())
            .map(|_| ())
            .map_err(EngineError::Token)
    }

    /// Says why the coming [`Engine::shutdown`] happens; the jobs it cancels record it.
    pub fn set_stop_reason(&self, reason: impl Into<String>) {
        if let Ok(mut r) = self.inner.shared.stop_reason.lock() {
            *r = Some(reason.into());
        }
    }

    /// Stops every job and child process, bounded by `timeout`, and flushes the database.
    pub async fn shutdown(&self, timeout: Duration) {
        // Live streams end first: their recordings are finished and recorded as jobs.
        self.inner.ingest.shutdown().await;
        self.inner.stopped.cancel();
        let _ = tokio::time::timeout(timeout, self.call(|reply| Cmd::Shutdown { reply })).await;
        let handle = self.inner.actor_done.lock().ok().and_then(|mut g| g.take());
        if let Some(h) = handle {
            let _ = tokio::time::timeout(timeout, h).await;
        }
        // The state directory is free for the next engine (a restart on another port).
        if let Some(f) = self.inner.state_lock.lock().ok().and_then(|mut l| l.take()) {
            let _ = f.unlock();
        }
    }
}

/// Two servers on one state directory would write over each other's history: the second
/// one stops at start with a clear error instead.
fn lock_state_dir(state: &std::path::Path) -> anyhow_free::Result<std::fs::File> {
    let path = state.join("ghoststream.lock");
    let fail = |e: &dyn std::fmt::Display| {
        anyhow_free::Error(format!("cannot lock {}: {e}", path.display()))
    };
    std::fs::create_dir_all(state).map_err(|e| fail(&e))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| fail(&e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(anyhow_free::Error(format!(
            "another GhostStream server is using the state directory {}; stop it, or give this one its own --state-dir",
            state.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(fail(&e)),
    }
}

/// A tiny error type so the library stays free of `anyhow`.
pub mod anyhow_free {
    #[derive(Debug)]
    pub struct Error(pub String);
    impl std::fmt::Display for Error {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl std::error::Error for Error {}
    pub type Result<T> = std::result::Result<T, Error>;
}

fn shared_logs_dir(config: &Config) -> std::path::PathBuf {
    config.state_dir().join("logs").join("jobs")
}

/// Deletes job log files with no line for `keep_days`.
fn sweep_logs(dir: &std::path::Path, keep_days: u32) {
    let keep = Duration::from_secs(u64::from(keep_days.max(1)) * 86_400);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > keep);
        if old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
