//! Encoder runs: starting ffmpeg for HLS ranges and batch files, subtitles, and what
//! their progress, segments and exits mean for the job.

use super::argv::{batch_argv, hls_argv, RunContext, RunStart};
use super::hls::progress_of;
use super::*;
use ghoststream_media::errors::{Cause, CauseKind};

/// A requested subtitle file is small: its conversion gets a minute.
const SIDECAR_LIMIT: Duration = Duration::from_secs(60);
/// Embedded tracks are read in one pass over the whole source, which over a slow link
/// takes as long as the file does to arrive.
const EMBEDDED_LIMIT: Duration = Duration::from_secs(30 * 60);

impl Actor {
    /// Each subtitle track to WebVTT: a requested file by a short run of its own, the
    /// source's embedded text tracks together in one pass over the source. Each track is
    /// served as soon as its file is written.
    pub(super) fn start_subtitles(&self, id: Uuid) {
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        let Some(spec) = &job.spec else { return };
        if !job.rec.mode.is_hls() {
            return;
        }
        let rules = self.inner.input_rules();
        let mut embedded = Vec::new();
        for (i, sub) in spec.subtitles.iter().enumerate() {
            let part = job.rec.dir.join(format!("sub{i}.vtt.part"));
            match sub.stream {
                Some(stream) => embedded.push((i, stream, part)),
                None => {
                    let argv = command::subtitle_to_vtt(&sub.source, &part, &rules);
                    self.extract_subtitles(id, argv, vec![i], SIDECAR_LIMIT);
                }
            }
        }
        if !embedded.is_empty() {
            let tracks: Vec<(u32, PathBuf)> =
                embedded.iter().map(|(_, s, p)| (*s, p.clone())).collect();
            let argv = command::embedded_subtitles_to_vtt(&spec.source, &tracks, &rules);
            self.extract_subtitles(
                id,
                argv,
                embedded.iter().map(|(i, _, _)| *i).collect(),
                EMBEDDED_LIMIT,
            );
        }
    }

    /// Runs one subtitle extraction (writing `sub{i}.vtt.part` for each of `indexes`),
    /// then serves each track: shifted to the job's start, or empty with the reason in
    /// the log when it could not be read. Ends with the job's side work.
    fn extract_subtitles(
        &self,
        id: Uuid,
        argv: command::Argv,
        indexes: Vec<usize>,
        limit: Duration,
    ) {
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        let offset = job.spec.as_ref().map(|s| s.start_time).unwrap_or(0.0);
        // Where the job's time 0 sits on the segments' timeline.
        let origin = if job.plan.as_ref().is_some_and(|p| p.fmp4) {
            command::FMP4_ORIGIN_SECS
        } else {
            0.0
        };
        let ffmpeg = self.inner.config.transcoding.ffmpeg_path.clone();
        let dir = job.rec.dir.clone();
        let log = job.log.clone();
        let side = job.side.clone();
        let tx = self.internal_tx.clone();
        self.tracker.spawn(async move {
            log.push(format!(
                "$ {}",
                argv.to_cmd_string(&ffmpeg.to_string_lossy())
            ));
            let run = ghoststream_media::process::run_bounded(
                ffmpeg.as_os_str(),
                argv.args(),
                limit,
                "ffmpeg",
            );
            // Dropping the run kills its ffmpeg.
            let r = tokio::select! {
                r = run => r,
                _ = side.cancelled() => return,
            };
            let ok = match r {
                Ok(o) if o.success => true,
                Ok(o) => {
                    for l in o.stderr.lines() {
                        log.push(l);
                    }
                    false
                }
                Err(e) => {
                    log.push(format!("subtitles: {e}"));
                    false
                }
            };
            for i in indexes {
                let part = dir.join(format!("sub{i}.vtt.part"));
                let body = if ok {
                    tokio::fs::read_to_string(&part).await.ok()
                } else {
                    None
                };
                let text = match body {
                    Some(b) => ghoststream_media::subtitles::prepare_vtt(&b, offset, origin),
                    None => {
                        log.push(format!(
                            "subtitle {i} could not be read; serving an empty track"
                        ));
                        ghoststream_media::subtitles::prepare_vtt("WEBVTT\n", 0.0, origin)
                    }
                };
                let _ = tokio::fs::write(dir.join(format!("sub{i}.vtt")), text).await;
                let _ = tokio::fs::remove_file(&part).await;
                let _ = tx.send(Internal::SubtitleDone { job: id, index: i }).await;
            }
        });
    }

