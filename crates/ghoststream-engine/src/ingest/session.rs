//! One live stream: its publisher(s), its ladder ffmpeg, its files and its job.

use super::flv::{self, Tag};
use super::ladder::{self, Rung};
use super::{Ingest, IngestError, Inner, LiveFile};
use crate::job::JobRecord;
use crate::runner::JobLog;
use chrono::{DateTime, Utc};
use ghoststream_types::{
    HwKind, IngestProtocol, JobStatus, LiveEvent, LiveInput, LiveRendition, LiveStatus, LiveStream,
    Mode, Notice, StartRequest, VideoCodec,
};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// What a publisher says about its stream (RTMP `@setDataFrame`/`onMetaData`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meta {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<f64>,
    /// Video plus audio, as announced.
    pub kbps: Option<u32>,
    /// Whether the stream has audio, when the publisher says.
    pub has_audio: Option<bool>,
}

enum Feed {
    Tag(u64, Tag),
    Meta(Meta),
}

/// A connected publisher's way in. Dropping it tells the session the publisher left.
pub(crate) struct Publisher {
    session: Arc<Session>,
    gen: u64,
    tx: mpsc::Sender<Feed>,
    /// Cancelled when the session wants this publisher gone (stop, revoke, a limit).
    pub kicked: CancellationToken,
}

impl Publisher {
    /// Hands a tag to the ladder; waits while ffmpeg is behind (back-pressure reaches the
    /// publisher's socket). `false`: the stream is over, disconnect.
    pub async fn send(&self, tag: Tag) -> bool {
        self.session
            .bytes_in
            .fetch_add(tag.data.len() as u64 + 11, Ordering::Relaxed);
        tokio::select! {
            r = self.tx.send(Feed::Tag(self.gen, tag)) => r.is_ok(),
            _ = self.kicked.cancelled() => false,
        }
    }

    pub fn meta(&self, m: Meta) {
        let _ = self.tx.try_send(Feed::Meta(m));
    }

    pub fn name(&self) -> String {
        self.session.name()
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.session.left(self.gen);
    }
}

struct St {
    name: String,
    status: LiveStatus,
    error: Option<String>,
    error_code: Option<String>,
    publisher: Option<String>,
    /// The generation of the publisher attached now (0: none).
    attached: u64,
    kick: Option<CancellationToken>,
    input: LiveInput,
    rungs: Vec<Rung>,
    segments: Vec<u32>,
    hw: HwKind,
    encoder: String,
    duration: f64,
    dropped: u64,
    speed: Option<f64>,
    reconnects: u32,
    ended_at: Option<DateTime<Utc>>,
    /// No publisher may attach any more.
    closing: bool,
    first_segment: Option<f64>,
    /// (wall clock, output time) of the last seconds of progress.
    samples: std::collections::VecDeque<(Instant, f64)>,
}

pub(crate) struct Session {
    ingest: Weak<Inner>,
    /// The job's log (ffmpeg's lines and what the session did); the history shares it.
    log: JobLog,
    pub key: String,
    pub job_id: Uuid,
    pub dir: PathBuf,
    pub protocol: IngestProtocol,
    pub started_at: DateTime<Utc>,
    /// Ends the session (stop, revoke, shutdown, delete).
    pub stop: CancellationToken,
    /// Cancelled once the session has finished its recording.
    finished: CancellationToken,
    st: Mutex<St>,
    pub bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    gen: AtomicU64,
    tx: Mutex<Option<mpsc::Sender<Feed>>>,
    left_note: Notify,
    attached_note: Notify,
}

/// Tags buffered before the first keyframe, at most.
const MAX_PRELUDE_BYTES: usize = 32 << 20;

impl Session {
    pub fn start(
        ingest: Ingest,
        key: &str,
        name: &str,
        protocol: IngestProtocol,
        peer: SocketAddr,
    ) -> (Arc<Session>, Publisher) {
        let job_id = Uuid::new_v4();
        let dir = ingest.inner.root.join(job_id.to_string());
        let (tx, rx) = mpsc::channel(256);
        let s = Arc::new(Session {
            ingest: Arc::downgrade(&ingest.inner),
            log: (ingest.inner.hooks.log_for)(job_id),
            key: key.to_string(),
            job_id,
            dir,
            protocol,
            started_at: Utc::now(),
            stop: ingest.inner.stop.child_token(),
            finished: CancellationToken::new(),
            st: Mutex::new(St {
                name: name.to_string(),
                status: LiveStatus::Active,
                error: None,
                error_code: None,
                publisher: None,
                attached: 0,
                kick: None,
                input: LiveInput::default(),
                rungs: Vec::new(),
                segments: Vec::new(),
                hw: HwKind::Software,
                encoder: "libx264".into(),
                duration: 0.0,
                dropped: 0,
                speed: None,
                reconnects: 0,
                ended_at: None,
                closing: false,
                first_segment: None,
                samples: Default::default(),
            }),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            gen: AtomicU64::new(0),
            tx: Mutex::new(Some(tx)),
            left_note: Notify::new(),
            attached_note: Notify::new(),
        });
        let publisher = s
            .attach_inner(peer, false)
            .expect("a new session takes its first publisher");
        let runner = s.clone();
        ingest
            .inner
            .tasks
            .spawn(async move { runner.run(rx).await });
        (s, publisher)
    }

