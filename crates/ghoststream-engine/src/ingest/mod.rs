//! Live ingest: RTMP (`rml_rtmp`) and SRT (`srt-tokio`) listeners inside the server
//! process, stream keys, and one session per live stream. A session turns what its
//! publisher sends into FLV tags, feeds them to one ffmpeg on its stdin, and that ffmpeg
//! writes the whole ladder as CMAF segments with both a DASH manifest and HLS playlists.
//! When the publisher stops, the same files are the recording (a finished job in history).
//!
//! Every publisher, whatever its protocol, goes through [`Ingest::claim`]: the key, the
//! one-publisher-per-key rule, `live.max_streams` and the disk guard are checked there,
//! at publish time, before a byte of media is taken.

pub mod flv;
mod keys;
mod ladder;
mod rtmp;
mod session;
mod srt;

use crate::config::LiveSection;
use crate::runner::JobLog;
use ghoststream_media::hw::Hardware;
use ghoststream_types::{
    IngestKey, IngestKeyRequest, IngestOverview, IngestProtocol, LiveStatus, LiveStream, Notice,
};
use keys::Keys;
pub use session::Meta;
use session::Session;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

/// The ladder's rungs, top first (each only when the input is at least that tall).
pub const LADDER_NAMES: [&str; 4] = ["1080p", "720p", "480p", "360p"];

/// Why a key operation or a stream lookup failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IngestError {
    #[error("no stream key '{0}'")]
    KeyNotFound(String),
    #[error("a stream key '{0}' exists already")]
    KeyExists(String),
    #[error("{0}")]
    Invalid(String),
    #[error("nothing is live or recorded on that key")]
    NotFound,
    #[error("live ingest is off on this server (live.enabled)")]
    Disabled,
    #[error("cannot save the stream keys: {0}")]
    Io(String),
}

impl IngestError {
    pub fn code(&self) -> ghoststream_types::ErrorCode {
        use ghoststream_types::ErrorCode as C;
        match self {
            IngestError::KeyNotFound(_) => C::IngestKeyNotFound,
            IngestError::KeyExists(_) => C::IngestKeyExists,
            IngestError::Invalid(_) => C::InvalidRequest,
            IngestError::NotFound => C::LiveNotFound,
            IngestError::Disabled => C::LiveDisabled,
            IngestError::Io(_) => C::InternalError,
        }
    }
}

/// Why a publisher was turned away, with the RTMP status a publisher shows for it.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Unknown or revoked key: `NetStream.Publish.BadName`.
    BadName(String),
    /// Known key but not now (already live, too many streams, no disk):
    /// `NetStream.Publish.Denied`.
    Denied(String),
}

impl Refusal {
    pub fn rtmp_code(&self) -> &'static str {
        match self {
            Refusal::BadName(_) => "NetStream.Publish.BadName",
            Refusal::Denied(_) => "NetStream.Publish.Denied",
        }
    }
    pub fn reason(&self) -> &str {
        match self {
            Refusal::BadName(r) | Refusal::Denied(r) => r,
        }
    }
}

/// What a session needs from the engine: where its job goes, and how to tell people.
pub(crate) struct Hooks {
    pub notices: broadcast::Sender<Notice>,
    /// Records (and re-records) a live stream's job in the history.
    pub record: Box<dyn Fn(crate::job::JobRecord, JobLog) + Send + Sync>,
    pub log_for: Box<dyn Fn(Uuid) -> JobLog + Send + Sync>,
}

pub(crate) struct Inner {
    pub cfg: LiveSection,
    pub ffmpeg: PathBuf,
    /// `<state>/live`: the keys file and one folder per stream (its recording).
    pub root: PathBuf,
    pub hardware: Arc<Hardware>,
    pub hooks: Hooks,
    keys: Mutex<Keys>,
    /// Every session the server knows, live or recorded, by job id.
    sessions: Mutex<HashMap<Uuid, Arc<Session>>>,
    rtmp_port: AtomicU16,
    srt_port: AtomicU16,
    /// Connections that have not started publishing.
    pub pending: AtomicU32,
    errors: Mutex<VecDeque<String>>,
    /// Listeners that could not bind (two at most).
    listen_errors: Mutex<Vec<String>>,
    pub stop: CancellationToken,
    pub tasks: TaskTracker,
}

