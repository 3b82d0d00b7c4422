//! Retention: outputs expire after their window; records after a week.

use super::*;

impl Actor {
    pub(super) async fn cleanup_stats(&self) -> CleanupStats {
        let cfg = &self.inner.config.transcoding;
        let now = Utc::now();
        let (all, finished) = self.store.counts().await.unwrap_or_default();
        let mut s = CleanupStats {
            total_jobs: all as u32,
            active_jobs: 0,
            ready_jobs: 0,
            finished_jobs: 0,
            nearly_stale: 0,
            temp_dir: cfg_work(&self.inner),
            disk_bytes: dir_size(&self.inner.config.work_dir()).await,
            stream_retention_minutes: cfg.stream_retention_minutes,
            batch_retention_hours: cfg.cleanup_after_hours,
            cleaned_jobs: self.cleaned_total,
            uploads: self.inner.uploads.list().len() as u32,
            upload_bytes: self.inner.uploads.bytes(),
            upload_keep_hours: self.inner.config.uploads.keep_hours,
        };
        // Ready jobs with their outputs are in memory; every other finished one counts here.
        for j in self.jobs.values() {
            match j.rec.status {
                JobStatus::Queued | JobStatus::Processing => s.active_jobs += 1,
                JobStatus::Ready => s.ready_jobs += 1,
                _ => {}
            }
            if let Some(ttl) = self.ttl_left(j, now) {
                if ttl < self.ttl_of(j) / 5 {
                    s.nearly_stale += 1;
                }
            }
        }
        s.finished_jobs = (finished as u32).saturating_sub(s.ready_jobs);
        s
    }

    pub(super) fn ttl_of(&self, j: &Job) -> i64 {
        let cfg = &self.inner.config.transcoding;
        if j.rec.mode.is_hls() {
            cfg.stream_retention_minutes as i64 * 60
        } else {
            cfg.cleanup_after_hours as i64 * 3600
        }
    }

    /// Seconds until this job's outputs expire, `None` when nothing is kept.
    pub(super) fn ttl_left(&self, j: &Job, now: chrono::DateTime<Utc>) -> Option<i64> {
        // A live recording's files are the live ingest's to keep (`live.keep_hours`).
        if j.rec.files_removed || j.rec.live_key.is_some() {
            return None;
        }
        let since = if j.rec.mode.is_hls() {
            j.rec.last_access
        } else {
            j.rec.completed_at?
        };
        if !j.rec.mode.is_hls() && j.rec.status != JobStatus::Ready {
            return None;
        }
        Some(self.ttl_of(j) - (now - since).num_seconds())
    }

    /// Retention: stream outputs an hour after last access (a running stream nobody reads
    /// is stopped), batch outputs after `cleanup_after_hours`, records after 30 days.
    pub(super) async fn cleanup(&mut self, _manual: bool) -> CleanupRun {
        let now = Utc::now();
        let mut stale = Vec::new();
        for (id, j) in &self.jobs {
            if let Some(left) = self.ttl_left(j, now) {
                if left <= 0 {
                    stale.push(*id);
                }
            }
        }
        let mut cleaned = 0;
        for id in stale {
            if self
                .jobs
                .get(&id)
                .is_some_and(|j| !j.rec.status.is_terminal())
            {
                if let Some(j) = self.jobs.get(&id) {
                    j.log.push(
                        "no viewer read this stream within the retention window; stopping it",
                    );
                }
                self.finish(id, JobStatus::Cancelled, None).await;
            }
            if let Some(j) = self.jobs.get_mut(&id) {
                j.side.cancel();
                let _ = tokio::fs::remove_dir_all(&j.rec.dir).await;
                j.rec.files_removed = true;
                cleaned += 1;
            }
            self.persist(id).await;
        }
        // Records of finished jobs whose files are gone (archived: only in the store) go
        // after 30 days.
        self.store
            .delete_archived_before(now - chrono::Duration::days(30))
            .await;
        self.cleaned_total += cleaned;
        let orphans = self.remove_orphans().await;
        CleanupRun {
            stale_jobs_cleaned: cleaned,
            orphaned_dirs_cleaned: orphans,
            uploads_cleaned: 0,
        }
    }

    /// History is bounded: beyond `max_history_jobs` finished jobs, the oldest go, with
    /// their files and records, whatever their age.
    pub(super) async fn trim_history(&mut self) {
        let max = self.inner.config.transcoding.max_history_jobs.max(1) as u64;
        let Some((_, finished)) = self.store.counts().await else {
            return;
        };
        if finished <= max {
            return;
        }
        let excess = self
            .store
            .oldest_finished(finished - max)
            .await
            .unwrap_or_default();
        for id in excess {
            if let Some(j) = self.jobs.remove(&id) {
                if !j.rec.files_removed {
                    let _ = tokio::fs::remove_dir_all(&j.rec.dir).await;
                }
            }
            self.store.delete(id.to_string()).await;
        }
    }
}
