//! The cloneable handle everything outside the engine uses.

use crate::actor::{self, Cmd, Prepared};
use crate::config::Config;
use crate::error::EngineError;
use crate::job::{field, validate, JobRecord, JobSpec};
use crate::live::Live;
use crate::segments::SegmentMap;
use crate::store::Store;
use crate::tokens::{Scope, TokenKey};
use ghoststream_media::hw::Hardware;
use ghoststream_media::plan::{decide, VideoAction};
use ghoststream_media::probe;
use ghoststream_media::source::Source;
use ghoststream_types::{
    CleanupRun, CleanupStats, FieldError, JobEvent, JobResponse, LeaveResponse, MediaInfo, Notice,
    ProbeRequest, ProbeResponse, SharedStreams, StartRequest, Stats,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A job as it stands, ready to be turned into an answer.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub record: JobRecord,
    pub eta_seconds: Option<u64>,
    pub viewers: u32,
}

impl Snapshot {
    /// The answer without URLs (the transport adds them).
    pub fn to_response(&self) -> JobResponse {
        self.record.to_response(self.eta_seconds, self.viewers)
    }

    /// What a list shows to anyone: see [`JobRecord::to_summary`].
    pub fn to_summary(&self) -> JobResponse {
        self.record.to_summary(self.eta_seconds, self.viewers)
    }
}

/// What a `/stream/{id}/{file}` request resolves to.
#[derive(Debug, Clone)]
pub enum StreamFile {
    /// A playlist generated on the spot.
    Playlist(String),
    /// A file on disk (segment, subtitle).
    File(PathBuf),
}

#[derive(Clone)]
struct CachedProbe {
    /// The source as ffmpeg reads it: after redirects, checked by the egress rules.
    source: Source,
    media: MediaInfo,
    keyframes: Option<Vec<f64>>,
    at: Instant,
}

/// Whether a probe must also produce the source's keyframe index.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyframeNeed {
    No,
    /// Only where the container indexes them (Matroska Cues), read alongside the probe.
    IfCheap,
    Yes,
}

const PROBE_CACHE_TTL: Duration = Duration::from_secs(600);
/// Sources probed at once, and at most half of them from one host.
const PROBE_SLOTS: usize = 4;

pub(crate) struct Inner {
    pub(crate) config: Arc<Config>,
    pub(crate) hardware: Arc<Hardware>,
    pub(crate) tokens: TokenKey,
    pub(crate) started: Instant,
    pub(crate) events: broadcast::Sender<JobEvent>,
    /// The whole answer a callback POSTs, URLs included: set by the transport.
    pub(crate) callback_answer: RwLock<Option<CallbackAnswer>>,
    tx: mpsc::Sender<Cmd>,
    probes: Mutex<HashMap<String, CachedProbe>>,
    pub(crate) egress: Arc<crate::egress::Egress>,
    /// Requests preparing (probing) at once: a burst of starts must not fork a burst of
    /// ffprobes. Held around `prepare`, never nested.
    probe_slots: tokio::sync::Semaphore,
    /// Probe slots per source host: one slow or endless host cannot hold them all.
    host_slots: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
    stopped: CancellationToken,
    paused: std::sync::atomic::AtomicBool,
    pub(crate) live: RwLock<Live>,
    pub(crate) notices: broadcast::Sender<Notice>,
    actor_done: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Held while the engine runs: one server per state directory.
    state_lock: Mutex<Option<std::fs::File>>,
}

impl Inner {
    /// What ffmpeg and ffprobe may open for a job's inputs.
    pub(crate) fn input_rules(&self) -> ghoststream_media::source::InputRules {
        ghoststream_media::source::InputRules {
            rw_timeout_secs: 15,
            proxy: self.egress.proxy_url(),
            playlists: self.config.security.allow_playlist_sources,
            max_pixels: Some(self.config.transcoding.max_source_pixels),
        }
    }
}

/// The engine handle. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// Makes the body of a job's completion callback.
pub type CallbackAnswer = Arc<dyn Fn(&Snapshot) -> JobResponse + Send + Sync>;

