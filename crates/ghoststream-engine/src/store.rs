//! The embedded SQLite database under the state directory: job history, stats totals and
//! the token secret. Writes go through one writer thread so the engine never waits on disk.

use crate::job::JobRecord;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state database {path}: {cause}")]
    Open { path: PathBuf, cause: String },
    #[error("state database {path} is damaged: {cause}")]
    Damaged { path: PathBuf, cause: String },
}

/// Totals behind `/api/stats`, persisted across restarts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub successful: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub bytes: u64,
    pub speed_sum: f64,
    pub speed_count: u64,
    pub hw_usage: BTreeMap<String, u64>,
}

impl Totals {
    /// Counts a job that just ended (by its record's status): its outcome, and for a
    /// finished one its bytes and speed; the back end it used when it `ran`.
    pub fn count_end(&mut self, rec: &JobRecord, ran: bool) {
        match rec.status {
            ghoststream_types::JobStatus::Ready => {
                self.successful += 1;
                self.bytes += rec.output_bytes;
                if let Some(s) = rec.speed {
                    self.speed_sum += s;
                    self.speed_count += 1;
                }
            }
            ghoststream_types::JobStatus::Error => self.failed += 1,
            ghoststream_types::JobStatus::Cancelled => self.cancelled += 1,
            _ => {}
        }
        if ran {
            if let Some(hw) = rec.hw_accel_used {
                *self.hw_usage.entry(hw.as_str().to_string()).or_insert(0) += 1;
            }
        }
    }
}

/// A read, run on the writer thread after every write sent before it.
type Read = Box<dyn FnOnce(&Connection) + Send>;

enum Op {
    Upsert(Box<JobRecord>),
    Delete(String),
    Totals(Totals),
    Flush(tokio::sync::oneshot::Sender<()>),
    Read(Read),
}

/// The columns the history is searched by, computed from each record (SQLite generated
/// columns, so records keep one form): name and JSON path.
const COLUMNS: [(&str, &str); 9] = [
    ("status", "$.status"),
    ("mode", "$.mode"),
    ("created", "$.created_at"),
    ("completed", "$.completed_at"),
    ("removed", "$.files_removed"),
    ("speed", "$.speed"),
    ("hw", "$.hw_accel_used"),
    ("first_seg", "$.first_segment_secs"),
    ("delivery", "$.delivery.kind"),
];

/// A finished job whose files are gone: nothing of it is served, so it lives only here
/// (the engine keeps the others in memory).
const ARCHIVED: &str = "status IN ('ready', 'error', 'cancelled') AND removed = 1";
const FINISHED: &str = "status IN ('ready', 'error', 'cancelled')";

/// Adds the generated columns and their indexes where a database lacks them (one made
/// before they existed gets them here too).
fn add_columns(conn: &Connection) -> rusqlite::Result<()> {
    let have: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_xinfo('jobs')")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for (name, path) in COLUMNS {
        if !have.iter().any(|h| h == name) {
            conn.execute_batch(&format!(
                "ALTER TABLE jobs ADD COLUMN {name} GENERATED ALWAYS AS (json_extract(data, '{path}')) VIRTUAL"
            ))?;
        }
    }
    // Each read of the history is answered from one of these without opening a record:
    // pages in order, the daily chart, what /metrics counts, what start-up loads.
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created, id);
         CREATE INDEX IF NOT EXISTS jobs_by_end ON jobs (completed, status, hw, speed);
         CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, removed, mode);
         CREATE INDEX IF NOT EXISTS jobs_figures ON jobs (speed, first_seg);",
    )
}

/// Handle to the writer thread.
#[derive(Clone)]
pub struct Store {
    tx: mpsc::Sender<Op>,
}

/// Finished jobs of one UTC day with one outcome and back end.
#[derive(Debug, Clone, PartialEq)]
pub struct EndedDay {
    /// `YYYY-MM-DD`
    pub day: String,
    pub status: String,
    pub hw: Option<String>,
    /// `direct`, `remux` or `transcode`; `None` for jobs from before it was kept.
    pub delivery: Option<String>,
    pub jobs: u64,
    pub speed_sum: f64,
    /// Jobs with a speed (the sum's count).
    pub speeds: u64,
}

/// The whole history in figures (for `/metrics`).
#[derive(Debug, Default)]
pub struct HistoryFigures {
    /// (status, mode, jobs)
    pub by_status_and_mode: Vec<(String, String, u64)>,
    /// Every finished job's encode speed (times real time).
    pub speeds: Vec<f64>,
    /// Every stream job's seconds from creation to its first segment.
    pub first_segment: Vec<f64>,
}