    pub(super) fn new_run(&mut self) -> u64 {
        let r = self.next_run;
        self.next_run += 1;
        r
    }

    pub(super) fn start_hls_run(&mut self, id: Uuid, from: u32, why: RunStart) {
        let run_id = self.new_run();
        let cfg = self.inner.config.clone();
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let (Some(hls), Some(plan), Some(spec)) = (&job.hls, &job.plan, &job.spec) else {
            return;
        };
        let ctx = RunContext {
            config: &cfg,
            hardware: &self.inner.hardware,
            input: self.inner.input_rules(),
            spec,
            plan,
            hw: job.hw,
            dir: &job.rec.dir,
            faster: job.health.faster,
        };
        let Some(run) = hls_argv(&ctx, hls, from, why, run_id) else {
            return;
        };
        let lists = (0..hls.variants)
            .map(|v| segment_list_path(&job.rec.dir, v, run_id))
            .collect();
        self.launch(id, run_id, run.argv, lists, run.first, run.offset);
    }

    /// Records the run as the job's active one and starts ffmpeg for it.
    fn launch(
        &mut self,
        id: Uuid,
        run_id: u64,
        argv: command::Argv,
        lists: Vec<PathBuf>,
        first: u32,
        offset: f64,
    ) {
        let cfg = self.inner.config.clone();
        let Some(mode) = self.jobs.get(&id).map(|j| j.rec.mode) else {
            return;
        };
        let priority = self.priority_for(mode);
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let cancel = CancellationToken::new();
        // A frozen job's new run (a seek restart, a retry) starts frozen too.
        let control = RunControl::new(job.frozen.is_some());
        job.run = Some(ActiveRun {
            id: run_id,
            first,
            head: first,
            cancel: cancel.clone(),
            control: control.clone(),
            offset,
            started: tokio::time::Instant::now(),
            position: None,
        });
        job.health.samples.clear();
        // A stream run (it has segment lists) is stopped only to be replaced (a seek, a
        // step down) or ended: what it would flush on SIGTERM is a segment nobody lists,
        // and the encoder flushing it takes the cores from the run a viewer waits for. It
        // is killed at once; a batch run gets 2 s to finish its file.
        let grace = if lists.is_empty() {
            Duration::from_secs(2)
        } else {
            Duration::ZERO
        };
        self.launcher.launch(
            RunRequest {
                job: id,
                run: run_id,
                program: cfg.transcoding.ffmpeg_path.clone(),
                argv,
                lists,
                stall: Duration::from_secs(cfg.transcoding.stall_timeout.max(1)),
                grace,
                log: job.log.clone(),
                cancel,
                control,
                priority,
            },
            self.run_tx.clone(),
            &self.tracker,
        );
    }

    pub(super) fn start_batch(&mut self, id: Uuid) {
        let run_id = self.new_run();
        let cfg = self.inner.config.clone();
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let (Some(plan), Some(spec)) = (&job.plan, &job.spec) else {
            return;
        };
        let ctx = RunContext {
            config: &cfg,
            hardware: &self.inner.hardware,
            input: self.inner.input_rules(),
            spec,
            plan,
            hw: job.hw,
            dir: &job.rec.dir,
            faster: job.health.faster,
        };
        // A two-pass job starts at the first pass, and a retry where it failed (the
        // statistics of a finished first pass are kept).
        let pass = if super::argv::two_passes(&ctx) {
            job.pass.max(1)
        } else {
            0
        };
        let argv = batch_argv(&ctx, job.rec.media_info.as_ref(), pass);
        if pass > 0 {
            job.log.push(format!(
                "pass {pass} of 2: {}",
                if pass == 1 {
                    "the encoder's statistics"
                } else {
                    "the output, at the bitrate the statistics allow"
                }
            ));
        }
        job.pass = pass;
        self.launch(id, run_id, argv, Vec::new(), 0, 0.0);
    }

