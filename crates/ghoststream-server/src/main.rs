//! `ghoststream`: the headless GhostStream server.

use clap::{Parser, Subcommand};
use ghoststream_engine::{config, Config};
use ghoststream_server::Running;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;
#[cfg(test)]
use {rml_rtmp as _, tempfile as _, tokio_tungstenite as _};
// Used by the library half of this package.
#[cfg(unix)]
use nix as _;
use {
    axum as _, base64 as _, bytes as _, chrono as _, futures_util as _, ghoststream_types as _,
    hyper as _, hyper_util as _, if_addrs as _, mdns_sd as _, multer as _, rand as _, reqwest as _,
    serde as _, serde_path_to_error as _, sysinfo as _, thiserror as _, tokio_util as _, toml as _,
    tower_http as _, tower_service as _, utoipa as _, utoipa_axum as _, uuid as _,
};

#[derive(Parser)]
#[command(
    name = "ghoststream",
    version,
    about = "GhostStream: the LAN transcoding node"
)]
struct Cli {
    /// Configuration file (TOML, or YAML with the seed's ghoststream.yaml keys).
    #[arg(long, short, global = true, env = "GHOSTSTREAM_CONFIG")]
    config: Option<PathBuf>,
    /// Print what the hardware probe found and exit.
    #[arg(long)]
    detect_hw: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Configuration helpers.
    Config {
        /// Print an annotated example configuration.
        #[arg(long)]
        example: bool,
    },
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    #[arg(long)]
    host: Option<String>,
    /// 0 picks a free port (printed on start).
    #[arg(long)]
    port: Option<u16>,
    #[arg(long)]
    state_dir: Option<PathBuf>,
    #[arg(long)]
    temp_dir: Option<PathBuf>,
    #[arg(long)]
    max_concurrent_jobs: Option<u32>,
    #[arg(long)]
    api_key: Option<String>,
    /// enforce | open
    #[arg(long)]
    job_tokens: Option<String>,
    /// Local folder allowed as a source (repeatable).
    #[arg(long = "library-root")]
    library_roots: Vec<PathBuf>,
    #[arg(long)]
    no_mdns: bool,
}

impl ServeArgs {
    fn overrides(&self) -> Vec<(String, Value)> {
        let mut o = Vec::new();
        let mut put = |k: &str, v: Value| o.push((k.to_string(), v));
        if let Some(v) = &self.host {
            put("server.host", v.clone().into());
        }
        if let Some(v) = self.port {
            put("server.port", v.into());
        }
        if let Some(v) = &self.state_dir {
            put("state_directory", v.to_string_lossy().into_owned().into());
        }
        if let Some(v) = &self.temp_dir {
            put(
                "transcoding.temp_directory",
                v.to_string_lossy().into_owned().into(),
            );
        }
        if let Some(v) = self.max_concurrent_jobs {
            put("transcoding.max_concurrent_jobs", v.into());
        }
        if let Some(v) = &self.api_key {
            put("security.api_key", v.clone().into());
        }
        if let Some(v) = &self.job_tokens {
            put("security.job_tokens", v.clone().into());
        }
        if !self.library_roots.is_empty() {
            put(
                "transcoding.library_roots",
                self.library_roots
                    .iter()
                    .map(|p| Value::from(p.to_string_lossy().into_owned()))
                    .collect(),
            );
        }
        if self.no_mdns {
            put("mdns.enabled", false.into());
        }
        o
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                "ghoststream=info,ghoststream_server=info,ghoststream_engine=info,warn".into()
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Some(Command::Config { example }) = &cli.command {
        if *example {
            print!("{}", config::EXAMPLE);
            return Ok(());
        }
        anyhow::bail!("use `ghoststream config --example`");
    }
    let args = match cli.command {
        Some(Command::Serve(a)) => a,
        _ => ServeArgs::default(),
    };
    // The file the dashboard's Settings view writes: the one given, or the default. It is
    // read when it exists; settings saved from the dashboard create it.
    let config_path = cli
        .config
        .clone()
        .unwrap_or_else(ghoststream_server::settings::default_config_path);
    let file = config_path.exists().then_some(config_path.as_path());
    if file.is_none() && cli.config.is_some() {
        tracing::info!(
            "{} does not exist yet; starting with defaults (saving settings creates it)",
            config_path.display()
        );
    }
    let cfg = Config::load(file, std::env::vars(), &args.overrides())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let hw = ghoststream_media::hw::detect_with(
            &cfg.transcoding.ffmpeg_path,
            Duration::from_secs(cfg.hardware.trial_timeout.max(1)),
            &cfg.hardware.tone_mapping,
        )
        .await;
        if cli.detect_hw {
            print_hardware(&hw);
            return Ok(());
        }
        run(cfg, hw, config_path).await
    })
}

fn print_hardware(hw: &ghoststream_media::hw::Hardware) {
    println!("ffmpeg {}", hw.ffmpeg_shown());
    for a in &hw.accels {
        let mark = if a.available { "yes" } else { "no " };
        print!("  {:<13} {mark}", a.kind.as_str());
        if a.available {
            print!("  encoders: {}", a.encoders.join(", "));
        } else if let Some(r) = &a.reason {
            print!("  ({r})");
        }
        if let Some(g) = &a.gpu_info {
            print!(
                "  gpu: {} {} MB driver {}",
                g.name,
                g.memory_mb,
                g.driver_version.as_deref().unwrap_or("?")
            );
        }
        println!();
    }
    let best: Vec<&str> = hw.available().iter().map(|k| k.as_str()).collect();
    println!("available: {}", best.join(", "));
    let tone: Vec<&str> = hw.gpu_tone.iter().map(|t| t.filter()).collect();
    print!(
        "HDR tone mapping: {}",
        if tone.is_empty() {
            "zscale (CPU)".to_string()
        } else {
            tone.join(", ")
        }
    );
    match &hw.gpu_tone_reason {
        Some(r) => println!("  ({r})"),
        None => println!(),
    }
}

async fn run(
    cfg: Config,
    hw: ghoststream_media::hw::Hardware,
    config_path: PathBuf,
) -> anyhow::Result<()> {
    let running = Running::start(cfg, hw).await?;
    running.state.set_config_path(config_path);
    if let Some(d) = running.state.discovery() {
        let p = d.info();
        tracing::info!(instance = %d.instance, udp = ?p.udp_port, pair = %p.pair_url, "discoverable");
    }
    // Tests and scripts read this line for the bound port.
    println!(
        "GhostStream {} listening on http://{}",
        env!("CARGO_PKG_VERSION"),
        running.addr
    );
    let engine = running.engine();
    tracing::info!(
        hw = ?engine.hardware().available(),
        state = %engine.config().state_dir().display(),
        work = %engine.config().work_dir().display(),
        "ready"
    );
    shutdown_signal().await;
    running.stop().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT: stopping"),
        _ = term => tracing::info!("SIGTERM: stopping"),
    }
}