/// What the database held at start.
pub struct Loaded {
    /// Every job but the archived ones (finished, files gone): those are read on demand.
    pub jobs: Vec<JobRecord>,
    pub totals: Totals,
    pub secret: Vec<u8>,
}

fn open(path: &Path) -> Result<Connection, StoreError> {
    let err = |e: &dyn std::fmt::Display| StoreError::Open {
        path: path.to_path_buf(),
        cause: e.to_string(),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err(&e))?;
    }
    let conn = Connection::open(path).map_err(|e| err(&e))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| err(&e))?;
    let damaged = |cause: String| StoreError::Damaged {
        path: path.to_path_buf(),
        cause,
    };
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
                damaged(e.to_string())
            }
            _ => err(&e),
        })?;
    if check != "ok" {
        return Err(damaged(check));
    }
    conn.execute_batch(
        "PRAGMA journal_mode=WAL;
         CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, data TEXT NOT NULL, updated_at TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS totals (id INTEGER PRIMARY KEY CHECK (id = 1), data TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL);",
    )
    .map_err(|e| err(&e))?;
    add_columns(&conn).map_err(|e| err(&e))?;
    Ok(conn)
}

/// Renames a damaged database (and its WAL files) to `<name>.damaged-<unix time>`.
fn set_aside(path: &Path) -> std::io::Result<PathBuf> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".damaged-{stamp}"));
    let aside = PathBuf::from(aside);
    std::fs::rename(path, &aside)?;
    for ext in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(ext);
        let side = PathBuf::from(side);
        if side.exists() {
            let mut to = aside.as_os_str().to_owned();
            to.push(ext);
            let _ = std::fs::rename(&side, PathBuf::from(to));
        }
    }
    Ok(aside)
}

