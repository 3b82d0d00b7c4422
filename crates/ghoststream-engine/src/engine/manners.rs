//! The handle's side of manners on a gaming PC: freezing and thawing jobs, the game and
//! schedule states the watchers set, and streams' priority while a game runs.

use super::*;
use chrono::NaiveDateTime;

/// Why jobs wait while the schedule is closed.
pub const SCHEDULE_CLOSED: &str = "Paused: outside the schedule";

/// Where the schedule task reads the time: the wall clock, or in tests a clock that
/// starts at a given local time and runs with tokio's (pausable) time.
#[derive(Clone, Copy)]
pub(crate) enum Clock {
    Wall,
    #[cfg(test)]
    Fake {
        base: NaiveDateTime,
        start: tokio::time::Instant,
    },
}

impl Clock {
    pub(crate) fn now(&self) -> NaiveDateTime {
        match self {
            Clock::Wall => chrono::Local::now().naive_local(),
            #[cfg(test)]
            Clock::Fake { base, start } => {
                *base + chrono::Duration::from_std(start.elapsed()).unwrap_or_default()
            }
        }
    }
}

impl Engine {
    /// Why jobs are paused for a game, while one runs.
    pub fn game(&self) -> Option<String> {
        self.inner.shared.game.read().ok().and_then(|g| g.clone())
    }

    pub(crate) fn set_game(&self, reason: Option<String>) {
        if let Ok(mut g) = self.inner.shared.game.write() {
            *g = reason;
        }
    }

    pub(crate) fn notify(&self, n: Notice) -> bool {
        self.inner.shared.notices.send(n).is_ok()
    }

    /// Cancelled when the engine stops: watchers end at once, not at their next tick.
    pub(crate) fn stopping(&self) -> tokio_util::sync::CancellationToken {
        self.inner.stopped.clone()
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.inner.stopped.is_cancelled()
    }

    /// Runs every stream at `priority` (a game runs), or at `gaming.priority` (`None`).
    pub(crate) async fn set_stream_priority(
        &self,
        priority: Option<ghoststream_types::Priority>,
    ) -> Result<(), EngineError> {
        self.call(|reply| Cmd::StreamPriority { priority, reply })
            .await
    }

    /// How many running jobs are frozen now.
    pub fn frozen_jobs(&self) -> u32 {
        self.inner
            .shared
            .frozen
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Freezes a running job (its ffmpeg processes stop where they are) for `reason`.
    pub async fn freeze(&self, id: Uuid, reason: String) -> Result<Snapshot, EngineError> {
        self.freeze_which(Which::Job(id), Some(reason))
            .await?
            .pop()
            .ok_or(EngineError::NotFound)
    }

    /// Thaws a frozen job (a running one is left as it is).
    pub async fn thaw(&self, id: Uuid) -> Result<Snapshot, EngineError> {
        self.freeze_which(Which::Job(id), None)
            .await?
            .pop()
            .ok_or(EngineError::NotFound)
    }

    /// Freezes every running job (only batch jobs when `batch_only`) that is not frozen
    /// yet; returns those it froze.
    pub async fn freeze_running(
        &self,
        batch_only: bool,
        reason: String,
    ) -> Result<Vec<Snapshot>, EngineError> {
        self.freeze_which(Which::Running { batch_only }, Some(reason))
            .await
    }

    /// Thaws every frozen job, or only those frozen for `reason`.
    pub async fn thaw_frozen(&self, reason: Option<String>) -> Result<Vec<Snapshot>, EngineError> {
        self.freeze_which(Which::Frozen(reason), None).await
    }

    async fn freeze_which(
        &self,
        which: Which,
        reason: Option<String>,
    ) -> Result<Vec<Snapshot>, EngineError> {
        self.call(|reply| Cmd::Freeze {
            which,
            reason,
            reply,
        })
        .await?
    }

    /// Applies the schedule's limit now (`None`: no schedule): a closed schedule freezes
    /// or stops running jobs as `outside` says; an open one thaws what it froze and
    /// starts queued jobs up to its limit.
    pub(crate) async fn apply_schedule(
        &self,
        limit: Option<u32>,
        outside: ghoststream_types::OutsideWindow,
    ) {
        use ghoststream_types::OutsideWindow;
        self.inner.shared.schedule_limit.store(
            limit.unwrap_or(u32::MAX),
            std::sync::atomic::Ordering::SeqCst,
        );
        let closed = SCHEDULE_CLOSED.to_string();
        if limit == Some(0) {
            tracing::info!("the schedule closed: {outside:?}");
            match outside {
                OutsideWindow::Freeze => {
                    let _ = self.freeze_running(false, closed).await;
                }
                OutsideWindow::Stop => {
                    let _ = self.call(|reply| Cmd::Requeue { reply }).await;
                }
                OutsideWindow::Finish => {}
            }
        } else {
            let _ = self.thaw_frozen(Some(closed)).await;
        }
        let _ = self.notify(Notice::Schedule { limit });
        let _ = self.call(|reply| Cmd::Reschedule { reply }).await;
    }

    /// What the schedule task waits on besides the clock: a settings change.
    pub(crate) fn schedule_wake(&self) -> Arc<tokio::sync::Notify> {
        self.inner.shared.schedule_wake.clone()
    }

    /// Why jobs wait, when the schedule is closed now.
    pub fn schedule_note(&self) -> Option<String> {
        (self
            .inner
            .shared
            .schedule_limit
            .load(std::sync::atomic::Ordering::SeqCst)
            == 0)
            .then(|| SCHEDULE_CLOSED.to_string())
    }
}
