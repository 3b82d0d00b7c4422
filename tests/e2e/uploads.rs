//! Uploads as job sources: tus-js-client and tuspy across a connection cut halfway, the
//! seed's chunked API (offsets, a repeated chunk, a gap, a wrong SHA-256, the size
//! limit), a full disk mid-upload, and 20 uploads at once. A job made from an upload plays
//! in hls.js.

use super::support::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const MIN: Duration = Duration::from_secs(60);

/// A TCP proxy in front of the server that cuts the connection carrying the client's
/// `cut_at`-th byte (counted over every connection), once: a dropped link mid-upload.
struct CutProxy {
    base: String,
    cut: Arc<AtomicBool>,
}

impl CutProxy {
    fn start(target: &str, cut_at: u64) -> CutProxy {
        let target = target.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let sent = Arc::new(AtomicU64::new(0));
        let cut = Arc::new(AtomicBool::new(false));
        let cut2 = cut.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let (sent, cut) = (sent.clone(), cut2.clone());
                let (mut c_in, mut s_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n) = c_in.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        let before = sent.fetch_add(n as u64, Ordering::SeqCst);
                        if before + n as u64 >= cut_at && !cut.swap(true, Ordering::SeqCst) {
                            let _ = s_out.write_all(&buf[..(cut_at - before.min(cut_at)) as usize]);
                            let _ = c_in.shutdown(Shutdown::Both);
                            let _ = s_out.shutdown(Shutdown::Both);
                            return;
                        }
                        if s_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = s_out.shutdown(Shutdown::Write);
                });
                let (mut s_in, mut c_out) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s_in, &mut c_out);
                    let _ = c_out.shutdown(Shutdown::Both);
                });
            }
        });
        CutProxy { base, cut }
    }
}

