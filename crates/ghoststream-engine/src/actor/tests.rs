//! The actor without ffmpeg: the probe's answer is seeded, each run request is handed to
//! the test (a [`Launcher::Recorder`]), and the test plays the runner, sending the run
//! events ffmpeg would cause. Time is tokio's paused clock, so retry delays pass at once
//! and in order. The real-binary suite (`tests/e2e`) covers the same paths with ffmpeg.

use super::Launcher;
use crate::runner::{RunEvent, RunOutcome, RunRequest};
use crate::schedule::Clock;
use crate::tokens::StreamGate;
use crate::{Config, Engine, StreamFile, TokenMode};
use ghoststream_media::errors::{Cause, CauseKind};
use ghoststream_media::hw::Hardware;
use ghoststream_media::progress::ProgressBlock;
use ghoststream_media::source::Source;
use ghoststream_types::{
    AudioInfo, HwAccelInfo, HwKind, JobEvent, JobStatus, MediaInfo, StartRequest, VideoInfo,
};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

struct Fixture {
    engine: Engine,
    runs: mpsc::UnboundedReceiver<(RunRequest, mpsc::Sender<RunEvent>)>,
    source: String,
    _dir: tempfile::TempDir,
}

fn software() -> Hardware {
    Hardware {
        accels: vec![HwAccelInfo {
            kind: HwKind::Software,
            available: true,
            encoders: vec!["libx264".into()],
            decoders: vec![],
            gpu_info: None,
            device_path: None,
            reason: None,
            decode: vec![],
            decode_reason: None,
            overlay: None,
        }],
        ffmpeg_version: Some("7.0".into()),
        gpu_scale: vec![],
        libplacebo: Err("not tried".into()),
        gpu_tone: vec![],
        gpu_tone_reason: None,
    }
}

/// A 60 s 1080p H.264 source with a keyframe every second (segments of 4 s after a 1 s
/// first one), which a 720p request must transcode.
fn media() -> MediaInfo {
    MediaInfo {
        duration: 60.0,
        container: "matroska,webm".into(),
        size_bytes: Some(60_000_000),
        bitrate_kbps: Some(8000),
        video: Some(VideoInfo {
            index: 0,
            codec: "h264".into(),
            profile: Some("High".into()),
            level: Some(41),
            width: 1920,
            height: 1080,
            fps: 24.0,
            pix_fmt: Some("yuv420p".into()),
            bit_depth: 8,
            color_transfer: None,
            color_primaries: None,
            dynamic_range: "sdr".into(),
            dolby_vision: None,
        }),
        audio: vec![AudioInfo {
            index: 1,
            codec: "aac".into(),
            channels: 2,
            sample_rate: 48000,
            language: None,
            ..Default::default()
        }],
        subtitles: vec![],
    }
}

async fn fixture() -> Fixture {
    fixture_with(|_| {}).await
}

async fn fixture_with(change: impl FnOnce(&mut Config)) -> Fixture {
    fixture_at(Clock::Wall, change).await
}

async fn fixture_at(clock: Clock, change: impl FnOnce(&mut Config)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    let file = lib.join("movie.mkv");
    std::fs::write(&file, b"never read: the probe is seeded").unwrap();
    let mut config = Config {
        state_directory: Some(dir.path().join("state")),
        ..Config::default()
    };
    config.transcoding.library_roots = vec![lib.clone()];
    config.security.job_tokens = TokenMode::Open;
    config.transcoding.ffmpeg_path = PathBuf::from("/nonexistent/ffmpeg");
    change(&mut config);
    let (tx, runs) = mpsc::unbounded_channel();
    let engine = Engine::start_with(config, software(), Launcher::Recorder(tx))
        .await
        .unwrap();
    crate::schedule::spawn(engine.downgrade(), clock);
    let source = file.display().to_string();
    let parsed = Source::parse(&source, &[lib]).unwrap();
    let keyframes = (0..60).map(f64::from).collect();
    engine.seed_probe(&source, parsed, media(), keyframes);
    Fixture {
        engine,
        runs,
        source,
        _dir: dir,
    }
}

