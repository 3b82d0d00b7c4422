//! `GET /metrics`: the Prometheus text format (0.0.4), for a scraper on the LAN. Jobs by
//! state and mode, the queue, paused jobs, finished jobs by outcome, output bytes, encode
//! speed and first-segment latency histograms over the job history, running ffmpeg runs,
//! WebSocket clients, and every NVIDIA GPU NVML reports. Behind the API key when one is
//! set, like every route but health.

use crate::error::ApiResult;
use crate::App;
use ghoststream_types::{JobStatus, Mode};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Upper bounds of the encode speed histogram (× realtime).
const SPEED_BUCKETS: &[f64] = &[0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];
/// Upper bounds of the first-segment latency histogram (seconds).
const LATENCY_BUCKETS: &[f64] = &[0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0];

/// One metric family: `# HELP`, `# TYPE`, then its samples.
struct Family<'a> {
    out: &'a mut String,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &str, kind: &str, help: &str) -> Self {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Family { out }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        let _ = write!(self.out, "{name}");
        if !labels.is_empty() {
            let l: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(self.out, "{{{}}}", l.join(","));
        }
        let _ = writeln!(self.out, " {}", number(value));
        self
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn histogram(out: &mut String, name: &str, help: &str, bounds: &[f64], values: &[f64]) {
    let mut f = Family::new(out, name, "histogram", help);
    for b in bounds {
        let n = values.iter().filter(|v| **v <= *b).count();
        f.sample(&format!("{name}_bucket"), &[("le", &number(*b))], n as f64);
    }
    f.sample(
        &format!("{name}_bucket"),
        &[("le", "+Inf")],
        values.len() as f64,
    );
    f.sample(&format!("{name}_sum"), &[], values.iter().sum());
    f.sample(&format!("{name}_count"), &[], values.len() as f64);
}

