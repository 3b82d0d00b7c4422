//! Terminal states, cancel/leave/delete, start-up reconciliation and shutdown.

use super::*;

impl Actor {
    /// What a previous process left: running jobs become errors, their outputs go;
    /// finished batch outputs stay until their retention ends; unknown dirs are removed.
    pub(super) async fn reconcile(&mut self, loaded: Loaded) {
        for mut rec in loaded.jobs {
            let mut changed = false;
            if !rec.status.is_terminal() {
                rec.status = JobStatus::Error;
                rec.error_message = Some("interrupted by restart".into());
                rec.completed_at = Some(Utc::now());
                self.totals.failed += 1;
                changed = true;
            }
            // A live recording's files belong to the live ingest.
            if rec.mode.is_hls() && !rec.files_removed && rec.live_key.is_none() {
                let _ = tokio::fs::remove_dir_all(&rec.dir).await;
                rec.files_removed = true;
                changed = true;
            }
            if changed {
                self.store.upsert(rec.clone()).await;
            }
            let id = rec.id;
            let log = self.inner.job_log(id);
            self.jobs.insert(id, Job::from_record(rec, log));
        }
        self.store.totals(self.totals.clone()).await;
        self.remove_orphans().await;
    }

    pub(super) async fn remove_orphans(&self) -> u32 {
        let work = self.inner.config.work_dir();
        let mut n = 0;
        let Ok(mut rd) = tokio::fs::read_dir(&work).await else {
            return 0;
        };
        while let Ok(Some(entry)) = rd.next_entry().await {
            let name = entry.file_name().to_string_lossy().into_owned();
            let known = Uuid::parse_str(&name)
                .ok()
                .and_then(|id| self.jobs.get(&id))
                .is_some_and(|j| !j.rec.files_removed);
            if !known {
                let p = entry.path();
                let r = if p.is_dir() {
                    tokio::fs::remove_dir_all(&p).await
                } else {
                    tokio::fs::remove_file(&p).await
                };
                if r.is_ok() {
                    n += 1;
                }
            }
        }
        n
    }

    /// Moves a job to a terminal state: counters, events, callback, freeing its slot.
    /// Ends a job in `error` with a stable code for its cause.
    pub(super) async fn fail(&mut self, id: Uuid, code: &str, msg: String) {
        if let Some(job) = self.jobs.get_mut(&id) {
            job.rec.error_code = Some(code.to_string());
        }
        self.finish(id, JobStatus::Error, Some(msg)).await;
    }