impl Fixture {
    async fn start(&self, body: serde_json::Value) -> Uuid {
        let mut body = body;
        body["source"] = self.source.clone().into();
        let req: StartRequest = serde_json::from_value(body).unwrap();
        let snap = self.engine.submit(req, None).await.unwrap();
        snap.record.id
    }

    /// The next run the actor starts.
    async fn next_run(&mut self) -> (RunRequest, mpsc::Sender<RunEvent>) {
        tokio::time::timeout(Duration::from_secs(30), self.runs.recv())
            .await
            .expect("no run started")
            .expect("the actor ended")
    }

    async fn status(&self, id: Uuid) -> JobStatus {
        self.engine.job(id).await.unwrap().record.status
    }
}

/// The segment number a stream run starts at, read from its argv.
fn first_segment(req: &RunRequest) -> u32 {
    let a = req.argv.args();
    let i = a
        .iter()
        .position(|x| x == "-segment_start_number")
        .expect("a stream run");
    a[i + 1].parse().unwrap()
}

fn segment(job: Uuid, run: u64, index: u32) -> RunEvent {
    RunEvent::Segment {
        job,
        run,
        variant: 0,
        index,
    }
}

/// Lets the actor take what was sent on its other channels (run events arrive apart
/// from commands): on the paused clock, a sleep ends only once every task is idle.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(10)).await;
}

fn open_gate() -> StreamGate {
    StreamGate::Open {
        token: None,
        api_key_ok: true,
    }
}

#[tokio::test(start_paused = true)]
async fn a_far_segment_restarts_the_run_there_and_its_waiter_gets_the_file() {
    let mut f = fixture().await;
    let id = f
        .start(serde_json::json!({"mode": "stream", "output": {"resolution": "720p"}}))
        .await;
    let (first, tx) = f.next_run().await;
    assert_eq!(first_segment(&first), 0);
    tx.send(segment(id, first.run, 0)).await.unwrap();
    // Segment 9 is far ahead of the encoder (more than restart_ahead_segments): the run
    // is cancelled and a new one starts at 9, while the request waits.
    let engine = f.engine.clone();
    let waiting = tokio::spawn(async move {
        engine
            .stream_file(id, "v0_00009.ts".into(), open_gate())
            .await
    });
    let (second, tx2) = f.next_run().await;
    assert_eq!(first_segment(&second), 9);
    assert!(first.cancel.is_cancelled(), "the first run was not stopped");
    assert!(second.run > first.run);
    // The request waits for the segment (a stopped run's segments stay valid: same
    // names, same timeline), and the new run's segment wakes it.
    tx.send(segment(id, first.run, 1)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!waiting.is_finished());
    tx2.send(segment(id, second.run, 9)).await.unwrap();
    match waiting.await.unwrap().unwrap() {
        StreamFile::File(p) => assert!(p.ends_with("v0_00009.ts"), "{}", p.display()),
        other => panic!("{other:?}"),
    }
    assert_eq!(f.status(id).await, JobStatus::Processing);
}

