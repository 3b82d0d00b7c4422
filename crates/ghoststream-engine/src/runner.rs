//! One ffmpeg run: spawn it with process hygiene, read `-progress` from stdout, keep
//! stderr in the job log (and its first real error), watch the segment lists for finished
//! segments, detect stalls, and report everything to the engine as [`RunEvent`]s.

use ghoststream_media::command::{Argv, SegmentFile};
use ghoststream_media::errors::StderrLog;
use ghoststream_media::errors::{Cause, CauseKind};
use ghoststream_media::process;
use ghoststream_media::progress::{ProgressBlock, ProgressParser};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    Finished,
    Failed(Cause),
    Stalled,
    Cancelled,
}

#[derive(Debug)]
pub enum RunEvent {
    Progress {
        job: Uuid,
        run: u64,
        block: ProgressBlock,
    },
    Segment {
        job: Uuid,
        run: u64,
        variant: usize,
        index: u32,
    },
    Exited {
        job: Uuid,
        run: u64,
        outcome: RunOutcome,
    },
}

/// A job's log: every command it ran, ffmpeg's messages and what the engine did. Lines
/// go to a file under the state directory (rotated by size, so it lasts past a restart
/// and stays bounded), to a bounded tail in memory, and to anyone tailing it live.
#[derive(Clone, Default)]
pub struct JobLog(Arc<Mutex<LogInner>>);

#[derive(Default)]
struct LogInner {
    lines: std::collections::VecDeque<String>,
    file: Option<LogFile>,
    live: Option<tokio::sync::broadcast::Sender<String>>,
}

struct LogFile {
    path: PathBuf,
    out: Option<std::fs::File>,
    written: u64,
    max_bytes: u64,
}

const LOG_LINES: usize = 2000;

/// A log's text so far, and its lines from then on.
pub type LogFollow = (String, tokio::sync::broadcast::Receiver<String>);

impl LogFile {
    /// Past `max_bytes` the file becomes `<name>.1` (the one before is dropped): two
    /// files at most per job.
    fn write(&mut self, line: &str) {
        use std::io::Write;
        if self.written + line.len() as u64 + 1 > self.max_bytes && self.written > 0 {
            self.out = None;
            let _ = std::fs::rename(&self.path, rotated(&self.path));
            self.written = 0;
        }
        if self.out.is_none() {
            if let Some(dir) = self.path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            self.out = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .ok();
        }
        if let Some(f) = self.out.as_mut() {
            if writeln!(f, "{line}").is_ok() {
                self.written += line.len() as u64 + 1;
            }
        }
    }
}

fn rotated(path: &std::path::Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".1");
    PathBuf::from(p)
}

impl JobLog {
    /// A log kept in `path` (appended to: a restarted server goes on with the same file).
    pub fn to_file(path: PathBuf, max_bytes: u64) -> JobLog {
        let written = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        JobLog(Arc::new(Mutex::new(LogInner {
            lines: Default::default(),
            file: Some(LogFile {
                path,
                out: None,
                written,
                max_bytes: max_bytes.max(4096),
            }),
            live: None,
        })))
    }

    pub fn push(&self, line: impl Into<String>) {
        let line = line.into();
        if let Ok(mut g) = self.0.lock() {
            if let Some(f) = g.file.as_mut() {
                f.write(&line);
            }
            if let Some(tx) = &g.live {
                let _ = tx.send(line.clone());
            }
            if g.lines.len() == LOG_LINES {
                g.lines.pop_front();
            }
            g.lines.push_back(line);
        }
    }

    /// The last lines: from the file (which outlives a restart), else from memory.
    pub fn text(&self) -> String {
        let Ok(g) = self.0.lock() else {
            return String::new();
        };
        if let Some(f) = &g.file {
            let read = |p: &std::path::Path| std::fs::read(p).unwrap_or_default();
            let mut bytes = read(&rotated(&f.path));
            bytes.extend(read(&f.path));
            if !bytes.is_empty() {
                let text = String::from_utf8_lossy(&bytes);
                let lines: Vec<&str> = text.lines().collect();
                let from = lines.len().saturating_sub(LOG_LINES);
                return lines[from..].iter().map(|l| format!("{l}\n")).collect();
            }
        }
        g.lines.iter().map(|l| format!("{l}\n")).collect()
    }

