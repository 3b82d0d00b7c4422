//! Uploads as a job source, for media this PC cannot fetch by URL. Bytes stream to a
//! file under the state directory (memory stays flat however large the upload), the
//! offset is the truth a client resumes from, and a finished upload is the source
//! `upload:<id>`. Used by the seed's chunked API and by tus 1.0; both are thin HTTP
//! layers over [`Uploads`].
//!
//! Bounds: `uploads.max_bytes` per upload, free disk (announced sizes of every unfinished
//! upload kept back, plus `uploads.min_free_bytes`), `uploads.max_active` unfinished
//! uploads, `uploads.max_kept` in all; an unfinished upload expires after
//! `uploads.expire_minutes` without a byte, a finished one `uploads.keep_hours` after its
//! last use, or with the last job that used it.

use crate::config::UploadsSection;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use ghoststream_types::{ErrorCode, UploadInfo, UploadProtocol};
use sha2::Digest;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

/// What an upload request can be refused for, each with a stable code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UploadError {
    #[error("no upload with that id (it may have expired)")]
    NotFound,
    #[error("the upload would be larger than {max} bytes (uploads.max_bytes)")]
    TooLarge { max: u64 },
    #[error("not enough free disk: {need} bytes needed, {free} free")]
    NoSpace { need: u64, free: u64 },
    #[error("the disk filled during the upload; it stands at byte {offset} and can resume once there is space")]
    DiskFull { offset: u64 },
    #[error("this chunk starts at byte {given} but the upload stands at byte {offset}; send from {offset}")]
    OffsetMismatch { given: u64, offset: u64 },
    #[error("the upload has {offset} of {size} bytes; it is not finished")]
    Incomplete { offset: u64, size: u64 },
    #[error("the checksum does not match the bytes received ({0})")]
    ChecksumMismatch(String),
    #[error("another request is writing this upload now")]
    Busy,
    #[error("{0} unfinished uploads already; finish or delete one first")]
    TooMany(u32),
    #[error("no data for {0} s; the upload stands where the last byte arrived")]
    Timeout(u64),
    #[error("the connection ended mid-chunk; the upload stands at byte {offset}")]
    Dropped { offset: u64 },
    #[error("{0}")]
    Invalid(String),
    #[error("storage error: {0}")]
    Io(String),
}

impl UploadError {
    pub fn code(&self) -> ErrorCode {
        match self {
            UploadError::NotFound => ErrorCode::UploadNotFound,
            UploadError::TooLarge { .. } => ErrorCode::UploadTooLarge,
            UploadError::NoSpace { .. } => ErrorCode::UploadNoSpace,
            UploadError::DiskFull { .. } => ErrorCode::UploadDiskFull,
            UploadError::OffsetMismatch { .. } => ErrorCode::UploadOffsetMismatch,
            UploadError::Incomplete { .. } => ErrorCode::UploadIncomplete,
            UploadError::ChecksumMismatch(_) => ErrorCode::UploadChecksumMismatch,
            UploadError::Busy => ErrorCode::UploadBusy,
            UploadError::TooMany(_) => ErrorCode::TooManyUploads,
            UploadError::Timeout(_) => ErrorCode::BodyTimeout,
            UploadError::Dropped { .. } => ErrorCode::BodyUnreadable,
            UploadError::Invalid(_) => ErrorCode::BadRequest,
            UploadError::Io(_) => ErrorCode::InternalError,
        }
    }
}

/// A checksum a client sent for one chunk (tus `Upload-Checksum`).
#[derive(Debug, Clone)]
pub enum Checksum {
    Sha1(Vec<u8>),
    Sha256(Vec<u8>),
}

enum Hasher {
    None,
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Hasher {
    fn of(c: &Option<Checksum>) -> Hasher {
        match c {
            None => Hasher::None,
            Some(Checksum::Sha1(_)) => Hasher::Sha1(sha1::Sha1::new()),
            Some(Checksum::Sha256(_)) => Hasher::Sha256(sha2::Sha256::new()),
        }
    }
    fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::None => {}
            Hasher::Sha1(h) => h.update(b),
            Hasher::Sha256(h) => h.update(b),
        }
    }
    fn matches(self, c: &Option<Checksum>) -> bool {
        match (self, c) {
            (Hasher::Sha1(h), Some(Checksum::Sha1(want))) => h.finalize().as_slice() == want,
            (Hasher::Sha256(h), Some(Checksum::Sha256(want))) => h.finalize().as_slice() == want,
            _ => true,
        }
    }
}

