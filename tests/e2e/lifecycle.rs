//! Cancel, delete, queue, shutdown, crash, restart, hardware fallback.

use super::support::*;
use serde_json::json;
use std::time::Duration;

const MIN: Duration = Duration::from_secs(60);

fn slow(media: &MediaServer) -> String {
    format!("{}?rate=40000", media.url("long.mkv"))
}

#[tokio::test]
async fn cancel_and_delete_leave_no_ffmpeg_and_keep_the_control_token() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let job = gs
        .start_job(json!({"source": slow(&media), "output": {"bitrate": "300k"}}))
        .await;
    assert!(
        eventually(Duration::from_secs(10), || !gs.children().is_empty()).await,
        "ffmpeg never started"
    );
    let (code, v) = gs.control(reqwest::Method::POST, &job, "/cancel").await;
    assert_eq!(
        (code, v["status"].as_str()),
        (200, Some("cancelled")),
        "{v}"
    );
    assert!(
        eventually(Duration::from_secs(2), || gs.children().is_empty()).await,
        "ffmpeg left behind: {:?}",
        gs.children()
    );
    let s = gs.status(&job).await;
    assert_eq!(s["status"], "cancelled");
    // Cancel revokes the stream token, not the control token.
    let (code, _) = gs.fetch(job["stream_url"].as_str().unwrap()).await;
    assert!(code == 403 || code == 410, "stream after cancel: {code}");
    // Cancelling a stream that already ended is a leave: 200, and nothing changes
    // (GhostHub's SDK frees its slot only on 200). Batch keeps 400: see
    // exposure::a_viewer_leaving_a_finished_stream_is_answered_200.
    let (code, v) = gs.control(reqwest::Method::POST, &job, "/cancel").await;
    assert_eq!(
        (code, v["status"].as_str()),
        (200, Some("cancelled")),
        "{v}"
    );
    assert_eq!(gs.status(&job).await["status"], "cancelled");
    let (code, v) = gs.control(reqwest::Method::DELETE, &job, "").await;
    assert_eq!((code, v["status"].as_str()), (200, Some("deleted")));
    let (code, _) = gs.control(reqwest::Method::GET, &job, "/status").await;
    assert_eq!(code, 404);
    // Delete of a running job stops it too.
    let job = gs
        .start_job(json!({"source": slow(&media), "mode": "batch"}))
        .await;
    assert!(eventually(Duration::from_secs(10), || !gs.children().is_empty()).await);
    let (code, _) = gs.control(reqwest::Method::DELETE, &job, "").await;
    assert_eq!(code, 200);
    assert!(eventually(Duration::from_secs(2), || gs.children().is_empty()).await);
    let dir = gs.state.join("work").join(job["job_id"].as_str().unwrap());
    assert!(
        eventually(Duration::from_secs(5), || !dir.exists()).await,
        "files left in {}",
        dir.display()
    );
    let (_, stats) = gs.get("/api/stats").await;
    assert_eq!(stats["cancelled_jobs"], 2);
}

#[tokio::test]
async fn queue_limits_and_order() {
    let media = MediaServer::start();
    let gs = Gs::start(
        Opts::default()
            .env("GHOSTSTREAM__TRANSCODING__MAX_CONCURRENT_JOBS", "1")
            .env("GHOSTSTREAM__TRANSCODING__MAX_QUEUE_SIZE", "1"),
    );
    let body = |i: u32| json!({"source": format!("{}&n={i}", slow(&media)), "mode": "batch"});
    let a = gs.start_job(body(1)).await;
    let b = gs.start_job(body(2)).await;
    assert_eq!(a["status"], "processing");
    assert_eq!(b["status"], "queued");
    let (code, v) = gs.post("/api/transcode/start", body(3)).await;
    assert_eq!((code, v["code"].as_str()), (503, Some("queue-full")), "{v}");
    let (code, r) = gs.get("/api/ready").await;
    assert_eq!((code, r["ready"].as_bool()), (503, Some(false)));
    let (_, h) = gs.get("/api/health").await;
    assert_eq!(
        (h["current_jobs"].as_u64(), h["queued_jobs"].as_u64()),
        (Some(1), Some(1))
    );
    gs.control(reqwest::Method::POST, &a, "/cancel").await;
    gs.wait_for(&b, &["processing"], Duration::from_secs(10))
        .await;
    gs.control(reqwest::Method::POST, &b, "/cancel").await;
    assert!(eventually(Duration::from_secs(3), || gs.children().is_empty()).await);
}

