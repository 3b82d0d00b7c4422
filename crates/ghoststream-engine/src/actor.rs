//! The engine's single owner of job state. Commands arrive on a channel, ffmpeg runs report
//! back on another; nothing else touches jobs.

use crate::engine::{Inner, Snapshot, StreamFile};
use crate::error::EngineError;
use crate::job::{JobRecord, JobSpec};
use crate::runner::{self, JobLog, RunEvent, RunOutcome, RunRequest};
use crate::segments::{self, SegmentMap, SubtitleEntry};
use crate::store::{Loaded, Store, Totals};
use crate::tokens::Scope;
use chrono::Utc;
use ghoststream_media::command::{self, segment_list_path, segment_name, HlsRun};
use ghoststream_media::plan::{Plan, VideoAction};
use ghoststream_types::{
    CleanupRun, CleanupStats, HwKind, JobEvent, JobStatus, LeaveResponse, MediaInfo, Mode,
    ProgressData, SharedStream, SharedStreams, Stage, StartRequest, Stats, StatusData, Variant,
    VideoCodec,
};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

pub(crate) struct Prepared {
    pub media: MediaInfo,
    pub plan: Plan,
    pub map: Option<SegmentMap>,
    pub hw: HwKind,
}

type Reply<T> = oneshot::Sender<T>;

pub(crate) enum Cmd {
    Submit {
        spec: Box<JobSpec>,
        request: Box<StartRequest>,
        prepared: Result<Box<Prepared>, String>,
        client: Option<String>,
        reply: Reply<Result<Snapshot, EngineError>>,
    },
    Join {
        key: String,
        session: Option<String>,
        reply: Reply<Option<Snapshot>>,
    },
    Get {
        id: Uuid,
        reply: Reply<Option<Snapshot>>,
    },
    List {
        reply: Reply<Vec<Snapshot>>,
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
        reply: Reply<oneshot::Receiver<Result<StreamFile, EngineError>>>,
    },
    StreamRevoked {
        id: Uuid,
        reply: Reply<bool>,
    },
    Download {
        id: Uuid,
        reply: Reply<Result<(PathBuf, String), EngineError>>,
    },
    Log {
        id: Uuid,
        reply: Reply<Result<String, EngineError>>,
    },
    Shutdown {
        reply: Reply<()>,
    },
}

type Waiter = oneshot::Sender<Result<StreamFile, EngineError>>;

struct ActiveRun {
    id: u64,
    first: u32,
    /// Next segment this run is expected to write.
    head: u32,
    cancel: CancellationToken,
    /// Output time where this run's timeline starts (stream) or 0 (batch).
    offset: f64,
}

struct Hls {
    map: SegmentMap,
    variants: usize,
    done: Vec<Vec<bool>>,
    waiters: Vec<(usize, u32, Waiter)>,
    subs: Vec<SubtitleEntry>,
    subs_ready: Vec<bool>,
    sub_waiters: Vec<(usize, Waiter)>,
    codecs: String,
}

impl Hls {
    fn first_missing_from(&self, from: u32) -> Option<u32> {
        (from as usize..self.map.len())
            .find(|i| !self.done[0][*i])
            .map(|i| i as u32)
    }
    fn next_done_after(&self, from: u32) -> u32 {
        ((from as usize + 1)..self.map.len())
            .find(|i| self.done[0][*i])
            .unwrap_or(self.map.len()) as u32
    }
    fn done_secs(&self) -> f64 {
        (0..self.map.len())
            .filter(|i| self.done[0][*i])
            .map(|i| self.map.duration(i))
            .sum()
    }
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
}

impl Job {
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
        }
    }
}

enum Internal {
    Run(RunEvent),
    SubtitleDone { job: Uuid, index: usize },
    Retry { job: Uuid },
}

struct Actor {
    inner: Arc<Inner>,
    store: Store,
    jobs: HashMap<Uuid, Job>,
    queue: VecDeque<Uuid>,
    running: usize,
    totals: Totals,
    next_run: u64,
    tracker: TaskTracker,
    run_tx: mpsc::Sender<RunEvent>,
    internal_tx: mpsc::Sender<Internal>,
}

pub(crate) async fn spawn(
    inner: Arc<Inner>,
    mut rx: mpsc::Receiver<Cmd>,
    store: Store,
    loaded: Loaded,
) -> tokio::task::JoinHandle<()> {
    let (run_tx, mut run_rx) = mpsc::channel::<RunEvent>(4096);
    let (internal_tx, mut internal_rx) = mpsc::channel::<Internal>(1024);
    let mut actor = Actor {
        inner,
        store,
        jobs: HashMap::new(),
        queue: VecDeque::new(),
        running: 0,
        totals: loaded.totals.clone(),
        next_run: 1,
        tracker: TaskTracker::new(),
        run_tx,
        internal_tx,
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
            }
        }
    })
}

fn variants_of(plan: &Plan, media: &MediaInfo) -> Vec<Variant> {
    match &plan.video {
        VideoAction::Encode { renditions, .. } => renditions
            .iter()
            .enumerate()
            .map(|(i, r)| Variant {
                name: r.name.clone(),
                width: r.width,
                height: r.height,
                resolution: format!("{}x{}", r.width, r.height),
                bitrate_kbps: r.bitrate_kbps,
                playlist: format!("v{i}.m3u8"),
            })
            .collect(),
        _ => {
            let (w, h) = media
                .video
                .as_ref()
                .map(|v| (v.width, v.height))
                .unwrap_or((0, 0));
            vec![Variant {
                name: if h > 0 {
                    format!("{h}p")
                } else {
                    "audio".into()
                },
                width: w,
                height: h,
                resolution: format!("{w}x{h}"),
                bitrate_kbps: media.bitrate_kbps.unwrap_or(2000),
                playlist: "v0.m3u8".into(),
            }]
        }
    }
}

fn codecs_of(plan: &Plan, media: &MediaInfo) -> String {
    let video = match &plan.video {
        VideoAction::Encode {
            codec: VideoCodec::H265,
            ..
        } => Some("hvc1.1.6.L120.90"),
        VideoAction::Encode { .. } => Some("avc1.640028"),
        VideoAction::Copy => Some(match media.video.as_ref().map(|v| v.codec.as_str()) {
            Some("hevc") => "hvc1.1.6.L120.90",
            _ => "avc1.640028",
        }),
        VideoAction::None => None,
    };
    segments::codecs_attr(video, plan.audio_index.is_some())
}

