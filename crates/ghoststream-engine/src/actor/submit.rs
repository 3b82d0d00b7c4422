//! New jobs: validation already done, they are created (or join a shared stream),
//! queued, and started while slots are free.

use super::*;

fn variants_of(plan: &Plan, media: &MediaInfo) -> Vec<Variant> {
    match &plan.video {
        VideoAction::Encode { renditions, .. } => renditions
            .iter()
            .enumerate()
            .map(|(i, r)| Variant {
                name: r.name.clone(),
                width: r.width,
                height: r.height,
                resolution: format!("{}x{}", r.width, r.height),
                bitrate_kbps: r.bitrate_kbps,
                playlist: format!("v{i}.m3u8"),
            })
            .collect(),
        _ => {
            let (w, h) = media
                .video
                .as_ref()
                .map(|v| (v.width, v.height))
                .unwrap_or((0, 0));
            vec![Variant {
                name: if h > 0 {
                    format!("{h}p")
                } else {
                    "audio".into()
                },
                width: w,
                height: h,
                resolution: format!("{w}x{h}"),
                bitrate_kbps: media.bitrate_kbps.unwrap_or(2000),
                playlist: "v0.m3u8".into(),
            }]
        }
    }
}

fn codecs_of(plan: &Plan, media: &MediaInfo) -> String {
    let source = media.video.as_ref();
    let video = match &plan.video {
        VideoAction::Encode {
            codec,
            renditions,
            ten_bit,
            ..
        } => {
            let top = renditions.iter().map(|r| r.height).max().unwrap_or(1080);
            Some(segments::video_codec_tag(
                ghoststream_media::plan::source_name(*codec),
                top,
                *ten_bit,
                None,
            ))
        }
        VideoAction::Copy => {
            source.map(|v| segments::video_codec_tag(&v.codec, v.height, v.bit_depth > 8, v.level))
        }
        VideoAction::None => None,
    };
    let audio: Vec<&str> = if plan.audio_renditions.is_empty() {
        let first = media.audio.first();
        match (&plan.audio, first) {
            (AudioAction::Encode { codec, .. }, Some(_)) => vec![codec.as_str()],
            (AudioAction::Copy, Some(a)) => vec![a.codec.as_str()],
            _ => Vec::new(),
        }
    } else {
        plan.audio_renditions
            .iter()
            .map(|r| r.codec.as_str())
            .collect()
    };
    let audio: Vec<&str> = audio.into_iter().map(segments::audio_codec_tag).collect();
    segments::codecs_attr(video.as_deref(), &audio)
}

/// The master playlist's audio group: each audio rendition, its playlist after the video
/// variants'.
fn audio_entries(plan: &Plan) -> Vec<segments::AudioEntry> {
    let first = plan.variant_count();
    plan.audio_renditions
        .iter()
        .enumerate()
        .map(|(k, r)| segments::AudioEntry {
            name: r.name.clone(),
            language: r.language.clone(),
            channels: r.channels,
            default: r.default,
            playlist: format!("v{}.m3u8", first + k),
        })
        .collect()
}