    /// A recording a previous run left, from its `session.json`.
    pub fn restore(ingest: Ingest, dir: &Path) -> Option<Arc<Session>> {
        let saved: LiveStream =
            serde_json::from_slice(&std::fs::read(dir.join("session.json")).ok()?).ok()?;
        let job_id = Uuid::parse_str(&saved.job_id).ok()?;
        let interrupted = matches!(saved.status, LiveStatus::Active | LiveStatus::Idle);
        let s = Arc::new(Session {
            ingest: Arc::downgrade(&ingest.inner),
            log: (ingest.inner.hooks.log_for)(job_id),
            key: saved.key.clone()?,
            job_id,
            dir: dir.to_path_buf(),
            protocol: saved.protocol,
            started_at: saved.started_at,
            stop: ingest.inner.stop.child_token(),
            finished: CancellationToken::new(),
            st: Mutex::new(St {
                name: saved.name.clone(),
                status: if interrupted {
                    LiveStatus::Error
                } else {
                    saved.status
                },
                error: if interrupted {
                    Some("interrupted: the server stopped while the stream was live".into())
                } else {
                    saved.error.clone()
                },
                error_code: if interrupted {
                    Some("interrupted".into())
                } else {
                    saved.error_code.clone()
                },
                publisher: saved.publisher.clone(),
                attached: 0,
                kick: None,
                input: saved.input.clone(),
                rungs: saved
                    .renditions
                    .iter()
                    .map(|r| Rung {
                        name: r.name.clone(),
                        width: r.width,
                        height: r.height,
                        kbps: r.bitrate_kbps,
                    })
                    .collect(),
                segments: saved.renditions.iter().map(|r| r.segments).collect(),
                hw: saved.hw_accel,
                encoder: saved.encoder.clone(),
                duration: saved.duration_seconds,
                dropped: saved.dropped_frames,
                speed: saved.speed,
                reconnects: saved.reconnects,
                ended_at: saved.ended_at.or(Some(Utc::now())),
                closing: true,
                first_segment: None,
                samples: Default::default(),
            }),
            bytes_in: AtomicU64::new(saved.bytes_in),
            bytes_out: AtomicU64::new(saved.bytes_out),
            gen: AtomicU64::new(0),
            tx: Mutex::new(None),
            left_note: Notify::new(),
            attached_note: Notify::new(),
        });
        s.finished.cancel();
        if interrupted {
            s.save();
        }
        Some(s)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, St> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn name(&self) -> String {
        self.lock().name.clone()
    }

    pub fn set_name(&self, name: &str) {
        self.lock().name = name.to_string();
        if !self.is_live() {
            self.save();
        }
    }

    pub fn status(&self) -> LiveStatus {
        self.lock().status
    }

    /// Live or waiting for its publisher: not yet a finished recording.
    pub fn is_live(&self) -> bool {
        !self.finished.is_cancelled() && !self.lock().closing
    }

    pub fn publisher(&self) -> Option<String> {
        self.lock().publisher.clone()
    }

    pub fn ended_at(&self) -> Option<DateTime<Utc>> {
        self.lock().ended_at
    }

    pub fn served(&self, bytes: u64) {
        self.bytes_out.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A publisher back within the grace period.
    pub fn attach(self: &Arc<Self>, peer: SocketAddr) -> Option<Publisher> {
        self.attach_inner(peer, true)
    }

    fn attach_inner(self: &Arc<Self>, peer: SocketAddr, again: bool) -> Option<Publisher> {
        let tx = self.tx.lock().ok()?.clone()?;
        let mut st = self.lock();
        if st.closing {
            return None;
        }
        let gen = self.gen.fetch_add(1, Ordering::Relaxed) + 1;
        let kicked = CancellationToken::new();
        if let Some(old) = st.kick.replace(kicked.clone()) {
            old.cancel();
        }
        st.attached = gen;
        st.publisher = Some(peer.to_string());
        if again {
            st.reconnects += 1;
            st.status = LiveStatus::Active;
        }
        drop(st);
        self.attached_note.notify_one();
        Some(Publisher {
            session: self.clone(),
            gen,
            tx,
            kicked,
        })
    }

    fn left(&self, gen: u64) {
        let mut st = self.lock();
        if st.attached == gen {
            st.attached = 0;
            st.kick = None;
            drop(st);
            self.left_note.notify_one();
        }
    }

    fn kick_publisher(&self) {
        let mut st = self.lock();
        st.closing = true;
        if let Some(k) = st.kick.take() {
            k.cancel();
        }
    }

    /// Ends the stream now and waits (bounded) until its recording is finished.
    pub async fn end_now(&self, why: &str) {
        self.log.push(format!("live: {why}"));
        self.kick_publisher();
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(15), self.finished.cancelled()).await;
    }

    fn notice(&self, event: LiveEvent, detail: Option<String>) {
        if let Some(inner) = self.ingest.upgrade() {
            let _ = inner.hooks.notices.send(Notice::Live {
                job_id: self.job_id.to_string(),
                name: self.name(),
                event,
                detail,
            });
        }
    }

    pub fn info(&self, with_key: bool) -> LiveStream {
        let st = self.lock();
        let renditions = st
            .rungs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let segments = st.segments.get(i).copied().unwrap_or(0);
                LiveRendition {
                    name: r.name.clone(),
                    codec: "h264".into(),
                    bitrate_kbps: r.kbps,
                    width: r.width,
                    height: r.height,
                    status: match st.status {
                        LiveStatus::Ended => "complete",
                        LiveStatus::Error if segments == 0 => "error",
                        LiveStatus::Error => "complete",
                        _ if segments == 0 => "waiting",
                        _ => "encoding",
                    }
                    .into(),
                    segments,
                }
            })
            .collect();
        LiveStream {
            key: with_key.then(|| self.key.clone()),
            name: st.name.clone(),
            job_id: self.job_id.to_string(),
            protocol: self.protocol,
            publisher: st.publisher.clone(),
            status: st.status,
            error: st.error.clone(),
            error_code: st.error_code.clone(),
            encoder: st.encoder.clone(),
            hw_accel: st.hw,
            input: st.input.clone(),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            duration_seconds: (st.duration * 10.0).round() / 10.0,
            dropped_frames: st.dropped,
            speed: st.speed,
            reconnects: st.reconnects,
            renditions,
            started_at: self.started_at,
            ended_at: st.ended_at,
            hls_path: with_key.then(|| format!("/streams/{}/master.m3u8", self.key)),
            dash_path: with_key.then(|| format!("/streams/{}/dash/manifest.mpd", self.key)),
        }
    }

    fn save(&self) {
        let info = self.info(true);
        if let Ok(text) = serde_json::to_vec_pretty(&info) {
            let tmp = self.dir.join("session.json.tmp");
            if std::fs::write(&tmp, text).is_ok() {
                let _ = std::fs::rename(tmp, self.dir.join("session.json"));
            }
        }
    }

    /// The job this stream is in the history.
    fn record(&self, status: JobStatus, output_bytes: u64) -> JobRecord {
        let info = self.info(false);
        let st = self.lock();
        let proto = match self.protocol {
            IngestProtocol::Rtmp => "rtmp",
            IngestProtocol::Srt => "srt",
        };
        let now = Utc::now();
        JobRecord {
            id: self.job_id,
            request: StartRequest {
                mode: Some(Mode::Abr),
                source: Some(format!("{proto} live: {}", st.name)),
                ..Default::default()
            },
            mode: Mode::Abr,
            source: format!("{proto} live: {}", st.name),
            status,
            progress: if status.is_terminal() { 100.0 } else { 0.0 },
            current_time: Some(st.duration),
            duration: Some(st.duration),
            start_time: 0.0,
            hw_accel_used: Some(st.hw),
            error_message: st.error.clone(),
            error_code: st.error_code.clone(),
            created_at: self.started_at,
            started_at: Some(self.started_at),
            completed_at: status.is_terminal().then_some(st.ended_at.unwrap_or(now)),
            last_access: now,
            media_info: None,
            variants: Some(
                info.renditions
                    .iter()
                    .enumerate()
                    .map(|(i, r)| ghoststream_types::Variant {
                        name: r.name.clone(),
                        width: r.width,
                        height: r.height,
                        resolution: format!("{}x{}", r.width, r.height),
                        bitrate_kbps: r.bitrate_kbps.unwrap_or(info.input.bitrate_kbps),
                        playlist: format!("media_{i}.m3u8"),
                    })
                    .collect(),
            ),
            dir: self.dir.clone(),
            output_file: None,
            output_bytes,
            speed: st.speed,
            first_segment_secs: st.first_segment,
            control_token: Uuid::new_v4().simple().to_string(),
            stream_token: Uuid::new_v4().simple().to_string(),
            stream_revoked: true,
            files_removed: false,
            live_key: Some(self.key.clone()),
            client: Some(ghoststream_types::JobClient {
                name: format!("{} publisher", proto.to_uppercase()),
                kind: ghoststream_types::ClientKind::Other,
                address: st
                    .publisher
                    .as_deref()
                    .and_then(|p| p.parse::<std::net::SocketAddr>().ok())
                    .map(|a| a.ip().to_string()),
            }),
            delivery: Some(ghoststream_types::Delivery {
                kind: ghoststream_types::DeliveryKind::Transcode,
                reason: "live input encoded into an adaptive ladder".into(),
                encoder: ghoststream_media::command::encoder_name(
                    ghoststream_types::VideoCodec::H264,
                    st.hw,
                )
                .map(str::to_string),
                input: info
                    .input
                    .width
                    .zip(info.input.height)
                    .map(|(w, h)| format!("{w}x{h}")),
                output: Some(
                    info.renditions
                        .iter()
                        .map(|r| format!("{}x{}", r.width, r.height))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            }),
        }
    }

    fn push_record(&self, status: JobStatus) {
        let bytes = if status.is_terminal() {
            dir_bytes(&self.dir)
        } else {
            0
        };
        let rec = self.record(status, bytes);
        if let Some(inner) = self.ingest.upgrade() {
            (inner.hooks.record)(rec, self.log.clone());
        }
    }

    /// A file of this stream for a player.
    pub async fn file(&self, name: &str) -> Result<LiveFile, IngestError> {
        let path = self.dir.join(name);
        if name.ends_with(".m3u8") || name.ends_with(".mpd") {
            let text = tokio::fs::read_to_string(&path)
                .await
                .map_err(|_| IngestError::NotFound)?;
            let live = self.is_live();
            let ended_badly = self.status() == LiveStatus::Error;
            let window = self
                .ingest
                .upgrade()
                .map(|i| i.cfg.window_segments)
                .unwrap_or(6) as usize;
            if name.ends_with(".mpd") {
                return Ok(LiveFile::Playlist {
                    text,
                    content_type: "application/dash+xml",
                });
            }
            if name == "master.m3u8" {
                let (rungs, kbps) = {
                    let st = self.lock();
                    (st.rungs.clone(), st.input.bitrate_kbps)
                };
                return Ok(LiveFile::Playlist {
                    text: ladder::source_bandwidth(&text, &rungs, kbps),
                    content_type: "application/vnd.apple.mpegurl",
                });
            }
            let is_media = text.contains("#EXTINF");
            let text = if is_media && live {
                ladder::window(&text, window)
            } else if is_media && ended_badly && !text.contains("#EXT-X-ENDLIST") {
                // A recording cut short (the server died, the encoder failed) still ends.
                format!(
                    "{}#EXT-X-ENDLIST\n",
                    text.trim_end_matches('\n').to_owned() + "\n"
                )
            } else {
                text
            };
            return Ok(LiveFile::Playlist {
                text,
                content_type: "application/vnd.apple.mpegurl",
            });
        }
        if name.ends_with(".m4s") && tokio::fs::metadata(&path).await.is_ok() {
            return Ok(LiveFile::Segment(path));
        }
        Err(IngestError::NotFound)
    }

    // ---- the session's task ----

    async fn run(self: Arc<Self>, mut rx: mpsc::Receiver<Feed>) {
        let Some(inner) = self.ingest.upgrade() else {
            return;
        };
        let cfg = inner.cfg.clone();
        let log = self.log.clone();
        if let Err(e) = std::fs::create_dir_all(&self.dir) {
            self.fail(
                &log,
                "io",
                format!("cannot create {}: {e}", self.dir.display()),
            );
            return;
        }
        log.push(format!(
            "live: '{}' publishing from {} over {:?}",
            self.name(),
            self.publisher().unwrap_or_default(),
            self.protocol
        ));
        self.save();
        self.push_record(JobStatus::Processing);
        self.notice(
            LiveEvent::Started,
            Some(format!("from {}", self.publisher().unwrap_or_default())),
        );
        // 1. Up to the first keyframe: what the stream is.
        let mut prelude: Vec<Tag> = Vec::new();
        let mut prelude_bytes = 0usize;
        let mut meta = Meta::default();
        let mut size: Option<(u32, u32)> = None;
        let mut has_audio = false;
        let mut prelude_done = false;
        let mut audio_by = tokio::time::Instant::now() + Duration::from_secs(3600);
        let no_video_by =
            tokio::time::Instant::now() + Duration::from_secs(cfg.idle_timeout_seconds.max(3));
        let started = Instant::now();
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => {
                    self.fail(&log, "no-video", "the stream ended before any video came".into());
                    return;
                }
                _ = tokio::time::sleep_until(audio_by), if prelude_done => break,
                _ = tokio::time::sleep_until(no_video_by), if !prelude_done => {
                    self.fail(&log, "no-video", format!(
                        "the publisher sent no H.264 keyframe within {} s (audio-only streams are not taken)",
                        cfg.idle_timeout_seconds.max(3)));
                    return;
                }
                _ = self.left_note.notified() => {
                    self.fail(&log, "no-video", "the publisher left before sending any video".into());
                    return;
                }
                f = rx.recv() => match f {
                    None => return,
                    Some(Feed::Meta(m)) => {
                        if let Some(refusal) = over_limits(&m, &cfg) {
                            self.fail(&log, "input-over-limit", refusal);
                            return;
                        }
                        meta = m;
                    }
                    Some(Feed::Tag(_, tag)) => {
                        if prelude_done {
                            let audio = tag.kind == flv::AUDIO;
                            prelude.push(tag);
                            if audio {
                                has_audio = true;
                                break;
                            }
                            continue;
                        }
                        if tag.kind == flv::VIDEO {
                            match tag.video_codec() {
                                Some("h264") => {}
                                Some(c) => {
                                    self.fail(&log, "unsupported-codec", format!(
                                        "the publisher sends {c} video; live ingest takes H.264"));
                                    return;
                                }
                                None => continue,
                            }
                        }
                        if tag.kind == flv::AUDIO {
                            has_audio = true;
                        }
                        if tag.is_avc_config() {
                            size = flv::avc_size(&tag.data[5..]);
                            if let Some((_, h)) = size {
                                if h > cfg.max_input_height {
                                    self.fail(&log, "input-over-limit", format!(
                                        "the picture is {h} lines tall; this server takes at most {} (live.max_input_height)",
                                        cfg.max_input_height));
                                    return;
                                }
                            }
                        }
                        let key = tag.is_keyframe() && size.is_some();
                        prelude_bytes += tag.data.len();
                        prelude.push(tag);
                        if prelude_bytes > MAX_PRELUDE_BYTES {
                            self.fail(&log, "no-video", "32 MiB came without a decodable keyframe".into());
                            return;
                        }
                        if key {
                            // Audio may follow the first keyframe: when the publisher did
                            // not say whether it sends any, wait a moment for it.
                            match meta.has_audio {
                                _ if has_audio => break,
                                Some(a) => {
                                    has_audio = a;
                                    break;
                                }
                                None => {
                                    prelude_done = true;
                                    audio_by = tokio::time::Instant::now() + Duration::from_millis(400);
                                }
                            }
                        }
                    }
                },
            }
        }
        let (w, h) = size.unwrap_or((1280, 720));
        let fps = meta.fps;
        {
            let mut st = self.lock();
            st.input.video_codec = Some("h264".into());
            st.input.audio_codec = prelude
                .iter()
                .find_map(|t| t.audio_codec())
                .map(String::from);
            st.input.width = Some(w);
            st.input.height = Some(h);
            st.input.fps = fps;
        }
        // 2. The ladder: a proven GPU encoder when there is one, else software; a GPU
        // encoder that fails before the first segment is replaced by software in the
        // same stream.
        let passthrough = cfg.passthrough;
        let rungs = ladder::rungs(w, h, passthrough);
        let mut hw = inner.hardware.pick(None, VideoCodec::H264);
        let mut pending: Vec<Tag> = prelude;
        let mut timeline = Timeline::default();
        loop {
            let encoder = ghoststream_media::command::encoder_name(VideoCodec::H264, hw)
                .unwrap_or("libx264")
                .to_string();
            {
                let mut st = self.lock();
                st.rungs = rungs.clone();
                st.segments = vec![0; rungs.len()];
                st.hw = hw;
                st.encoder = encoder.clone();
            }
            let argv = ladder::argv(&ladder::LadderSpec {
                rungs: &rungs,
                input: (w, h),
                hw,
                has_audio,
                cap_fps: fps.is_some_and(|f| f > 30.5),
                segment_seconds: cfg.segment_seconds.clamp(1, 10),
                nvenc_preset: "p4",
                out_dir: &self.dir,
            });
            log.push(format!("$ ffmpeg {}", shell_words(&argv)));
            let outcome = self
                .pump(
                    &inner,
                    &log,
                    &argv,
                    &mut rx,
                    &mut pending,
                    &mut timeline,
                    started,
                )
                .await;
            match outcome {
                Pumped::GpuFailedEarly(msg) if hw != HwKind::Software => {
                    log.push(format!(
                        "live: {encoder} failed before the first segment ({msg}); going on in software"
                    ));
                    self.notice(
                        LiveEvent::Resumed,
                        Some(format!("{encoder} failed; encoding in software")),
                    );
                    hw = HwKind::Software;
                    clear_outputs(&self.dir);
                    timeline = Timeline::default();
                    continue;
                }
                Pumped::GpuFailedEarly(msg) | Pumped::Failed(msg) => {
                    self.fail(&log, "encoder-failed", msg);
                    return;
                }
                Pumped::Ended(why) => {
                    log.push(format!("live: {why}"));
                    self.finish_ok(&log);
                    return;
                }
                Pumped::Limit(code, why) => {
                    self.fail(&log, code, why);
                    return;
                }
            }
        }
    }

    /// Runs one ladder ffmpeg until the stream ends. `pending`: tags to write first (the
    /// prelude); kept until the first segment exists, so a software restart can replay it.
    #[allow(clippy::too_many_arguments)]
    async fn pump(
        &self,
        inner: &Inner,
        log: &JobLog,
        argv: &[String],
        rx: &mut mpsc::Receiver<Feed>,
        pending: &mut Vec<Tag>,
        timeline: &mut Timeline,
        started: Instant,
    ) -> Pumped {
        let cfg = &inner.cfg;
        let mut cmd = ghoststream_media::process::command(&inner.ffmpeg);
        cmd.args(argv)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return Pumped::Failed(format!("cannot start ffmpeg: {e}")),
        };
        let Some(mut stdin) = child.stdin.take() else {
            return Pumped::Failed("ffmpeg has no stdin".into());
        };
        // The first line that reads as the cause, else the last one.
        let last_err = Arc::new(Mutex::new((None::<String>, String::new())));
        if let Some(err) = child.stderr.take() {
            let log = log.clone();
            let last = last_err.clone();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(err).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    if let Ok(mut g) = last.lock() {
                        let low = l.to_ascii_lowercase();
                        let causal = [
                            "error",
                            "invalid",
                            "could not",
                            "conflicting",
                            "unable",
                            "failed",
                            "not supported",
                        ]
                        .iter()
                        .any(|w| low.contains(w));
                        if causal && g.0.is_none() {
                            g.0 = Some(l.clone());
                        }
                        g.1 = l.clone();
                    }
                    log.push(l);
                }
            });
        }
        if let Some(out) = child.stdout.take() {
            let me = self.ingest.clone();
            let id = self.job_id;
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(out).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    let Some(inner) = me.upgrade() else { break };
                    let s = inner.sessions.lock().ok().and_then(|m| m.get(&id).cloned());
                    if let Some(s) = s {
                        s.progress_line(&l);
                    }
                }
            });
        }
        let mut buf = flv::HEADER.to_vec();
        let mut gen_seen = 0u64;
        for t in pending.iter() {
            timeline
                .map(self.lock().attached.max(1), t)
                .encode(&mut buf);
        }
        gen_seen = gen_seen.max(self.lock().attached);
        let mut have_segment = false;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut grace_until: Option<tokio::time::Instant> = None;
        let mut last_media = tokio::time::Instant::now();
        let mut window: std::collections::VecDeque<(Instant, u64)> = Default::default();
        let outcome = 'pump: loop {
            if !buf.is_empty() {
                let write = stdin.write_all(&buf);
                tokio::select! {
                    r = write => {
                        if r.is_err() {
                            break 'pump None;
                        }
                        buf.clear();
                    }
                    _ = self.stop.cancelled() => break 'pump Some(Pumped::Ended("the stream was stopped".into())),
                    _ = child.wait() => break 'pump None,
                }
            }
            tokio::select! {
                f = rx.recv() => match f {
                    None => break 'pump Some(Pumped::Ended("the stream ended".into())),
                    Some(Feed::Meta(m)) => {
                        if let Some(refusal) = over_limits(&m, cfg) {
                            self.kick_publisher();
                            break 'pump Some(Pumped::Limit("input-over-limit", refusal));
                        }
                    }
                    Some(Feed::Tag(gen, tag)) => {
                        let attached = self.lock().attached;
                        if gen != attached && gen < gen_seen {
                            continue; // a publisher that has been replaced
                        }
                        gen_seen = gen_seen.max(gen);
                        last_media = tokio::time::Instant::now();
                        if tag.kind == flv::VIDEO && tag.video_codec() != Some("h264") {
                            self.kick_publisher();
                            break 'pump Some(Pumped::Limit("unsupported-codec",
                                "the publisher switched to a video codec other than H.264".into()));
                        }
                        if tag.is_avc_config() {
                            if let Some((_, h)) = flv::avc_size(&tag.data[5..]) {
                                if h > cfg.max_input_height {
                                    self.kick_publisher();
                                    break 'pump Some(Pumped::Limit("input-over-limit", format!(
                                        "the picture is {h} lines tall; this server takes at most {} (live.max_input_height)",
                                        cfg.max_input_height)));
                                }
                            }
                        }
                        if tag.kind == flv::AUDIO {
                            let mut st = self.lock();
                            if st.input.audio_codec.is_none() {
                                st.input.audio_codec = tag.audio_codec().map(String::from);
                            }
                        }
                        timeline.map(gen, &tag).encode(&mut buf);
                        if !have_segment {
                            pending.push(tag);
                        }
                    }
                },
                _ = self.left_note.notified() => {
                    let gone = {
                        let st = self.lock();
                        st.attached == 0 && !st.closing
                    };
                    if gone {
                        let grace = cfg.reconnect_grace_seconds;
                        log.push(format!("live: the publisher left; waiting {grace} s for it to come back"));
                        self.lock().status = LiveStatus::Idle;
                        self.notice(LiveEvent::Stalled, Some(format!("the publisher left; waiting {grace} s")));
                        grace_until = Some(tokio::time::Instant::now() + Duration::from_secs(grace as u64));
                        self.save();
                    }
                }
                _ = self.attached_note.notified() => {
                    if grace_until.take().is_some() {
                        log.push(format!("live: the publisher is back ({})", self.publisher().unwrap_or_default()));
                        self.notice(LiveEvent::Resumed, self.publisher().map(|p| format!("from {p}")));
                    }
                    last_media = tokio::time::Instant::now();
                }
                _ = async {
                    match grace_until {
                        Some(t) => tokio::time::sleep_until(t).await,
                        None => std::future::pending().await,
                    }
                } => {
                    self.kick_publisher();
                    break 'pump Some(Pumped::Ended("the publisher did not come back; the stream ended".into()));
                }
                _ = self.stop.cancelled() => {
                    break 'pump Some(Pumped::Ended("the stream was stopped".into()));
                }
                _ = child.wait() => break 'pump None,
                _ = tick.tick() => {
                    let now = Instant::now();
                    let total = self.bytes_in.load(Ordering::Relaxed);
                    window.push_back((now, total));
                    while window.len() > 6 {
                        window.pop_front();
                    }
                    if let (Some((t0, b0)), true) = (window.front(), window.len() >= 6) {
                        let secs = now.duration_since(*t0).as_secs_f64().max(0.1);
                        let kbps = ((total - b0) as f64 * 8.0 / 1000.0 / secs) as u32;
                        {
                            let mut st = self.lock();
                            if st.attached != 0 {
                                st.input.bitrate_kbps = kbps;
                            }
                        }
                        if kbps > cfg.max_input_kbps {
                            self.kick_publisher();
                            break 'pump Some(Pumped::Limit("input-over-limit", format!(
                                "the publisher sent {kbps} kbit/s for 5 s; this server takes at most {} (live.max_input_kbps)",
                                cfg.max_input_kbps)));
                        }
                    }
                    let segments = count_segments(&self.dir, self.lock().rungs.len());
                    if !have_segment && segments.iter().any(|n| *n > 0) {
                        have_segment = true;
                        pending.clear();
                        pending.shrink_to_fit();
                        let secs = started.elapsed().as_secs_f64();
                        self.lock().first_segment = Some((secs * 100.0).round() / 100.0);
                        log.push(format!("live: first segment after {secs:.2} s"));
                    }
                    self.lock().segments = segments;
                    let attached = self.lock().attached != 0;
                    if attached && last_media.elapsed() > Duration::from_secs(cfg.idle_timeout_seconds.max(1)) {
                        log.push(format!("live: no media for {} s; dropping the publisher", cfg.idle_timeout_seconds));
                        let kick = self.lock().kick.take();
                        if let Some(k) = kick {
                            k.cancel();
                        }
                    }
                    let duration = self.lock().duration;
                    if duration >= cfg.record_max_minutes as f64 * 60.0 {
                        self.kick_publisher();
                        break 'pump Some(Pumped::Ended(format!(
                            "the recording reached {} minutes (live.record_max_minutes)", cfg.record_max_minutes)));
                    }
                    if free_below(&self.dir, cfg.min_free_bytes / 2) {
                        self.kick_publisher();
                        break 'pump Some(Pumped::Limit("disk-full",
                            "the disk is nearly full; the stream ended to keep what was recorded".into()));
                    }
                }
            }
        };
        // Closing stdin lets ffmpeg finish: the last segments, the static manifest and
        // #EXT-X-ENDLIST.
        drop(stdin);
        let exited = match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
            Ok(r) => r.ok(),
            Err(_) => {
                ghoststream_media::process::stop(&mut child, Duration::from_secs(2)).await;
                None
            }
        };
        let segments = count_segments(&self.dir, self.lock().rungs.len());
        self.lock().segments = segments.clone();
        match outcome {
            Some(o) => o,
            None => {
                let code = exited.map(|s| s.to_string()).unwrap_or_default();
                let msg = last_err
                    .lock()
                    .map(|g| g.0.clone().unwrap_or_else(|| g.1.clone()))
                    .unwrap_or_default();
                let msg = if msg.is_empty() {
                    format!("ffmpeg ended ({code})")
                } else {
                    crate::redact::redact_text(&msg)
                };
                if segments.iter().all(|n| *n == 0) {
                    Pumped::GpuFailedEarly(msg)
                } else {
                    Pumped::Failed(msg)
                }
            }
        }
    }

    fn progress_line(&self, line: &str) {
        let Some((k, v)) = line.split_once('=') else {
            return;
        };
        let mut st = self.lock();
        match k {
            "out_time_us" => {
                if let Ok(us) = v.trim().parse::<i64>() {
                    let t = us as f64 / 1e6;
                    st.duration = st.duration.max(t);
                    // Speed over the last few seconds with a publisher sending (ffmpeg's
                    // own figure counts the waits for a publisher that went away).
                    if st.attached == 0 {
                        st.samples.clear();
                    } else {
                        let now = Instant::now();
                        st.samples.push_back((now, t));
                        while st
                            .samples
                            .front()
                            .is_some_and(|(w, _)| now.duration_since(*w) > Duration::from_secs(6))
                        {
                            st.samples.pop_front();
                        }
                        if let (Some((w0, t0)), Some((w1, t1))) =
                            (st.samples.front(), st.samples.back())
                        {
                            let wall = w1.duration_since(*w0).as_secs_f64();
                            if wall >= 2.0 {
                                st.speed = Some((((t1 - t0) / wall) * 100.0).round() / 100.0);
                            }
                        }
                    }
                }
            }
            "drop_frames" => st.dropped = v.trim().parse().unwrap_or(st.dropped),
            _ => {}
        }
    }

    fn close(&self) {
        self.kick_publisher();
        if let Ok(mut tx) = self.tx.lock() {
            *tx = None;
        }
    }

    fn finish_ok(&self, log: &JobLog) {
        self.close();
        {
            let mut st = self.lock();
            st.status = LiveStatus::Ended;
            st.ended_at = Some(Utc::now());
        }
        self.save();
        log.push("live: the recording is finished and plays at the same URLs");
        self.push_record(JobStatus::Ready);
        self.notice(LiveEvent::Ended, None);
        self.finished.cancel();
        if let Some(inner) = self.ingest.upgrade() {
            super::Ingest { inner }.prune();
        }
    }

    fn fail(&self, log: &JobLog, code: &str, msg: String) {
        self.close();
        log.push(format!("live: failed ({code}): {msg}"));
        if let Some(inner) = self.ingest.upgrade() {
            super::Ingest {
                inner: inner.clone(),
            }
            .error(format!("'{}' ended: {msg}", self.name()));
        }
        {
            let mut st = self.lock();
            st.status = LiveStatus::Error;
            st.error = Some(msg.clone());
            st.error_code = Some(code.to_string());
            st.ended_at = Some(Utc::now());
        }
        self.save();
        self.push_record(JobStatus::Error);
        self.notice(LiveEvent::Failed, Some(msg));
        self.finished.cancel();
    }
}