    pub(super) async fn finish(&mut self, id: Uuid, status: JobStatus, error: Option<String>) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let was_running = job.rec.status == JobStatus::Processing;
        let was_queued = job.rec.status == JobStatus::Queued;
        if let Some(r) = job.run.take() {
            r.cancel.cancel();
        }
        let was_frozen = job.frozen.take().is_some();
        job.rec.status = status;
        job.rec.completed_at = Some(Utc::now());
        job.rec.error_message = error.clone();
        job.rec.error_code = match status {
            JobStatus::Error => job.rec.error_code.take().or(Some("job-failed".into())),
            _ => None,
        };
        job.eta = None;
        if status == JobStatus::Ready {
            job.rec.progress = 100.0;
            job.rec.current_time = job.rec.duration;
        }
        if let Some(e) = &error {
            job.log.push(format!("job failed: {e}"));
        }
        if was_frozen {
            self.count_frozen();
        }
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        if status != JobStatus::Ready {
            job.rec.stream_revoked = status == JobStatus::Cancelled;
        }
        let end_msg = match status {
            JobStatus::Cancelled => "the job was cancelled".to_string(),
            _ => error.clone().unwrap_or_else(|| "the job failed".into()),
        };
        if let Some(h) = job.hls.as_mut() {
            for (_, _, _, w) in h.waiters.drain(..) {
                let _ = w.send(Err(EngineError::JobEnded(end_msg.clone())));
            }
            // A finished stream's subtitles may still be on their way (they are read
            // from the whole source): their requests wait for them.
            if status != JobStatus::Ready {
                for (_, w) in h.sub_waiters.drain(..) {
                    let _ = w.send(Err(EngineError::JobEnded(end_msg.clone())));
                }
            }
        }
        // Partial outputs of failed or cancelled jobs are removed at once, and nothing
        // more is made for them.
        if status != JobStatus::Ready {
            job.side.cancel();
            job.rec.files_removed = true;
            let dir = job.rec.dir.clone();
            self.tracker.spawn(async move {
                // Give a cancelled run a moment to close its files first.
                tokio::time::sleep(Duration::from_millis(2500)).await;
                let _ = tokio::fs::remove_dir_all(dir).await;
            });
        }
        if status == JobStatus::Ready {
            job.rec.output_bytes = job.rec.output_bytes.max(dir_size(&job.rec.dir).await);
        }
        self.totals.count_end(&job.rec, was_running);
        let callback = job.spec.as_ref().and_then(|s| s.callback_url.clone());
        let snapshot = job.snapshot();
        if was_queued {
            self.queue.retain(|q| *q != id);
        }
        self.store.totals(self.totals.clone()).await;
        self.persist(id).await;
        self.emit_status(id);
        if let Some(url) = callback.filter(|_| status != JobStatus::Cancelled) {
            let answer = self
                .inner
                .callback_answer
                .read()
                .ok()
                .and_then(|a| a.clone());
            let body = match answer {
                Some(f) => f(&snapshot),
                None => snapshot.to_response(),
            };
            let log = self.jobs[&id].log.clone();
            let inner = self.inner.clone();
            self.tracker.spawn(async move {
                // Checked again at delivery: a name may resolve elsewhere by now. The
                // client follows no redirects.
                let checked = match reqwest::Url::parse(&url) {
                    Ok(u) => inner.egress.check_url(&u).await.map_err(|r| r.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                let r = match (checked, inner.egress.client()) {
                    (Err(why), _) => Err(format!("refused: {why}")),
                    (Ok(()), None) => Err("no HTTP client".to_string()),
                    (Ok(()), Some(c)) => c
                        .post(&url)
                        .json(&body)
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .map_err(|e| e.to_string()),
                };
                match r {
                    Ok(code) => log.push(format!("callback {url} answered {code}")),
                    Err(e) => log.push(format!("callback {url} failed: {e}")),
                }
            });
        }
        if was_running {
            self.running = self.running.saturating_sub(1);
            self.schedule().await;
        }
    }

    pub(super) async fn cancel_or_leave(
        &mut self,
        id: Uuid,
        session: Option<String>,
    ) -> Result<(), EngineError> {
        let job = self.jobs.get(&id).ok_or(EngineError::NotFound)?;
        if job.rec.status.is_terminal() {
            // A viewer leaving a stream that already ended (a remux is ready in a second):
            // GhostHub's SDK frees its slot only on success, so this is a leave, and the
            // outputs stay for whoever still plays them.
            if job.rec.mode.is_hls() {
                self.leave(id, session).await?;
                return Ok(());
            }
            return Err(EngineError::NotCancellable(job.rec.status.as_str()));
        }
        if job.viewers() > 1 {
            self.leave(id, session).await?;
            return Ok(());
        }
        self.finish(id, JobStatus::Cancelled, None).await;
        Ok(())
    }

    pub(super) async fn leave(
        &mut self,
        id: Uuid,
        session: Option<String>,
    ) -> Result<LeaveResponse, EngineError> {
        let job = self.jobs.get_mut(&id).ok_or(EngineError::NotFound)?;
        let removed = session.as_ref().is_some_and(|s| job.sessions.remove(s));
        if !removed && job.anon > 0 {
            job.anon -= 1;
        } else if !removed && session.is_none() && !job.sessions.is_empty() {
            // A leave without a session from a client that joined with one.
            if let Some(s) = job.sessions.iter().next().cloned() {
                job.sessions.remove(&s);
            }
        }
        let remaining = job.viewers();
        if remaining == 0 && !job.rec.status.is_terminal() {
            self.finish(id, JobStatus::Cancelled, None).await;
        }
        Ok(LeaveResponse {
            job_id: id.to_string(),
            viewers_remaining: remaining,
            is_shared: remaining > 1,
        })
    }

    /// A live stream's job: created when the stream starts, replaced as it ends. Its end
    /// counts in the totals like any job's.
    pub(super) async fn live_record(&mut self, rec: JobRecord, log: JobLog) {
        let id = rec.id;
        let was_terminal = self.jobs.get(&id).map(|j| j.rec.status.is_terminal());
        if was_terminal == Some(true) {
            return;
        }
        if rec.status.is_terminal() {
            self.totals.count_end(&rec, true);
            self.store.totals(self.totals.clone()).await;
        }
        match self.jobs.get_mut(&id) {
            Some(j) => j.rec = rec,
            None => {
                self.jobs.insert(id, Job::from_record(rec, log));
            }
        }
        self.persist(id).await;
        self.emit_status(id);
    }

    pub(super) async fn delete(&mut self, id: Uuid) -> Result<(), EngineError> {
        let job = self.jobs.get(&id).ok_or(EngineError::NotFound)?;
        if !job.rec.status.is_terminal() {
            self.finish(id, JobStatus::Cancelled, None).await;
        }
        if let Some(job) = self.jobs.remove(&id) {
            if let Some(r) = &job.run {
                r.cancel.cancel();
            }
            job.side.cancel();
            let dir = job.rec.dir.clone();
            let log = job.log.clone();
            self.tracker.spawn(async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let _ = tokio::fs::remove_dir_all(dir).await;
                log.remove_files();
            });
        }
        self.store.delete(id.to_string()).await;
        Ok(())
    }

    pub(super) async fn shutdown(&mut self) {
        let ids: Vec<Uuid> = self
            .jobs
            .iter()
            .filter(|(_, j)| !j.rec.status.is_terminal())
            .map(|(id, _)| *id)
            .collect();
        self.queue.clear();
        for j in self.jobs.values() {
            j.side.cancel();
        }
        let why = self
            .inner
            .stop_reason
            .lock()
            .ok()
            .and_then(|r| r.clone())
            .unwrap_or_else(|| "the server stopped".into());
        let said = format!("cancelled: {why}");
        for id in ids {
            if let Some(j) = self.jobs.get_mut(&id) {
                if let Some(r) = j.run.take() {
                    r.cancel.cancel();
                }
                // Stopped on purpose (Stop, Quit, SIGTERM): cancelled, saying why. Only a
                // server that dies without stopping leaves jobs to fail at the next start.
                j.rec.status = JobStatus::Cancelled;
                j.rec.error_message = Some(said.clone());
                j.rec.error_code = Some("server-stopped".into());
                j.rec.completed_at = Some(Utc::now());
                j.rec.files_removed = j.rec.mode.is_hls() && j.rec.live_key.is_none();
                j.log.push(&said);
                self.totals.cancelled += 1;
            }
            self.persist(id).await;
            self.emit_status(id);
        }
        self.tracker.close();
        let grace = Duration::from_secs(self.inner.config.server.shutdown_timeout.max(1));
        let _ = tokio::time::timeout(grace, self.tracker.wait()).await;
        self.store.totals(self.totals.clone()).await;
        self.store.flush().await;
    }
}
