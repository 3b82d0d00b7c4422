//! Per-job GPU accounting: every 2 s while NVML answers, NVML's per-process figures
//! (encoder, decoder and 3D/compute utilisation, memory) are matched to the ffmpeg pid of
//! each job's run. The figures are on the job (`gpu`) and in `/api/resources`.

use crate::engine::WeakEngine;
use ghoststream_media::hw::ProcessGpu;
use ghoststream_types::JobGpu;
use std::time::Duration;
use uuid::Uuid;

/// How often NVML is asked, and over what window its samples are averaged.
pub const PERIOD: Duration = Duration::from_secs(2);

/// Each job's share: the figures of its run's pid, per GPU it uses.
pub fn attribute(runs: &[(Uuid, u32)], processes: &[ProcessGpu]) -> Vec<JobGpu> {
    processes
        .iter()
        .filter_map(|p| {
            let (job, _) = runs.iter().find(|(_, pid)| *pid == p.pid)?;
            Some(JobGpu {
                job_id: job.to_string(),
                gpu: p.gpu,
                encoder_percent: p.encoder_percent,
                decoder_percent: p.decoder_percent,
                sm_percent: p.sm_percent,
                memory_mb: p.memory_mb,
            })
        })
        .collect()
}

/// Samples until the engine stops; returns at once where NVML does not load.
pub(crate) fn spawn(engine: WeakEngine) {
    tokio::spawn(async move {
        let present = tokio::task::spawn_blocking(|| ghoststream_media::hw::nvidia_gpu().is_some())
            .await
            .unwrap_or(false);
        if !present {
            return;
        }
        let Some(stopping) = engine.upgrade().map(|e| e.stopping()) else {
            return;
        };
        let mut tick = tokio::time::interval(PERIOD);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopping.cancelled() => break,
            }
            let Some(e) = engine.upgrade() else { break };
            let Ok(runs) = e.run_pids().await else { break };
            drop(e);
            let processes = if runs.is_empty() {
                Vec::new()
            } else {
                tokio::task::spawn_blocking(|| ghoststream_media::hw::nvidia_process_usage(PERIOD))
                    .await
                    .unwrap_or_default()
            };
            let Some(e) = engine.upgrade() else { break };
            e.set_gpu_jobs(attribute(&runs, &processes));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NVML's answer, scripted: only the pids of the jobs' runs count, each on its GPU.
    #[test]
    fn a_jobs_share_is_its_runs_figures() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let runs = [(a, 100), (b, 200)];
        let processes = [
            ProcessGpu {
                pid: 100,
                gpu: 0,
                sm_percent: 12,
                encoder_percent: 0,
                decoder_percent: 41,
                memory_mb: Some(310),
            },
            // A game on the same GPU is not a job's.
            ProcessGpu {
                pid: 4242,
                gpu: 0,
                sm_percent: 90,
                ..Default::default()
            },
            ProcessGpu {
                pid: 200,
                gpu: 1,
                encoder_percent: 55,
                ..Default::default()
            },
        ];
        let shares = attribute(&runs, &processes);
        assert_eq!(shares.len(), 2);
        assert_eq!(shares[0].job_id, a.to_string());
        assert_eq!(
            (
                shares[0].gpu,
                shares[0].decoder_percent,
                shares[0].memory_mb
            ),
            (0, 41, Some(310))
        );
        assert_eq!((shares[1].gpu, shares[1].encoder_percent), (1, 55));
        assert!(attribute(&[], &processes).is_empty());
    }
}