#[tokio::test]
async fn sigterm_stops_jobs_and_restart_keeps_history_and_stats() {
    let media = MediaServer::start();
    let state = tempfile::tempdir().unwrap();
    let mut gs = Gs::start(Opts::default().state(state.path()));
    let done = gs
        .start_job(json!({"source": media.url("short.mkv"), "mode": "batch"}))
        .await;
    gs.wait_for(&done, &["ready"], MIN).await;
    let running = gs
        .start_job(json!({"source": slow(&media), "output": {"bitrate": "300k"}}))
        .await;
    assert!(eventually(Duration::from_secs(10), || !gs.children().is_empty()).await);
    let pid = gs.pid();
    let status = gs.stop();
    assert!(status.success(), "exit {status:?}");
    assert!(
        eventually(Duration::from_secs(2), || children_of(pid).is_empty()
            && children_of(1).is_empty())
        .await
    );
    let gs2 = Gs::start(Opts::default().state(state.path()));
    let (_, stats) = gs2.get("/api/stats").await;
    assert_eq!(stats["successful_jobs"], 1, "{stats}");
    // Stopped on purpose, the running job was cancelled, not failed.
    assert_eq!(stats["failed_jobs"], 0, "{stats}");
    assert_eq!(stats["cancelled_jobs"], 1, "{stats}");
    let s = gs2.status(&done).await;
    assert_eq!(s["status"], "ready");
    let (code, file) = gs2.fetch(s["download_url"].as_str().unwrap()).await;
    assert_eq!(code, 200, "finished batch output kept across the restart");
    assert!(!file.is_empty());
    let s = gs2.status(&running).await;
    assert_eq!(s["status"], "cancelled");
    assert_eq!(s["error_code"], "server-stopped");
    assert!(
        s["error_message"]
            .as_str()
            .unwrap()
            .contains("the server stopped"),
        "{s}"
    );
}

#[tokio::test]
async fn sigint_stops_jobs_like_sigterm() {
    let media = MediaServer::start();
    let mut gs = Gs::start(Opts::default());
    gs.start_job(json!({"source": slow(&media), "output": {"bitrate": "300k"}}))
        .await;
    assert!(eventually(Duration::from_secs(10), || !gs.children().is_empty()).await);
    let pid = gs.pid();
    let status = gs.stop_with(nix::sys::signal::Signal::SIGINT);
    assert!(status.success(), "exit {status:?}");
    assert!(eventually(Duration::from_secs(2), || children_of(pid).is_empty()).await);
}

#[tokio::test]
async fn kill_9_takes_ffmpeg_down_and_the_next_start_reconciles() {
    let media = MediaServer::start();
    let state = tempfile::tempdir().unwrap();
    let mut gs = Gs::start(Opts::default().state(state.path()));
    let job = gs
        .start_job(json!({"source": slow(&media), "output": {"bitrate": "300k"}}))
        .await;
    assert!(eventually(Duration::from_secs(10), || !gs.children().is_empty()).await);
    let kids = gs.children();
    gs.child.kill().unwrap();
    gs.child.wait().unwrap();
    let alive = |p: i32| {
        std::fs::read_to_string(format!("/proc/{p}/stat"))
            .map(|s| {
                !s.rsplit_once(')')
                    .map(|(_, r)| r.trim_start().starts_with('Z'))
                    .unwrap_or(true)
            })
            .unwrap_or(false)
    };
    assert!(
        eventually(Duration::from_secs(2), || kids.iter().all(|p| !alive(*p))).await,
        "ffmpeg survived kill -9: {kids:?}"
    );
    let work = state
        .path()
        .join("work")
        .join(job["job_id"].as_str().unwrap());
    assert!(work.exists());
    // The same port binds again at once.
    let port: u16 = gs.base.rsplit(':').next().unwrap().parse().unwrap();
    let gs2 = Gs::start(Opts::default().state(state.path()).port(port));
    assert_eq!(gs2.base, gs.base);
    let s = gs2.status(&job).await;
    assert_eq!(s["status"], "error");
    assert_eq!(s["error_message"], "interrupted by restart");
    assert!(!work.exists(), "leftover work dir not removed");
}

