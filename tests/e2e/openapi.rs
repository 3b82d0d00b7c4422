//! The OpenAPI document: committed (`docs/openapi.json`, checked fresh like the UI's
//! bindings) and held to by the running server under schemathesis (from PyPI): no 5xx,
//! no undocumented status or content type, no answer that breaks its schema.

use super::support::*;
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

const MIN: Duration = Duration::from_secs(60);

#[tokio::test]
async fn the_committed_document_is_what_the_server_serves() {
    let gs = Gs::start(Opts::default());
    let (code, served) = gs.get("/api/openapi.json").await;
    assert_eq!(code, 200);
    assert_eq!(served["openapi"], "3.1.0");
    let path = repo_root().join("docs/openapi.json");
    let pretty = serde_json::to_string_pretty(&served).unwrap() + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &pretty).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == pretty,
        "docs/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test -p ghoststream-server --test e2e openapi` and commit it"
    );
}

/// Runs schemathesis against `gs` with every check but "valid data must be accepted"
/// (sources and callbacks are refused by policy, not by schema). Returns its output.
fn schemathesis(gs: &Gs, config: &str, filter: &[&str], examples: u32) -> String {
    let bin = repo_root().join("tests/.venv/bin/schemathesis");
    assert!(
        bin.exists(),
        "schemathesis is missing at {}: run scripts/setup.sh first",
        bin.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("schemathesis.toml");
    std::fs::write(&cfg, config).unwrap();
    let out = Command::new(bin)
        .current_dir(dir.path())
        .arg("--config-file")
        .arg(&cfg)
        .args(["run", &format!("{}/api/openapi.json", gs.base)])
        .args([
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
        ])
        .args([
            "--max-examples",
            &examples.to_string(),
            "--workers",
            "2",
            "--seed",
            "1",
        ])
        .args(["--request-timeout", "30"])
        .args(filter)
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .output()
        .expect("run schemathesis");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "schemathesis found failures:\n{text}");
    text
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default().env("GHOSTSTREAM__SECURITY__JOB_TOKENS", "open"));
    // Real jobs for the operations that need one: a stream, a file, and one to delete.
    let stream = gs
        .start_job(json!({"source": media.url("short.mkv")}))
        .await;
    let file = gs
        .start_job(
            json!({"source": media.url("short.mkv"), "mode": "batch", "output": {"format": "mkv"}}),
        )
        .await;
    let doomed = gs
        .start_job(
            json!({"source": media.url("short.mkv"), "mode": "batch", "output": {"format": "mp4"}}),
        )
        .await;
    for j in [&stream, &file, &doomed] {
        gs.wait_for(j, &["ready"], MIN).await;
    }
    let id = |j: &Value| j["job_id"].as_str().unwrap().to_string();
    let config = format!(
        r#"
[[operations]]
include-path = "/api/transcode/{{id}}"
include-method = "DELETE"
parameters = {{ "path.id" = "{}" }}

[[operations]]
include-path = "/download/{{id}}"
parameters = {{ "path.id" = "{}" }}

[[operations]]
include-path-regex = "^/(stream|api/transcode)/"
parameters = {{ "path.id" = "{}" }}
"#,
        id(&doomed),
        id(&file),
        id(&stream)
    );
    // Everything but the settings, which rewrite this server's own configuration.
    let report = schemathesis(&gs, &config, &["--exclude-method", "PUT"], 40);
    let summary: Vec<&str> = report
        .lines()
        .filter(|l| l.contains("generated") || l.contains("Tested:"))
        .collect();
    eprintln!("schemathesis: {}", summary.join("; ").trim());
    // The server is healthy and the jobs the run did not delete are intact.
    assert_eq!(gs.get("/api/health").await.0, 200);
    assert_eq!(gs.status(&stream).await["status"], "ready");
    assert_eq!(gs.status(&file).await["status"], "ready");
    assert!(eventually(Duration::from_secs(3), || gs.children().is_empty()).await);

    // The settings (and a key rename) on a server of their own: whatever they become, the
    // answers hold.
    let gs = Gs::start(Opts::default());
    let report = schemathesis(&gs, "", &["--include-method", "PUT"], 40);
    assert!(report.contains("Tested: 2"), "{report}");
    // Live ingest's key routes: the stateful phase renames and revokes the keys it makes.
    let report = schemathesis(&gs, "", &["--include-path-regex", "^/api/ingest"], 40);
    assert!(
        report.contains("Selected: 6") && report.contains("Tested: 6"),
        "{report}"
    );
    assert_eq!(gs.get("/api/health").await.0, 200);
    assert!(gs.children().is_empty());
}