/// A handle that does not keep the engine alive: whether the engine still exists.
#[derive(Clone)]
pub struct WeakEngine(std::sync::Weak<Inner>);

impl WeakEngine {
    /// True while any [`Engine`] handle (or a task holding its state) is alive.
    pub fn is_alive(&self) -> bool {
        self.0.strong_count() > 0
    }
}

impl Engine {
    pub fn downgrade(&self) -> WeakEngine {
        WeakEngine(Arc::downgrade(&self.inner))
    }

    /// Opens the state database, reconciles what a previous run left behind, and starts
    /// the engine on the current runtime.
    pub async fn start(config: Config, hardware: Hardware) -> anyhow_free::Result<Engine> {
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
        let (tx, rx) = mpsc::channel(1024);
        let (events, _) = broadcast::channel(4096);
        let inner = Arc::new(Inner {
            callback_answer: RwLock::new(None),
            config: config.clone(),
            hardware: Arc::new(hardware),
            tokens: TokenKey::new(loaded.secret.clone()),
            started: Instant::now(),
            events,
            tx,
            probes: Mutex::new(HashMap::new()),
            state_lock: Mutex::new(Some(lock)),
            probe_slots: tokio::sync::Semaphore::new(PROBE_SLOTS),
            host_slots: Mutex::new(HashMap::new()),
            egress: Arc::new(crate::egress::Egress::new(
                crate::egress::parse_allowed(&config.security.allowed_targets)
                    .map_err(anyhow_free::Error)?,
            )),
            stopped: CancellationToken::new(),
            paused: std::sync::atomic::AtomicBool::new(false),
            live: RwLock::new(Live::from_config(&config)),
            notices: broadcast::channel(256).0,
            actor_done: Mutex::new(None),
        });
        let proxy = crate::egress::proxy::start(inner.egress.clone(), inner.stopped.clone())
            .await
            .map_err(|e| anyhow_free::Error(format!("cannot start the egress proxy: {e}")))?;
        inner.egress.set_proxy(proxy);
        let handle = actor::spawn(inner.clone(), rx, store, loaded).await;
        if let Ok(mut g) = inner.actor_done.lock() {
            *g = Some(handle);
        }
        Ok(Engine { inner })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn hardware(&self) -> &Hardware {
        &self.inner.hardware
    }

    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// The port the API listens on: sources and callbacks may not point back at it.
    pub fn set_listen_port(&self, port: u16) {
        self.inner.egress.set_own_port(port);
        if let Ok(mut cache) = self.inner.probes.lock() {
            cache.clear();
        }
    }

    /// How a callback's body is made from a job: the transport's answer, with its URLs.
    /// Until one is set, callbacks carry the answer without URLs.
    pub fn set_callback_answer(&self, answer: CallbackAnswer) {
        if let Ok(mut g) = self.inner.callback_answer.write() {
            *g = Some(answer);
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.inner.events.subscribe()
    }

    /// Things a person should hear about (desktop notifications).
    pub fn subscribe_notices(&self) -> broadcast::Receiver<Notice> {
        self.inner.notices.subscribe()
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
            .live
            .read()
            .map(|l| l.clone())
            .unwrap_or_else(|_| Live::from_config(&self.inner.config))
    }

    /// Applies new live settings; raising the concurrency starts queued jobs at once.
    pub async fn apply_live(&self, live: Live) -> Result<(), EngineError> {
        let allowed = crate::egress::parse_allowed(&live.allowed_targets).map_err(|e| {
            EngineError::Invalid(vec![field(&["allowed_targets"], e, "value_error")])
        })?;
        if self.live().allowed_targets != live.allowed_targets {
            self.inner.egress.set_allowed(allowed);
            // Cached sources were vetted under the old rule.
            if let Ok(mut cache) = self.inner.probes.lock() {
                cache.clear();
            }
        }
        if let Ok(mut g) = self.inner.live.write() {
            *g = live;
        }
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
        client: Option<String>,
    ) -> Result<Snapshot, EngineError> {
        if self.inner.stopped.is_cancelled() {
            return Err(EngineError::Stopped);
        }
        if self.is_paused() {
            return Err(EngineError::Paused);
        }
        let mut spec =
            validate(&req, &self.inner.config, &self.live()).map_err(EngineError::Invalid)?;
        self.vet(&mut spec).await?;
        if let Some(key) = spec.share_key() {
            let session = spec.session_id.clone();
            if let Some(s) = self
                .call(|reply| Cmd::Join {
                    key,
                    start_time: spec.start_time,
                    session,
                    reply,
                })
                .await?
            {
                return Ok(s);
            }
        }
        // A full queue is answered before any probing.
        self.call(|reply| Cmd::Room { reply }).await??;
        let prepared = {
            let _slot = self.probe_slot(&spec.source).await;
            // The queue may have filled while this request waited for a probe slot.
            self.call(|reply| Cmd::Room { reply }).await??;
            self.prepare(&spec).await
        };
        if let Ok(p) = &prepared {
            if p.media.duration > 0.0 && spec.start_time >= p.media.duration {
                return Err(EngineError::Invalid(vec![FieldError {
                    loc: vec!["body".into(), "start_time".into()],
                    msg: format!(
                        "start_time {} is beyond the source's duration of {:.3} s",
                        spec.start_time, p.media.duration
                    ),
                    kind: "value_error".into(),
                }]));
            }
        }
        self.call(|reply| Cmd::Submit {
            spec: Box::new(spec),
            request: Box::new(req),
            prepared: prepared.map(Box::new),
            client,
            reply,
        })
        .await?
    }

    /// A probe slot: first one of the source host's share, then one of the global ones.
    async fn probe_slot(&self, source: &Source) -> Option<ProbeSlot<'_>> {
        let host = match source {
            Source::Http(u) => reqwest::Url::parse(u)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default(),
            Source::File(_) => String::new(),
        };
        let per_host = {
            let mut map = self.inner.host_slots.lock().ok()?;
            // Hosts nobody waits on are forgotten.
            map.retain(|_, s| Arc::strong_count(s) > 1);
            map.entry(host)
                .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(PROBE_SLOTS / 2)))
                .clone()
        };
        let host = per_host.acquire_owned().await.ok()?;
        let global = self.inner.probe_slots.acquire().await.ok()?;
        Some(ProbeSlot {
            _host: host,
            _global: global,
        })
    }

    /// Applies the egress rules to every URL of a request: the source and subtitles are
    /// replaced by where their redirects lead; the callback must point somewhere allowed.
    async fn vet(&self, spec: &mut JobSpec) -> Result<(), EngineError> {
        let egress = &self.inner.egress;
        let mut errors = Vec::new();
        let cached = self.inner.probes.lock().ok().and_then(|cache| {
            cache
                .get(&spec.source_raw)
                .filter(|c| c.at.elapsed() < PROBE_CACHE_TTL)
                .map(|c| c.source.clone())
        });
        match cached {
            Some(s) => spec.source = s,
            None => match egress.vet(&spec.source).await {
                Ok(s) => spec.source = s,
                Err(r) => errors.push(field(&["source"], r.to_string(), r.code().as_str())),
            },
        }
        for (i, sub) in spec.subtitles.iter_mut().enumerate() {
            match egress.vet(&sub.source).await {
                Ok(s) => sub.source = s,
                Err(r) => errors.push(field(
                    &["subtitles", &i.to_string(), "url"],
                    r.to_string(),
                    r.code().as_str(),
                )),
            }
        }
        if let Some(cb) = &spec.callback_url {
            if let Err(r) = self.check_callback(cb).await {
                errors.push(field(&["callback_url"], r.to_string(), r.code().as_str()));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(EngineError::Invalid(errors))
        }
    }

    /// Checks a URL this server will send requests to on the owner's behalf (a GhostHub)
    /// by the same rule as sources: the reason when it may not.
    pub async fn check_outbound(&self, url: &str) -> Result<(), String> {
        if url.len() > ghoststream_media::source::MAX_URL_BYTES || url.contains('\\') {
            return Err("the URL is too long or contains a backslash".into());
        }
        self.check_callback(url).await.map_err(|r| r.to_string())
    }

    /// The HTTP client for outbound requests: it connects only through the egress proxy,
    /// which judges every connection as it is made. `None` before the proxy listens.
    pub fn outbound_client(&self) -> Option<reqwest::Client> {
        self.inner.egress.client().cloned()
    }

    pub(crate) async fn check_callback(&self, url: &str) -> Result<(), crate::egress::Refusal> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| crate::egress::Refusal::Malformed(e.to_string()))?;
        self.inner.egress.check_url(&parsed).await
    }

    async fn probe_cached(
        &self,
        source: &Source,
        raw: &str,
        keyframes: KeyframeNeed,
    ) -> Result<CachedProbe, String> {
        let cached = self.inner.probes.lock().ok().and_then(|cache| {
            cache
                .get(raw)
                .filter(|c| c.at.elapsed() < PROBE_CACHE_TTL)
                .cloned()
        });
        if let Some(c) = &cached {
            if keyframes != KeyframeNeed::Yes || c.keyframes.is_some() {
                return Ok(c.clone());
            }
        }
        let t = &self.inner.config.transcoding;
        let timeout = Duration::from_secs(t.probe_timeout.max(1));
        // The Matroska index costs three small reads, so for an HLS job it is read
        // alongside ffprobe rather than after it: a remux then waits for one probe, not two.
        let (media, fast) = match cached {
            Some(c) => (c.media, None),
            None => {
                let rules = self.inner.input_rules();
                let probing = probe::probe(&t.ffprobe_path, source, timeout, &rules);
                let (media, fast) = if keyframes == KeyframeNeed::No {
                    (probing.await, None)
                } else {
                    tokio::join!(probing, mkv_keyframes(self.inner.egress.client(), source))
                };
                (media.map_err(|e| e.to_string())?, fast)
            }
        };
        let fast = fast.filter(|_| media.container.contains("matroska"));
        let keyframes = match (fast, keyframes) {
            (Some(k), _) => Some(k),
            (None, KeyframeNeed::Yes) if media.container.contains("matroska") => {
                match mkv_keyframes(self.inner.egress.client(), source).await {
                    Some(k) => Some(k),
                    None => Some(self.scan_keyframes(source, timeout).await?),
                }
            }
            (None, KeyframeNeed::Yes) => Some(self.scan_keyframes(source, timeout).await?),
            (None, _) => None,
        };
        let entry = CachedProbe {
            source: source.clone(),
            media,
            keyframes,
            at: Instant::now(),
        };
        if let Ok(mut cache) = self.inner.probes.lock() {
            if cache.len() > 256 {
                cache.retain(|_, v| v.at.elapsed() < PROBE_CACHE_TTL);
            }
            cache.insert(raw.to_string(), entry.clone());
        }
        Ok(entry)
    }

    async fn scan_keyframes(&self, source: &Source, timeout: Duration) -> Result<Vec<f64>, String> {
        let t = &self.inner.config.transcoding;
        probe::keyframes(
            &t.ffprobe_path,
            source,
            timeout * 3,
            &self.inner.input_rules(),
        )
        .await
        .map_err(|e| e.to_string())
    }

    /// Probe once per source (cached), decide the plan, and for HLS the segment map.
    async fn prepare(&self, spec: &JobSpec) -> Result<Prepared, String> {
        let cached = self
            .probe_cached(
                &spec.source,
                &spec.source_raw,
                if spec.mode.is_hls() {
                    KeyframeNeed::IfCheap
                } else {
                    KeyframeNeed::No
                },
            )
            .await?;
        let mut media = cached.media;
        let config = &self.inner.config;
        check_source_bounds(&media, config.transcoding.max_source_pixels)?;
        let mut wish = spec.wish(config);
        let mut plan = decide(&media, &wish);
        // Copied video is cut on the source's keyframes, which an input seek cannot hit
        // exactly; a job that starts later re-encodes video so its cut is exact.
        if plan.copies_video() && spec.start_time > 0.0 && spec.mode.is_hls() {
            wish.video_codec = if spec.video_codec == ghoststream_types::VideoCodec::Copy {
                ghoststream_types::VideoCodec::H264
            } else {
                spec.video_codec
            };
            wish.bitrate_kbps =
                wish.bitrate_kbps
                    .or(Some(ghoststream_media::plan::auto_bitrate_kbps(
                        media.video.as_ref().map(|v| v.height).unwrap_or(720),
                    )));
            plan = decide(&media, &wish);
            if let Some(v) = plan.streams.video.as_mut() {
                v.reason = format!(
                    "start_time {} needs an exact cut; {}",
                    spec.start_time, v.reason
                );
            }
        }
        let remaining = (media.duration - spec.start_time).max(0.0);
        let seg = config.transcoding.segment_duration;
        let first = config.transcoding.first_segment_duration;
        let map = if !spec.mode.is_hls() {
            None
        } else if plan.copies_video() {
            let kf = self
                .probe_cached(&spec.source, &spec.source_raw, KeyframeNeed::Yes)
                .await?;
            media = kf.media.clone();
            Some(SegmentMap::from_keyframes(
                kf.keyframes.as_deref().unwrap_or(&[]),
                0.0,
                media.duration,
                seg,
                first,
            ))
        } else {
            Some(SegmentMap::fixed(remaining, seg, first))
        };
        let codec = match &plan.video {
            VideoAction::Encode { codec, .. } => Some(*codec),
            _ => None,
        };
        let hw = match codec {
            Some(c) => self.inner.hardware.pick(spec.hw_request, c),
            None => ghoststream_types::HwKind::Software,
        };
        Ok(Prepared {
            media,
            plan,
            map,
            hw,
        })
    }

    /// `POST /api/probe`: media info and the plan a start with these options would use.
    pub async fn probe(&self, req: ProbeRequest) -> Result<ProbeResponse, EngineError> {
        let start = StartRequest {
            source: req.source.clone(),
            mode: req.mode,
            output: req.output.clone(),
            ..Default::default()
        };
        let mut spec =
            validate(&start, &self.inner.config, &self.live()).map_err(EngineError::Invalid)?;
        self.vet(&mut spec).await?;
        let _slot = self.probe_slot(&spec.source).await;
        let p = self.prepare(&spec).await.map_err(EngineError::Source)?;
        Ok(ProbeResponse {
            source: spec.source_raw,
            media_info: p.media,
            plan: p.plan.streams,
        })
    }

    pub async fn job(&self, id: Uuid) -> Result<Snapshot, EngineError> {
        self.call(|reply| Cmd::Get { id, reply })
            .await?
            .ok_or(EngineError::NotFound)
    }

    pub async fn jobs(&self) -> Result<Vec<Snapshot>, EngineError> {
        self.call(|reply| Cmd::List { reply }).await
    }

    /// Cancels a job; on a shared stream with other viewers, only this session leaves.
    pub async fn cancel(&self, id: Uuid, session: Option<String>) -> Result<(), EngineError> {
        self.call(|reply| Cmd::Cancel { id, session, reply })
            .await?
    }

    pub async fn delete(&self, id: Uuid) -> Result<(), EngineError> {
        self.call(|reply| Cmd::Delete { id, reply }).await?
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
        self.call(|reply| Cmd::Daily { days, reply }).await
    }

    pub async fn cleanup_stats(&self) -> Result<CleanupStats, EngineError> {
        self.call(|reply| Cmd::CleanupStats { reply }).await
    }

    pub async fn cleanup_run(&self) -> Result<CleanupRun, EngineError> {
        self.call(|reply| Cmd::CleanupRun { reply }).await
    }

    /// Resolves a file of an HLS job, waiting (bounded) for segments not yet written and
    /// restarting the encoder when the request is far ahead of it.
    pub async fn stream_file(&self, id: Uuid, name: String) -> Result<StreamFile, EngineError> {
        let rx = self
            .call(|reply| Cmd::StreamFile { id, name, reply })
            .await?;
        let wait = Duration::from_secs(self.inner.config.transcoding.segment_wait_timeout.max(1));
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(EngineError::Stopped),
            Err(_) => Err(EngineError::SegmentTimeout),
        }
    }

    /// The batch output: path and the file name to offer.
    pub async fn download(&self, id: Uuid) -> Result<(PathBuf, String), EngineError> {
        self.call(|reply| Cmd::Download { id, reply }).await?
    }

    /// The job's ffmpeg commands and log.
    pub async fn log(&self, id: Uuid) -> Result<String, EngineError> {
        self.call(|reply| Cmd::Log { id, reply }).await?
    }

    /// Checks a token for a job route. `scopes` lists what the route accepts.
    pub async fn check_token(
        &self,
        id: Uuid,
        token: Option<&str>,
        scopes: &[Scope],
    ) -> Result<(), EngineError> {
        let token = token.ok_or(EngineError::Token(crate::tokens::TokenError::Missing))?;
        let scope = self
            .inner
            .tokens
            .verify(token, id, scopes, chrono::Utc::now().timestamp())
            .map_err(EngineError::Token)?;
        if scope == Scope::Stream {
            let revoked = self.call(|reply| Cmd::StreamRevoked { id, reply }).await?;
            if revoked {
                return Err(EngineError::JobEnded(
                    "the job was cancelled; its stream token is revoked".into(),
                ));
            }
        }
        Ok(())
    }

    /// Stops every job and child process, bounded by `timeout`, and flushes the database.
    pub async fn shutdown(&self, timeout: Duration) {
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

/// Held while a request probes its source.
struct ProbeSlot<'a> {
    _host: tokio::sync::OwnedSemaphorePermit,
    _global: tokio::sync::SemaphorePermit<'a>,
}