impl Store {
    /// Opens (or creates) the database, loads what it holds, and starts the writer.
    pub fn open(path: &Path) -> Result<(Store, Loaded), StoreError> {
        let conn = match open(path) {
            Ok(c) => c,
            // A damaged database is kept for inspection, never silently emptied: it is
            // renamed, the log says where, and a fresh one takes its place. A locked or
            // unreadable one is an error (another instance, permissions).
            Err(StoreError::Damaged { cause, .. }) => {
                let aside = set_aside(path).map_err(|e| StoreError::Open {
                    path: path.to_path_buf(),
                    cause: format!("damaged ({cause}) and cannot be set aside: {e}"),
                })?;
                tracing::error!(
                    "state database {} is damaged ({cause}); kept as {} and starting with an empty history",
                    path.display(),
                    aside.display()
                );
                open(path)?
            }
            Err(e) => return Err(e),
        };
        let err = |e: rusqlite::Error| StoreError::Open {
            path: path.to_path_buf(),
            cause: e.to_string(),
        };
        let mut jobs = Vec::new();
        {
            let mut stmt = conn
                .prepare(
                    "SELECT id, data FROM jobs WHERE status IN ('queued', 'processing')
                     UNION ALL
                     SELECT id, data FROM jobs WHERE status IN ('ready', 'error', 'cancelled') AND removed = 0",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(err)?;
            for row in rows {
                let (id, data) = row.map_err(err)?;
                match serde_json::from_str::<JobRecord>(&data) {
                    Ok(rec) => jobs.push(rec),
                    Err(e) => {
                        tracing::warn!(job = %id, error = %e, "unreadable job record kept in the database, skipped")
                    }
                }
            }
        }
        let totals = conn
            .query_row("SELECT data FROM totals WHERE id = 1", [], |r| {
                r.get::<_, String>(0)
            })
            .optional()
            .map_err(err)?
            .and_then(|d| serde_json::from_str::<TotalsRow>(&d).ok())
            .map(Totals::from)
            .unwrap_or_default();
        let secret = match conn
            .query_row("SELECT value FROM kv WHERE key = 'token_secret'", [], |r| {
                r.get::<_, Vec<u8>>(0)
            })
            .optional()
            .map_err(err)?
        {
            Some(s) if s.len() >= 32 => s,
            _ => {
                let s: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
                conn.execute(
                    "INSERT OR REPLACE INTO kv (key, value) VALUES ('token_secret', ?1)",
                    params![s],
                )
                .map_err(err)?;
                s
            }
        };
        let (tx, rx) = mpsc::channel(4096);
        std::thread::Builder::new()
            .name("ghoststream-store".into())
            .spawn(move || writer(conn, rx))
            .map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                cause: e.to_string(),
            })?;
        Ok((
            Store { tx },
            Loaded {
                jobs,
                totals,
                secret,
            },
        ))
    }

    pub async fn upsert(&self, rec: JobRecord) {
        let _ = self.tx.send(Op::Upsert(Box::new(rec))).await;
    }

    pub async fn delete(&self, id: String) {
        let _ = self.tx.send(Op::Delete(id)).await;
    }

    pub async fn totals(&self, t: Totals) {
        let _ = self.tx.send(Op::Totals(t)).await;
    }

    /// Runs `f` on the database after every write sent before this call; `None` when the
    /// store is closed or the read fails (logged).
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let op = Op::Read(Box::new(move |conn| {
            let r = f(conn);
            if let Err(e) = &r {
                tracing::error!(error = %e, "state database read failed");
            }
            let _ = tx.send(r.ok());
        }));
        self.tx.send(op).await.ok()?;
        // Waited for on the blocking pool, as a file read would be: the runtime knows work
        // is in flight (a paused test clock does not jump past it).
        tokio::task::spawn_blocking(move || rx.blocking_recv().ok().flatten())
            .await
            .ok()
            .flatten()
    }

    /// One job's record.
    pub async fn get(&self, id: uuid::Uuid) -> Option<JobRecord> {
        self.read(move |conn| {
            conn.query_row(
                "SELECT data FROM jobs WHERE id = ?1",
                params![id.to_string()],
                |r| r.get::<_, String>(0),
            )
            .optional()
        })
        .await
        .flatten()
        .and_then(|d| serde_json::from_str(&d).ok())
    }

    /// Jobs newest first, `limit` from `offset`, and how many there are.
    pub async fn page(&self, offset: u32, limit: u32) -> Option<(Vec<JobRecord>, u64)> {
        self.read(move |conn| {
            let total: u64 = conn.query_row("SELECT COUNT(*) FROM jobs", [], |r| r.get(0))?;
            let rows = conn
                .prepare_cached(
                    "SELECT data FROM jobs ORDER BY created DESC, id DESC LIMIT ?1 OFFSET ?2",
                )?
                .query_map(params![limit, offset], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            let recs = rows
                .iter()
                .filter_map(|d| serde_json::from_str(d).ok())
                .collect();
            Ok((recs, total))
        })
        .await
    }

    /// How many jobs: all of them, and the finished ones.
    pub async fn counts(&self) -> Option<(u64, u64)> {
        self.read(|conn| {
            let all = conn.query_row("SELECT COUNT(*) FROM jobs", [], |r| r.get(0))?;
            let finished = conn.query_row(
                &format!("SELECT COUNT(*) FROM jobs WHERE {FINISHED}"),
                [],
                |r| r.get(0),
            )?;
            Ok((all, finished))
        })
        .await
    }

    /// What `/metrics` reports of the whole history.
    pub async fn figures(&self) -> Option<HistoryFigures> {
        self.read(|conn| {
            let by_status_and_mode = conn
                .prepare_cached(
                    "SELECT status, mode, COUNT(*) FROM jobs INDEXED BY jobs_by_status GROUP BY status, mode",
                )?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut speeds = Vec::new();
            let mut first_segment = Vec::new();
            let mut stmt = conn.prepare_cached("SELECT speed, first_seg FROM jobs INDEXED BY jobs_figures")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                if let Some(s) = r.get::<_, Option<f64>>(0)? {
                    speeds.push(s);
                }
                if let Some(f) = r.get::<_, Option<f64>>(1)? {
                    first_segment.push(f);
                }
            }
            Ok(HistoryFigures {
                by_status_and_mode,
                speeds,
                first_segment,
            })
        })
        .await
    }

    /// The `n` oldest finished jobs (by creation).
    pub async fn oldest_finished(&self, n: u64) -> Option<Vec<uuid::Uuid>> {
        self.read(move |conn| {
            let ids = conn
                .prepare_cached(&format!(
                    "SELECT id FROM jobs WHERE {FINISHED} ORDER BY created ASC LIMIT ?1"
                ))?
                .query_map(params![n], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(ids
                .iter()
                .filter_map(|i| uuid::Uuid::parse_str(i).ok())
                .collect())
        })
        .await
    }

    /// Removes archived jobs that ended before `before`; how many went.
    pub async fn delete_archived_before(&self, before: chrono::DateTime<chrono::Utc>) -> usize {
        let before = before.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        self.read(move |conn| {
            conn.execute(
                &format!("DELETE FROM jobs WHERE {ARCHIVED} AND completed < ?1"),
                params![before],
            )
        })
        .await
        .unwrap_or(0)
    }

    /// Finished jobs that ended at or after `since`, by UTC day (`YYYY-MM-DD`) or, with
    /// `hourly`, UTC hour (`YYYY-MM-DDTHH`), and by status, back end and delivery (direct,
    /// remux, transcode): jobs, sum of speeds, jobs with a speed.
    pub async fn ended_by(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        hourly: bool,
    ) -> Option<Vec<EndedDay>> {
        let since = since.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        let len = if hourly { 13 } else { 10 };
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT substr(completed, 1, ?2), status, hw, delivery, COUNT(*), TOTAL(speed), COUNT(speed)
                 FROM jobs WHERE completed >= ?1 GROUP BY 1, 2, 3, 4",
            )?
            .query_map(params![since, len], |r| {
                Ok(EndedDay {
                    day: r.get(0)?,
                    status: r.get(1)?,
                    hw: r.get(2)?,
                    delivery: r.get(3)?,
                    jobs: r.get(4)?,
                    speed_sum: r.get(5)?,
                    speeds: r.get(6)?,
                })
            })?
            .collect()
        })
        .await
    }

    /// Waits until every write sent before this call is on disk.
    pub async fn flush(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.tx.send(Op::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct TotalsRow {
    successful: u64,
    failed: u64,
    cancelled: u64,
    bytes: u64,
    speed_sum: f64,
    speed_count: u64,
    hw_usage: BTreeMap<String, u64>,
}

impl From<TotalsRow> for Totals {
    fn from(r: TotalsRow) -> Self {
        Totals {
            successful: r.successful,
            failed: r.failed,
            cancelled: r.cancelled,
            bytes: r.bytes,
            speed_sum: r.speed_sum,
            speed_count: r.speed_count,
            hw_usage: r.hw_usage,
        }
    }
}

fn writer(conn: Connection, mut rx: mpsc::Receiver<Op>) {
    while let Some(op) = rx.blocking_recv() {
        let r = match op {
            Op::Upsert(rec) => match serde_json::to_string(&rec) {
                Ok(data) => conn
                    .execute(
                        "INSERT INTO jobs (id, data, updated_at) VALUES (?1, ?2, ?3)
                         ON CONFLICT(id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                        params![rec.id.to_string(), data, chrono::Utc::now().to_rfc3339()],
                    )
                    .map(|_| ()),
                Err(e) => {
                    tracing::error!(error = %e, "job record not serialisable");
                    Ok(())
                }
            },
            Op::Flush(done) => {
                let _ = done.send(());
                Ok(())
            }
            Op::Read(f) => {
                f(&conn);
                Ok(())
            }
            Op::Delete(id) => conn.execute("DELETE FROM jobs WHERE id = ?1", params![id]).map(|_| ()),
            Op::Totals(t) => {
                let row = TotalsRow {
                    successful: t.successful,
                    failed: t.failed,
                    cancelled: t.cancelled,
                    bytes: t.bytes,
                    speed_sum: t.speed_sum,
                    speed_count: t.speed_count,
                    hw_usage: t.hw_usage,
                };
                match serde_json::to_string(&row) {
                    Ok(d) => conn
                        .execute(
                            "INSERT OR REPLACE INTO totals (id, data) VALUES (1, ?1)",
                            params![d],
                        )
                        .map(|_| ()),
                    Err(_) => Ok(()),
                }
            }
        };
        if let Err(e) = r {
            tracing::error!(error = %e, "state database write failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};

    fn record(n: i64, status: &str, removed: bool) -> JobRecord {
        let created = Utc::now() - Duration::minutes(100_000 - n);
        serde_json::from_value(serde_json::json!({
            "id": uuid::Uuid::new_v4(),
            "request": {"source": "/media/x.mkv"},
            "mode": "stream",
            "source": "/media/x.mkv",
            "status": status,
            "progress": 100.0,
            "current_time": null,
            "duration": 10.0,
            "start_time": 0.0,
            "hw_accel_used": "software",
            "error_message": null,
            "created_at": created,
            "started_at": created,
            "completed_at": (status != "processing").then_some(created + Duration::seconds(5)),
            "last_access": created,
            "media_info": null,
            "variants": null,
            "dir": "/tmp/none",
            "output_file": null,
            "output_bytes": 0,
            "speed": 2.5,
            "control_token": "c",
            "stream_token": "s",
            "stream_revoked": false,
            "files_removed": removed,
        }))
        .unwrap()
    }

    /// A database with thousands of finished jobs: only the ones still served are loaded;
    /// the rest are read a page at a time, newest first, and counted.
    #[tokio::test]
    async fn archived_jobs_stay_on_disk_and_are_read_by_the_page() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let (store, loaded) = Store::open(&path).unwrap();
        assert!(loaded.jobs.is_empty());
        let mut all = Vec::new();
        for n in 0..3000 {
            let rec = match n % 1000 {
                // A running job and a ready one with its files: kept in memory.
                0 => record(n, "processing", false),
                1 => record(n, "ready", false),
                // The rest finished and their files are gone.
                2 => record(n, "error", true),
                3 => record(n, "cancelled", true),
                _ => record(n, "ready", true),
            };
            all.push(rec.clone());
            store.upsert(rec).await;
        }
        assert_eq!(store.counts().await, Some((3000, 2997)));
        let (page, total) = store.page(0, 50).await.unwrap();
        assert_eq!(total, 3000);
        let newest: Vec<_> = all.iter().rev().take(50).map(|r| r.id).collect();
        assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), newest);
        let (deep, _) = store.page(2990, 50).await.unwrap();
        assert_eq!(deep.len(), 10);
        assert_eq!(deep.last().unwrap().id, all[0].id);
        let got = store.get(all[1234].id).await.unwrap();
        assert_eq!(got.id, all[1234].id);
        let figures = store.figures().await.unwrap();
        assert_eq!(figures.speeds.len(), 3000);
        let ready_streams = figures
            .by_status_and_mode
            .iter()
            .find(|(s, m, _)| s == "ready" && m == "stream")
            .map(|(_, _, n)| *n);
        assert_eq!(ready_streams, Some(2991));
        // The oldest finished ones, for trimming.
        let oldest = store.oldest_finished(2).await.unwrap();
        assert_eq!(oldest, vec![all[1].id, all[2].id]);
        store.flush().await;
        drop(store);

        let (store, loaded) = Store::open(&path).unwrap();
        let mut kept: Vec<_> = loaded.jobs.iter().map(|r| r.id).collect();
        kept.sort();
        let mut want: Vec<_> = all
            .iter()
            .filter(|r| !r.files_removed)
            .map(|r| r.id)
            .collect();
        want.sort();
        assert_eq!(kept, want);
        // Records of archived jobs over 30 days old go; none of the others.
        let cut = Utc::now() - Duration::days(30);
        let old = all
            .iter()
            .filter(|r| r.files_removed && r.completed_at.unwrap() < cut)
            .count();
        assert!(old > 0 && old < all.len());
        assert_eq!(store.delete_archived_before(cut).await, old);
        assert_eq!(store.counts().await.unwrap().0, (3000 - old) as u64);
        // Ended per day, for the daily chart.
        let since = Utc::now() - Duration::days(1);
        let ended = store.ended_by(since, false).await.unwrap();
        let want = all
            .iter()
            .filter(|r| r.completed_at.is_some_and(|c| c >= since))
            .count() as u64;
        assert_eq!(ended.iter().map(|d| d.jobs).sum::<u64>(), want);
        assert!(ended.len() <= 2 * 2, "{ended:?}");
        assert!(ended.iter().all(|d| d.speeds == d.jobs
            && d.speed_sum == 2.5 * d.jobs as f64
            && d.hw.as_deref() == Some("software")));
    }

    /// A database made before the history columns existed gets them, with its records.
    #[tokio::test]
    async fn an_older_database_gains_the_history_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let rec = record(1, "ready", true);
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE jobs (id TEXT PRIMARY KEY, data TEXT NOT NULL, updated_at TEXT NOT NULL);",
            )
            .unwrap();
            conn.execute(
                "INSERT INTO jobs (id, data, updated_at) VALUES (?1, ?2, ?3)",
                params![
                    rec.id.to_string(),
                    serde_json::to_string(&rec).unwrap(),
                    "x"
                ],
            )
            .unwrap();
        }
        let (store, loaded) = Store::open(&path).unwrap();
        assert!(loaded.jobs.is_empty(), "an archived job is not loaded");
        assert_eq!(store.counts().await, Some((1, 1)));
        assert_eq!(store.page(0, 10).await.unwrap().0[0].id, rec.id);
    }
}