/// An executable `ffmpeg` in `dir` that answers the shell `case` patterns in `cases` as
/// scripted and runs real ffmpeg for everything else.
fn scripted_ffmpeg(dir: &std::path::Path, cases: &str) -> std::path::PathBuf {
    let p = dir.join("ffmpeg");
    std::fs::write(
        &p,
        format!("#!/bin/sh\ncase \"$*\" in\n{cases}  *) exec ffmpeg \"$@\" ;;\nesac\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// A scripted ffmpeg that claims NVENC (its trial encode passes) but fails every real
/// NVENC job, as a broken driver does; everything else is real ffmpeg.
fn fake_nvenc_ffmpeg(dir: &std::path::Path) -> std::path::PathBuf {
    scripted_ffmpeg(
        dir,
        "  *-encoders*) ffmpeg \"$@\"; exit $? ;;\n\
           *h264_nvenc*-f\\ null*) exit 0 ;;\n\
           *h264_nvenc*) echo '[h264_nvenc @ 0x1] [error] OpenEncodeSessionEx failed: out of memory (10)' >&2; exit 1 ;;\n",
    )
}

/// One back end's entry in `/api/capabilities`.
fn accel(caps: &serde_json::Value, kind: &str) -> serde_json::Value {
    caps["hw_accels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == kind)
        .unwrap()
        .clone()
}

#[tokio::test]
async fn hardware_failure_falls_back_to_software_in_the_same_job() {
    let media = MediaServer::start();
    let bin = tempfile::tempdir().unwrap();
    let fake = fake_nvenc_ffmpeg(bin.path());
    let gs = Gs::start(Opts::default().env(
        "GHOSTSTREAM__TRANSCODING__FFMPEG_PATH",
        fake.to_str().unwrap(),
    ));
    let (_, caps) = gs.get("/api/capabilities").await;
    let nv = accel(&caps, "nvenc");
    assert_eq!(nv["available"], true, "{nv}");
    let job = gs
        .start_job(json!({
            "source": media.url("long.mkv"), "start_time": 8, "output": {"bitrate": "400k"},
            "subtitles": [{"url": media.url("en.vtt"), "label": "English", "language": "en"}]
        }))
        .await;
    assert_eq!(job["hw_accel_used"], "nvenc");
    let done = gs.wait_for(&job, &["ready", "error"], MIN).await;
    assert_eq!(done["status"], "ready", "{done}");
    assert_eq!(done["job_id"], job["job_id"]);
    assert_eq!(done["hw_accel_used"], "software");
    assert_eq!(done["start_time"], 8.0);
    assert!(gs.master(&job).await.contains("TYPE=SUBTITLES"));
    let log = gs.log(&job).await;
    assert!(log.contains("continuing in software"), "{log}");
    assert!(log.contains("-ss 8.000"));
    let (_, seg) = gs.fetch(&stream_file_url(&job, "v0_00000.ts")).await;
    assert_eq!(
        stream_of(&probe_bytes(&seg, ".ts"), "video").unwrap()["codec_name"],
        "h264"
    );
}

#[tokio::test]
async fn retention_removes_outputs_and_orphans_but_keeps_records() {
    let media = MediaServer::start();
    let gs = Gs::start(
        Opts::default()
            .env("GHOSTSTREAM__TRANSCODING__STREAM_RETENTION_MINUTES", "0")
            .env("GHOSTSTREAM__TRANSCODING__CLEANUP_AFTER_HOURS", "0"),
    );
    let stream = gs.start_job(json!({"source": media.url("h264.mkv")})).await;
    let batch = gs
        .start_job(json!({"source": media.url("short.mkv"), "mode": "batch"}))
        .await;
    gs.wait_for(&stream, &["ready"], MIN).await;
    let done = gs.wait_for(&batch, &["ready"], MIN).await;
    let download = done["download_url"].as_str().unwrap().to_string();
    let orphan = gs.state.join("work").join("left-over-from-a-crash");
    std::fs::create_dir_all(&orphan).unwrap();
    let (code, run) = gs.post("/api/cleanup/run", json!({})).await;
    assert_eq!(code, 200);
    assert_eq!(run["stale_jobs_cleaned"], 2, "{run}");
    assert_eq!(run["orphaned_dirs_cleaned"], 1, "{run}");
    assert!(!orphan.exists());
    let (code, v) = gs.fetch(stream["stream_url"].as_str().unwrap()).await;
    assert_eq!(code, 410, "{}", String::from_utf8_lossy(&v));
    let (code, _) = gs.fetch(&download).await;
    assert_eq!(code, 410);
    // The records stay: status still answers, without a download URL.
    let s = gs.status(&batch).await;
    assert_eq!(s["status"], "ready");
    assert!(s["download_url"].is_null());
    for id in [&stream, &batch] {
        assert!(!gs
            .state
            .join("work")
            .join(id["job_id"].as_str().unwrap())
            .exists());
    }
}

#[tokio::test]
async fn local_sources_only_inside_library_roots() {
    let root = media_dir().to_str().unwrap().to_string();
    let gs = Gs::start(Opts::default().env(
        "GHOSTSTREAM__TRANSCODING__LIBRARY_ROOTS",
        &format!("[\"{root}\"]"),
    ));
    let job = gs
        .start_job(json!({"source": format!("{root}/short.mkv"), "mode": "batch"}))
        .await;
    let done = gs.wait_for(&job, &["ready", "error"], MIN).await;
    assert_eq!(done["status"], "ready", "{done}");
    for bad in [
        "/etc/passwd".to_string(),
        format!("{root}/../../../etc/passwd"),
        format!("file://{root}/short.mkv"),
    ] {
        let (code, v) = gs
            .post("/api/transcode/start", json!({"source": bad}))
            .await;
        assert_eq!(
            (code, v["code"].as_str()),
            (422, Some("invalid-request")),
            "{bad}: {v}"
        );
        assert_eq!(v["detail"][0]["type"], "source-not-allowed", "{bad}: {v}");
    }
    // A symlink inside a root that points outside it is refused.
    let other = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/etc/passwd", other.path().join("escape.mkv")).unwrap();
    let gs2 = Gs::start(Opts::default().env(
        "GHOSTSTREAM__TRANSCODING__LIBRARY_ROOTS",
        &format!("[\"{}\"]", other.path().display()),
    ));
    let (code, _) = gs2
        .post(
            "/api/transcode/start",
            json!({"source": other.path().join("escape.mkv")}),
        )
        .await;
    assert_eq!(code, 422);
}

/// History lives in the store: a finished job whose files are gone leaves memory, yet is
/// found by id, listed a page at a time, counted, deleted and kept across a restart.
#[tokio::test]
async fn finished_jobs_whose_files_are_gone_are_read_from_the_store() {
    let media = MediaServer::start();
    let state = tempfile::tempdir().unwrap();
    // Stream outputs expire at once: a cleanup archives every finished stream.
    let opts = || {
        Opts::default()
            .state(state.path())
            .env("GHOSTSTREAM__TRANSCODING__STREAM_RETENTION_MINUTES", "0")
    };
    let gs = Gs::start(opts());
    let mut jobs = Vec::new();
    // Three sources: the same one again would join the first job.
    for name in ["short.mkv", "abr.mkv", "h264.mkv"] {
        let job = gs.start_job(json!({"source": media.url(name)})).await;
        gs.wait_for(&job, &["ready"], MIN).await;
        jobs.push(job);
    }
    let (code, run) = gs.post("/api/cleanup/run", json!({})).await;
    assert_eq!(code, 200, "{run}");
    assert_eq!(run["stale_jobs_cleaned"], 3, "{run}");
    let (_, cleanup) = gs.get("/api/cleanup/stats").await;
    assert_eq!(
        (
            cleanup["total_jobs"].as_u64(),
            cleanup["finished_jobs"].as_u64()
        ),
        (Some(3), Some(3)),
        "{cleanup}"
    );
    let check = |gs: Gs, jobs: Vec<serde_json::Value>| async move {
        let s = gs.status(&jobs[0]).await;
        assert_eq!(s["status"], "ready", "{s}");
        assert!(gs.log(&jobs[0]).await.contains("$ ffmpeg"));
        // Newest first, a page at a time.
        let (_, list) = gs.get("/api/transcode/jobs?limit=2").await;
        assert_eq!(list["total"], jobs.len(), "{list}");
        let page: Vec<&serde_json::Value> = list["jobs"].as_array().unwrap().iter().collect();
        assert_eq!(page.len(), 2);
        assert_eq!(page[0]["job_id"], jobs[jobs.len() - 1]["job_id"]);
        let (_, rest) = gs.get("/api/transcode/jobs?offset=1&limit=2").await;
        let rest = rest["jobs"].as_array().unwrap();
        assert_eq!(rest.len(), 2.min(jobs.len() - 1));
        assert_eq!(rest[0]["job_id"], jobs[jobs.len() - 2]["job_id"]);
        assert_eq!(rest.last().unwrap()["job_id"], jobs[0]["job_id"]);
        let (_, metrics) = gs.fetch(&format!("{}/metrics", gs.base)).await;
        let metrics = String::from_utf8(metrics).unwrap();
        let line = format!(
            "ghoststream_jobs{{state=\"ready\",mode=\"stream\"}} {}",
            jobs.len()
        );
        assert!(metrics.contains(&line), "{metrics}");
        gs
    };
    let mut gs = check(gs, jobs.clone()).await;
    // Deleted from the store like any other job.
    let (code, _) = gs.control(reqwest::Method::DELETE, &jobs[1], "").await;
    assert_eq!(code, 200);
    let (code, _) = gs.control(reqwest::Method::GET, &jobs[1], "/status").await;
    assert_eq!(code, 404);
    jobs.remove(1);
    assert!(gs.stop().success());
    let gs = Gs::start(opts());
    check(gs, jobs).await;
}

/// A scripted ffmpeg on a machine with an NVIDIA GPU that decodes but has no NVENC (like
/// a data-centre card): the CUDA device opens and every decode trial passes but HEVC
/// 10-bit's, as a card without that profile answers. Everything else, real jobs
/// included, is real ffmpeg, which has no CUDA here.
fn fake_nvdec_ffmpeg(dir: &std::path::Path) -> std::path::PathBuf {
    scripted_ffmpeg(
        dir,
        "  *-init_hw_device\\ cuda=gs*) exit 0 ;;\n\
           *-hwaccel\\ cuda*hevc_10-bit.mkv*) echo '[hevc @ 0x1] [error] Hardware is lacking required capabilities' >&2; exit 1 ;;\n\
           *-hwaccel\\ cuda*-frames:v\\ 1*-f\\ null*) exit 0 ;;\n",
    )
}

#[tokio::test]
async fn gpu_decoding_is_proven_per_format_and_a_failing_decoder_falls_back_in_the_same_job() {
    let media = MediaServer::start();
    let bin = tempfile::tempdir().unwrap();
    let fake = fake_nvdec_ffmpeg(bin.path());
    let gs = Gs::start(Opts::default().env(
        "GHOSTSTREAM__TRANSCODING__FFMPEG_PATH",
        fake.to_str().unwrap(),
    ));
    let (_, caps) = gs.get("/api/capabilities").await;
    let nv = accel(&caps, "nvenc");
    // No NVENC, but decoding proven for each format except HEVC 10-bit, which says why.
    assert_eq!(nv["available"], false, "{nv}");
    assert_eq!(nv["decode"], json!(["h264", "hevc", "av1", "vp9"]), "{nv}");
    let why = nv["decode_reason"].as_str().unwrap();
    assert!(
        why.contains("hevc 10-bit: Hardware is lacking required capabilities"),
        "{why}"
    );
    let vaapi = accel(&caps, "vaapi");
    assert_eq!(vaapi["decode"], json!([]), "{vaapi}");
    assert!(
        vaapi["decode_reason"]
            .as_str()
            .unwrap()
            .starts_with("no decoding: "),
        "{vaapi}"
    );
    // H.264 to scale: decoded by CUDA, scaled there, read back for libx264.
    let (code, dry) = gs
        .post(
            "/api/probe/compile",
            json!({"source": media.url("long.mkv"), "output": {"bitrate": "400k"}}),
        )
        .await;
    assert_eq!(code, 200, "{dry}");
    let cmd = dry.to_string();
    assert!(
        cmd.contains("-hwaccel cuda -hwaccel_output_format cuda")
            && cmd.contains("scale_cuda=")
            && cmd.contains("hwdownload,format=nv12")
            && cmd.contains("libx264"),
        "{dry}"
    );
    // The overlay trial passed too: a PGS track to burn is drawn on CUDA's frames, with
    // the decoder and the upload on one device.
    assert_eq!(nv["overlay"], "overlay_cuda", "{nv}");
    let (_, p) = gs
        .post(
            "/api/probe",
            json!({"source": media.url("pgs.mkv"), "output": {"burn_subtitle": 1}}),
        )
        .await;
    let reason = p["plan"]["video"]["reason"]
        .as_str()
        .unwrap_or_else(|| panic!("{p}"));
    assert!(
        reason.ends_with("h264 decoded on the GPU (cuda), subtitles drawn there (overlay_cuda)"),
        "{reason}"
    );
    let (_, dry) = gs
        .post(
            "/api/probe/compile",
            json!({"source": media.url("pgs.mkv"), "output": {"burn_subtitle": 1}}),
        )
        .await;
    let cmd = dry.to_string();
    assert!(
        cmd.contains("-init_hw_device cuda=gs_cu -filter_hw_device gs_cu")
            && cmd.contains("-hwaccel_device gs_cu")
            && cmd.contains("[0:1]format=yuva420p,hwupload[gs_sub];[0:0][gs_sub]overlay_cuda=eof_action=pass,scale_cuda="),
        "{dry}"
    );
    // HEVC 10-bit failed its trial: decoded in software, and the plan says so.
    let (_, p) = gs
        .post("/api/probe", json!({"source": media.url("sdr10.mkv")}))
        .await;
    let reason = p["plan"]["video"]["reason"].as_str().unwrap();
    assert!(
        reason.ends_with("hevc 10-bit decoded in software (no GPU decoder proved it)"),
        "{reason}"
    );
    let (_, dry) = gs
        .post(
            "/api/probe/compile",
            json!({"source": media.url("sdr10.mkv")}),
        )
        .await;
    assert!(!dry.to_string().contains("-hwaccel"), "{dry}");
    // A real job: real ffmpeg has no CUDA, so the GPU decoder fails at once, and the job
    // goes on decoding in software under the same id, to the end.
    let job = gs
        .start_job(json!({"source": media.url("long.mkv"), "output": {"bitrate": "400k"}}))
        .await;
    let done = gs.wait_for(&job, &["ready", "error"], MIN).await;
    let log = gs.log(&job).await;
    assert_eq!(done["status"], "ready", "{log}");
    assert!(log.contains("decoding on the GPU (cuda) failed"), "{log}");
    assert!(
        log.contains("decoding in software within the same job"),
        "{log}"
    );
    // (The command lines name the scripted ffmpeg by its path.)
    let runs: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("$ ") && l.contains("-progress"))
        .collect();
    assert!(runs.len() >= 2, "{log}");
    assert!(runs[0].contains("-hwaccel cuda"), "{log}");
    assert!(!runs.last().unwrap().contains("-hwaccel"), "{log}");
    assert_eq!(done["hw_accel_used"], "software");
}