/// The live ingest handle. Cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    pub(crate) inner: Arc<Inner>,
}

impl Ingest {
    pub(crate) fn open(
        cfg: LiveSection,
        ffmpeg: PathBuf,
        root: PathBuf,
        hardware: Arc<Hardware>,
        hooks: Hooks,
    ) -> std::io::Result<Ingest> {
        std::fs::create_dir_all(&root)?;
        let keys = Keys::load(root.join("keys.json"))?;
        let ingest = Ingest {
            inner: Arc::new(Inner {
                cfg,
                ffmpeg,
                root,
                hardware,
                hooks,
                keys: Mutex::new(keys),
                sessions: Mutex::new(HashMap::new()),
                rtmp_port: AtomicU16::new(0),
                srt_port: AtomicU16::new(0),
                pending: AtomicU32::new(0),
                errors: Mutex::new(VecDeque::new()),
                listen_errors: Mutex::new(Vec::new()),
                stop: CancellationToken::new(),
                tasks: TaskTracker::new(),
            }),
        };
        ingest.restore();
        Ok(ingest)
    }

    pub fn enabled(&self) -> bool {
        self.inner.cfg.enabled
    }

    pub fn config(&self) -> &LiveSection {
        &self.inner.cfg
    }

    /// Binds the RTMP and SRT listeners on `host` and serves them until shutdown. A port
    /// that cannot be bound is reported (`/api/ingest`, health) and the rest goes on.
    pub async fn listen(&self, host: &str) {
        if !self.inner.cfg.enabled {
            return;
        }
        let rtmp_addr = format!("{host}:{}", self.inner.cfg.rtmp_port);
        match tokio::net::TcpListener::bind(&rtmp_addr).await {
            Ok(l) => {
                let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
                self.inner.rtmp_port.store(port, Ordering::Relaxed);
                tracing::info!(
                    "live: RTMP ingest on {host}:{port} (rtmp://<this pc>:{port}/live/<key>)"
                );
                let me = self.clone();
                self.inner.tasks.spawn(rtmp::serve(me, l));
            }
            Err(e) => self.listen_failed(format!("cannot listen for RTMP on {rtmp_addr}: {e}")),
        }
        let srt_addr = format!("{host}:{}", self.inner.cfg.srt_port);
        match srt::bind(&srt_addr).await {
            Ok((listener, incoming, port)) => {
                self.inner.srt_port.store(port, Ordering::Relaxed);
                tracing::info!(
                    "live: SRT ingest on {host}:{port} (srt://<this pc>:{port}?streamid=<key>)"
                );
                let me = self.clone();
                self.inner.tasks.spawn(srt::serve(me, listener, incoming));
            }
            Err(e) => self.listen_failed(format!("cannot listen for SRT on {srt_addr}: {e}")),
        }
    }

    pub fn rtmp_port(&self) -> Option<u16> {
        Some(self.inner.rtmp_port.load(Ordering::Relaxed)).filter(|p| *p != 0)
    }

    pub fn srt_port(&self) -> Option<u16> {
        Some(self.inner.srt_port.load(Ordering::Relaxed)).filter(|p| *p != 0)
    }

    /// Notes a failure or refusal for `/api/ingest` (the last 20) and the log.
    pub(crate) fn error(&self, msg: String) {
        tracing::warn!("live: {msg}");
        if let Ok(mut e) = self.inner.errors.lock() {
            if e.len() == 20 {
                e.pop_front();
            }
            e.push_back(format!("{} {msg}", chrono::Utc::now().format("%H:%M:%S")));
        }
    }

