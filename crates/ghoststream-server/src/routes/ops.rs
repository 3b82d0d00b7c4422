//! Health, capabilities, stats, clients, shared streams, cleanup and probe.

use super::doc::Failure;
use super::json_body;
use crate::error::{ApiError, ApiResult};
use crate::App;
use axum::extract::ConnectInfo;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use ghoststream_types::{Capabilities, Health, ProbeRequest};
use ghoststream_types::{
    CleanupRun, CleanupStats, ClientInfo, ErrorBody, ProbeResponse, SharedStreams, Stats,
};
use serde_json::json;

#[utoipa::path(
    get,
    path = "/api/health",
    tag = "ops",
    summary = "Liveness with job counts (also /health)",
    responses(
        (status = 200, description = "OK", body = Health),
        Failure,
    )
)]
pub async fn health(
    State(s): State<App>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
) -> ApiResult<Json<Health>> {
    if let Some(d) = s.discovery() {
        d.health_probe_from(peer.ip());
    }
    let stats = s.engine.stats().await?;
    Ok(Json(Health {
        status: "healthy".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        uptime_seconds: (s.engine.uptime().as_secs_f64() * 10.0).round() / 10.0,
        current_jobs: stats.active_jobs,
        queued_jobs: stats.current_queue_length,
        hw_accels: s.engine.hardware().available(),
    }))
}

fn meminfo() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let get = |k: &str| {
        text.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((get("MemTotal:")?, get("MemAvailable:")?))
}

