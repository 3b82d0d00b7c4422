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

enum Op {
    Upsert(Box<JobRecord>),
    Delete(String),
    Totals(Totals),
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Handle to the writer thread.
#[derive(Clone)]
pub struct Store {
    tx: mpsc::Sender<Op>,
}

/// What the database held at start.
pub struct Loaded {
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
            let mut stmt = conn.prepare("SELECT id, data FROM jobs").map_err(err)?;
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