    /// A listener that could not bind: kept for as long as the server runs (health,
    /// `/api/ingest`), apart from the bounded list of refusals.
    fn listen_failed(&self, msg: String) {
        tracing::error!("live: {msg}");
        if let Ok(mut e) = self.inner.listen_errors.lock() {
            e.push(msg);
        }
    }

    pub fn listener_errors(&self) -> Vec<String> {
        self.inner
            .listen_errors
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    // ---- keys ----

    pub fn keys(&self) -> Vec<IngestKey> {
        let live: Vec<String> = self
            .sessions()
            .into_iter()
            .filter(|s| s.is_live())
            .map(|s| s.key.clone())
            .collect();
        self.inner
            .keys
            .lock()
            .map(|k| k.list(&live))
            .unwrap_or_default()
    }

    pub fn create_key(&self, req: IngestKeyRequest) -> Result<IngestKey, IngestError> {
        let mut keys = self.inner.keys.lock().map_err(|_| IngestError::NotFound)?;
        keys.create(req)
    }

    pub fn rename_key(&self, key: &str, name: String) -> Result<IngestKey, IngestError> {
        let renamed = {
            let mut keys = self.inner.keys.lock().map_err(|_| IngestError::NotFound)?;
            keys.rename(key, name.clone())?
        };
        for s in self.sessions().into_iter().filter(|s| s.key == key) {
            s.set_name(&name);
        }
        let mut out = renamed;
        out.live = self.live_on(key).is_some();
        Ok(out)
    }

    /// Removes a key: its publisher (if live) is disconnected and the stream ends; its
    /// recordings stay until their retention ends.
    pub async fn revoke_key(&self, key: &str) -> Result<(), IngestError> {
        {
            let mut keys = self.inner.keys.lock().map_err(|_| IngestError::NotFound)?;
            keys.remove(key)?;
        }
        if let Some(s) = self.live_on(key) {
            s.end_now("the stream key was revoked").await;
        }
        Ok(())
    }

    fn key_name(&self, key: &str) -> Option<String> {
        self.inner.keys.lock().ok()?.name_of(key)
    }

    // ---- publishing ----

    /// A publisher asks to go live on `key`. Checked here, at publish time: the key
    /// exists, nobody else is live on it, `live.max_streams`, and free disk.
    pub(crate) fn claim(
        &self,
        key: &str,
        peer: SocketAddr,
        protocol: IngestProtocol,
    ) -> Result<session::Publisher, Refusal> {
        let refuse = |r: Refusal| {
            self.error(format!(
                "refused a {} publisher from {peer} on key {}: {}",
                match protocol {
                    IngestProtocol::Rtmp => "RTMP",
                    IngestProtocol::Srt => "SRT",
                },
                keys::masked(key),
                r.reason()
            ));
            Err(r)
        };
        if self.inner.stop.is_cancelled() {
            return refuse(Refusal::Denied("the server is stopping".into()));
        }
        let Some(name) = self.key_name(key) else {
            return refuse(Refusal::BadName(
                "unknown or revoked stream key; create one in GhostStream's Live panel".into(),
            ));
        };
        // One lock for the check and the insert: two publishers racing on a key, or on
        // the last free stream, cannot both win.
        let Ok(mut sessions) = self.inner.sessions.lock() else {
            return refuse(Refusal::Denied("internal error".into()));
        };
        if let Some(s) = sessions.values().find(|s| s.key == key && s.is_live()) {
            if s.status() == LiveStatus::Idle && s.protocol == protocol {
                // Back within the grace period: the same stream goes on.
                return match s.attach(peer) {
                    Some(p) => {
                        tracing::info!("live: publisher {peer} is back on '{name}'");
                        Ok(p)
                    }
                    None => refuse(Refusal::Denied("the stream is ending".into())),
                };
            }
            return refuse(Refusal::Denied(format!(
                "'{name}' is already live (from {}); one publisher per key",
                s.publisher().unwrap_or_else(|| "another publisher".into())
            )));
        }
        let live = sessions.values().filter(|s| s.is_live()).count() as u32;
        if live >= self.inner.cfg.max_streams {
            return refuse(Refusal::Denied(format!(
                "{live} streams are live, the most this server takes (live.max_streams)"
            )));
        }
        match free_bytes(&self.inner.root) {
            Some(free) if free < self.inner.cfg.min_free_bytes => {
                return refuse(Refusal::Denied(format!(
                    "only {} MiB of disk free for recordings (live.min_free_bytes)",
                    free >> 20
                )));
            }
            _ => {}
        }
        if let Ok(mut k) = self.inner.keys.lock() {
            k.touch(key);
        }
        let (session, publisher) = Session::start(self.clone(), key, &name, protocol, peer);
        sessions.insert(session.job_id, session);
        drop(sessions);
        self.prune();
        Ok(publisher)
    }

    fn sessions(&self) -> Vec<Arc<Session>> {
        let mut v: Vec<Arc<Session>> = self
            .inner
            .sessions
            .lock()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default();
        v.sort_by_key(|s| std::cmp::Reverse(s.started_at));
        v
    }

    fn live_on(&self, key: &str) -> Option<Arc<Session>> {
        self.sessions()
            .into_iter()
            .find(|s| s.key == key && s.is_live())
    }

    /// Every live stream, and the recordings, newest first. `with_keys`: the caller may
    /// see stream keys (the owner, an API-key holder).
    pub fn overview(&self, with_keys: bool, host: &str) -> IngestOverview {
        let host = host_only(host);
        IngestOverview {
            enabled: self.inner.cfg.enabled,
            rtmp_port: self.rtmp_port(),
            srt_port: self.srt_port(),
            rtmp_server: self.rtmp_port().map(|p| format!("rtmp://{host}:{p}/live")),
            srt_url: self.srt_port().map(|p| format!("srt://{host}:{p}")),
            max_streams: self.inner.cfg.max_streams,
            errors: self
                .listener_errors()
                .into_iter()
                .chain(
                    self.inner
                        .errors
                        .lock()
                        .map(|e| e.iter().cloned().collect::<Vec<_>>())
                        .unwrap_or_default(),
                )
                .collect(),
            streams: self.sessions().iter().map(|s| s.info(with_keys)).collect(),
        }
    }

    /// Live streams now (for health and metrics).
    pub fn streams(&self) -> Vec<LiveStream> {
        self.sessions()
            .iter()
            .filter(|s| s.is_live())
            .map(|s| s.info(false))
            .collect()
    }

    /// Ends the stream live on `key` now: its publisher is disconnected and the
    /// recording is finished.
    pub async fn stop_stream(&self, key: &str) -> Result<(), IngestError> {
        if self.key_name(key).is_none() {
            return Err(IngestError::KeyNotFound(key.into()));
        }
        let s = self.live_on(key).ok_or(IngestError::NotFound)?;
        s.end_now("stopped from the dashboard").await;
        Ok(())
    }

    /// The file a player asks for under `/streams/<key>/`: `master.m3u8`, a media
    /// playlist, a segment, `dash/manifest.mpd`, or the same under `<job id>/` for an
    /// older recording of the key. Playlists come back as text (live ones are the sliding
    /// window); segments as a path.
    pub async fn file(&self, key: &str, rest: &str) -> Result<LiveFile, IngestError> {
        if self.key_name(key).is_none() && !self.sessions().iter().any(|s| s.key == key) {
            return Err(IngestError::NotFound);
        }
        let (session, name) = match rest.split_once('/') {
            Some((id, name)) if Uuid::parse_str(id).is_ok() => {
                let id = Uuid::parse_str(id).unwrap_or_default();
                let s = self
                    .sessions()
                    .into_iter()
                    .find(|s| s.job_id == id && s.key == key)
                    .ok_or(IngestError::NotFound)?;
                (s, name)
            }
            _ => {
                let s = self
                    .sessions()
                    .into_iter()
                    .find(|s| s.key == key)
                    .ok_or(IngestError::NotFound)?;
                (s, rest)
            }
        };
        let name = name.strip_prefix("dash/").unwrap_or(name);
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            || name.starts_with('.')
            || name == "session.json"
        {
            return Err(IngestError::NotFound);
        }
        session.file(name).await
    }

    /// Counts bytes served for a stream (`bytes_out`).
    pub fn served(&self, key: &str, bytes: u64) {
        if let Some(s) = self.sessions().into_iter().find(|s| s.key == key) {
            s.served(bytes);
        }
    }

    /// Ends the live stream whose job is `job`; `false` when that job is not live.
    pub(crate) async fn end_job(&self, job: Uuid, why: &str) -> bool {
        let s = self
            .sessions()
            .into_iter()
            .find(|s| s.job_id == job && s.is_live());
        match s {
            Some(s) => {
                s.end_now(why).await;
                true
            }
            None => false,
        }
    }

    /// A recording's job was deleted: its session goes too.
    pub(crate) fn forget(&self, job: Uuid) {
        let gone = self
            .inner
            .sessions
            .lock()
            .ok()
            .and_then(|mut s| s.remove(&job));
        if let Some(s) = gone {
            s.stop.cancel();
        }
    }

    /// Ends every stream (their recordings are finished) and stops the listeners.
    pub async fn shutdown(&self) {
        self.inner.stop.cancel();
        self.inner.tasks.close();
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(15), self.inner.tasks.wait()).await;
    }