    pub(super) async fn internal(&mut self, ev: Internal) {
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
            Internal::Room { reply } => {
                let _ = reply.send(self.room());
            }
            Internal::Prepared {
                spec,
                request,
                prepared,
                client,
                reply,
            } => {
                let r = self.submit(*spec, *request, prepared, client).await;
                let _ = reply.send(r);
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
                    _ => self.start_hls_run(job, 0, RunStart::Viewer),
                }
            }
        }
    }

    pub(super) fn on_progress(
        &mut self,
        id: Uuid,
        run: u64,
        block: ghoststream_media::progress::ProgressBlock,
    ) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let Some(active) = job.run.as_mut() else {
            return;
        };
        if active.id != run || job.rec.status != JobStatus::Processing {
            return;
        }
        let total = job.rec.duration.unwrap_or(0.0);
        let position = active.offset + block.out_time_secs;
        active.position = Some(position);
        let active = &*active;
        // Each pass of a two-pass job is half of it: the first counts to 50 %, and what
        // is left takes twice as long as it reads.
        let (done, passes_left) = match (&job.hls, job.pass) {
            (Some(h), _) => (h.done_at(position, active.head), 1.0),
            (None, 0) => (block.out_time_secs, 1.0),
            (None, p) => (
                ((p - 1) as f64 * total + block.out_time_secs.min(total)) / 2.0,
                2.0,
            ),
        };
        let (progress, remaining) = progress_of(done, total);
        let speed = block.speed.unwrap_or(0.0);
        job.eta = (speed > 0.0).then(|| (remaining * passes_left / speed).round() as u64);
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
                stage: if job.frozen.is_some() {
                    Stage::Paused
                } else if block.end {
                    Stage::Finalizing
                } else {
                    stage
                },
                size: block.total_size_bytes,
                bitrate: block.bitrate_kbps,
                paused_reason: job.frozen.clone(),
            },
        };
        if let JobEvent::Progress { data, .. } = &ev {
            job.last_progress = Some((data.clone(), std::time::Instant::now()));
        }
        let _ = self.inner.events.send(ev);
        self.judge_speed(id, position, block.frame);
    }

    pub(super) fn on_segment(&mut self, id: Uuid, run: u64, variant: usize, index: u32) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let dir = job.rec.dir.clone();
        if let Some(active) = job.run.as_mut() {
            if active.id == run && variant == 0 {
                active.head = active.head.max(index + 1);
            }
        }
        if job.rec.first_segment_secs.is_none() {
            // For `/metrics`: how long the first picture took.
            let took = (Utc::now() - job.rec.created_at).num_milliseconds() as f64 / 1000.0;
            job.rec.first_segment_secs = Some(took.max(0.0));
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
        for (v, n, file, w) in waiters {
            if v == variant && n == index {
                let _ = w.send(Ok(StreamFile::File(dir.join(file))));
            } else if !w.is_closed() {
                h.waiters.push((v, n, file, w));
            }
        }
        self.throttle(id);
    }

    pub(super) async fn on_exit(&mut self, id: Uuid, run: u64, outcome: RunOutcome) {
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
        // ffmpeg treats an input that stops for good as its end and exits cleanly; a file
        // that is shorter than its source is a failure, not a finished job.
        let mut outcome = outcome;
        if matches!(outcome, RunOutcome::Finished) && job.rec.mode == Mode::Batch {
            let total = job.rec.duration.unwrap_or(0.0);
            // How far this run got: a pass of a two-pass job is half of the progress.
            let reached = match job.pass {
                0 => total * job.rec.progress / 100.0,
                1 => total * job.rec.progress / 50.0,
                _ => total * (job.rec.progress - 50.0) / 50.0,
            };
            if total > 0.0 && total - reached > 2.0_f64.max(total * 0.03) {
                outcome = RunOutcome::Failed(Cause::new(
                    CauseKind::EndedEarly,
                    format!("the source ended early: {reached:.1} s of {total:.1} s arrived (connection lost or file truncated)"),
                ));
            }
        }
        match outcome {
            RunOutcome::Cancelled => {}
            RunOutcome::Finished => {
                if job.rec.mode == Mode::Batch {
                    if job.pass == 1 {
                        job.pass = 2;
                        self.start_batch(id);
                    } else {
                        self.batch_done(id).await;
                    }
                    return;
                }
                let Some(h) = &job.hls else { return };
                let first = active.as_ref().map(|a| a.first).unwrap_or(0);
                // On from where this run began (a seek's viewers are there), then
                // whatever was skipped before it.
                match h
                    .first_missing_from(first)
                    .or_else(|| h.first_missing_from(0))
                {
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
                            self.fail(id, "encoder-failed", msg).await;
                        }
                    }
                    Some(n) => self.start_hls_run(id, n, RunStart::Carry),
                }
            }
            RunOutcome::Failed(_) | RunOutcome::Stalled => {
                let cause = match &outcome {
                    RunOutcome::Failed(c) => c.clone(),
                    // A hung run is stopped and tried again, like a passing fault.
                    _ => Cause::new(
                        CauseKind::Network,
                        format!(
                            "ffmpeg stalled: no progress for {} s",
                            cfg.transcoding.stall_timeout
                        ),
                    ),
                };
                let msg = cause.message.clone();
                job.attempts += 1;
                // Another encoder cannot help when the source is the problem.
                let hw_failed = job.hw != HwKind::Software && !cause.is_source_side();
                let gpu_decode = job.plan.as_ref().and_then(|p| p.decode);
                if let (Some(kind), false, false) = (gpu_decode, hw_failed, cause.is_source_side())
                {
                    // The GPU decoder is what failed: the same encoder goes on with
                    // frames decoded in software.
                    job.log.push(format!(
                        "decoding on the GPU ({}) failed ({msg}); decoding in software within the same job",
                        ghoststream_media::hw::decoder_of(kind)
                    ));
                    if let Some(p) = job.plan.as_mut() {
                        p.decode = None;
                    }
                    let _ = self.internal_tx.send(Internal::Retry { job: id }).await;
                } else if hw_failed && cfg.hardware.fallback_to_software {
                    if let Some(p) = job.plan.as_mut() {
                        p.decode = None;
                    }
                    job.log.push(format!(
                        "{} encoder failed ({msg}); continuing in software within the same job",
                        job.hw.as_str()
                    ));
                    tracing::warn!(job = %id, hw = job.hw.as_str(), error = %msg, "hardware encode failed, falling back to software");
                    let _ = self
                        .inner
                        .notices
                        .send(ghoststream_types::Notice::HardwareFallback {
                            job_id: id.to_string(),
                            from: job.hw,
                            cause: msg.clone(),
                        });
                    job.hw = HwKind::Software;
                    job.rec.hw_accel_used = Some(HwKind::Software);
                    if let Some(d) = job.rec.delivery.as_mut().filter(|d| d.encoder.is_some()) {
                        let codec = job.spec.as_ref().map(|s| s.video_codec);
                        d.encoder = codec
                            .and_then(|c| {
                                ghoststream_media::command::encoder_name(c, HwKind::Software)
                            })
                            .map(str::to_string);
                    }
                    self.persist(id).await;
                    let _ = self.internal_tx.send(Internal::Retry { job: id }).await;
                } else if job.attempts <= cfg.transcoding.retry_count && cause.is_transient() {
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
                    let code = match &outcome {
                        RunOutcome::Stalled => "encoder-stalled",
                        _ => cause.kind.code(),
                    };
                    self.fail(id, code, msg).await;
                }
            }
        }
    }

    pub(super) async fn batch_done(&mut self, id: Uuid) {
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
        if job.pass > 0 {
            // The statistics are not part of the output.
            if let Ok(mut dir) = tokio::fs::read_dir(&job.rec.dir).await {
                while let Ok(Some(e)) = dir.next_entry().await {
                    if e.file_name()
                        .to_string_lossy()
                        .starts_with(super::argv::PASS_LOG)
                    {
                        let _ = tokio::fs::remove_file(e.path()).await;
                    }
                }
            }
        }
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
                self.fail(id, "output-failed", msg).await;
            }
        }
    }
}