    /// The lines so far and every new one as it comes.
    pub fn follow(&self) -> LogFollow {
        let text = self.text();
        let Ok(mut g) = self.0.lock() else {
            return (text, tokio::sync::broadcast::channel(1).1);
        };
        let tx = g
            .live
            .get_or_insert_with(|| tokio::sync::broadcast::channel(512).0);
        (text, tx.subscribe())
    }

    /// Deletes the log's files (with its job).
    pub fn remove_files(&self) {
        if let Ok(mut g) = self.0.lock() {
            if let Some(f) = g.file.as_mut() {
                f.out = None;
                let _ = std::fs::remove_file(rotated(&f.path));
                let _ = std::fs::remove_file(&f.path);
            }
        }
    }
}

/// What the engine may do to a run while it goes: freeze and thaw it. The runner records
/// ffmpeg's pid here once it is spawned; a run started while its job is frozen is frozen
/// at once, and a frozen run is never taken for a stalled one.
#[derive(Default)]
pub struct RunControl {
    pid: std::sync::atomic::AtomicU32,
    frozen: std::sync::atomic::AtomicBool,
}

impl RunControl {
    pub fn new(frozen: bool) -> Arc<RunControl> {
        let c = RunControl::default();
        c.frozen.store(frozen, std::sync::atomic::Ordering::SeqCst);
        Arc::new(c)
    }