enum Pumped {
    /// ffmpeg failed before writing a segment (a GPU encoder may be replaced).
    GpuFailedEarly(String),
    Failed(String),
    Ended(String),
    Limit(&'static str, String),
}

/// One timeline across publishers: each publisher's first tag continues where the one
/// before stopped, so the ladder sees a single stream.
#[derive(Default)]
struct Timeline {
    gen: u64,
    offset: i64,
    last: i64,
    started: bool,
}

impl Timeline {
    fn map(&mut self, gen: u64, tag: &Tag) -> Tag {
        let ms = tag.ms as i64;
        if !self.started || gen != self.gen {
            self.offset = if self.started {
                self.last + 33 - ms
            } else {
                -ms
            };
            self.gen = gen;
            self.started = true;
        }
        let out = (ms + self.offset).max(0);
        self.last = self.last.max(out);
        Tag {
            kind: tag.kind,
            ms: out as u32,
            data: tag.data.clone(),
        }
    }
}

fn over_limits(m: &Meta, cfg: &crate::config::LiveSection) -> Option<String> {
    if let Some(h) = m.height.filter(|h| *h > cfg.max_input_height) {
        return Some(format!(
            "the publisher announces {h} lines; this server takes at most {} (live.max_input_height)",
            cfg.max_input_height
        ));
    }
    if let Some(k) = m.kbps.filter(|k| *k > cfg.max_input_kbps) {
        return Some(format!(
            "the publisher announces {k} kbit/s; this server takes at most {} (live.max_input_kbps)",
            cfg.max_input_kbps
        ));
    }
    None
}

/// The argv as a shell would take it back (single quotes where a word needs them), so
/// the logged command can be run by hand.
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+%@".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn count_segments(dir: &Path, rungs: usize) -> Vec<u32> {
    let mut n = vec![0u32; rungs];
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if let Some(rest) = name.strip_prefix("chunk-") {
                if let Some(i) = rest.split('-').next().and_then(|i| i.parse::<usize>().ok()) {
                    if i < rungs {
                        n[i] += 1;
                    }
                }
            }
        }
    }
    n
}

fn clear_outputs(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_name() != "session.json" {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn free_below(dir: &Path, min: u64) -> bool {
    super::free_bytes(dir).is_some_and(|f| f < min)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(ms: u32) -> Tag {
        Tag {
            kind: flv::VIDEO,
            ms,
            data: bytes::Bytes::from_static(&[0x27, 1]),
        }
    }

    #[test]
    fn logged_commands_can_be_pasted_into_a_shell() {
        let a: Vec<String> = [
            "-i",
            "pipe:0",
            "id=0,streams=v id=1,streams=a",
            "chunk-$Number$.m4s",
            "it's",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            shell_words(&a),
            "-i pipe:0 'id=0,streams=v id=1,streams=a' 'chunk-$Number$.m4s' 'it'\\''s'"
        );
    }

    #[test]
    fn a_second_publisher_continues_the_timeline() {
        let mut t = Timeline::default();
        assert_eq!(t.map(1, &tag(5000)).ms, 0);
        assert_eq!(t.map(1, &tag(6000)).ms, 1000);
        // The publisher reconnects and starts its clock at 0 again.
        assert_eq!(t.map(2, &tag(0)).ms, 1033);
        assert_eq!(t.map(2, &tag(40)).ms, 1073);
    }
}
