//! Encoding health (seed 004's checker): a stream or ABR job whose encoder makes less than
//! `health.min_speed` seconds of video per second, measured over `health.window_seconds`,
//! is degraded. It says so (event, notice, the job's `health`) and steps down inside the
//! same job and URLs: the encoder's faster preset first, then a rung lower at each step.
//! A job that stops producing output at all is the stall watchdog's, as before.

use super::*;
use ghoststream_types::{HealthData, Notice};
use tokio::time::Instant;

/// What the checker keeps per job.
#[derive(Debug, Default)]
pub(super) struct Watch {
    /// (when, output position) of the current run's progress reports inside the window.
    pub(super) samples: VecDeque<(Instant, f64)>,
    /// Steps taken down so far.
    pub(super) step: u32,
    /// Stepped to the encoder's faster preset.
    pub(super) faster: bool,
    /// The latest finding, as the job shows it.
    pub(super) report: Option<HealthData>,
}

impl Watch {
    /// Output seconds per second across the samples, once they cover `window` (90 % of
    /// it: reports come every half second or so); `None` before.
    pub(super) fn speed(&self, window: Duration) -> Option<f64> {
        let (t0, p0) = *self.samples.front()?;
        let (t1, p1) = *self.samples.back()?;
        let span = t1.duration_since(t0);
        (span >= window.mul_f64(0.9)).then(|| (p1 - p0).max(0.0) / span.as_secs_f64())
    }

    /// Adds a report and forgets those older than `window`.
    pub(super) fn sample(&mut self, at: Instant, position: f64, window: Duration) {
        self.samples.push_back((at, position));
        while let Some((t, _)) = self.samples.front() {
            if at.duration_since(*t) > window {
                self.samples.pop_front();
            } else {
                break;
            }
        }
    }
}

impl Actor {
    /// Judges a stream's speed at each progress report of its run.
    pub(super) fn judge_speed(&mut self, id: Uuid, position: f64) {
        let cfg = self.inner.config.health.clone();
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let (Some(run), Some(plan)) = (&job.run, &job.plan) else {
            return;
        };
        if cfg.min_speed <= 0.0 || !job.rec.mode.is_hls() || plan.copies_video() {
            return;
        }
        let now = Instant::now();
        if job.frozen.is_some()
            || now.duration_since(run.started) < Duration::from_secs(cfg.start_delay_seconds.into())
        {
            return;
        }
        let window = Duration::from_secs(cfg.window_seconds.max(1).into());
        job.health.sample(now, position, window);
        let Some(speed) = job.health.speed(window) else {
            return;
        };
        let speed = (speed * 100.0).round() / 100.0;
        let was_degraded = job.health.report.as_ref().is_some_and(|r| r.degraded);
        if speed >= cfg.min_speed {
            if was_degraded {
                let action = "back at real time".to_string();
                job.log
                    .push(format!("health: {speed}× real time, {action}"));
                self.report_health(id, false, speed, action);
            }
            return;
        }
        // Below real time for a whole window: step down once, then judge the new run.
        job.health.samples.clear();
        let head = run.head;
        let hw = job.hw;
        let codec = match &plan.video {
            VideoAction::Encode { codec, .. } => *codec,
            _ => return,
        };
        let tuning = command::Tuning {
            nvenc_preset: self.inner.config.hardware.nvenc_preset.clone(),
            ..Default::default()
        };
        let action = match tuning.faster_preset(codec, hw) {
            Some(preset) if !job.health.faster => {
                job.health.faster = true;
                Some(format!("stepped down to the faster preset {preset}"))
            }
            _ => match ghoststream_media::plan::step_down(plan) {
                Some((lower, said)) => {
                    job.plan = Some(lower);
                    Some(format!("stepped down a rung: {said}"))
                }
                None => None,
            },
        };
        let Some(action) = action else {
            if !was_degraded {
                let action = "cannot step down further: fastest preset, lowest rung".to_string();
                job.log.push(format!(
                    "health: {speed}× real time (below {}×); {action}",
                    cfg.min_speed
                ));
                self.report_health(id, true, speed, action);
            }
            return;
        };
        job.health.step += 1;
        job.log.push(format!(
            "health: {speed}× real time over {} s (below {}×); {action} from segment {head}",
            window.as_secs(),
            cfg.min_speed
        ));
        tracing::warn!(job = %id, speed, action = %action, "stream below real time");
        self.report_health(id, true, speed, action);
        // The run goes on from where it is, as a seek restart would: same URLs, the
        // segments already made are kept, the next ones come from the new run.
        if let Some(job) = self.jobs.get_mut(&id) {
            if let Some(r) = job.run.take() {
                r.cancel.cancel();
            }
        }
        self.start_hls_run(id, head);
    }

    fn report_health(&mut self, id: Uuid, degraded: bool, speed: f64, action: String) {
        let min_speed = self.inner.config.health.min_speed;
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let data = HealthData {
            degraded,
            speed,
            min_speed,
            step: job.health.step,
            action: action.clone(),
        };
        job.health.report = Some(data.clone());
        let _ = self.inner.events.send(JobEvent::Health {
            job_id: id.to_string(),
            data,
        });
        if degraded {
            let _ = self.inner.notices.send(Notice::Degraded {
                job_id: id.to_string(),
                speed,
                action,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn speed_is_measured_over_the_whole_window() {
        let window = Duration::from_secs(10);
        let mut w = Watch::default();
        let t0 = Instant::now();
        for i in 0..=30u64 {
            // Half a second of output per second of wall clock.
            w.sample(t0 + Duration::from_millis(500 * i), i as f64 * 0.25, window);
            if i < 18 {
                assert_eq!(w.speed(window), None, "only {} s seen", i / 2);
            }
        }
        assert_eq!(w.speed(window), Some(0.5));
        assert!(w.samples.len() <= 21, "old reports are forgotten");
    }
}