fn is_transient(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    [
        "unreachable",
        "timed out",
        "connection reset",
        "i/o error",
        "end of file",
        "broken pipe",
        "http 5",
    ]
    .iter()
    .any(|k| m.contains(k))
}

impl Actor {
    fn persist(&self, id: Uuid) -> impl std::future::Future<Output = ()> + 'static {
        let rec = self.jobs.get(&id).map(|j| j.rec.clone());
        let store = self.store.clone();
        async move {
            if let Some(rec) = rec {
                store.upsert(rec).await;
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
                    error_message: j.rec.error_message.clone(),
                },
            });
        }
    }

    /// What a previous process left: running jobs become errors, their outputs go;
    /// finished batch outputs stay until their retention ends; unknown dirs are removed.
    async fn reconcile(&mut self, loaded: Loaded) {
        for mut rec in loaded.jobs {
            let mut changed = false;
            if !rec.status.is_terminal() {
                rec.status = JobStatus::Error;
                rec.error_message = Some("interrupted by restart".into());
                rec.completed_at = Some(Utc::now());
                self.totals.failed += 1;
                changed = true;
            }
            if rec.mode.is_hls() && !rec.files_removed {
                let _ = tokio::fs::remove_dir_all(&rec.dir).await;
                rec.files_removed = true;
                changed = true;
            }
            if changed {
                self.store.upsert(rec.clone()).await;
            }
            let id = rec.id;
            self.jobs.insert(
                id,
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
                    log: JobLog::default(),
                },
            );
        }
        self.store.totals(self.totals.clone()).await;
        self.remove_orphans().await;
    }

    async fn remove_orphans(&self) -> u32 {
        let work = self.inner.config.work_dir();
        let mut n = 0;
        let Ok(mut rd) = tokio::fs::read_dir(&work).await else {
            return 0;
        };
        while let Ok(Some(entry)) = rd.next_entry().await {
            let name = entry.file_name().to_string_lossy().into_owned();
            let known = Uuid::parse_str(&name)
                .ok()
                .and_then(|id| self.jobs.get(&id))
                .is_some_and(|j| !j.rec.files_removed);
            if !known {
                let p = entry.path();
                let r = if p.is_dir() {
                    tokio::fs::remove_dir_all(&p).await
                } else {
                    tokio::fs::remove_file(&p).await
                };
                if r.is_ok() {
                    n += 1;
                }
            }
        }
        n
    }

    async fn handle(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Submit {
                spec,
                request,
                prepared,
                client,
                reply,
            } => {
                let r = self.submit(*spec, *request, prepared, client).await;
                let _ = reply.send(r);
            }
            Cmd::Join {
                key,
                session,
                reply,
            } => {
                let _ = reply.send(self.join(&key, session).await);
            }
            Cmd::Get { id, reply } => {
                let _ = reply.send(self.jobs.get(&id).map(Job::snapshot));
            }
            Cmd::List { reply } => {
                let mut v: Vec<Snapshot> = self.jobs.values().map(Job::snapshot).collect();
                v.sort_by_key(|s| std::cmp::Reverse(s.record.created_at));
                let _ = reply.send(v);
            }
            Cmd::Cancel { id, session, reply } => {
                let r = self.cancel_or_leave(id, session).await;
                let _ = reply.send(r);
            }
            Cmd::Delete { id, reply } => {
                let _ = reply.send(self.delete(id).await);
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
            Cmd::CleanupStats { reply } => {
                let _ = reply.send(self.cleanup_stats().await);
            }
            Cmd::CleanupRun { reply } => {
                let r = self.cleanup(true).await;
                let _ = reply.send(r);
            }
            Cmd::StreamFile { id, name, reply } => {
                let (tx, rx) = oneshot::channel();
                self.stream_file(id, &name, tx).await;
                let _ = reply.send(rx);
            }
            Cmd::StreamRevoked { id, reply } => {
                let _ = reply.send(self.jobs.get(&id).is_none_or(|j| j.rec.stream_revoked));
            }
            Cmd::Download { id, reply } => {
                let _ = reply.send(self.download(id));
            }
            Cmd::Log { id, reply } => {
                let _ = reply.send(
                    self.jobs
                        .get(&id)
                        .map(|j| j.log.text())
                        .ok_or(EngineError::NotFound),
                );
            }
            Cmd::Shutdown { reply } => {
                let _ = reply.send(());
            }
        }
    }

    async fn submit(
        &mut self,
        spec: JobSpec,
        request: StartRequest,
        prepared: Result<Box<Prepared>, String>,
        _client: Option<String>,
    ) -> Result<Snapshot, EngineError> {
        if let Some(key) = spec.share_key() {
            if let Some(s) = self.join(&key, spec.session_id.clone()).await {
                return Ok(s);
            }
        }
        let queued = self.queue.len() as u32;
        let slots_free = self.running < self.inner.config.transcoding.max_concurrent_jobs as usize;
        if prepared.is_ok() && !slots_free && queued >= self.inner.config.transcoding.max_queue_size
        {
            return Err(EngineError::QueueFull(queued));
        }
        let id = Uuid::new_v4();
        let now = Utc::now();
        let ttl = self.inner.config.security.token_ttl_hours as i64 * 3600;
        let exp = now.timestamp() + ttl.max(3600);
        let dir = self.inner.config.work_dir().join(id.to_string());
        let mut rec = JobRecord {
            id,
            request,
            mode: spec.mode,
            source: spec.source_raw.clone(),
            status: JobStatus::Queued,
            progress: 0.0,
            current_time: None,
            duration: None,
            start_time: spec.start_time,
            hw_accel_used: None,
            error_message: None,
            created_at: now,
            started_at: None,
            completed_at: None,
            last_access: now,
            media_info: None,
            variants: None,
            dir,
            output_file: None,
            output_bytes: 0,
            speed: None,
            control_token: self.inner.tokens.mint(id, Scope::Control, exp),
            stream_token: self.inner.tokens.mint(id, Scope::Stream, exp),
            stream_revoked: false,
            files_removed: false,
        };
        let mut sessions = HashSet::new();
        let mut anon = 0;
        match &spec.session_id {
            Some(s) => {
                sessions.insert(s.clone());
            }
            None => anon = 1,
        }
        let log = JobLog::default();
        let (plan, hls, hw) = match prepared {
            Err(cause) => {
                rec.status = JobStatus::Error;
                rec.error_message = Some(cause.clone());
                rec.completed_at = Some(now);
                rec.files_removed = true;
                log.push(format!("probe failed: {cause}"));
                self.totals.failed += 1;
                self.store.totals(self.totals.clone()).await;
                (None, None, HwKind::Software)
            }
            Ok(p) => {
                let p = *p;
                rec.duration = Some((p.media.duration - spec.start_time).max(0.0));
                rec.variants = spec.mode.is_hls().then(|| variants_of(&p.plan, &p.media));
                let hls = p.map.map(|map| {
                    let variants = p.plan.variant_count();
                    Hls {
                        done: vec![vec![false; map.len()]; variants],
                        map,
                        variants,
                        waiters: Vec::new(),
                        subs: spec
                            .subtitles
                            .iter()
                            .map(|s| SubtitleEntry {
                                name: s.label.clone(),
                                language: s.language.clone(),
                                default: s.default,
                            })
                            .collect(),
                        subs_ready: vec![false; spec.subtitles.len()],
                        sub_waiters: Vec::new(),
                        codecs: codecs_of(&p.plan, &p.media),
                    }
                });
                rec.media_info = Some(p.media);
                (Some(p.plan), hls, p.hw)
            }
        };
        let failed = rec.status == JobStatus::Error;
        let job = Job {
            share_key: if failed { None } else { spec.share_key() },
            rec,
            spec: Some(spec),
            plan,
            hls,
            hw,
            sessions,
            anon,
            run: None,
            attempts: 0,
            eta: None,
            log,
        };
        self.jobs.insert(id, job);
        self.persist(id).await;
        self.emit_status(id);
        if !failed {
            self.queue.push_back(id);
            self.schedule().await;
        }
        Ok(self.jobs[&id].snapshot())
    }

    async fn join(&mut self, key: &str, session: Option<String>) -> Option<Snapshot> {
        let job = self.jobs.values_mut().find(|j| {
            j.share_key.as_deref() == Some(key)
                && !j.rec.files_removed
                && match j.rec.status {
                    JobStatus::Queued | JobStatus::Processing => true,
                    JobStatus::Ready => j.rec.progress >= 99.0,
                    _ => false,
                }
        })?;
        match session {
            Some(s) => {
                j_insert(job, s);
            }
            None => job.anon += 1,
        }
        job.rec.last_access = Utc::now();
        Some(job.snapshot())
    }

    /// Starts queued jobs while slots are free.
    async fn schedule(&mut self) {
        let max = self.inner.config.transcoding.max_concurrent_jobs as usize;
        while self.running < max {
            let Some(id) = self.queue.pop_front() else {
                break;
            };
            if !self
                .jobs
                .get(&id)
                .is_some_and(|j| j.rec.status == JobStatus::Queued)
            {
                continue;
            }
            self.running += 1;
            Box::pin(self.begin(id)).await;
        }
    }

    async fn begin(&mut self, id: Uuid) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        job.rec.status = JobStatus::Processing;
        job.rec.started_at = Some(Utc::now());
        job.rec.hw_accel_used = Some(job.hw);
        if let Err(e) = tokio::fs::create_dir_all(&job.rec.dir).await {
            let msg = format!("cannot create the job's work directory: {e}");
            self.finish(id, JobStatus::Error, Some(msg)).await;
            return;
        }
        if let Some(plan) = &job.plan {
            let ev = JobEvent::Analysis {
                job_id: id.to_string(),
                data: ghoststream_types::AnalysisData {
                    streams: plan.streams.clone(),
                },
            };
            let _ = self.inner.events.send(ev);
        }
        self.persist(id).await;
        self.emit_status(id);
        self.start_subtitles(id);
        match self.jobs[&id].rec.mode {
            Mode::Batch => self.start_batch(id),
            _ => self.start_hls_run(id, 0),
        }
    }

    fn start_subtitles(&self, id: Uuid) {
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        let Some(spec) = &job.spec else { return };
        if !job.rec.mode.is_hls() {
            return;
        }
        let t = &self.inner.config.transcoding;
        for (i, sub) in spec.subtitles.iter().enumerate() {
            let final_path = job.rec.dir.join(format!("sub{i}.vtt"));
            let part = job.rec.dir.join(format!("sub{i}.vtt.part"));
            let argv = command::subtitle_to_vtt(&sub.source, &part, 15);
            let offset = spec.start_time;
            let ffmpeg = t.ffmpeg_path.clone();
            let log = job.log.clone();
            let tx = self.internal_tx.clone();
            self.tracker.spawn(async move {
                log.push(format!(
                    "$ {}",
                    argv.to_cmd_string(&ffmpeg.to_string_lossy())
                ));
                let r = ghoststream_media::process::run_bounded(
                    ffmpeg.as_os_str(),
                    argv.args(),
                    Duration::from_secs(60),
                    "ffmpeg",
                )
                .await;
                let body = match r {
                    Ok(o) if o.success => tokio::fs::read_to_string(&part).await.ok(),
                    Ok(o) => {
                        for l in o.stderr.lines() {
                            log.push(l);
                        }
                        None
                    }
                    Err(e) => {
                        log.push(format!("subtitle {i}: {e}"));
                        None
                    }
                };
                let text = match body {
                    Some(b) => ghoststream_media::subtitles::prepare_vtt(&b, offset),
                    None => {
                        log.push(format!(
                            "subtitle {i} could not be read; serving an empty track"
                        ));
                        "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n\n".to_string()
                    }
                };
                let _ = tokio::fs::write(&final_path, text).await;
                let _ = tokio::fs::remove_file(&part).await;
                let _ = tx.send(Internal::SubtitleDone { job: id, index: i }).await;
            });
        }
    }

    fn new_run(&mut self) -> u64 {
        let r = self.next_run;
        self.next_run += 1;
        r
    }

    fn start_hls_run(&mut self, id: Uuid, from: u32) {
        let run_id = self.new_run();
        let cfg = self.inner.config.clone();
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let (Some(hls), Some(plan), Some(spec)) = (&job.hls, &job.plan, &job.spec) else {
            return;
        };
        let Some(first) = hls.first_missing_from(from) else {
            return;
        };
        let end = hls.next_done_after(first);
        let map = &hls.map;
        let cut_margin = if plan.copies_video() { 0.001 } else { 0.0 };
        let cut_times: Vec<f64> = ((first + 1)..end)
            .map(|i| map.start(i as usize) - cut_margin)
            .collect();
        let offset = map.start(first as usize);
        let duration = ((end as usize) < map.len()).then(|| map.start(end as usize) - offset);
        let argv = command::hls_run(&HlsRun {
            source: &spec.source,
            plan,
            hw: job.hw,
            seek_secs: if plan.copies_video() {
                0.0
            } else {
                spec.start_time + offset
            },
            out_offset_secs: if plan.copies_video() { 0.0 } else { offset },
            duration_secs: if plan.copies_video() { None } else { duration },
            cut_times,
            first_segment: first,
            segment_duration_secs: cfg.transcoding.segment_duration,
            out_dir: &job.rec.dir,
            run_id,
            rw_timeout_secs: 15,
        });
        let lists = (0..hls.variants)
            .map(|v| segment_list_path(&job.rec.dir, v, run_id))
            .collect();
        let cancel = CancellationToken::new();
        job.run = Some(ActiveRun {
            id: run_id,
            first,
            head: first,
            cancel: cancel.clone(),
            offset,
        });
        runner::spawn(
            RunRequest {
                job: id,
                run: run_id,
                program: cfg.transcoding.ffmpeg_path.clone(),
                argv,
                lists,
                stall: Duration::from_secs(cfg.transcoding.stall_timeout.max(1)),
                grace: Duration::from_secs(2),
                log: job.log.clone(),
                cancel,
            },
            self.run_tx.clone(),
            &self.tracker,
        );
    }

    fn start_batch(&mut self, id: Uuid) {
        let run_id = self.new_run();
        let cfg = self.inner.config.clone();
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let (Some(plan), Some(spec)) = (&job.plan, &job.spec) else {
            return;
        };
        let part = job.rec.dir.join("output.part");
        let argv = command::batch(
            &spec.source,
            plan,
            job.hw,
            spec.start_time,
            spec.format,
            &part,
            15,
        );
        let cancel = CancellationToken::new();
        job.run = Some(ActiveRun {
            id: run_id,
            first: 0,
            head: 0,
            cancel: cancel.clone(),
            offset: 0.0,
        });
        runner::spawn(
            RunRequest {
                job: id,
                run: run_id,
                program: cfg.transcoding.ffmpeg_path.clone(),
                argv,
                lists: Vec::new(),
                stall: Duration::from_secs(cfg.transcoding.stall_timeout.max(1)),
                grace: Duration::from_secs(2),
                log: job.log.clone(),
                cancel,
            },
            self.run_tx.clone(),
            &self.tracker,
        );
    }

    async fn internal(&mut self, ev: Internal) {
        match ev {
            Internal::Run(RunEvent::Progress { job, run, block }) => {
                self.on_progress(job, run, block)
            }
            Internal::Run(RunEvent::Segment {
                job,
                run,
                variant,
                index,
            }) => self.on_segment(job, run, variant, index),
            Internal::Run(RunEvent::Exited { job, run, outcome }) => {
                self.on_exit(job, run, outcome).await
            }
            Internal::SubtitleDone { job, index } => {
                if let Some(h) = self.jobs.get_mut(&job).and_then(|j| j.hls.as_mut()) {
                    if let Some(r) = h.subs_ready.get_mut(index) {
                        *r = true;
                    }
                    let dir = self.jobs[&job].rec.dir.clone();
                    let Some(h) = self.jobs.get_mut(&job).and_then(|j| j.hls.as_mut()) else {
                        return;
                    };
                    let waiters = std::mem::take(&mut h.sub_waiters);
                    for (i, w) in waiters {
                        if i == index {
                            let _ = w.send(Ok(StreamFile::File(dir.join(format!("sub{i}.vtt")))));
                        } else {
                            h.sub_waiters.push((i, w));
                        }
                    }
                }
            }
            Internal::Retry { job } => {
                let Some(j) = self.jobs.get(&job) else { return };
                if j.rec.status != JobStatus::Processing || j.run.is_some() {
                    return;
                }
                match j.rec.mode {
                    Mode::Batch => self.start_batch(job),
                    _ => self.start_hls_run(job, 0),
                }
            }
        }
    }

    fn on_progress(
        &mut self,
        id: Uuid,
        run: u64,
        block: ghoststream_media::progress::ProgressBlock,
    ) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let Some(active) = &job.run else { return };
        if active.id != run || job.rec.status != JobStatus::Processing {
            return;
        }
        let total = job.rec.duration.unwrap_or(0.0);
        let position = active.offset + block.out_time_secs;
        let (progress, remaining) = match &job.hls {
            Some(h) => {
                let partial = (position - h.map.start(active.head as usize))
                    .clamp(0.0, h.map.duration(active.head as usize));
                let done = (h.done_secs() + partial).min(total);
                (
                    if total > 0.0 {
                        100.0 * done / total
                    } else {
                        0.0
                    },
                    (total - done).max(0.0),
                )
            }
            None => {
                let done = block.out_time_secs.min(total);
                (
                    if total > 0.0 {
                        100.0 * done / total
                    } else {
                        0.0
                    },
                    (total - done).max(0.0),
                )
            }
        };
        let speed = block.speed.unwrap_or(0.0);
        job.eta = (speed > 0.0).then(|| (remaining / speed).round() as u64);
        job.rec.progress = progress.clamp(0.0, 99.9);
        job.rec.current_time = Some(position.min(total));
        if speed > 0.0 {
            job.rec.speed = Some(speed);
        }
        let stage = match (&job.plan, job.rec.mode) {
            (Some(p), _) if p.copies_video() => Stage::Remuxing,
            _ => Stage::Transcoding,
        };
        let ev = JobEvent::Progress {
            job_id: id.to_string(),
            data: ProgressData {
                progress: (job.rec.progress * 10.0).round() / 10.0,
                frame: block.frame,
                fps: block.fps,
                time: (position * 1000.0).round() / 1000.0,
                speed,
                eta_seconds: job.eta,
                stage: if block.end { Stage::Finalizing } else { stage },
                size: block.total_size_bytes,
                bitrate: block.bitrate_kbps,
            },
        };
        let _ = self.inner.events.send(ev);
    }

    fn on_segment(&mut self, id: Uuid, run: u64, variant: usize, index: u32) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let dir = job.rec.dir.clone();
        if let Some(active) = job.run.as_mut() {
            if active.id == run && variant == 0 {
                active.head = active.head.max(index + 1);
            }
        }
        let Some(h) = job.hls.as_mut() else { return };
        if let Some(slot) = h
            .done
            .get_mut(variant)
            .and_then(|v| v.get_mut(index as usize))
        {
            *slot = true;
        }
        let waiters = std::mem::take(&mut h.waiters);
        for (v, n, w) in waiters {
            if v == variant && n == index {
                let _ = w.send(Ok(StreamFile::File(dir.join(segment_name(v, n)))));
            } else if !w.is_closed() {
                h.waiters.push((v, n, w));
            }
        }
    }

    async fn on_exit(&mut self, id: Uuid, run: u64, outcome: RunOutcome) {
        let cfg = self.inner.config.clone();
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        if job.run.as_ref().map(|r| r.id) != Some(run) {
            return;
        }
        let active = job.run.take();
        if job.rec.status != JobStatus::Processing {
            return;
        }
        match outcome {
            RunOutcome::Cancelled => {}
            RunOutcome::Finished => {
                if job.rec.mode == Mode::Batch {
                    self.batch_done(id).await;
                    return;
                }
                let Some(h) = &job.hls else { return };
                let first = active.as_ref().map(|a| a.first).unwrap_or(0);
                match h.first_missing_from(0) {
                    None => self.finish(id, JobStatus::Ready, None).await,
                    Some(n) if n == first && !h.done[0][first as usize] => {
                        // The run ended cleanly without writing its first segment: the
                        // source is shorter than probed. Everything before it is complete.
                        let tail_short = h.map.len() as u32 - n <= 1;
                        if tail_short && n > 0 {
                            let len = h.map.len();
                            if let Some(h) = self.jobs.get_mut(&id).and_then(|j| j.hls.as_mut()) {
                                for v in h.done.iter_mut() {
                                    v[len - 1] = true;
                                }
                            }
                            self.finish(id, JobStatus::Ready, None).await;
                        } else {
                            let msg = format!("ffmpeg finished without writing segment {n}");
                            self.finish(id, JobStatus::Error, Some(msg)).await;
                        }
                    }
                    Some(n) => self.start_hls_run(id, n),
                }
            }
            RunOutcome::Failed(_) | RunOutcome::Stalled => {
                let msg = match &outcome {
                    RunOutcome::Failed(m) => m.clone(),
                    _ => format!(
                        "ffmpeg stalled: no progress for {} s",
                        cfg.transcoding.stall_timeout
                    ),
                };
                job.attempts += 1;
                let hw_failed = job.hw != HwKind::Software;
                if hw_failed && cfg.hardware.fallback_to_software {
                    job.log.push(format!(
                        "{} encoder failed ({msg}); continuing in software within the same job",
                        job.hw.as_str()
                    ));
                    tracing::warn!(job = %id, hw = job.hw.as_str(), error = %msg, "hardware encode failed, falling back to software");
                    job.hw = HwKind::Software;
                    job.rec.hw_accel_used = Some(HwKind::Software);
                    self.persist(id).await;
                    let _ = self.internal_tx.send(Internal::Retry { job: id }).await;
                } else if job.attempts <= cfg.transcoding.retry_count
                    && (matches!(outcome, RunOutcome::Stalled) || is_transient(&msg))
                {
                    let delay = Duration::from_secs(1u64 << job.attempts.min(5));
                    job.log.push(format!(
                        "attempt {} failed ({msg}); retrying in {} s",
                        job.attempts,
                        delay.as_secs()
                    ));
                    let tx = self.internal_tx.clone();
                    self.tracker.spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = tx.send(Internal::Retry { job: id }).await;
                    });
                } else {
                    self.finish(id, JobStatus::Error, Some(msg)).await;
                }
            }
        }
    }

    async fn batch_done(&mut self, id: Uuid) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let ext = match job.spec.as_ref().map(|s| s.format) {
            Some(ghoststream_types::Format::Webm) => "webm",
            Some(ghoststream_types::Format::Mkv) => "mkv",
            _ => "mp4",
        };
        let name = format!("output.{ext}");
        let part = job.rec.dir.join("output.part");
        let dest = job.rec.dir.join(&name);
        match tokio::fs::rename(&part, &dest).await {
            Ok(()) => {
                job.rec.output_bytes = tokio::fs::metadata(&dest)
                    .await
                    .map(|m| m.len())
                    .unwrap_or(0);
                job.rec.output_file = Some(name);
                self.finish(id, JobStatus::Ready, None).await;
            }
            Err(e) => {
                let msg = format!("could not finalise the output: {e}");
                self.finish(id, JobStatus::Error, Some(msg)).await;
            }
        }
    }

    /// Moves a job to a terminal state: counters, events, callback, freeing its slot.
    async fn finish(&mut self, id: Uuid, status: JobStatus, error: Option<String>) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let was_running = job.rec.status == JobStatus::Processing;
        let was_queued = job.rec.status == JobStatus::Queued;
        if let Some(r) = job.run.take() {
            r.cancel.cancel();
        }
        job.rec.status = status;
        job.rec.completed_at = Some(Utc::now());
        job.rec.error_message = error.clone();
        job.eta = None;
        if status == JobStatus::Ready {
            job.rec.progress = 100.0;
            job.rec.current_time = job.rec.duration;
        }
        if let Some(e) = &error {
            job.log.push(format!("job failed: {e}"));
        }
        if status != JobStatus::Ready {
            job.rec.stream_revoked = status == JobStatus::Cancelled;
        }
        let end_msg = match status {
            JobStatus::Cancelled => "the job was cancelled".to_string(),
            _ => error.clone().unwrap_or_else(|| "the job failed".into()),
        };
        if let Some(h) = job.hls.as_mut() {
            for (_, _, w) in h.waiters.drain(..) {
                let _ = w.send(Err(EngineError::JobEnded(end_msg.clone())));
            }
            for (_, w) in h.sub_waiters.drain(..) {
                let _ = w.send(Err(EngineError::JobEnded(end_msg.clone())));
            }
        }
        // Partial outputs of failed or cancelled jobs are removed at once.
        if status != JobStatus::Ready {
            job.rec.files_removed = true;
            let dir = job.rec.dir.clone();
            self.tracker.spawn(async move {
                // Give a cancelled run a moment to close its files first.
                tokio::time::sleep(Duration::from_millis(2500)).await;
                let _ = tokio::fs::remove_dir_all(dir).await;
            });
        }
        match status {
            JobStatus::Ready => {
                self.totals.successful += 1;
                self.totals.bytes += job.rec.output_bytes.max(dir_size(&job.rec.dir).await);
                if let Some(s) = job.rec.speed {
                    self.totals.speed_sum += s;
                    self.totals.speed_count += 1;
                }
            }
            JobStatus::Error => self.totals.failed += 1,
            JobStatus::Cancelled => self.totals.cancelled += 1,
            _ => {}
        }
        if was_running {
            if let Some(hw) = job.rec.hw_accel_used {
                *self
                    .totals
                    .hw_usage
                    .entry(hw.as_str().to_string())
                    .or_insert(0) += 1;
            }
        }
        let callback = job.spec.as_ref().and_then(|s| s.callback_url.clone());
        let snapshot = job.snapshot();
        if was_queued {
            self.queue.retain(|q| *q != id);
        }
        self.store.totals(self.totals.clone()).await;
        self.persist(id).await;
        self.emit_status(id);
        if let Some(url) = callback.filter(|_| status != JobStatus::Cancelled) {
            let base = self
                .inner
                .public_base
                .read()
                .map(|b| b.clone())
                .unwrap_or_default();
            let body = snapshot.to_response(&base);
            let log = self.jobs[&id].log.clone();
            self.tracker.spawn(async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build();
                let r = match client {
                    Ok(c) => c
                        .post(&url)
                        .json(&body)
                        .send()
                        .await
                        .map(|r| r.status().as_u16()),
                    Err(e) => Err(e),
                };
                match r {
                    Ok(code) => log.push(format!("callback {url} answered {code}")),
                    Err(e) => log.push(format!("callback {url} failed: {e}")),
                }
            });
        }
        if was_running {
            self.running = self.running.saturating_sub(1);
            self.schedule().await;
        }
    }

    async fn cancel_or_leave(
        &mut self,
        id: Uuid,
        session: Option<String>,
    ) -> Result<(), EngineError> {
        let job = self.jobs.get(&id).ok_or(EngineError::NotFound)?;
        if job.rec.status.is_terminal() {
            return Err(EngineError::NotCancellable(job.rec.status.as_str()));
        }
        if job.viewers() > 1 {
            self.leave(id, session).await?;
            return Ok(());
        }
        self.finish(id, JobStatus::Cancelled, None).await;
        Ok(())
    }

    async fn leave(
        &mut self,
        id: Uuid,
        session: Option<String>,
    ) -> Result<LeaveResponse, EngineError> {
        let job = self.jobs.get_mut(&id).ok_or(EngineError::NotFound)?;
        let removed = session.as_ref().is_some_and(|s| job.sessions.remove(s));
        if !removed && job.anon > 0 {
            job.anon -= 1;
        } else if !removed && session.is_none() && !job.sessions.is_empty() {
            // A leave without a session from a client that joined with one.
            if let Some(s) = job.sessions.iter().next().cloned() {
                job.sessions.remove(&s);
            }
        }
        let remaining = job.viewers();
        if remaining == 0 && !job.rec.status.is_terminal() {
            self.finish(id, JobStatus::Cancelled, None).await;
        }
        Ok(LeaveResponse {
            job_id: id.to_string(),
            viewers_remaining: remaining,
            is_shared: remaining > 1,
        })
    }

    async fn delete(&mut self, id: Uuid) -> Result<(), EngineError> {
        let job = self.jobs.get(&id).ok_or(EngineError::NotFound)?;
        if !job.rec.status.is_terminal() {
            self.finish(id, JobStatus::Cancelled, None).await;
        }
        if let Some(job) = self.jobs.remove(&id) {
            if let Some(r) = &job.run {
                r.cancel.cancel();
            }
            let dir = job.rec.dir.clone();
            self.tracker.spawn(async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let _ = tokio::fs::remove_dir_all(dir).await;
            });
        }
        self.store.delete(id.to_string()).await;
        Ok(())
    }

    fn shared(&self) -> SharedStreams {
        let mut streams = BTreeMap::new();
        let mut total = 0;
        let mut sessions = 0;
        for (id, j) in &self.jobs {
            if j.share_key.is_none()
                || j.rec.status.is_terminal() && j.rec.status != JobStatus::Ready
            {
                continue;
            }
            if j.rec.files_removed {
                continue;
            }
            total += j.viewers();
            sessions += j.sessions.len() as u32;
            if j.viewers() > 1 {
                streams.insert(
                    id.to_string(),
                    SharedStream {
                        source: j.rec.source.clone(),
                        viewers: j.viewers(),
                        status: j.rec.status,
                        progress: j.rec.progress,
                    },
                );
            }
        }
        SharedStreams {
            active_shared_streams: streams.len() as u32,
            total_viewers: total,
            viewer_sessions: sessions,
            streams,
        }
    }

    fn stats(&self) -> Stats {
        let t = &self.totals;
        Stats {
            total_jobs_processed: t.successful + t.failed + t.cancelled,
            successful_jobs: t.successful,
            failed_jobs: t.failed,
            cancelled_jobs: t.cancelled,
            current_queue_length: self.queue.len() as u32,
            active_jobs: self.running as u32,
            average_transcode_speed: if t.speed_count > 0 {
                ((t.speed_sum / t.speed_count as f64) * 100.0).round() / 100.0
            } else {
                0.0
            },
            total_bytes_processed: t.bytes,
            uptime_seconds: self.inner.started.elapsed().as_secs_f64(),
            hw_accel_usage: t.hw_usage.clone(),
        }
    }

    async fn cleanup_stats(&self) -> CleanupStats {
        let cfg = &self.inner.config.transcoding;
        let now = Utc::now();
        let mut s = CleanupStats {
            total_jobs: self.jobs.len() as u32,
            active_jobs: 0,
            ready_jobs: 0,
            finished_jobs: 0,
            nearly_stale: 0,
            temp_dir: cfg_work(&self.inner),
            disk_bytes: dir_size(&self.inner.config.work_dir()).await,
            stream_retention_minutes: cfg.stream_retention_minutes,
            batch_retention_hours: cfg.cleanup_after_hours,
        };
        for j in self.jobs.values() {
            match j.rec.status {
                JobStatus::Queued | JobStatus::Processing => s.active_jobs += 1,
                JobStatus::Ready => s.ready_jobs += 1,
                _ => s.finished_jobs += 1,
            }
            if let Some(ttl) = self.ttl_left(j, now) {
                if ttl < self.ttl_of(j) / 5 {
                    s.nearly_stale += 1;
                }
            }
        }
        s
    }

    fn ttl_of(&self, j: &Job) -> i64 {
        let cfg = &self.inner.config.transcoding;
        if j.rec.mode.is_hls() {
            cfg.stream_retention_minutes as i64 * 60
        } else {
            cfg.cleanup_after_hours as i64 * 3600
        }
    }

    /// Seconds until this job's outputs expire, `None` when nothing is kept.
    fn ttl_left(&self, j: &Job, now: chrono::DateTime<Utc>) -> Option<i64> {
        if j.rec.files_removed {
            return None;
        }
        let since = if j.rec.mode.is_hls() {
            j.rec.last_access
        } else {
            j.rec.completed_at?
        };
        if !j.rec.mode.is_hls() && j.rec.status != JobStatus::Ready {
            return None;
        }
        Some(self.ttl_of(j) - (now - since).num_seconds())
    }

    /// Retention: stream outputs an hour after last access (a running stream nobody reads
    /// is stopped), batch outputs after `cleanup_after_hours`, records after 7 days.
    async fn cleanup(&mut self, _manual: bool) -> CleanupRun {
        let now = Utc::now();
        let mut stale = Vec::new();
        for (id, j) in &self.jobs {
            if let Some(left) = self.ttl_left(j, now) {
                if left <= 0 {
                    stale.push(*id);
                }
            }
        }
        let mut cleaned = 0;
        for id in stale {
            if self
                .jobs
                .get(&id)
                .is_some_and(|j| !j.rec.status.is_terminal())
            {
                if let Some(j) = self.jobs.get(&id) {
                    j.log.push(
                        "no viewer read this stream within the retention window; stopping it",
                    );
                }
                self.finish(id, JobStatus::Cancelled, None).await;
            }
            if let Some(j) = self.jobs.get_mut(&id) {
                let _ = tokio::fs::remove_dir_all(&j.rec.dir).await;
                j.rec.files_removed = true;
                cleaned += 1;
            }
            self.persist(id).await;
        }
        let old: Vec<Uuid> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.rec.status.is_terminal() && j.rec.files_removed)
            .filter(|(_, j)| {
                j.rec
                    .completed_at
                    .is_some_and(|c| (now - c).num_days() >= 7)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in old {
            self.jobs.remove(&id);
            self.store.delete(id.to_string()).await;
        }
        let orphans = self.remove_orphans().await;
        CleanupRun {
            stale_jobs_cleaned: cleaned,
            orphaned_dirs_cleaned: orphans,
        }
    }

    async fn stream_file(&mut self, id: Uuid, name: &str, reply: Waiter) {
        let ahead = self.inner.config.transcoding.restart_ahead_segments;
        let Some(job) = self.jobs.get_mut(&id) else {
            let _ = reply.send(Err(EngineError::NotFound));
            return;
        };
        if !job.rec.mode.is_hls() {
            let _ = reply.send(Err(EngineError::FileNotFound));
            return;
        }
        if job.rec.files_removed
            && job.rec.status != JobStatus::Error
            && job.rec.status != JobStatus::Cancelled
        {
            let _ = reply.send(Err(EngineError::Expired));
            return;
        }
        job.rec.last_access = Utc::now();
        let status = job.rec.status;
        let ended = match status {
            JobStatus::Error => Some(
                job.rec
                    .error_message
                    .clone()
                    .unwrap_or_else(|| "the job failed".into()),
            ),
            JobStatus::Cancelled => Some("the job was cancelled".to_string()),
            _ => None,
        };
        let query = format!("?gst={}", job.rec.stream_token);
        let dir = job.rec.dir.clone();
        let Some(h) = job.hls.as_mut() else {
            let _ = reply.send(Err(ended
                .map(EngineError::JobEnded)
                .unwrap_or(EngineError::FileNotFound)));
            return;
        };
        let parsed = parse_stream_name(name);
        match parsed {
            Some(StreamName::Master) => {
                let variants = job.rec.variants.clone().unwrap_or_default();
                let _ = reply.send(Ok(StreamFile::Playlist(segments::master_playlist(
                    &variants, &h.codecs, &h.subs, &query,
                ))));
            }
            Some(StreamName::Variant(v)) if v < h.variants => {
                let _ = reply.send(Ok(StreamFile::Playlist(segments::variant_playlist(
                    &h.map, v, &query,
                ))));
            }
            Some(StreamName::SubPlaylist(i)) if i < h.subs.len() => {
                let _ = reply.send(Ok(StreamFile::Playlist(segments::subtitle_playlist(
                    h.map.total(),
                    i,
                    &query,
                ))));
            }
            Some(StreamName::SubFile(i)) if i < h.subs.len() => {
                if h.subs_ready[i] {
                    let _ = reply.send(Ok(StreamFile::File(dir.join(format!("sub{i}.vtt")))));
                } else if let Some(msg) = ended {
                    let _ = reply.send(Err(EngineError::JobEnded(msg)));
                } else {
                    h.sub_waiters.push((i, reply));
                }
            }
            Some(StreamName::Segment(v, n)) if v < h.variants && (n as usize) < h.map.len() => {
                if h.done[v][n as usize] {
                    let _ = reply.send(Ok(StreamFile::File(dir.join(segment_name(v, n)))));
                    return;
                }
                if let Some(msg) = ended {
                    let _ = reply.send(Err(EngineError::JobEnded(msg)));
                    return;
                }
                if status == JobStatus::Ready {
                    let _ = reply.send(Err(EngineError::FileNotFound));
                    return;
                }
                h.waiters.push((v, n, reply));
                let copy = job.plan.as_ref().is_some_and(Plan::copies_video);
                let restart = match &job.run {
                    Some(r) => !copy && (n < r.first || n > r.head + ahead),
                    None => false,
                };
                if restart {
                    if let Some(r) = job.run.take() {
                        job.log.push(format!(
                            "segment {n} requested far from the encoder (at {}); restarting there",
                            r.head
                        ));
                        r.cancel.cancel();
                    }
                    self.start_hls_run(id, n);
                }
            }
            _ => {
                let _ = reply.send(Err(EngineError::FileNotFound));
            }
        }
    }

    fn download(&mut self, id: Uuid) -> Result<(PathBuf, String), EngineError> {
        let job = self.jobs.get_mut(&id).ok_or(EngineError::NotFound)?;
        if job.rec.mode != Mode::Batch {
            return Err(EngineError::FileNotFound);
        }
        match job.rec.status {
            JobStatus::Ready => {}
            JobStatus::Error | JobStatus::Cancelled => {
                return Err(EngineError::JobEnded(
                    job.rec
                        .error_message
                        .clone()
                        .unwrap_or_else(|| job.rec.status.as_str().into()),
                ))
            }
            _ => return Err(EngineError::NotReady),
        }
        if job.rec.files_removed {
            return Err(EngineError::Expired);
        }
        job.rec.last_access = Utc::now();
        let name = job.rec.output_file.clone().ok_or(EngineError::NotReady)?;
        let stem = job
            .rec
            .source
            .rsplit('/')
            .next()
            .and_then(|f| f.split(['?', '#']).next())
            .and_then(|f| {
                f.rsplit_once('.')
                    .map(|(s, _)| s.to_string())
                    .or(Some(f.to_string()))
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "output".into());
        let ext = name.rsplit('.').next().unwrap_or("mp4");
        let safe: String = stem
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "-_. ".contains(*c))
            .take(100)
            .collect();
        Ok((
            job.rec.dir.join(&name),
            format!("{}.{ext}", if safe.is_empty() { "output" } else { &safe }),
        ))
    }

    async fn shutdown(&mut self) {
        let ids: Vec<Uuid> = self
            .jobs
            .iter()
            .filter(|(_, j)| !j.rec.status.is_terminal())
            .map(|(id, _)| *id)
            .collect();
        self.queue.clear();
        for id in ids {
            if let Some(j) = self.jobs.get_mut(&id) {
                if let Some(r) = j.run.take() {
                    r.cancel.cancel();
                }
                j.rec.status = JobStatus::Error;
                j.rec.error_message = Some("interrupted: the server stopped".into());
                j.rec.completed_at = Some(Utc::now());
                j.rec.files_removed = j.rec.mode.is_hls();
                self.totals.failed += 1;
            }
            self.persist(id).await;
            self.emit_status(id);
        }
        self.tracker.close();
        let grace = Duration::from_secs(self.inner.config.server.shutdown_timeout.max(1));
        let _ = tokio::time::timeout(grace, self.tracker.wait()).await;
        self.store.totals(self.totals.clone()).await;
        self.store.flush().await;
    }
}

