//! Freezing and thawing running jobs: their ffmpeg process groups are stopped where they
//! are (same job, URLs, tokens and segments) and go on when thawed. A player waiting for
//! a segment gets it once the job runs again. The job stays `processing`; its progress
//! says `stage: paused` and why.

use super::*;

/// Why the throttle froze a stream.
pub(super) const THROTTLED: &str = "throttled: far enough ahead of its viewers";

/// Which jobs a freeze or thaw is for.
#[derive(Debug, Clone)]
pub(crate) enum Which {
    Job(Uuid),
    /// Every running job (batch jobs only when `batch_only`).
    Running {
        batch_only: bool,
    },
    /// Every frozen job, or only those frozen for this reason.
    Frozen(Option<String>),
}

impl Actor {
    pub(super) fn freeze(
        &mut self,
        which: Which,
        reason: Option<String>,
    ) -> Result<Vec<Snapshot>, EngineError> {
        let ids: Vec<Uuid> = match &which {
            Which::Job(id) => {
                let job = self.jobs.get(id).ok_or(EngineError::NotFound)?;
                if job.rec.status != JobStatus::Processing {
                    return Err(EngineError::NotRunning(job.rec.status.as_str()));
                }
                vec![*id]
            }
            Which::Running { batch_only } => self
                .jobs
                .iter()
                .filter(|(_, j)| j.rec.status == JobStatus::Processing && j.frozen.is_none())
                .filter(|(_, j)| !batch_only || j.rec.mode == Mode::Batch)
                .map(|(id, _)| *id)
                .collect(),
            Which::Frozen(why) => self
                .jobs
                .iter()
                .filter(|(_, j)| match (&j.frozen, why) {
                    (Some(_), None) => true,
                    (Some(f), Some(w)) => f == w,
                    (None, _) => false,
                })
                .map(|(id, _)| *id)
                .collect(),
        };
        let mut changed = Vec::new();
        for id in ids {
            let Some(job) = self.jobs.get_mut(&id) else {
                continue;
            };
            if let Some(run) = &job.run {
                run.control
                    .set_frozen(reason.is_some())
                    .map_err(|e| EngineError::PauseUnsupported(e.to_string()))?;
            }
            job.log.push(match &reason {
                Some(r) => format!("frozen: {r}"),
                None => "thawed: running again".to_string(),
            });
            job.frozen = reason.clone();
            // Time spent frozen is not slowness: the speed window starts again.
            job.health.samples.clear();
            self.announce_pause(id);
            if let Some(j) = self.jobs.get(&id) {
                changed.push(j.snapshot());
            }
        }
        self.count_frozen();
        Ok(changed)
    }

    /// Throttling ahead of the viewer: a stream more than `throttle.ahead_seconds` of
    /// output past the furthest segment a viewer asked for is frozen, and thawed when a
    /// viewer comes within half of that. Only what the throttle froze is thawed here.
    pub(super) fn throttle(&mut self, id: Uuid) {
        let limit = self
            .inner
            .live
            .read()
            .map(|l| l.throttle_ahead_seconds)
            .unwrap_or(0) as f64;
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        let (Some(h), Some(run)) = (&job.hls, &job.run) else {
            return;
        };
        if job.rec.status != JobStatus::Processing {
            return;
        }
        let ahead = h.ahead_of_viewers(run.head);
        let throttled = job.frozen.as_deref() == Some(THROTTLED);
        let change = match (&job.frozen, throttled) {
            (None, _) if limit > 0.0 && ahead > limit => Some(Some(THROTTLED.to_string())),
            (Some(_), true) if limit == 0.0 || ahead <= limit / 2.0 => Some(None),
            _ => None,
        };
        if let Some(reason) = change {
            let _ = self.freeze(Which::Job(id), reason);
        }
    }

    /// The priority a new run of `job` starts at.
    pub(super) fn priority_for(&self, mode: Mode) -> ghoststream_types::Priority {
        let live = self
            .inner
            .live
            .read()
            .map(|l| l.priority)
            .unwrap_or_default();
        match self.stream_priority {
            Some(p) if mode.is_hls() => p,
            _ => live,
        }
    }

    /// Moves every running stream to `priority` (or back to `gaming.priority`).
    pub(super) fn set_stream_priority(&mut self, priority: Option<ghoststream_types::Priority>) {
        if self.stream_priority == priority {
            return;
        }
        self.stream_priority = priority;
        for job in self.jobs.values() {
            if job.rec.status != JobStatus::Processing || !job.rec.mode.is_hls() {
                continue;
            }
            if let Some(run) = &job.run {
                let p = self.priority_for(job.rec.mode);
                if let Err(e) = run.control.set_priority(p) {
                    tracing::debug!(job = %job.rec.id, "priority unchanged: {e}");
                }
            }
        }
    }

    /// Stops every running batch job and puts it back at the head of the queue: it starts
    /// over when the schedule lets it. Streams, which someone watches, go on.
    pub(super) async fn requeue_batch(&mut self) {
        let ids: Vec<Uuid> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.rec.status == JobStatus::Processing && j.rec.mode == Mode::Batch)
            .map(|(id, _)| *id)
            .collect();
        for id in ids.into_iter().rev() {
            let Some(job) = self.jobs.get_mut(&id) else {
                continue;
            };
            if let Some(r) = job.run.take() {
                r.cancel.cancel();
            }
            job.frozen = None;
            job.rec.status = JobStatus::Queued;
            job.rec.progress = 0.0;
            job.eta = None;
            job.log
                .push("the schedule closed: stopped, and queued to start over when it opens");
            self.running = self.running.saturating_sub(1);
            self.queue.push_front(id);
            self.persist(id).await;
            self.emit_status(id);
        }
        self.count_frozen();
    }

    /// Keeps the count `/api/server` shows.
    pub(super) fn count_frozen(&self) {
        let n = self.jobs.values().filter(|j| j.frozen.is_some()).count() as u32;
        self.inner
            .frozen
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// Tells clients at once: a progress event with `stage: paused` and the reason, or
    /// with the stage the job is back in.
    fn announce_pause(&mut self, id: Uuid) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let running_stage = match &job.plan {
            Some(p) if p.copies_video() => Stage::Remuxing,
            _ => Stage::Transcoding,
        };
        let mut data = match &job.last_progress {
            Some((d, _)) => d.clone(),
            None => ProgressData {
                progress: (job.rec.progress * 10.0).round() / 10.0,
                frame: 0,
                fps: 0.0,
                time: job.rec.current_time.unwrap_or(0.0),
                speed: 0.0,
                eta_seconds: job.eta,
                stage: running_stage,
                size: 0,
                bitrate: None,
                paused_reason: None,
            },
        };
        data.stage = if job.frozen.is_some() {
            Stage::Paused
        } else {
            running_stage
        };
        data.paused_reason = job.frozen.clone();
        if job.frozen.is_some() {
            data.speed = 0.0;
            data.fps = 0.0;
        }
        job.last_progress = Some((data.clone(), std::time::Instant::now()));
        self.emit(JobEvent::Progress {
            job_id: id.to_string(),
            data,
        });
    }
}