/// What a source must be before any encoder runs on it: a file of known length (an
/// endless stream would fill the disk), with frames no larger than the limit (a huge frame
/// costs ffmpeg gigabytes).
fn check_source_bounds(media: &MediaInfo, max_pixels: u64) -> Result<(), String> {
    if !(media.duration > 0.0 && media.duration.is_finite()) {
        return Err(
            "the source has no known length (a live or endless stream?); only files can be transcoded"
                .into(),
        );
    }
    if let Some(v) = &media.video {
        if u64::from(v.width) * u64::from(v.height) > max_pixels {
            return Err(format!(
                "the source's frames are {}x{}, more than transcoding.max_source_pixels ({max_pixels}) allows",
                v.width, v.height
            ));
        }
    }
    Ok(())
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

/// Bytes `[from, from + len)` of a source; HTTP sources must honour Range (206).
async fn read_range(
    client: &reqwest::Client,
    source: &Source,
    from: u64,
    len: u64,
) -> Option<Vec<u8>> {
    match source {
        Source::Http(url) => {
            let r = client
                .get(url)
                .header("Range", format!("bytes={from}-{}", from + len - 1))
                .send()
                .await
                .ok()?;
            if r.status().as_u16() != 206 {
                return None;
            }
            r.bytes().await.ok().map(|b| b.to_vec())
        }
        Source::File(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                use std::io::{Read, Seek};
                let mut f = std::fs::File::open(path).ok()?;
                f.seek(std::io::SeekFrom::Start(from)).ok()?;
                let mut buf = Vec::new();
                f.take(len).read_to_end(&mut buf).ok()?;
                Some(buf)
            })
            .await
            .ok()?
        }
    }
}

/// The keyframe index of a Matroska source from its Cues element: three small reads instead
/// of ffprobe reading every packet. `None` (ffprobe then) when anything does not fit.
async fn mkv_keyframes(client: Option<&reqwest::Client>, source: &Source) -> Option<Vec<f64>> {
    use ghoststream_media::mkv;
    let client = client?;
    let head = mkv::parse_head(&read_range(client, source, 0, 64 * 1024).await?)?;
    let len = mkv::element_len(&read_range(client, source, head.cues_offset, 16).await?)?;
    if len > 64 * 1024 * 1024 {
        return None;
    }
    let keyframes = mkv::parse_cues(
        &read_range(client, source, head.cues_offset, len).await?,
        &head,
    )?;
    // A cue list that does not start at the beginning is not an index of every keyframe.
    (keyframes.first().copied().unwrap_or(f64::MAX) < 1.0).then_some(keyframes)
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
