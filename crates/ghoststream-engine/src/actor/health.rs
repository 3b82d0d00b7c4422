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
    /// (when, output position, frames made) of the current run's progress reports inside
    /// the window.
    pub(super) samples: VecDeque<(Instant, f64, u64)>,
    /// Steps taken down so far.
    pub(super) step: u32,
    /// Stepped to the encoder's faster preset.
    pub(super) faster: bool,
    /// The latest finding, as the job shows it.
    pub(super) report: Option<HealthData>,
}

impl Watch {
    /// Output seconds and frames per second across the samples, once they cover `window`
    /// (90 % of it at the start of a run); `None` before.
    pub(super) fn rates(&self, window: Duration) -> Option<(f64, f64)> {
        let (t0, p0, f0) = *self.samples.front()?;
        let (t1, p1, f1) = *self.samples.back()?;
        let span = t1.duration_since(t0);
        let secs = span.as_secs_f64();
        (span >= window.mul_f64(0.9)).then(|| {
            (
                (p1 - p0).max(0.0) / secs,
                f1.saturating_sub(f0) as f64 / secs,
            )
        })
    }

    /// Adds a report and forgets the old ones, keeping the newest one at least `window`
    /// old: reports come at uneven intervals, and the window must stay covered.
    pub(super) fn sample(&mut self, at: Instant, position: f64, frames: u64, window: Duration) {
        self.samples.push_back((at, position, frames));
        while self.samples.len() > 1 && at.duration_since(self.samples[1].0) >= window {
            self.samples.pop_front();
        }
    }
}

impl Actor {
    /// Judges a stream's speed at each progress report of its run.
    pub(super) fn judge_speed(&mut self, id: Uuid, position: f64, frames: u64) {
        let cfg = self.inner.config.health.clone();
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let (Some(run), Some(plan)) = (&job.run, &job.plan) else {
            return;
        };
        if (cfg.min_speed <= 0.0 && cfg.min_fps <= 0.0)
            || !job.rec.mode.is_hls()
            || plan.copies_video()
        {
            return;
        }
        let now = Instant::now();
        if job.frozen.is_some()
            || now.duration_since(run.started) < Duration::from_secs(cfg.start_delay_seconds.into())
        {
            return;
        }
        let window = Duration::from_secs(cfg.window_seconds.max(1).into());
        job.health.sample(now, position, frames, window);
        let Some((speed, fps)) = job.health.rates(window) else {
            return;
        };
        let speed = (speed * 100.0).round() / 100.0;
        let was_degraded = job.health.report.as_ref().is_some_and(|r| r.degraded);
        let fps_low = cfg.min_fps > 0.0 && fps < cfg.min_fps;
        if speed >= cfg.min_speed && !fps_low {
            if was_degraded {
                let action = "back at real time".to_string();
                job.log
                    .push(format!("health: {speed}× real time, {action}"));
                self.report_health(id, false, speed, action);
            }
            return;
        }
        // Too slow for a whole window: step down once, then judge the new run.
        job.health.samples.clear();
        let why = if fps_low {
            format!("{fps:.1} frames/s, below {}", cfg.min_fps)
        } else {
            format!("{speed}× real time, below {}×", cfg.min_speed)
        };
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
                job.log.push(format!("health: {why}; {action}"));
                self.report_health(id, true, speed, action);
            }
            return;
        };
        job.health.step += 1;
        job.log.push(format!(
            "health: {why} over {} s; {action} from segment {head}",
            window.as_secs()
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
        self.start_hls_run(id, head, super::argv::RunStart::Carry);
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
        // Half a second of output (12 frames) per second of wall clock, reported at uneven
        // intervals: every other report is 3 ms late.
        let report = |w: &mut Watch, i: u64| {
            let at = t0 + Duration::from_millis(500 * i + (i % 2) * 3);
            w.sample(at, i as f64 * 0.25, i * 6, window);
            w.rates(window)
        };
        for i in 0..=60u64 {
            match report(&mut w, i) {
                None => assert!(i < 18, "uncovered at report {i}"),
                Some((speed, fps)) => {
                    assert!(i >= 18, "only {} s seen", i / 2);
                    assert!((speed - 0.5).abs() < 0.01, "{speed}");
                    assert!((fps - 12.0).abs() < 0.1, "{fps} frames per second");
                }
            }
        }
        assert!(w.samples.len() <= 22, "old reports are forgotten");
    }
}