fn j_insert(job: &mut Job, s: String) {
    job.sessions.insert(s);
}

fn cfg_work(inner: &Inner) -> String {
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

#[derive(Debug, PartialEq)]
enum StreamName {
    Master,
    Variant(usize),
    Segment(usize, u32),
    SubPlaylist(usize),
    SubFile(usize),
}

fn parse_stream_name(name: &str) -> Option<StreamName> {
    if name == "master.m3u8" || name == "playlist.m3u8" || name == "index.m3u8" {
        return Some(StreamName::Master);
    }
    if let Some(rest) = name.strip_prefix("sub") {
        if let Some(i) = rest.strip_suffix(".m3u8") {
            return i.parse().ok().map(StreamName::SubPlaylist);
        }
        if let Some(i) = rest.strip_suffix(".vtt") {
            return i.parse().ok().map(StreamName::SubFile);
        }
        return None;
    }
    let rest = name.strip_prefix('v')?;
    if let Some(v) = rest.strip_suffix(".m3u8") {
        return v.parse().ok().map(StreamName::Variant);
    }
    let stem = rest.strip_suffix(".ts")?;
    let (v, n) = stem.split_once('_')?;
    Some(StreamName::Segment(v.parse().ok()?, n.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names() {
        assert_eq!(parse_stream_name("master.m3u8"), Some(StreamName::Master));
        assert_eq!(parse_stream_name("v1.m3u8"), Some(StreamName::Variant(1)));
        assert_eq!(
            parse_stream_name("v0_00012.ts"),
            Some(StreamName::Segment(0, 12))
        );
        assert_eq!(parse_stream_name("sub2.vtt"), Some(StreamName::SubFile(2)));
        assert_eq!(
            parse_stream_name("sub0.m3u8"),
            Some(StreamName::SubPlaylist(0))
        );
        assert_eq!(parse_stream_name("v0_x.ts"), None);
        assert_eq!(parse_stream_name("output.part"), None);
        assert_eq!(parse_stream_name("v0_r1.csv"), None);
    }

    #[test]
    fn transient_errors() {
        assert!(is_transient("source unreachable: connection refused"));
        assert!(!is_transient("source returned HTTP 404 (404 Not Found)"));
    }
}