fn sha256_hex(path: &std::path::Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The upload id at the end of a tus upload URL.
fn id_of(url: &str) -> String {
    url.trim().rsplit('/').next().unwrap().to_string()
}

#[tokio::test]
async fn tus_clients_resume_across_a_cut_connection_and_the_upload_plays() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let file = media_dir().join("long.mkv");
    let want = sha256_hex(&file);
    // tus-js-client: the link drops after 1 MB of its 2.3 MB.
    let proxy = CutProxy::start(&gs.base, 1_000_000);
    let out = run_node(
        "tests/uploads/tus_node.mjs",
        vec![
            format!("{}/api/tus/", proxy.base),
            file.display().to_string(),
        ],
        vec![],
    )
    .await;
    assert!(proxy.cut.load(Ordering::SeqCst), "the link was never cut");
    let line = out
        .lines()
        .find(|l| l.starts_with("ok "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(!line.ends_with("retries=0"), "no resume happened: {out}");
    let js = id_of(line.split_whitespace().nth(1).unwrap());
    let (code, info) = gs.get(&format!("/api/upload/{js}")).await;
    assert_eq!(code, 200, "{info}");
    assert_eq!(info["complete"], true, "{info}");
    assert_eq!(info["protocol"], "tus");
    assert_eq!(info["filename"], "long.mkv");
    assert_eq!(
        info["sha256"],
        want.as_str(),
        "the bytes differ from the file's"
    );
    // tuspy: 256 KiB chunks, the link drops after 600 kB.
    let proxy = CutProxy::start(&gs.base, 600_000);
    let out = run_sdk_script(
        "tus_upload.py",
        vec![
            format!("{}/api/tus/", proxy.base),
            file.display().to_string(),
        ],
    )
    .await;
    assert!(proxy.cut.load(Ordering::SeqCst), "the link was never cut");
    let url = out
        .lines()
        .find(|l| l.starts_with("ok "))
        .unwrap_or_else(|| panic!("{out}"));
    let py = id_of(url.split_whitespace().nth(1).unwrap());
    let (_, info) = gs.get(&format!("/api/upload/{py}")).await;
    assert_eq!(
        (&info["complete"], &info["sha256"]),
        (&json!(true), &json!(want)),
        "{info}"
    );
    // The upload is a source: a stream made from it plays and seeks in hls.js.
    let job = gs
        .start_job(json!({"source": format!("upload:{js}"), "output": {"bitrate": "400k"}}))
        .await;
    assert_eq!(job["source"], format!("upload:{js}"));
    play_in_chromium(&media, &job).await;
    // Deleting the job deletes its upload; the other upload stays.
    gs.control(reqwest::Method::POST, &job, "/cancel").await;
    let (code, _) = gs.control(reqwest::Method::DELETE, &job, "").await;
    assert!(code == 200 || code == 204, "{code}");
    let (code, _) = gs.get(&format!("/api/upload/{js}")).await;
    assert_eq!(code, 404);
    assert_eq!(gs.get(&format!("/api/upload/{py}")).await.0, 200);
}

/// `POST /api/upload` with the file (and its SHA-256 before it, when given).
async fn multipart(gs: &Gs, name: &str, bytes: Vec<u8>, sha256: Option<String>) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new();
    if let Some(sha) = sha256 {
        form = form.text("sha256", sha);
    }
    let form = form.part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
    );
    let r = reqwest::Client::new()
        .post(format!("{}/api/upload", gs.base))
        .multipart(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn chunk(gs: &Gs, id: &str, offset: u64, bytes: &[u8]) -> (u16, Value, Option<String>) {
    let r = reqwest::Client::new()
        .post(format!("{}/api/upload/chunk/{id}?offset={offset}", gs.base))
        .header("content-type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let at = r
        .headers()
        .get("upload-offset")
        .map(|v| v.to_str().unwrap().to_string());
    (status, r.json().await.unwrap_or(Value::Null), at)
}

fn uploads_left(gs: &Gs, state: &std::path::Path) -> usize {
    let dir = format!("/proc/{}/root{}/uploads", gs.pid(), state.display());
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test]
async fn the_seed_api_places_chunks_by_offset_and_keeps_nothing_unverified() {
    let state = tempfile::tempdir().unwrap();
    let gs = Gs::start(
        Opts::default()
            .state(state.path())
            .env("GHOSTSTREAM__UPLOADS__MAX_BYTES", "2500000")
            .env("GHOSTSTREAM__UPLOADS__MIN_FREE_BYTES", "0"),
    );
    let file = media_dir().join("h264.mkv");
    let bytes = std::fs::read(&file).unwrap();
    let half = bytes.len() / 2;
    // Over the size limit: refused before a byte is stored.
    assert_refused(
        gs.post(
            "/api/upload/init",
            json!({"filename": "big.mkv", "file_size": 3_000_000}),
        )
        .await,
        413,
        "upload-too-large",
    );
    let (code, up) = gs
        .post(
            "/api/upload/init",
            json!({"filename": "h264.mkv", "file_size": bytes.len()}),
        )
        .await;
    assert_eq!(code, 200, "{up}");
    let id = up["upload_id"].as_str().unwrap().to_string();
    assert_eq!(up["offset"], 0);
    let (code, info, _) = chunk(&gs, &id, 0, &bytes[..half]).await;
    assert_eq!(
        (code, info["offset"].as_u64()),
        (200, Some(half as u64)),
        "{info}"
    );
    // The same chunk again (its answer was lost): accepted, nothing doubled.
    let (code, info, _) = chunk(&gs, &id, 0, &bytes[..half]).await;
    assert_eq!((code, info["offset"].as_u64()), (200, Some(half as u64)));
    // A chunk past the end: 409 and where to resume.
    let (code, e, at) = chunk(&gs, &id, half as u64 + 10, &bytes[half + 10..]).await;
    assert_eq!(
        (code, e["code"].as_str()),
        (409, Some("upload-offset-mismatch")),
        "{e}"
    );
    assert_eq!(at, Some(half.to_string()));
    // Finishing early: 409, bytes missing.
    assert_refused(
        gs.post(
            &format!("/api/upload/complete/{id}"),
            json!({"sha256": sha256_hex(&file)}),
        )
        .await,
        409,
        "upload-incomplete",
    );
    // Past the announced size: 413, and none of that chunk is kept.
    let mut too_much = bytes[half..].to_vec();
    too_much.extend_from_slice(&[0u8; 100]);
    let (code, e, at) = chunk(&gs, &id, half as u64, &too_much).await;
    assert_eq!(
        (code, e["code"].as_str()),
        (413, Some("upload-too-large")),
        "{e}"
    );
    assert_eq!(at, Some(half.to_string()));
    let (code, _, _) = chunk(&gs, &id, half as u64, &bytes[half..]).await;
    assert_eq!(code, 200);
    let (code, done) = gs
        .post(
            &format!("/api/upload/complete/{id}"),
            json!({"sha256": sha256_hex(&file)}),
        )
        .await;
    assert_eq!((code, &done["complete"]), (200, &json!(true)), "{done}");
    // A batch job from it finishes.
    let job = gs
        .start_job(
            json!({"source": format!("upload:{id}"), "mode": "batch", "output": {"format": "mkv"}}),
        )
        .await;
    let end = gs.wait_for(&job, &["ready", "error"], MIN).await;
    assert_eq!(end["status"], "ready", "{end}");
    // A wrong SHA-256: refused, and nothing of that upload is kept.
    let (_, up) = gs
        .post(
            "/api/upload/init",
            json!({"filename": "x.mkv", "file_size": 1000}),
        )
        .await;
    let bad = up["upload_id"].as_str().unwrap().to_string();
    assert_eq!(chunk(&gs, &bad, 0, &bytes[..1000]).await.0, 200);
    let before = uploads_left(&gs, state.path());
    assert_refused(
        gs.post(
            &format!("/api/upload/complete/{bad}"),
            json!({"sha256": "0".repeat(64)}),
        )
        .await,
        422,
        "upload-checksum-mismatch",
    );
    assert_eq!(gs.get(&format!("/api/upload/{bad}")).await.0, 404);
    assert_eq!(
        uploads_left(&gs, state.path()),
        before - 2,
        "data and record gone"
    );
    // An unfinished or unknown upload is no source.
    let (_, up) = gs
        .post(
            "/api/upload/init",
            json!({"filename": "y.mkv", "file_size": 1000}),
        )
        .await;
    assert_refused(
        gs.post(
            "/api/transcode/start",
            json!({"source": format!("upload:{}", up["upload_id"].as_str().unwrap())}),
        )
        .await,
        409,
        "upload-incomplete",
    );
    assert_refused(
        gs.post(
            "/api/transcode/start",
            json!({"source": "upload:../../etc/passwd"}),
        )
        .await,
        404,
        "upload-not-found",
    );
    let (_, active) = gs.get("/api/upload/active").await;
    assert_eq!(active["active"], 1, "{active}");
    assert_eq!(active["uploads"].as_array().unwrap().len(), 2);
    // Anyone may see what is uploading, not the ids that would let them use or delete it.
    assert!(!active.to_string().contains(&id), "{active}");
    // Retention counts what the uploads hold.
    let (_, cleanup) = gs.get("/api/cleanup/stats").await;
    assert_eq!(cleanup["uploads"], 2, "{cleanup}");
    assert_eq!(cleanup["upload_bytes"].as_u64(), Some(bytes.len() as u64));
}

#[tokio::test]
async fn a_full_disk_mid_upload_keeps_nothing_half_written() {
    // A 1 MiB tmpfs as the uploads folder, in a mount namespace of the server's own.
    let state = tempfile::tempdir().unwrap();
    let uploads = state.path().join("uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    let gs = Gs::start(
        Opts::default()
            .state(state.path())
            .env("GHOSTSTREAM__UPLOADS__MIN_FREE_BYTES", "0")
            .small_disk_at(&uploads),
    );
    let bytes = std::fs::read(media_dir().join("h264.mkv")).unwrap();
    // An announced size the disk cannot hold: refused at the start.
    assert_refused(
        gs.post(
            "/api/upload/init",
            json!({"filename": "h264.mkv", "file_size": bytes.len()}),
        )
        .await,
        413,
        "upload-no-space",
    );
    // No size announced (one multipart request): the disk fills mid-way.
    let full = multipart(&gs, "h264.mkv", bytes, None).await;
    assert_refused(full, 507, "upload-disk-full");
    assert_eq!(
        uploads_left(&gs, state.path()),
        0,
        "a half-written upload was left"
    );
    assert_eq!(gs.get("/api/health").await.0, 200);
    // A file that fits goes through, SHA-256 checked.
    let small = std::fs::read(media_dir().join("short.mkv")).unwrap();
    let sha = sha256_hex(&media_dir().join("short.mkv"));
    let (code, info) = multipart(&gs, "short.mkv", small.clone(), Some(sha)).await;
    assert_eq!(code, 200, "{info}");
    assert_eq!(
        (&info["complete"], info["size"].as_u64()),
        (&json!(true), Some(small.len() as u64))
    );
}

#[tokio::test]
async fn twenty_uploads_at_once_each_arrive_whole() {
    let gs = Gs::start(Opts::default().env("GHOSTSTREAM__UPLOADS__MIN_FREE_BYTES", "0"));
    let base = gs.base.clone();
    let tasks: Vec<_> = (0..20u8)
        .map(|i| {
            let base = base.clone();
            tokio::spawn(async move {
                // 300 kB of a pattern of its own, in three chunks.
                let data: Vec<u8> = (0..300_000u32).map(|n| (n as u8) ^ i).collect();
                let c = reqwest::Client::new();
                let up: Value = c
                    .post(format!("{base}/api/upload/init"))
                    .json(&json!({"filename": format!("f{i}.bin"), "file_size": data.len()}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let id = up["upload_id"].as_str().unwrap().to_string();
                for k in 0..3 {
                    let r = c
                        .post(format!(
                            "{base}/api/upload/chunk/{id}?offset={}",
                            k * 100_000
                        ))
                        .body(data[k * 100_000..(k + 1) * 100_000].to_vec())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status().as_u16(), 200);
                }
                let dir = tempfile::tempdir().unwrap();
                let p = dir.path().join("f");
                std::fs::write(&p, &data).unwrap();
                let r = c
                    .post(format!("{base}/api/upload/complete/{id}"))
                    .json(&json!({"sha256": sha256_hex(&p)}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 200, "{id}");
                id
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    let (_, active) = gs.get("/api/upload/active").await;
    assert_eq!(active["active"], 0, "{active}");
    let done = active["uploads"].as_array().unwrap();
    assert_eq!(done.len(), 20);
    assert!(done
        .iter()
        .all(|u| u["complete"] == true && u["offset"] == 300_000));
}

/// Uploading needs what starting a job needs: with an API key set, the key.
#[tokio::test]
async fn uploads_need_the_api_key_when_one_is_set() {
    let key = "a-long-enough-key";
    let gs = Gs::start(
        Opts::default()
            .env("GHOSTSTREAM__SECURITY__API_KEY", key)
            .env("GHOSTSTREAM__UPLOADS__MIN_FREE_BYTES", "0"),
    );
    let init = json!({"filename": "a.mkv", "file_size": 10}).to_string();
    let tus = [("Tus-Resumable", "1.0.0"), ("Upload-Length", "10")];
    assert_refused(
        gs.req(
            reqwest::Method::POST,
            "/api/upload/init",
            Some(init.clone()),
            &[],
        )
        .await,
        401,
        "api-key-required",
    );
    assert_refused(
        gs.req(reqwest::Method::POST, "/api/tus/", None, &tus).await,
        401,
        "api-key-required",
    );
    assert_refused(
        multipart(&gs, "a.mkv", vec![0u8; 10], None).await,
        401,
        "api-key-required",
    );
    let (code, up) = gs
        .req(
            reqwest::Method::POST,
            "/api/upload/init",
            Some(init),
            &[("X-API-Key", key)],
        )
        .await;
    assert_eq!(code, 200, "{up}");
    let with_key = [("X-API-Key", key), tus[0], tus[1]];
    let (code, _) = gs
        .req(reqwest::Method::POST, "/api/tus/", None, &with_key)
        .await;
    assert_eq!(code, 201);
}