/// Component checks. A busy CPU during transcoding is expected and never unhealthy.
#[utoipa::path(
    get,
    path = "/api/health/detailed",
    tag = "ops",
    summary = "Component checks; 503 when unhealthy",
    responses(
        (status = 200, description = "Healthy or degraded", body = Object),
        (status = 503, description = "Unhealthy", body = Object),
        Failure,
    )
)]
pub async fn health_detailed(State(s): State<App>) -> ApiResult<Response> {
    let cfg = s.engine.config();
    let stats = s.engine.stats().await?;
    let mut status = "healthy";
    let mut degrade = |to: &'static str| {
        if to == "unhealthy" || status == "healthy" {
            status = to;
        }
    };
    let work = cfg.work_dir();
    let disk = crate::resources::disk_bytes(&work);
    let disk_check = match disk {
        Some((total, free)) => {
            let used_pct = if total > 0 {
                100.0 * (1.0 - free as f64 / total as f64)
            } else {
                0.0
            };
            let st = if free < 512 * 1024 * 1024 || used_pct >= 98.0 {
                degrade("unhealthy");
                "unhealthy"
            } else if used_pct >= 90.0 {
                degrade("degraded");
                "degraded"
            } else {
                "healthy"
            };
            json!({"status": st, "usage_percent": (used_pct * 10.0).round() / 10.0, "free_gb": free / (1 << 30), "path": work})
        }
        None => {
            degrade("degraded");
            json!({"status": "degraded", "error": "work directory not readable"})
        }
    };
    let mem_check = match meminfo() {
        Some((total, avail)) => {
            let pct = 100.0 * (1.0 - avail as f64 / total.max(1) as f64);
            let st = if pct >= 95.0 {
                degrade("degraded");
                "degraded"
            } else {
                "healthy"
            };
            json!({"status": st, "usage_percent": (pct * 10.0).round() / 10.0, "available_mb": avail / 1024})
        }
        None => json!({"status": "healthy", "note": "not measured on this platform"}),
    };
    let ffmpeg_ok = s.engine.hardware().ffmpeg_version.is_some();
    if !ffmpeg_ok {
        degrade("unhealthy");
    }
    let max_q = cfg.transcoding.max_queue_size;
    let q_pct = if max_q > 0 {
        100.0 * stats.current_queue_length as f64 / max_q as f64
    } else {
        0.0
    };
    if q_pct >= 95.0 {
        degrade("degraded");
    }
    // Streams below real time (the encoding health checker's findings).
    let slow: Vec<serde_json::Value> = s
        .engine
        .jobs()
        .await?
        .into_iter()
        .filter_map(|j| {
            let h = j.health.filter(|h| {
                h.degraded && j.record.status == ghoststream_types::JobStatus::Processing
            })?;
            Some(json!({
                "job_id": j.record.id,
                "speed": h.speed,
                "step": h.step,
                "message": format!(
                    "job {} encodes at {}× real time (below {}×); {}",
                    j.record.id, h.speed, h.min_speed, h.action
                ),
            }))
        })
        .collect();
    if !slow.is_empty() {
        degrade("degraded");
    }
    let hw = s.engine.hardware();
    let gpus: Vec<serde_json::Value> = hw
        .accels
        .iter()
        .filter(|a| a.kind != ghoststream_types::HwKind::Software)
        .map(|a| json!({"kind": a.kind, "available": a.available, "gpu": a.gpu_info, "reason": a.reason}))
        .collect();
    let load = std::fs::read_to_string("/proc/loadavg").ok().and_then(|l| {
        l.split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
    });
    let mut errors: Vec<serde_json::Value> = Vec::new();
    let mut problem = |check: &str, message: String| {
        errors.push(json!({"check": check, "message": message}));
    };
    if disk_check["status"] != "healthy" {
        let free = disk_check["free_gb"].as_u64().unwrap_or(0);
        problem(
            "disk",
            match disk_check.get("error") {
                Some(e) => format!("{}: {}", work.display(), e.as_str().unwrap_or("")),
                None => format!(
                    "{}: {} GiB free ({} % used)",
                    work.display(),
                    free,
                    disk_check["usage_percent"]
                ),
            },
        );
    }
    if mem_check["status"] != "healthy" {
        problem(
            "memory",
            format!("memory {} % used", mem_check["usage_percent"]),
        );
    }
    if !ffmpeg_ok {
        problem(
            "ffmpeg",
            "ffmpeg was not found or does not run: install it or set transcoding.ffmpeg_path"
                .into(),
        );
    }
    if q_pct >= 80.0 {
        problem(
            "job_queue",
            format!(
                "the queue holds {} of at most {max_q} jobs",
                stats.current_queue_length
            ),
        );
    }
    for j in &slow {
        problem(
            "encoding",
            j["message"].as_str().unwrap_or_default().to_string(),
        );
    }
    // Live ingest: a listener that could not bind, a stream that failed or runs slow.
    let ingest = s.engine.ingest();
    let live_streams = ingest.streams();
    for e in ingest.listener_errors() {
        problem("live", e);
    }
    for l in live_streams
        .iter()
        .filter(|l| l.speed.is_some_and(|sp| sp < 0.95))
    {
        problem(
            "live",
            format!(
                "live stream '{}' encodes at {:.2}x, slower than it comes in",
                l.name,
                l.speed.unwrap_or(0.0)
            ),
        );
    }
    let live_ok = ingest.listener_errors().is_empty()
        && !live_streams
            .iter()
            .any(|l| l.speed.is_some_and(|sp| sp < 0.95));
    let live_check = json!({
        "status": if live_ok {"healthy"} else {"degraded"},
        "enabled": ingest.enabled(),
        "rtmp_port": ingest.rtmp_port(),
        "srt_port": ingest.srt_port(),
        "active_streams": live_streams.len(),
        "streams": live_streams.iter().map(|l| json!({
            "name": l.name, "status": l.status, "encoder": l.encoder,
            "input_height": l.input.height, "input_kbps": l.input.bitrate_kbps,
            "bytes_in": l.bytes_in, "bytes_out": l.bytes_out,
            "duration_seconds": l.duration_seconds, "dropped_frames": l.dropped_frames,
            "speed": l.speed,
        })).collect::<Vec<_>>(),
    });
    let body = json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": s.engine.uptime().as_secs_f64(),
        "checks": {
            "ffmpeg": {"status": if ffmpeg_ok {"healthy"} else {"unhealthy"}, "version": s.engine.hardware().ffmpeg_shown()},
            "disk": disk_check,
            "memory": mem_check,
            "cpu": {"status": "healthy", "load_average_1m": load, "note": "busy CPU while transcoding is expected"},
            "job_queue": {"status": if q_pct >= 80.0 {"degraded"} else {"healthy"}, "current": stats.current_queue_length, "max": max_q},
            "active_jobs": {"status": "healthy", "count": stats.active_jobs, "max_concurrent": s.engine.live().max_concurrent_jobs},
            "encoding": {"status": if slow.is_empty() {"healthy"} else {"degraded"}, "min_speed": cfg.health.min_speed, "slow_jobs": slow.len()},
            // A machine without a GPU is healthy; what was tried and why it failed is here.
            "gpu": {"status": "healthy", "proven": gpus.iter().filter(|g| g["available"] == true).count(), "accels": gpus},
            "live": live_check,
        },
        "errors": errors,
        "timestamp": chrono::Utc::now(),
    });
    let code = if status == "unhealthy" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    Ok((code, Json(body)).into_response())
}

#[utoipa::path(
    get,
    path = "/api/ready",
    tag = "ops",
    summary = "Whether a new job would be accepted",
    responses(
        (status = 200, description = "Ready", body = Object),
        (status = 503, description = "Queue full", body = Object),
        Failure,
    )
)]
pub async fn ready(State(s): State<App>) -> ApiResult<Response> {
    let stats = s.engine.stats().await?;
    let cfg = s.engine.config();
    let full = stats.current_queue_length >= cfg.transcoding.max_queue_size
        && stats.active_jobs >= s.engine.live().max_concurrent_jobs;
    Ok(if full {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "reason": "queue full"})),
        )
            .into_response()
    } else {
        Json(json!({"ready": true})).into_response()
    })
}