struct Slot {
    info: UploadInfo,
    /// Held by the one request writing (or finishing) this upload.
    write: Arc<tokio::sync::Mutex<()>>,
}

/// Every upload of this server.
pub struct Uploads {
    dir: PathBuf,
    cfg: UploadsSection,
    slots: Mutex<HashMap<String, Slot>>,
    /// Bytes received since the start, for `/metrics`.
    received: std::sync::atomic::AtomicU64,
}

fn valid_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// A file name as the client gave it, made safe to show (never used as a path).
fn clean_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    if clean.trim().is_empty() {
        "upload".into()
    } else {
        clean
    }
}

impl Uploads {
    /// Opens the uploads folder, taking back every upload a previous run left (so a
    /// client resumes across a server restart) and removing data without a record.
    pub fn open(dir: PathBuf, cfg: UploadsSection) -> std::io::Result<Uploads> {
        std::fs::create_dir_all(&dir)?;
        let dir = dir.canonicalize()?;
        let mut slots = HashMap::new();
        for entry in std::fs::read_dir(&dir)?.flatten() {
            let path = entry.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let (id, ext) = name.split_once('.').unwrap_or((name, ""));
            if !valid_id(id) {
                continue;
            }
            match ext {
                "json" => {
                    let info = std::fs::read(&path)
                        .ok()
                        .and_then(|b| serde_json::from_slice::<UploadInfo>(&b).ok());
                    let data_len = std::fs::metadata(dir.join(format!("{id}.data")))
                        .map(|m| m.len())
                        .ok();
                    match (info, data_len) {
                        (Some(mut info), Some(len)) if len >= info.offset => {
                            // Bytes past the recorded offset are a write cut short.
                            info.offset = info.offset.min(len);
                            slots.insert(
                                id.to_string(),
                                Slot {
                                    info,
                                    write: Arc::default(),
                                },
                            );
                        }
                        _ => {
                            let _ = std::fs::remove_file(&path);
                            let _ = std::fs::remove_file(dir.join(format!("{id}.data")));
                        }
                    }
                }
                "data" if !dir.join(format!("{id}.json")).exists() => {
                    let _ = std::fs::remove_file(&path);
                }
                _ => {}
            }
        }
        Ok(Uploads {
            dir,
            cfg,
            slots: Mutex::new(slots),
            received: Default::default(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn data_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.data"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save(&self, info: &UploadInfo) -> Result<(), UploadError> {
        let path = self.dir.join(format!("{}.json", info.upload_id));
        let tmp = path.with_extension("json.tmp");
        let body = serde_json::to_vec(info).map_err(|e| UploadError::Io(e.to_string()))?;
        std::fs::write(&tmp, body)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| UploadError::Io(e.to_string()))
    }

    fn expiry(&self, complete: bool, from: DateTime<Utc>) -> DateTime<Utc> {
        if complete {
            from + chrono::Duration::hours(self.cfg.keep_hours.into())
        } else {
            from + chrono::Duration::minutes(self.cfg.expire_minutes.into())
        }
    }

    /// Starts an upload of `size` bytes (`None`: not announced, as a single multipart
    /// request), after checking the size limit, free disk and the number of uploads.
    pub fn create(
        &self,
        filename: &str,
        size: Option<u64>,
        protocol: UploadProtocol,
    ) -> Result<UploadInfo, UploadError> {
        let max = self.cfg.max_bytes;
        if size.is_some_and(|s| s > max) {
            return Err(UploadError::TooLarge { max });
        }
        let mut slots = self.lock();
        let active = slots.values().filter(|s| !s.info.complete).count() as u32;
        if active >= self.cfg.max_active || slots.len() as u32 >= self.cfg.max_kept {
            return Err(UploadError::TooMany(active));
        }
        // The disk must hold this upload and the rest of every unfinished one.
        let pending: u64 = slots
            .values()
            .filter(|s| !s.info.complete)
            .map(|s| s.info.size.unwrap_or(0).saturating_sub(s.info.offset))
            .sum();
        let need = size.unwrap_or(0) + pending + self.cfg.min_free_bytes;
        if let Some(free) = free_bytes(&self.dir) {
            if free < need {
                return Err(UploadError::NoSpace { need, free });
            }
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let now = Utc::now();
        let info = UploadInfo {
            upload_id: id.clone(),
            source: format!("upload:{id}"),
            filename: clean_name(filename),
            protocol,
            size,
            offset: 0,
            complete: false,
            sha256: None,
            created_at: now,
            updated_at: now,
            expires_at: self.expiry(false, now),
        };
        std::fs::File::create(self.data_path(&id)).map_err(|e| UploadError::Io(e.to_string()))?;
        self.save(&info)?;
        slots.insert(
            id,
            Slot {
                info: info.clone(),
                write: Arc::default(),
            },
        );
        Ok(info)
    }

    pub fn get(&self, id: &str) -> Result<UploadInfo, UploadError> {
        self.lock()
            .get(id)
            .map(|s| s.info.clone())
            .ok_or(UploadError::NotFound)
    }

    /// Newest first.
    pub fn list(&self) -> Vec<UploadInfo> {
        let mut v: Vec<UploadInfo> = self.lock().values().map(|s| s.info.clone()).collect();
        v.sort_by_key(|u| std::cmp::Reverse(u.created_at));
        v
    }

    /// Bytes received since the start.
    pub fn received(&self) -> u64 {
        self.received.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Bytes every upload holds on disk.
    pub fn bytes(&self) -> u64 {
        self.lock().values().map(|s| s.info.offset).sum()
    }

    fn writer(&self, id: &str) -> Result<Arc<tokio::sync::Mutex<()>>, UploadError> {
        self.lock()
            .get(id)
            .map(|s| s.write.clone())
            .ok_or(UploadError::NotFound)
    }

    /// Records where an upload stands. Under the map's lock, so that an upload deleted
    /// meanwhile (a DELETE during a PATCH) is never written back.
    fn update(&self, info: &UploadInfo) -> Result<(), UploadError> {
        let mut slots = self.lock();
        let slot = slots
            .get_mut(&info.upload_id)
            .ok_or(UploadError::NotFound)?;
        self.save(info)?;
        slot.info = info.clone();
        Ok(())
    }

    /// Appends a chunk that starts at byte `at` (`None`: wherever the upload stands).
    /// Bytes the upload already has (a chunk sent again after a lost answer) are skipped;
    /// a chunk that starts past the end is refused with the offset to send from. What
    /// arrives is kept up to the last byte received, unless the chunk carries a checksum
    /// (then it is all or nothing). Past the size limit, a full disk or a bad checksum,
    /// the chunk is cut off again: nothing half-written is left.
    pub async fn write<S, E>(
        &self,
        id: &str,
        at: Option<u64>,
        body: S,
        checksum: Option<Checksum>,
    ) -> Result<UploadInfo, UploadError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
    {
        let lock = self.writer(id)?;
        let _writing = lock.try_lock().map_err(|_| UploadError::Busy)?;
        let mut info = self.get(id)?;
        let start = info.offset;
        let at = at.unwrap_or(start);
        if at > start {
            return Err(UploadError::OffsetMismatch {
                given: at,
                offset: start,
            });
        }
        let limit = info
            .size
            .unwrap_or(self.cfg.max_bytes)
            .min(self.cfg.max_bytes);
        let path = self.data_path(id);
        let io = |e: std::io::Error| UploadError::Io(e.to_string());
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .await
            .map_err(io)?;
        // Anything past the recorded offset is a write that was cut short.
        file.set_len(start).await.map_err(io)?;
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(io)?;
        let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
        let mut hasher = Hasher::of(&checksum);
        let mut skip = start - at;
        let mut end = start;
        let idle = Duration::from_secs(self.cfg.chunk_timeout_seconds.max(1));
        let mut body = body;
        let outcome: Result<(), UploadError> = loop {
            let next = match tokio::time::timeout(idle, body.next()).await {
                Err(_) => break Err(UploadError::Timeout(idle.as_secs())),
                Ok(None) => break Ok(()),
                Ok(Some(Err(_))) => break Err(UploadError::Dropped { offset: end }),
                Ok(Some(Ok(b))) => b,
            };
            hasher.update(&next);
            self.received
                .fetch_add(next.len() as u64, std::sync::atomic::Ordering::Relaxed);
            let fresh = if skip >= next.len() as u64 {
                skip -= next.len() as u64;
                continue;
            } else {
                let s = skip as usize;
                skip = 0;
                next.slice(s..)
            };
            if end + fresh.len() as u64 > limit {
                break Err(UploadError::TooLarge { max: limit });
            }
            if let Err(e) = out.write_all(&fresh).await {
                break Err(write_error(e, start));
            }
            end += fresh.len() as u64;
        };
        let flushed = out.flush().await.map_err(|e| write_error(e, start));
        let keep_partial = checksum.is_none()
            && matches!(
                outcome,
                Err(UploadError::Timeout(_) | UploadError::Dropped { .. })
            );
        let verdict = match (outcome, flushed) {
            (Ok(()), Ok(())) if hasher.matches(&checksum) => Ok(()),
            (Ok(()), Ok(())) => Err(UploadError::ChecksumMismatch(
                "the chunk was not kept".into(),
            )),
            (Ok(()), Err(e)) => Err(e),
            (Err(e), _) => Err(e),
        };
        let new_offset = match &verdict {
            Ok(()) => end,
            Err(_) if keep_partial => end,
            Err(_) => start,
        };
        if new_offset != end {
            let mut file = out.into_inner();
            let _ = file.set_len(new_offset).await;
            let _ = file.flush().await;
        }
        if new_offset != start || verdict.is_ok() {
            let now = Utc::now();
            info.offset = new_offset;
            info.updated_at = now;
            info.expires_at = self.expiry(false, now);
            self.update(&info)?;
        }
        verdict.map(|_| info)
    }

    /// Finishes an upload: every announced byte is there (a single request's upload takes
    /// its length now), and the SHA-256 matches when one is given. A mismatch deletes the
    /// upload: nothing unverified is kept.
    pub async fn complete(
        &self,
        id: &str,
        sha256: Option<&str>,
    ) -> Result<UploadInfo, UploadError> {
        let lock = self.writer(id)?;
        let _writing = lock.try_lock().map_err(|_| UploadError::Busy)?;
        let mut info = self.get(id)?;
        if info.complete {
            return match (sha256, &info.sha256) {
                (Some(want), Some(have)) if !want.eq_ignore_ascii_case(have) => Err(
                    UploadError::ChecksumMismatch(format!("the file's SHA-256 is {have}")),
                ),
                _ => Ok(info),
            };
        }
        let size = info.size.unwrap_or(info.offset);
        if info.offset != size {
            return Err(UploadError::Incomplete {
                offset: info.offset,
                size,
            });
        }
        let path = self.data_path(id);
        let have = tokio::task::spawn_blocking(move || sha256_of(&path))
            .await
            .map_err(|e| UploadError::Io(e.to_string()))?
            .map_err(|e| UploadError::Io(e.to_string()))?;
        if let Some(want) = sha256 {
            if !want.trim().eq_ignore_ascii_case(&have) {
                drop(_writing);
                self.remove(id).await?;
                return Err(UploadError::ChecksumMismatch(format!(
                    "expected {}, the file's is {have}; the upload was deleted",
                    want.trim().chars().take(64).collect::<String>()
                )));
            }
        }
        let now = Utc::now();
        info.size = Some(size);
        info.complete = true;
        info.sha256 = Some(have);
        info.updated_at = now;
        info.expires_at = self.expiry(true, now);
        self.update(&info)?;
        tracing::info!(upload = %id, bytes = size, "upload complete");
        Ok(info)
    }

    /// Deletes an upload, finished or not.
    pub async fn remove(&self, id: &str) -> Result<(), UploadError> {
        if self.lock().remove(id).is_none() {
            return Err(UploadError::NotFound);
        }
        let _ = tokio::fs::remove_file(self.data_path(id)).await;
        let _ = tokio::fs::remove_file(self.dir.join(format!("{id}.json"))).await;
        Ok(())
    }

    /// The file of a finished upload, for a job; its keep time starts again.
    pub fn resolve(&self, id: &str) -> Result<PathBuf, UploadError> {
        if !valid_id(id) {
            return Err(UploadError::NotFound);
        }
        let mut info = self.get(id)?;
        if !info.complete {
            return Err(UploadError::Incomplete {
                offset: info.offset,
                size: info.size.unwrap_or(info.offset),
            });
        }
        info.expires_at = self.expiry(true, Utc::now());
        self.update(&info)?;
        Ok(self.data_path(id))
    }

    /// Deletes what has expired; answers the ids removed.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Vec<String> {
        let gone: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, s)| s.info.expires_at <= now && s.write.try_lock().is_ok())
            .map(|(id, _)| id.clone())
            .collect();
        for id in &gone {
            tracing::info!(upload = %id, "upload expired and was deleted");
            let _ = self.remove(id).await;
        }
        gone
    }
}

fn write_error(e: std::io::Error, offset: u64) -> UploadError {
    if e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(28) {
        UploadError::DiskFull { offset }
    } else {
        UploadError::Io(e.to_string())
    }
}

fn sha256_of(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Free bytes on the disk that holds `path`.
#[cfg(unix)]
pub(crate) fn free_bytes(path: &Path) -> Option<u64> {
    let v = nix::sys::statvfs::statvfs(path).ok()?;
    // fsblkcnt_t and friends are not u64 on every platform.
    #[allow(clippy::unnecessary_cast)]
    Some(v.blocks_available() as u64 * v.fragment_size() as u64)
}

/// Free bytes on the disk that holds `path` (the longest mount prefix).
#[cfg(not(unix))]
pub(crate) fn free_bytes(path: &Path) -> Option<u64> {
    let disks = sysinfo::Disks::new_with_refreshed_list().ok()?;
    disks
        .iter()
        .filter(|d| path.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len())
        .map(|d| d.available_space())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path) -> Uploads {
        Uploads::open(
            dir.to_path_buf(),
            UploadsSection {
                max_bytes: 100,
                min_free_bytes: 0,
                ..UploadsSection::default()
            },
        )
        .unwrap()
    }

    fn chunks(
        parts: &[&'static [u8]],
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn chunks_are_placed_by_offset_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let up = store(dir.path());
        let info = up
            .create("../../etc/movie.mkv", Some(10), UploadProtocol::Chunked)
            .unwrap();
        assert_eq!(info.filename, "movie.mkv");
        let id = info.upload_id.clone();
        assert_eq!(
            up.write(&id, Some(0), chunks(&[b"hello"]), None)
                .await
                .unwrap()
                .offset,
            5
        );
        // The same chunk again (its answer was lost): nothing changes.
        assert_eq!(
            up.write(&id, Some(0), chunks(&[b"hello"]), None)
                .await
                .unwrap()
                .offset,
            5
        );
        // A chunk past the end: refused with where to send from.
        assert_eq!(
            up.write(&id, Some(7), chunks(&[b"ld"]), None)
                .await
                .unwrap_err(),
            UploadError::OffsetMismatch {
                given: 7,
                offset: 5
            }
        );
        // An overlapping chunk keeps only the new bytes.
        assert_eq!(
            up.write(&id, Some(3), chunks(&[b"lo", b" worl"]), None)
                .await
                .unwrap()
                .offset,
            10
        );
        // Past the announced size: refused, nothing of it kept.
        assert_eq!(
            up.write(&id, None, chunks(&[b"!"]), None)
                .await
                .unwrap_err(),
            UploadError::TooLarge { max: 10 }
        );
        drop(up);
        let up = store(dir.path());
        let want = hex(&sha2::Sha256::digest(b"hello worl"));
        let done = up.complete(&id, Some(&want)).await.unwrap();
        assert!(done.complete);
        assert_eq!(
            std::fs::read(up.resolve(&id).unwrap()).unwrap(),
            b"hello worl"
        );
    }

    #[tokio::test]
    async fn unfinished_uploads_expire_and_finished_ones_are_kept_a_while() {
        let dir = tempfile::tempdir().unwrap();
        let up = store(dir.path());
        let open = up
            .create("a", Some(3), UploadProtocol::Chunked)
            .unwrap()
            .upload_id;
        let done = up
            .create("b", Some(3), UploadProtocol::Chunked)
            .unwrap()
            .upload_id;
        up.write(&done, None, chunks(&[b"abc"]), None)
            .await
            .unwrap();
        up.complete(&done, None).await.unwrap();
        let now = Utc::now();
        assert!(up.sweep(now).await.is_empty());
        // Past expire_minutes (60) without a byte: the unfinished one goes.
        assert_eq!(
            up.sweep(now + chrono::Duration::minutes(61)).await,
            vec![open.clone()]
        );
        assert_eq!(up.get(&open).unwrap_err(), UploadError::NotFound);
        // The finished one stays until keep_hours (24) after its last use.
        assert!(up.resolve(&done).is_ok());
        assert!(up.sweep(now + chrono::Duration::hours(23)).await.is_empty());
        assert_eq!(
            up.sweep(now + chrono::Duration::hours(25)).await,
            vec![done]
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "files left"
        );
    }

    #[tokio::test]
    async fn an_upload_deleted_while_it_is_written_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let up = std::sync::Arc::new(store(dir.path()));
        let id = up
            .create("a", Some(6), UploadProtocol::Tus)
            .unwrap()
            .upload_id;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        let body = tokio_stream_of(rx);
        let (up2, id2) = (up.clone(), id.clone());
        let writing = tokio::spawn(async move { up2.write(&id2, Some(0), body, None).await });
        // The second send waits for the first to be taken: the write is under way.
        tx.send(Ok(Bytes::from_static(b"abc"))).await.unwrap();
        tx.send(Ok(Bytes::from_static(b"de"))).await.unwrap();
        up.remove(&id).await.unwrap();
        let _ = tx.send(Ok(Bytes::from_static(b"f"))).await;
        drop(tx);
        assert_eq!(writing.await.unwrap().unwrap_err(), UploadError::NotFound);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "a record came back"
        );
    }