impl App {
    /// The scrape.
    pub async fn metrics(&self) -> ApiResult<String> {
        let stats = self.engine.stats().await?;
        let history = self.engine.history_figures().await?;
        let gpus = tokio::task::spawn_blocking(ghoststream_media::hw::nvidia_stats)
            .await
            .unwrap_or_default();
        let mut out = String::new();

        let mut by: BTreeMap<(&'static str, &'static str), u64> = BTreeMap::new();
        for s in [
            JobStatus::Queued,
            JobStatus::Processing,
            JobStatus::Ready,
            JobStatus::Error,
            JobStatus::Cancelled,
        ] {
            for m in [Mode::Stream, Mode::Abr, Mode::Batch] {
                by.insert((s.as_str(), m.as_str()), 0);
            }
        }
        for (status, mode, n) in &history.by_status_and_mode {
            if let Some(count) = by
                .iter_mut()
                .find(|((s, m), _)| s == status && m == mode)
                .map(|(_, c)| c)
            {
                *count += n;
            }
        }
        let mut f = Family::new(
            &mut out,
            "ghoststream_jobs",
            "gauge",
            "Jobs in the history, by state and mode.",
        );
        for ((state, mode), n) in &by {
            f.sample(
                "ghoststream_jobs",
                &[("state", state), ("mode", mode)],
                *n as f64,
            );
        }
        Family::new(
            &mut out,
            "ghoststream_queue_depth",
            "gauge",
            "Jobs waiting to start.",
        )
        .sample(
            "ghoststream_queue_depth",
            &[],
            f64::from(stats.current_queue_length),
        );
        Family::new(
            &mut out,
            "ghoststream_ffmpeg_runs",
            "gauge",
            "Jobs with an ffmpeg run in progress (frozen ones included).",
        )
        .sample("ghoststream_ffmpeg_runs", &[], f64::from(stats.active_jobs));
        Family::new(
            &mut out,
            "ghoststream_jobs_paused",
            "gauge",
            "Running jobs frozen now (by request, a game, the schedule or the throttle).",
        )
        .sample(
            "ghoststream_jobs_paused",
            &[],
            f64::from(self.engine.frozen_jobs()),
        );
        let mut f = Family::new(
            &mut out,
            "ghoststream_jobs_finished_total",
            "counter",
            "Jobs finished since the first start, by outcome.",
        );
        f.sample(
            "ghoststream_jobs_finished_total",
            &[("outcome", "ready")],
            stats.successful_jobs as f64,
        )
        .sample(
            "ghoststream_jobs_finished_total",
            &[("outcome", "error")],
            stats.failed_jobs as f64,
        )
        .sample(
            "ghoststream_jobs_finished_total",
            &[("outcome", "cancelled")],
            stats.cancelled_jobs as f64,
        );
        Family::new(
            &mut out,
            "ghoststream_output_bytes_total",
            "counter",
            "Bytes of output finished jobs wrote.",
        )
        .sample(
            "ghoststream_output_bytes_total",
            &[],
            stats.total_bytes_processed as f64,
        );
        let uploads = self.engine.uploads();
        let held = uploads.list();
        Family::new(
            &mut out,
            "ghoststream_input_bytes_total",
            "counter",
            "Bytes taken in since the start: sources fetched over HTTP, and uploads.",
        )
        .sample(
            "ghoststream_input_bytes_total",
            &[("via", "fetch")],
            self.engine.egress_bytes_in() as f64,
        )
        .sample(
            "ghoststream_input_bytes_total",
            &[("via", "upload")],
            uploads.received() as f64,
        );
        Family::new(
            &mut out,
            "ghoststream_uploads",
            "gauge",
            "Uploads held, by state.",
        )
        .sample(
            "ghoststream_uploads",
            &[("state", "receiving")],
            held.iter().filter(|u| !u.complete).count() as f64,
        )
        .sample(
            "ghoststream_uploads",
            &[("state", "complete")],
            held.iter().filter(|u| u.complete).count() as f64,
        );
        Family::new(
            &mut out,
            "ghoststream_upload_bytes",
            "gauge",
            "Bytes the uploads hold on disk.",
        )
        .sample("ghoststream_upload_bytes", &[], uploads.bytes() as f64);
        // Live ingest: streams by status, bytes in and out, and each live stream's figures.
        let live = self.engine.ingest().overview(false, "");
        let mut fam = Family::new(
            &mut out,
            "ghoststream_live_streams",
            "gauge",
            "Live streams and recordings, by status.",
        );
        for st in ["active", "idle", "error", "ended"] {
            let n = live
                .streams
                .iter()
                .filter(|l| {
                    serde_json::to_value(l.status)
                        .ok()
                        .as_ref()
                        .and_then(|v| v.as_str())
                        == Some(st)
                })
                .count();
            fam.sample("ghoststream_live_streams", &[("status", st)], n as f64);
        }
        let (bytes_in, bytes_out) = live
            .streams
            .iter()
            .fold((0u64, 0u64), |(a, b), l| (a + l.bytes_in, b + l.bytes_out));
        Family::new(
            &mut out,
            "ghoststream_live_bytes_total",
            "counter",
            "Bytes live publishers sent (in) and players fetched (out), over the streams held.",
        )
        .sample(
            "ghoststream_live_bytes_total",
            &[("direction", "in")],
            bytes_in as f64,
        )
        .sample(
            "ghoststream_live_bytes_total",
            &[("direction", "out")],
            bytes_out as f64,
        );
        let active: Vec<_> = live
            .streams
            .iter()
            .filter(|l| {
                matches!(
                    l.status,
                    ghoststream_types::LiveStatus::Active | ghoststream_types::LiveStatus::Idle
                )
            })
            .collect();
        let mut fam = Family::new(
            &mut out,
            "ghoststream_live_speed",
            "gauge",
            "A live stream's ladder speed (times realtime), by job.",
        );
        for l in active.iter().filter(|l| l.speed.is_some()) {
            fam.sample(
                "ghoststream_live_speed",
                &[("job_id", l.job_id.as_str())],
                l.speed.unwrap_or(0.0),
            );
        }
        let mut fam = Family::new(
            &mut out,
            "ghoststream_live_dropped_frames",
            "gauge",
            "Frames a live stream's ladder dropped, by job.",
        );
        for l in &active {
            fam.sample(
                "ghoststream_live_dropped_frames",
                &[("job_id", l.job_id.as_str())],
                l.dropped_frames as f64,
            );
        }
        histogram(
            &mut out,
            "ghoststream_encode_speed",
            "Encode speed of the jobs in the history (times realtime).",
            SPEED_BUCKETS,
            &history.speeds,
        );
        histogram(
            &mut out,
            "ghoststream_first_segment_seconds",
            "From a stream job's creation to its first segment, over the job history.",
            LATENCY_BUCKETS,
            &history.first_segment,
        );
        Family::new(
            &mut out,
            "ghoststream_websocket_clients",
            "gauge",
            "Open WebSocket connections.",
        )
        .sample(
            "ghoststream_websocket_clients",
            &[],
            self.ws.open.load(std::sync::atomic::Ordering::Relaxed) as f64,
        );
        Family::new(
            &mut out,
            "ghoststream_uptime_seconds",
            "gauge",
            "Seconds since the server started.",
        )
        .sample(
            "ghoststream_uptime_seconds",
            &[],
            self.engine.uptime().as_secs_f64(),
        );
        let version = self.version();
        Family::new(
            &mut out,
            "ghoststream_info",
            "gauge",
            "What is running (always 1).",
        )
        .sample(
            "ghoststream_info",
            &[
                ("version", &version.version),
                ("commit", &version.commit),
                ("ffmpeg", &version.ffmpeg_version),
            ],
            1.0,
        );
        type Pick = fn(&ghoststream_types::GpuStats) -> Option<f64>;
        let gpu_metrics: [(&str, &str, Pick); 6] = [
            (
                "ghoststream_gpu_utilization_percent",
                "GPU busy time (NVML).",
                |g| g.utilization_percent.map(f64::from),
            ),
            (
                "ghoststream_gpu_encoder_percent",
                "NVENC busy time (NVML).",
                |g| g.encoder_percent.map(f64::from),
            ),
            (
                "ghoststream_gpu_decoder_percent",
                "NVDEC busy time (NVML).",
                |g| g.decoder_percent.map(f64::from),
            ),
            (
                "ghoststream_gpu_memory_used_bytes",
                "GPU memory in use (NVML).",
                |g| g.memory_used_mb.map(|m| m as f64 * 1048576.0),
            ),
            (
                "ghoststream_gpu_memory_total_bytes",
                "GPU memory (NVML).",
                |g| g.memory_total_mb.map(|m| m as f64 * 1048576.0),
            ),
            (
                "ghoststream_gpu_temperature_celsius",
                "GPU temperature (NVML).",
                |g| g.temperature_c.map(f64::from),
            ),
        ];
        for (name, help, pick) in gpu_metrics {
            let mut f = Family::new(&mut out, name, "gauge", help);
            for g in &gpus {
                if let Some(v) = pick(g) {
                    f.sample(name, &[("gpu", &g.index.to_string()), ("name", &g.name)], v);
                }
            }
        }
        Ok(out)
    }
}
