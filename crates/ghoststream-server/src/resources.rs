//! What the machine has: `GET /api/resources` for the dashboard's charts (CPU, memory,
//! the work dir's disk and every NVIDIA GPU, sampled off the async threads), and the
//! capabilities and platform `App` answers with.

use crate::App;
use ghoststream_types::Capabilities;

impl App {
    /// What this server can do; the same answer over HTTP and IPC.
    pub fn capabilities(&self) -> Capabilities {
        capabilities_of(&self.engine)
    }

    /// CPU, memory, the work dir's disk and every NVIDIA GPU.
    pub async fn resources(&self) -> ghoststream_types::Resources {
        let cpu = self.cpu.clone();
        let work = self.engine.config().work_dir();
        let gpu_jobs = self.engine.gpu_jobs();
        tokio::task::spawn_blocking(move || {
            let (cpu_percent, cpu_count, mem_total, mem_used) = match cpu.lock() {
                Ok(mut guard) if guard.is_some() => {
                    let Some(sys) = guard.as_mut() else {
                        unreachable!()
                    };
                    if sys.cpus().is_empty() {
                        sys.refresh_cpu_usage();
                        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
                    }
                    sys.refresh_cpu_usage();
                    sys.refresh_memory();
                    (
                        sys.global_cpu_usage() as f64,
                        sys.cpus().len() as u32,
                        sys.total_memory() / (1024 * 1024),
                        sys.used_memory() / (1024 * 1024),
                    )
                }
                _ => (0.0, 0, 0, 0),
            };
            let la = sysinfo::System::load_average()
                .map(|l| vec![l.one, l.five, l.fifteen])
                .unwrap_or_default();
            let (disk_total, disk_free) = disk_of(&work);
            ghoststream_types::Resources {
                cpu_percent: (cpu_percent * 10.0).round() / 10.0,
                cpu_count,
                load_average: la,
                memory_total_mb: mem_total,
                memory_used_mb: mem_used,
                disk_total_gb: disk_total,
                disk_free_gb: disk_free,
                work_dir: work.display().to_string(),
                gpus: ghoststream_media::hw::nvidia_stats()
                    .into_iter()
                    .map(|mut g| {
                        g.jobs = gpu_jobs
                            .iter()
                            .filter(|j| j.gpu == g.index)
                            .cloned()
                            .collect();
                        g
                    })
                    .collect(),
                timestamp: chrono::Utc::now().to_rfc3339(),
            }
        })
        .await
        .unwrap_or_else(|_| ghoststream_types::Resources {
            cpu_percent: 0.0,
            cpu_count: 0,
            load_average: vec![],
            memory_total_mb: 0,
            memory_used_mb: 0,
            disk_total_gb: 0.0,
            disk_free_gb: 0.0,
            work_dir: String::new(),
            gpus: vec![],
            timestamp: chrono::Utc::now().to_rfc3339(),
        })
    }
}

/// Total and free gigabytes of the disk holding `path`.
fn disk_of(path: &std::path::Path) -> (f64, f64) {
    let gb = |b: u64| ((b as f64 / (1u64 << 30) as f64) * 10.0).round() / 10.0;
    disk_bytes(path)
        .map(|(total, free)| (gb(total), gb(free)))
        .unwrap_or((0.0, 0.0))
}

/// Total and available bytes of the filesystem holding `path`.
#[cfg(unix)]
pub(crate) fn disk_bytes(path: &std::path::Path) -> Option<(u64, u64)> {
    let v = nix::sys::statvfs::statvfs(path).ok()?;
    // fsblkcnt_t and friends are not u64 on every platform.
    #[allow(clippy::unnecessary_cast)]
    let total = v.blocks() as u64 * v.fragment_size() as u64;
    #[allow(clippy::unnecessary_cast)]
    let free = v.blocks_available() as u64 * v.fragment_size() as u64;
    Some((total, free))
}

/// Total and available bytes of the disk holding `path` (the longest mount prefix).
#[cfg(not(unix))]
pub(crate) fn disk_bytes(path: &std::path::Path) -> Option<(u64, u64)> {
    let disks = sysinfo::Disks::new_with_refreshed_list().ok()?;
    let canon = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    disks
        .iter()
        .filter(|d| canon.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len())
        .map(|d| (d.total_space(), d.available_space()))
}

fn capabilities_of(engine: &ghoststream_engine::Engine) -> Capabilities {
    let hw = engine.hardware();
    Capabilities {
        hw_accels: hw.accels.clone(),
        video_codecs: hw.video_codecs(),
        audio_codecs: ["aac", "opus", "mp3", "flac", "ac3", "copy"]
            .map(String::from)
            .to_vec(),
        formats: ghoststream_types::Format::ALL
            .iter()
            .map(|f| f.as_str().to_string())
            .collect(),
        max_concurrent_jobs: engine.live().max_concurrent_jobs,
        ffmpeg_version: hw.ffmpeg_shown().to_string(),
        platform: platform(),
        gpu_tone_mapping: hw.gpu_tone.iter().map(|t| t.filter().to_string()).collect(),
        gpu_tone_mapping_reason: hw.gpu_tone_reason.clone(),
        live: {
            let ingest = engine.ingest();
            ingest
                .enabled()
                .then(|| ghoststream_types::LiveCapabilities {
                    rtmp_port: ingest.rtmp_port(),
                    srt_port: ingest.srt_port(),
                    ladder: ghoststream_engine::ingest::LADDER_NAMES
                        .iter()
                        .map(|n| n.to_string())
                        .collect(),
                    hls: true,
                    dash: true,
                })
        },
    }
}

pub(crate) fn platform() -> String {
    let pretty = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        });
    match pretty {
        Some(p) => format!("{p} ({})", std::env::consts::ARCH),
        None => format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
    }
}