    fn tokio_stream_of(
        mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
    }

    #[tokio::test]
    async fn a_wrong_checksum_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let up = store(dir.path());
        let id = up
            .create("a", Some(3), UploadProtocol::Chunked)
            .unwrap()
            .upload_id;
        up.write(&id, None, chunks(&[b"abc"]), None).await.unwrap();
        let e = up.complete(&id, Some(&"0".repeat(64))).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::UploadChecksumMismatch);
        assert_eq!(up.get(&id).unwrap_err(), UploadError::NotFound);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        // A chunk checksum (tus) that does not match: the chunk is cut off again.
        let id = up
            .create("b", Some(6), UploadProtocol::Tus)
            .unwrap()
            .upload_id;
        up.write(&id, None, chunks(&[b"abc"]), None).await.unwrap();
        let bad = Some(Checksum::Sha1(vec![0; 20]));
        let e = up
            .write(&id, Some(3), chunks(&[b"def"]), bad)
            .await
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::UploadChecksumMismatch);
        assert_eq!(up.get(&id).unwrap().offset, 3);
        let good = Some(Checksum::Sha1(sha1::Sha1::digest(b"def").to_vec()));
        assert_eq!(
            up.write(&id, Some(3), chunks(&[b"def"]), good)
                .await
                .unwrap()
                .offset,
            6
        );
        // Limits: the size, and unfinished uploads.
        assert_eq!(
            up.create("c", Some(101), UploadProtocol::Tus).unwrap_err(),
            UploadError::TooLarge { max: 100 }
        );
        assert!(
            up.resolve(&id).is_err(),
            "an unfinished upload is no source"
        );
        assert!(up.resolve("../../etc/passwd").is_err());
    }
}