    pub fn is_frozen(&self) -> bool {
        self.frozen.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// ffmpeg's pid, once it is spawned.
    pub fn pid(&self) -> Option<u32> {
        match self.pid.load(std::sync::atomic::Ordering::SeqCst) {
            0 => None,
            pid => Some(pid),
        }
    }

    /// Freezes or thaws the run's processes (now, or as soon as they exist).
    pub fn set_frozen(&self, frozen: bool) -> std::io::Result<()> {
        self.frozen
            .store(frozen, std::sync::atomic::Ordering::SeqCst);
        match self.pid.load(std::sync::atomic::Ordering::SeqCst) {
            0 => Ok(()),
            pid => process::freeze_group(pid, frozen),
        }
    }

    /// Moves the running processes to `priority` (nothing before they exist).
    pub fn set_priority(&self, priority: ghoststream_types::Priority) -> std::io::Result<()> {
        match self.pid.load(std::sync::atomic::Ordering::SeqCst) {
            0 => Ok(()),
            pid => process::renice_group(pid, priority),
        }
    }

    fn spawned(&self, pid: u32) {
        self.pid.store(pid, std::sync::atomic::Ordering::SeqCst);
        if self.is_frozen() {
            let _ = process::freeze_group(pid, true);
        }
    }
}

pub struct RunRequest {
    pub job: Uuid,
    pub run: u64,
    pub program: PathBuf,
    pub argv: Argv,
    /// Segment lists to watch, one per variant (empty for batch).
    pub lists: Vec<PathBuf>,
    pub stall: Duration,
    pub grace: Duration,
    pub log: JobLog,
    pub cancel: CancellationToken,
    pub control: Arc<RunControl>,
    /// `gaming.priority` when the run starts.
    pub priority: ghoststream_types::Priority,
}

/// Spawns the run on the current runtime; it always ends with one `Exited` event.
pub fn spawn(req: RunRequest, tx: mpsc::Sender<RunEvent>, tracker: &tokio_util::task::TaskTracker) {
    tracker.spawn(async move {
        let job = req.job;
        let run = req.run;
        let outcome = drive(req, &tx).await;
        let _ = tx.send(RunEvent::Exited { job, run, outcome }).await;
    });
}

async fn drive(req: RunRequest, tx: &mpsc::Sender<RunEvent>) -> RunOutcome {
    let cmd_line = req.argv.to_cmd_string(&req.program.to_string_lossy());
    tracing::debug!(job = %req.job, run = req.run, "{cmd_line}");
    req.log.push(format!("$ {cmd_line}"));
    let mut cmd = process::command(&req.program);
    process::set_priority(&mut cmd, req.priority);
    cmd.args(req.argv.args())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("could not start ffmpeg ({}): {e}", req.program.display());
            req.log.push(&msg);
            return RunOutcome::Failed(Cause::new(CauseKind::NoFfmpeg, msg));
        }
    };
    if let Some(pid) = child.id() {
        req.control.spawned(pid);
    }
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let stderr_log = Arc::new(Mutex::new(StderrLog::new(50)));
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(16);

    let progress_task = {
        let tx = tx.clone();
        let (job, run) = (req.job, req.run);
        let alive_tx = alive_tx.clone();
        tokio::spawn(async move {
            let Some(out) = stdout else { return };
            let mut lines = BufReader::new(out).lines();
            let mut parser = ProgressParser::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(block) = parser.push_line(&line) {
                    let _ = alive_tx.try_send(());
                    // Progress may be thinned when the engine is busy; segments never are.
                    let _ = tx.try_send(RunEvent::Progress { job, run, block });
                }
            }
        })
    };
    let stderr_task = {
        let log = req.log.clone();
        let stderr_log = stderr_log.clone();
        tokio::spawn(async move {
            let Some(err) = stderr else { return };
            let mut lines = BufReader::new(err).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(mut s) = stderr_log.lock() {
                    s.push(&line);
                }
                log.push(line);
            }
        })
    };

    let mut seen: Vec<usize> = vec![0; req.lists.len()];
    // A segment is served as soon as its list line is seen: the poll is the viewer's wait.
    // Reading a small file 40 times a second costs nothing next to the encoder.
    let mut poll = tokio::time::interval(Duration::from_millis(25));
    let mut last_alive = tokio::time::Instant::now();
    let status = loop {
        tokio::select! {
            _ = req.cancel.cancelled() => {
                process::stop(&mut child, req.grace).await;
                progress_task.abort();
                return RunOutcome::Cancelled;
            }
            status = child.wait() => break status,
            Some(()) = alive_rx.recv() => last_alive = tokio::time::Instant::now(),
            _ = poll.tick() => {
                poll_lists(&req, &mut seen, tx).await;
                if req.control.is_frozen() {
                    // Frozen on purpose: the stall clock starts again at the thaw.
                    last_alive = tokio::time::Instant::now();
                }
                if last_alive.elapsed() > req.stall {
                    req.log.push(format!("no progress for {} s: stopping the stalled ffmpeg", req.stall.as_secs()));
                    process::stop(&mut child, req.grace).await;
                    progress_task.abort();
                    return RunOutcome::Stalled;
                }
            }
        }
    };
    let _ = stderr_task.await;
    let _ = progress_task.await;
    poll_lists(&req, &mut seen, tx).await;
    match status {
        Ok(s) if s.success() => RunOutcome::Finished,
        Ok(s) if crashed(&s) => RunOutcome::Failed(Cause::new(
            CauseKind::Crashed,
            format!("ffmpeg crashed ({s})"),
        )),
        Ok(s) => {
            let first = stderr_log
                .lock()
                .ok()
                .and_then(|l| l.first_error().cloned());
            RunOutcome::Failed(
                first.unwrap_or_else(|| {
                    Cause::new(CauseKind::Other, format!("ffmpeg exited with {s}"))
                }),
            )
        }
        Err(e) => RunOutcome::Failed(Cause::new(
            CauseKind::Other,
            format!("waiting for ffmpeg failed: {e}"),
        )),
    }
}

/// Killed by a signal we did not send (we return `Cancelled` or `Stalled` for ours).
#[cfg(unix)]
fn crashed(status: &std::process::ExitStatus) -> bool {
    std::os::unix::process::ExitStatusExt::signal(status).is_some()
}

#[cfg(not(unix))]
fn crashed(_status: &std::process::ExitStatus) -> bool {
    false
}