#[utoipa::path(
    get,
    path = "/api/live",
    tag = "ops",
    summary = "Process liveness",
    responses(
        (status = 200, description = "Alive", body = Object),
        Failure,
    )
)]
pub async fn live() -> Json<serde_json::Value> {
    Json(json!({"alive": true, "timestamp": chrono::Utc::now()}))
}

#[utoipa::path(
    get,
    path = "/api/capabilities",
    tag = "ops",
    summary = "Encoders, codecs and formats (also /capabilities)",
    responses(
        (status = 200, description = "OK", body = Capabilities),
        Failure,
    )
)]
pub async fn capabilities(State(s): State<App>) -> Json<Capabilities> {
    Json(s.capabilities())
}

#[utoipa::path(
    get,
    path = "/api/version",
    tag = "ops",
    summary = "Version, commit, build date, ffmpeg and platform",
    responses(
        (status = 200, description = "OK", body = ghoststream_types::VersionInfo),
        Failure,
    )
)]
pub async fn version(State(s): State<App>) -> Json<ghoststream_types::VersionInfo> {
    Json(s.version())
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    summary = "Prometheus metrics: jobs, queue, speed and latency histograms, WebSocket clients, GPUs",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain"),
        Failure,
    )
)]
pub async fn metrics(State(s): State<App>) -> ApiResult<Response> {
    let mut r = s.metrics().await?.into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(r)
}

#[utoipa::path(
    get,
    path = "/api/stats",
    tag = "ops",
    summary = "Totals since the first start",
    responses(
        (status = 200, description = "OK", body = Stats),
        Failure,
    )
)]
pub async fn stats(State(s): State<App>) -> ApiResult<Json<ghoststream_types::Stats>> {
    s.stats().await.map(Json)
}

#[utoipa::path(
    get,
    path = "/api/clients",
    tag = "ops",
    summary = "Clients seen recently",
    responses(
        (status = 200, description = "OK", body = Vec<ClientInfo>),
        Failure,
    )
)]
pub async fn clients(State(s): State<App>) -> Json<Vec<ghoststream_types::ClientInfo>> {
    Json(s.clients.list())
}

#[utoipa::path(
    get,
    path = "/api/streams/shared",
    tag = "ops",
    summary = "Streams shared by several viewers",
    responses(
        (status = 200, description = "OK", body = SharedStreams),
        Failure,
    )
)]
pub async fn shared(State(s): State<App>) -> ApiResult<Json<ghoststream_types::SharedStreams>> {
    Ok(Json(s.engine.shared_streams().await?))
}

#[utoipa::path(
    get,
    path = "/api/cleanup/stats",
    tag = "ops",
    summary = "What retention would remove",
    responses(
        (status = 200, description = "OK", body = CleanupStats),
        Failure,
    )
)]
pub async fn cleanup_stats(
    State(s): State<App>,
) -> ApiResult<Json<ghoststream_types::CleanupStats>> {
    Ok(Json(s.engine.cleanup_stats().await?))
}

#[utoipa::path(
    post,
    path = "/api/cleanup/run",
    tag = "ops",
    summary = "Run retention now",
    responses(
        (status = 200, description = "OK", body = CleanupRun),
        Failure,
    )
)]
pub async fn cleanup_run(State(s): State<App>) -> ApiResult<Json<ghoststream_types::CleanupRun>> {
    Ok(Json(s.engine.cleanup_run().await?))
}

#[utoipa::path(
    post,
    path = "/api/probe",
    tag = "jobs",
    summary = "Media info and the plan a start would use",
    request_body = ProbeRequest,
    responses(
        (status = 200, description = "OK", body = ProbeResponse),
        (status = 422, description = "Invalid request or source", body = ErrorBody),
        Failure,
    )
)]
pub async fn probe(
    State(s): State<App>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Json<ghoststream_types::ProbeResponse>> {
    let req: ProbeRequest = json_body(body, s.engine.config().server.max_body_bytes, true)?;
    s.probe(req).await.map(Json)
}

#[utoipa::path(
    post,
    path = "/api/probe/compile",
    tag = "jobs",
    summary = "Dry run (ext): the plan and the exact ffmpeg command lines a start would run, without running them",
    request_body = ghoststream_types::StartRequest,
    responses(
        (status = 200, description = "OK", body = ghoststream_types::CompileResponse),
        (status = 422, description = "Invalid request or source", body = ErrorBody),
        Failure,
    )
)]
pub async fn compile(
    State(s): State<App>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Json<ghoststream_types::CompileResponse>> {
    let req: ghoststream_types::StartRequest =
        json_body(body, s.engine.config().server.max_body_bytes, true)?;
    s.compile(req).await.map(Json)
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("route")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