#[tokio::test(start_paused = true)]
async fn a_passing_failure_is_retried_after_its_delay_and_a_source_failure_is_not() {
    let mut f = fixture().await;
    let mut events = f.engine.subscribe();
    let id = f
        .start(serde_json::json!({"mode": "stream", "output": {"resolution": "720p"}}))
        .await;
    let (run, tx) = f.next_run().await;
    let failed = |kind, msg: &str| RunEvent::Exited {
        job: id,
        run: 0,
        outcome: RunOutcome::Failed(Cause::new(kind, msg)),
    };
    let mut network = failed(CauseKind::Network, "Connection reset by peer");
    if let RunEvent::Exited { run: r, .. } = &mut network {
        *r = run.run;
    }
    tx.send(network).await.unwrap();
    // The first retry waits 2 s: nothing starts before, the retry starts after.
    tokio::time::sleep(Duration::from_millis(1900)).await;
    assert!(f.runs.try_recv().is_err(), "retried before its delay");
    let (retry, tx) = f.next_run().await;
    assert!(retry.run > run.run);
    assert_eq!(f.status(id).await, JobStatus::Processing);
    // The source answering 404 is not worth another try: the job fails at once, with
    // the cause's sentence, and no run starts.
    let mut refused = failed(CauseKind::SourceRefused, "source unreadable: HTTP 404");
    if let RunEvent::Exited { run: r, .. } = &mut refused {
        *r = retry.run;
    }
    tx.send(refused).await.unwrap();
    let status = loop {
        match events.recv().await.unwrap() {
            JobEvent::StatusChange { job_id, data }
                if job_id == id.to_string() && data.status == JobStatus::Error =>
            {
                break data;
            }
            _ => {}
        }
    };
    assert!(
        status.error_message.unwrap().contains("HTTP 404"),
        "the cause reaches the client"
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(f.runs.try_recv().is_err(), "a refused source was retried");
}

/// The next progress event of job `id`.
async fn progress_of_job(
    events: &mut tokio::sync::broadcast::Receiver<JobEvent>,
    id: Uuid,
) -> ghoststream_types::ProgressData {
    loop {
        if let JobEvent::Progress { job_id, data } = events.recv().await.unwrap() {
            if job_id == id.to_string() {
                return data;
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_two_pass_job_runs_both_passes_each_half_of_its_progress() {
    let mut f = fixture().await;
    let mut events = f.engine.subscribe();
    let id = f
        .start(serde_json::json!({"mode": "batch", "output": {"bitrate": "2M", "two_pass": true}}))
        .await;
    let (first, tx) = f.next_run().await;
    let argv = first.argv.args().join(" ");
    assert!(
        argv.contains("-pass 1 -passlogfile ") && argv.ends_with("-f null -"),
        "{argv}"
    );
    let progress = |run: u64, out: f64| RunEvent::Progress {
        job: id,
        run,
        block: ProgressBlock {
            out_time_secs: out,
            speed: Some(3.0),
            ..ProgressBlock::default()
        },
    };
    // 30 s of 60 in the first pass: a quarter of the job; 30 s + 60 s left at 3×.
    tx.send(progress(first.run, 30.0)).await.unwrap();
    let data = progress_of_job(&mut events, id).await;
    assert_eq!((data.progress, data.eta_seconds), (25.0, Some(30)));
    // The statistics pass is left where the second reads it.
    let dir = f.engine.job(id).await.unwrap().record.dir;
    std::fs::write(dir.join("twopass-0.log"), "stats").unwrap();
    std::fs::write(dir.join("twopass-0.log.mbtree"), "tree").unwrap();
    tx.send(progress(first.run, 60.0)).await.unwrap();
    assert_eq!(progress_of_job(&mut events, id).await.progress, 50.0);
    tx.send(RunEvent::Exited {
        job: id,
        run: first.run,
        outcome: RunOutcome::Finished,
    })
    .await
    .unwrap();
    let (second, tx) = f.next_run().await;
    let argv2 = second.argv.args().join(" ");
    assert!(
        argv2.contains("-pass 2 -passlogfile ") && argv2.contains("output.part"),
        "{argv2}"
    );
    assert_eq!(f.status(id).await, JobStatus::Processing);
    tx.send(progress(second.run, 30.0)).await.unwrap();
    let data = progress_of_job(&mut events, id).await;
    assert_eq!((data.progress, data.eta_seconds), (75.0, Some(10)));
    std::fs::write(dir.join("output.part"), vec![0u8; 1000]).unwrap();
    tx.send(progress(second.run, 60.0)).await.unwrap();
    tx.send(RunEvent::Exited {
        job: id,
        run: second.run,
        outcome: RunOutcome::Finished,
    })
    .await
    .unwrap();
    settle().await;
    let rec = f.engine.job(id).await.unwrap().record;
    assert_eq!(rec.status, JobStatus::Ready);
    // The statistics are gone; the output is all that is counted.
    assert!(!dir.join("twopass-0.log").exists() && !dir.join("twopass-0.log.mbtree").exists());
    assert_eq!(rec.output_bytes, 1000);
    let log = f.engine.log(id).await.unwrap_or_default();
    assert!(
        log.contains("pass 1 of 2") && log.contains("pass 2 of 2"),
        "{log}"
    );
}

#[tokio::test(start_paused = true)]
async fn progress_becomes_percent_and_eta_and_cancel_stops_the_run() {
    let mut f = fixture().await;
    let mut events = f.engine.subscribe();
    let id = f
        .start(serde_json::json!({"mode": "batch", "output": {"resolution": "720p"}}))
        .await;
    let (run, tx) = f.next_run().await;
    tx.send(RunEvent::Progress {
        job: id,
        run: run.run,
        block: ProgressBlock {
            frame: 360,
            fps: 48.0,
            out_time_secs: 15.0,
            total_size_bytes: 1_000_000,
            bitrate_kbps: Some(533.0),
            speed: Some(3.0),
            end: false,
        },
    })
    .await
    .unwrap();
    let data = loop {
        if let JobEvent::Progress { job_id, data } = events.recv().await.unwrap() {
            if job_id == id.to_string() {
                break data;
            }
        }
    };
    // 15 s of 60 s, 45 s left at 3×.
    assert_eq!(data.progress, 25.0);
    assert_eq!(data.eta_seconds, Some(15));
    f.engine.cancel(id, None).await.unwrap();
    assert!(run.cancel.is_cancelled(), "cancel did not stop the run");
    assert_eq!(f.status(id).await, JobStatus::Cancelled);
    // The run's exit after a cancel changes nothing.
    tx.send(RunEvent::Exited {
        job: id,
        run: run.run,
        outcome: RunOutcome::Cancelled,
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(f.status(id).await, JobStatus::Cancelled);
    assert!(f.runs.try_recv().is_err());
}

#[tokio::test(start_paused = true)]
async fn a_stream_far_ahead_of_its_viewers_waits_for_them() {
    let mut f = fixture_with(|c| c.throttle.ahead_seconds = 6).await;
    let id = f
        .start(serde_json::json!({"mode": "stream", "output": {"resolution": "720p"}}))
        .await;
    let (run, tx) = f.next_run().await;
    // Segments: 0 is 0–1 s, 1 is 1–5 s, 2 is 5–9 s. Nobody has asked for one yet.
    for i in 0..2 {
        tx.send(segment(id, run.run, i)).await.unwrap();
    }
    settle().await;
    let paused = |f: &Fixture| {
        let e = f.engine.clone();
        async move { e.job(id).await.unwrap().paused }
    };
    assert_eq!(paused(&f).await, None, "5 s ahead is within 6 s");
    assert!(!run.control.is_frozen());
    tx.send(segment(id, run.run, 2)).await.unwrap();
    settle().await;
    // 9 s made past nothing watched: frozen, saying why.
    assert_eq!(paused(&f).await.as_deref(), Some(super::freeze::THROTTLED));
    assert!(run.control.is_frozen());
    assert_eq!(f.status(id).await, JobStatus::Processing);
    // A viewer asks for segment 1 (ends at 5 s): 4 s ahead, not within half of 6 s yet.
    let _ = f
        .engine
        .stream_file(id, "v0_00001.ts".into(), open_gate())
        .await
        .unwrap();
    assert!(run.control.is_frozen());
    // Segment 2 (ends at 9 s): the viewer caught up, the encoder goes on.
    let _ = f
        .engine
        .stream_file(id, "v0_00002.ts".into(), open_gate())
        .await
        .unwrap();
    assert!(!run.control.is_frozen());
    assert_eq!(paused(&f).await, None);
    // A batch job is never throttled.
    let batch = f
        .start(serde_json::json!({"mode": "batch", "output": {"resolution": "720p"}}))
        .await;
    let (brun, btx) = f.next_run().await;
    btx.send(RunEvent::Progress {
        job: batch,
        run: brun.run,
        block: ProgressBlock {
            out_time_secs: 50.0,
            speed: Some(10.0),
            ..ProgressBlock::default()
        },
    })
    .await
    .unwrap();
    settle().await;
    assert_eq!(f.engine.job(batch).await.unwrap().paused, None);
    assert!(!brun.control.is_frozen());
}

/// A fake clock at Monday 2026-11-30 `hh:mm`, running with tokio's paused time.
fn monday_at(hh_mm: &str) -> Clock {
    Clock::Fake {
        base: chrono::NaiveDateTime::parse_from_str(
            &format!("2026-11-30 {hh_mm}"),
            "%Y-%m-%d %H:%M",
        )
        .unwrap(),
        start: tokio::time::Instant::now(),
    }
}

fn weekdays_1_to_17(outside: ghoststream_types::OutsideWindow) -> impl FnOnce(&mut Config) {
    use ghoststream_types::Weekday::*;
    move |c: &mut Config| {
        c.gaming.schedule = vec![ghoststream_types::ScheduleWindow {
            days: vec![Mon, Tue, Wed, Thu, Fri],
            start: "01:00".into(),
            end: "17:00".into(),
            max_jobs: 1,
        }];
        c.gaming.outside_window = outside;
    }
}

#[tokio::test(start_paused = true)]
async fn the_schedule_freezes_at_its_end_and_thaws_at_its_start() {
    let mut f = fixture_at(
        monday_at("16:58"),
        weekdays_1_to_17(ghoststream_types::OutsideWindow::Freeze),
    )
    .await;
    let batch = || serde_json::json!({"mode": "batch", "output": {"resolution": "720p"}});
    let a = f.start(batch()).await;
    let (run_a, _tx) = f.next_run().await;
    // One job at a time in this window: the second waits.
    let b = f.start(batch()).await;
    settle().await;
    assert_eq!(f.status(b).await, JobStatus::Queued);
    assert!(f.runs.try_recv().is_err());
    // 17:00 passes: the running job freezes, saying why; nothing new starts.
    tokio::time::sleep(Duration::from_secs(3 * 60)).await;
    settle().await;
    assert!(run_a.control.is_frozen());
    assert_eq!(
        f.engine.job(a).await.unwrap().paused.as_deref(),
        Some(crate::schedule::CLOSED)
    );
    assert_eq!(
        f.engine.schedule_note().as_deref(),
        Some(crate::schedule::CLOSED)
    );
    let c = f.start(batch()).await;
    settle().await;
    assert_eq!(f.status(c).await, JobStatus::Queued);
    // Tuesday 01:00: it thaws, and the others still wait their turn.
    tokio::time::sleep(Duration::from_secs(8 * 3600)).await;
    settle().await;
    assert!(!run_a.control.is_frozen());
    assert_eq!(f.engine.job(a).await.unwrap().paused, None);
    assert_eq!(f.engine.schedule_note(), None);
    assert_eq!(f.status(b).await, JobStatus::Queued);
    assert!(f.runs.try_recv().is_err());
}

#[tokio::test(start_paused = true)]
async fn a_closed_schedule_that_stops_sends_batch_jobs_back_to_the_queue() {
    let mut f = fixture_at(
        monday_at("16:59"),
        weekdays_1_to_17(ghoststream_types::OutsideWindow::Stop),
    )
    .await;
    let a = f
        .start(serde_json::json!({"mode": "batch", "output": {"resolution": "720p"}}))
        .await;
    let (first, _tx) = f.next_run().await;
    tokio::time::sleep(Duration::from_secs(2 * 60)).await;
    settle().await;
    assert!(first.cancel.is_cancelled(), "the run was not stopped");
    assert_eq!(f.status(a).await, JobStatus::Queued);
    // It starts over when the schedule opens.
    tokio::time::sleep(Duration::from_secs(8 * 3600)).await;
    let (again, _tx) = f.next_run().await;
    assert!(again.run > first.run);
    assert_eq!(f.status(a).await, JobStatus::Processing);
}

/// Progress reports of a run making `speed` seconds of output per second, every half
/// second of the paused clock, for `secs` seconds from output time `from`.
async fn report_at_speed(
    tx: &mpsc::Sender<RunEvent>,
    job: Uuid,
    run: u64,
    from: f64,
    speed: f64,
    secs: u64,
) -> f64 {
    let mut t = from;
    for _ in 0..secs * 2 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        t += speed / 2.0;
        let _ = tx
            .send(RunEvent::Progress {
                job,
                run,
                block: ProgressBlock {
                    out_time_secs: t,
                    speed: Some(speed),
                    ..ProgressBlock::default()
                },
            })
            .await;
    }
    t
}

#[tokio::test(start_paused = true)]
async fn a_stream_below_real_time_steps_down_in_place_and_says_so() {
    let mut f = fixture_with(|c| {
        c.health.window_seconds = 6;
        c.health.start_delay_seconds = 2;
        c.throttle.ahead_seconds = 0;
    })
    .await;
    let mut events = f.engine.subscribe();
    let mut notices = f.engine.subscribe_notices();
    let id = f
        .start(serde_json::json!({"mode": "stream", "output": {"resolution": "720p"}}))
        .await;
    let (run, tx) = f.next_run().await;
    let argv = run.argv.args().join(" ");
    assert!(
        argv.contains("-preset veryfast") && argv.contains("1280"),
        "{argv}"
    );
    tx.send(segment(id, run.run, 0)).await.unwrap();
    tx.send(segment(id, run.run, 1)).await.unwrap();
    // 0.5× for longer than the start delay and the window: one step, the faster preset,
    // from the segment the run was writing; the old run is stopped.
    report_at_speed(&tx, id, run.run, 1.0, 0.5, 10).await;
    let (second, tx2) = f.next_run().await;
    assert!(run.cancel.is_cancelled());
    assert_eq!(first_segment(&second), 2);
    let argv = second.argv.args().join(" ");
    assert!(
        argv.contains("-preset superfast") && argv.contains("1280"),
        "{argv}"
    );
    let said = loop {
        if let JobEvent::Health { job_id, data } = events.recv().await.unwrap() {
            assert_eq!(job_id, id.to_string());
            break data;
        }
    };
    assert!(
        said.degraded && said.step == 1 && said.speed == 0.5,
        "{said:?}"
    );
    assert!(said.action.contains("superfast"), "{said:?}");
    // The desktop hears of it (other notices, the schedule's, may come first).
    loop {
        if let ghoststream_types::Notice::Degraded { job_id, speed, .. } =
            notices.recv().await.unwrap()
        {
            assert_eq!((job_id, speed), (id.to_string(), 0.5));
            break;
        }
    }
    // Still too slow: a rung lower, same job, same URLs.
    report_at_speed(&tx2, id, second.run, 5.0, 0.6, 10).await;
    let (third, tx3) = f.next_run().await;
    let argv = third.argv.args().join(" ");
    assert!(argv.contains("854") && !argv.contains("1280"), "{argv}");
    let job = f.engine.job(id).await.unwrap();
    let health = job.health.unwrap();
    assert_eq!((health.step, health.degraded), (2, true));
    assert!(health.action.contains("720p → 480p"), "{health:?}");
    assert_eq!(job.record.status, JobStatus::Processing);
    // Fast enough now: it says so, and takes no further step.
    report_at_speed(&tx3, id, third.run, 5.0, 1.5, 10).await;
    settle().await;
    let health = f.engine.job(id).await.unwrap().health.unwrap();
    assert_eq!((health.step, health.degraded), (2, false));
    assert!(f.runs.try_recv().is_err(), "a healthy run was restarted");
}