    /// Recordings past `live.keep_hours` or beyond `live.max_recordings` go, oldest first.
    pub(crate) fn prune(&self) {
        let keep = chrono::Duration::hours(self.inner.cfg.keep_hours as i64);
        let now = chrono::Utc::now();
        let mut ended: Vec<Arc<Session>> = self
            .sessions()
            .into_iter()
            .filter(|s| !s.is_live())
            .collect();
        ended.sort_by_key(|s| std::cmp::Reverse(s.started_at));
        for (i, s) in ended.into_iter().enumerate() {
            let old = s.ended_at().is_some_and(|t| now - t > keep);
            if old || i as u32 >= self.inner.cfg.max_recordings {
                tracing::info!("live: recording {} removed by retention", s.job_id);
                let _ = std::fs::remove_dir_all(&s.dir);
                self.forget(s.job_id);
            }
        }
    }

    /// Sessions a previous run left: finished recordings are served again; one that was
    /// live when the server died is finished as it stands ("interrupted").
    fn restore(&self) {
        let Ok(rd) = std::fs::read_dir(&self.inner.root) else {
            return;
        };
        for entry in rd.flatten() {
            let dir = entry.path();
            if !dir.is_dir() {
                continue;
            }
            match Session::restore(self.clone(), &dir) {
                Some(s) => {
                    if let Ok(mut m) = self.inner.sessions.lock() {
                        m.insert(s.job_id, s);
                    }
                }
                None => {
                    let _ = std::fs::remove_dir_all(&dir);
                }
            }
        }
        self.prune();
    }
}

/// What `/streams/<key>/<name>` is.
pub enum LiveFile {
    Playlist {
        text: String,
        content_type: &'static str,
    },
    Segment(PathBuf),
}

fn host_only(host: &str) -> String {
    let h = host
        .strip_prefix("http://")
        .or_else(|| host.strip_prefix("https://"))
        .unwrap_or(host);
    let h = h.split('/').next().unwrap_or(h);
    if h.starts_with('[') {
        return h
            .split(']')
            .next()
            .map(|x| format!("{x}]"))
            .unwrap_or_default();
    }
    match h.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name.to_string(),
        _ => h.to_string(),
    }
}

/// Free bytes on the file system holding `path`.
pub(crate) fn free_bytes(path: &Path) -> Option<u64> {
    crate::uploads::free_bytes(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lose_ports() {
        assert_eq!(host_only("http://192.168.1.5:8765"), "192.168.1.5");
        assert_eq!(host_only("pc.local:8765"), "pc.local");
        assert_eq!(host_only("[::1]:8765"), "[::1]");
        assert_eq!(host_only("pc"), "pc");
    }
}