async fn poll_lists(req: &RunRequest, seen: &mut [usize], tx: &mpsc::Sender<RunEvent>) {
    for (v, path) in req.lists.iter().enumerate() {
        let Ok(text) = tokio::fs::read_to_string(path).await else {
            continue;
        };
        // Only whole lines count: ffmpeg writes a line when a segment is closed.
        let complete: Vec<&str> = text
            .split_inclusive('\n')
            .filter(|l| l.ends_with('\n'))
            .collect();
        for line in complete.iter().skip(seen[v]) {
            let Some(file) = segment_file(line) else {
                continue;
            };
            if let SegmentFile::RawFmp4(sv, n) = file {
                let dir = path.parent().unwrap_or(std::path::Path::new("."));
                if let Err(e) = split_fmp4(dir, sv, n).await {
                    req.log.push(format!("segment {n}: {e}"));
                    continue;
                }
            }
            let _ = tx
                .send(RunEvent::Segment {
                    job: req.job,
                    run: req.run,
                    variant: v,
                    index: file.variant_and_index().1,
                })
                .await;
        }
        seen[v] = complete.len();
    }
}

/// Splits the fMP4 segment ffmpeg closed into its initialisation section and its media
/// segment, each written whole before it gets the name a viewer asks for.
async fn split_fmp4(dir: &std::path::Path, v: usize, n: u32) -> std::io::Result<()> {
    use ghoststream_media::command::{init_name, raw_fmp4_name, segment_name};
    let raw = dir.join(raw_fmp4_name(v, n));
    let data = tokio::fs::read(&raw).await?;
    let Some(cut) = ghoststream_media::fmp4::init_len(&data) else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "ffmpeg wrote an fMP4 segment without an initialisation section and a fragment",
        ));
    };
    for (name, bytes) in [
        (init_name(v, n), &data[..cut]),
        (segment_name(v, n, true), &data[cut..]),
    ] {
        let part = dir.join(format!("{name}.part"));
        tokio::fs::write(&part, bytes).await?;
        tokio::fs::rename(&part, dir.join(name)).await?;
    }
    tokio::fs::remove_file(&raw).await
}

/// The segment a list line names: `v0_00012.ts,48.000,52.000` → `Ts(0, 12)`.
pub fn segment_file(line: &str) -> Option<SegmentFile> {
    ghoststream_media::command::parse_segment_name(line.split(',').next()?.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_lines() {
        assert_eq!(
            segment_file("v0_00012.ts,48.000,52.000\n"),
            Some(SegmentFile::Ts(0, 12))
        );
        assert_eq!(
            segment_file("v3_00000.mp4,0,4"),
            Some(SegmentFile::RawFmp4(3, 0))
        );
        assert_eq!(segment_file("garbage"), None);
    }

    #[test]
    fn log_is_bounded() {
        let log = JobLog::default();
        for i in 0..(LOG_LINES + 5) {
            log.push(format!("{i}"));
        }
        let text = log.text();
        assert!(text.starts_with("5\n"));
        assert_eq!(text.lines().count(), LOG_LINES);
    }
    #[test]
    fn a_log_file_rotates_by_size_and_is_read_back_by_a_new_server() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs").join("j.log");
        let log = JobLog::to_file(path.clone(), 4096);
        let (_, mut live) = log.follow();
        // 27 bytes a line: 500 lines rotate three times.
        for i in 0..500 {
            log.push(format!("line {i:04} of the job's log"));
        }
        assert_eq!(live.try_recv().unwrap(), "line 0000 of the job's log");
        // Two files at most, each under the limit; the oldest lines are gone.
        let rotated = dir.path().join("jobs").join("j.log.1");
        for p in [&path, &rotated] {
            let len = std::fs::metadata(p).unwrap().len();
            assert!(len > 0 && len <= 4096, "{} is {len} bytes", p.display());
        }
        // A restarted server's log of the same job reads the files: the newest lines, in order.
        let again = JobLog::to_file(path.clone(), 4096);
        let text = again.text();
        assert!(text.ends_with("line 0499 of the job's log\n"), "{text}");
        assert!(!text.contains("line 0000 "));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.windows(2).all(|w| w[0] < w[1]), "out of order");
        again.remove_files();
        assert!(!path.exists() && !rotated.exists());
    }
}