impl Actor {
    /// A start: joins a shared stream or answers a full queue at once; otherwise probes
    /// in a task (waiting for a probe slot, then checking room again) and creates the job
    /// when the task reports back. The caller waits on `reply` alone.
    pub(super) async fn start(
        &mut self,
        spec: Box<JobSpec>,
        request: Box<StartRequest>,
        client: Option<ghoststream_types::JobClient>,
        reply: oneshot::Sender<Result<Snapshot, EngineError>>,
    ) {
        if let Some(key) = spec.share_key() {
            if let Some(s) = self
                .join(&key, spec.start_time, spec.session_id.clone())
                .await
            {
                let _ = reply.send(Ok(s));
                return;
            }
        }
        // A full queue is answered before any probing.
        if let Err(e) = self.room() {
            let _ = reply.send(Err(e));
            return;
        }
        let prober = self.prober.clone();
        let tx = self.internal_tx.clone();
        self.tracker.spawn(async move {
            let prepared = {
                let _slot = prober.slot(&spec.source).await;
                // The queue may have filled while this request waited for a probe slot.
                let (room_tx, room_rx) = oneshot::channel();
                if tx.send(Internal::Room { reply: room_tx }).await.is_err() {
                    return;
                }
                match room_rx.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        let _ = reply.send(Err(e));
                        return;
                    }
                    Err(_) => return,
                }
                prober.prepare(&spec).await
            };
            if let Ok(p) = &prepared {
                if let Err(e) = spec.check_against(&p.media, prober.hardware()) {
                    let _ = reply.send(Err(e));
                    return;
                }
            }
            let _ = tx
                .send(Internal::Prepared {
                    spec,
                    request,
                    prepared: prepared.map(Box::new),
                    client,
                    reply,
                })
                .await;
        });
    }

    pub(super) async fn submit(
        &mut self,
        mut spec: JobSpec,
        request: StartRequest,
        prepared: Result<Box<Prepared>, String>,
        client: Option<ghoststream_types::JobClient>,
    ) -> Result<Snapshot, EngineError> {
        if let Some(key) = spec.share_key() {
            if let Some(s) = self
                .join(&key, spec.start_time, spec.session_id.clone())
                .await
            {
                return Ok(s);
            }
        }
        if prepared.is_ok() {
            self.room()?;
        }
        let id = Uuid::new_v4();
        let now = Utc::now();
        let ttl = (self.inner.config.security.token_ttl_hours * 3600.0).ceil() as i64;
        let exp = now.timestamp() + ttl.max(1);
        let dir = self.inner.config.work_dir().join(id.to_string());
        let mut rec = JobRecord {
            id,
            request,
            mode: spec.mode,
            source: spec.source_raw.clone(),
            status: JobStatus::Queued,
            progress: 0.0,
            current_time: None,
            duration: None,
            start_time: spec.start_time,
            hw_accel_used: None,
            error_message: None,
            error_code: None,
            created_at: now,
            started_at: None,
            completed_at: None,
            last_access: now,
            media_info: None,
            variants: None,
            dir,
            output_file: None,
            output_bytes: 0,
            speed: None,
            first_segment_secs: None,
            control_token: self.inner.tokens.mint(id, Scope::Control, exp),
            stream_token: self.inner.tokens.mint(id, Scope::Stream, exp),
            stream_revoked: false,
            files_removed: false,
            live_key: None,
            client,
            delivery: None,
        };
        let mut sessions = HashSet::new();
        let mut anon = 0;
        match &spec.session_id {
            Some(s) => {
                sessions.insert(s.clone());
            }
            None => anon = 1,
        }
        let log = self.inner.job_log(id);
        let (plan, hls, hw) = match prepared {
            Err(cause) => {
                rec.status = JobStatus::Error;
                rec.error_message = Some(cause.clone());
                rec.error_code = Some("probe-failed".into());
                rec.completed_at = Some(now);
                rec.files_removed = true;
                log.push(format!("probe failed: {cause}"));
                self.totals.failed += 1;
                self.store.totals(self.totals.clone()).await;
                (None, None, HwKind::Software)
            }
            Ok(p) => {
                let p = *p;
                if spec.mode.is_hls() {
                    // The source's own text tracks, as renditions after the requested ones.
                    let (embedded, left) = crate::job::SubtitleTrack::embedded(
                        &spec.source,
                        &p.media,
                        &spec.subtitles,
                    );
                    if left > 0 {
                        log.push(format!(
                            "{left} more embedded subtitle tracks left out (at most {})",
                            ghoststream_media::subtitles::MAX_EMBEDDED
                        ));
                    }
                    let images = p
                        .media
                        .subtitles
                        .iter()
                        .filter(|s| !ghoststream_media::subtitles::is_text(&s.codec))
                        .map(|s| format!("{} ({})", s.index, s.codec))
                        .collect::<Vec<_>>();
                    if !images.is_empty() {
                        log.push(format!(
                            "image subtitle tracks cannot be WebVTT and are not listed: {}",
                            images.join(", ")
                        ));
                    }
                    spec.subtitles.extend(embedded);
                }
                rec.duration = Some((p.media.duration - spec.start_time).max(0.0));
                rec.variants = spec.mode.is_hls().then(|| variants_of(&p.plan, &p.media));
                let hls = p.map.map(|map| Hls {
                    subs: spec
                        .subtitles
                        .iter()
                        .map(|s| SubtitleEntry {
                            name: s.label.clone(),
                            language: s.language.clone(),
                            default: s.default,
                            forced: s.forced,
                        })
                        .collect(),
                    subs_ready: vec![false; spec.subtitles.len()],
                    codecs: codecs_of(&p.plan, &p.media),
                    audio: audio_entries(&p.plan),
                    ..Hls::new(map, p.plan.output_count())
                });
                rec.delivery = Some(ghoststream_media::plan::delivery(
                    &p.plan,
                    &p.media,
                    spec.format,
                    p.hw,
                ));
                rec.media_info = Some(p.media);
                (Some(p.plan), hls, p.hw)
            }
        };
        let failed = rec.status == JobStatus::Error;
        let job = Job {
            share_key: if failed { None } else { spec.share_key() },
            spec: Some(spec),
            plan,
            hls,
            hw,
            sessions,
            anon,
            ..Job::from_record(rec, log)
        };
        self.jobs.insert(id, job);
        self.persist(id).await;
        self.emit_status(id);
        if !failed {
            self.queue.push_back(id);
            self.schedule().await;
        }
        let snap = self.jobs[&id].snapshot();
        self.trim_history().await;
        Ok(snap)
    }

    /// Joins a running (or complete) stream with the same key whose start lies within one
    /// segment of `start_time`: a viewer who seeks gets a job at the new position, not
    /// the first viewer's. A session already watching is not counted again.
    pub(super) async fn join(
        &mut self,
        key: &str,
        start_time: f64,
        session: Option<String>,
    ) -> Option<Snapshot> {
        let window = self.inner.config.transcoding.segment_duration;
        let job = self.jobs.values_mut().find(|j| {
            j.share_key.as_deref() == Some(key)
                && (j.rec.start_time - start_time).abs() < window
                && !j.rec.files_removed
                && match j.rec.status {
                    JobStatus::Queued | JobStatus::Processing => true,
                    JobStatus::Ready => j.rec.progress >= 99.0,
                    _ => false,
                }
        })?;
        match session {
            Some(s) => {
                job.sessions.insert(s);
            }
            None => job.anon += 1,
        }
        job.rec.last_access = Utc::now();
        Some(job.snapshot())
    }

    /// Starts queued jobs while slots are free.
    pub(super) async fn schedule(&mut self) {
        let max = self.max_jobs();
        while self.running < max {
            let Some(id) = self.queue.pop_front() else {
                break;
            };
            if !self
                .jobs
                .get(&id)
                .is_some_and(|j| j.rec.status == JobStatus::Queued)
            {
                continue;
            }
            self.running += 1;
            Box::pin(self.begin(id)).await;
        }
    }

    pub(super) async fn begin(&mut self, id: Uuid) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        job.rec.status = JobStatus::Processing;
        job.rec.started_at = Some(Utc::now());
        job.rec.hw_accel_used = Some(job.hw);
        if let Err(e) = tokio::fs::create_dir_all(&job.rec.dir).await {
            let msg = format!("cannot create the job's work directory: {e}");
            self.fail(id, "work-dir-failed", msg).await;
            return;
        }
        if let Some(plan) = &job.plan {
            let ev = JobEvent::Analysis {
                job_id: id.to_string(),
                data: ghoststream_types::AnalysisData {
                    streams: plan.streams.clone(),
                },
            };
            let _ = self.inner.events.send(ev);
        }
        self.persist(id).await;
        self.emit_status(id);
        self.start_subtitles(id);
        match self.jobs[&id].rec.mode {
            Mode::Batch => self.start_batch(id),
            _ => self.start_hls_run(id, 0, super::argv::RunStart::Viewer),
        }
    }
}
