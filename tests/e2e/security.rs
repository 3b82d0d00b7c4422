//! Job tokens (enforce and open), the API key, path traversal.

use super::support::*;
use serde_json::json;

#[tokio::test]
async fn tokens_are_enforced() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let a = gs
        .start_job(json!({"source": media.url("short.mkv"), "mode": "batch"}))
        .await;
    let b = gs
        .start_job(json!({"source": media.url("h264.mkv"), "mode": "batch"}))
        .await;
    let id = a["job_id"].as_str().unwrap();
    let status = format!("/api/transcode/{id}/status");
    let (code, v) = gs.get(&status).await;
    assert_eq!((code, v["code"].as_str()), (403, Some("token-required")));
    let other = b["control_token"].as_str().unwrap();
    let (code, v) = gs
        .req(
            reqwest::Method::GET,
            &status,
            None,
            &[("X-GhostStream-Control-Token", other)],
        )
        .await;
    assert_eq!((code, v["code"].as_str()), (403, Some("token-wrong-job")));
    let mut tampered = a["control_token"].as_str().unwrap().to_string();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let (code, v) = gs
        .req(
            reqwest::Method::GET,
            &status,
            None,
            &[("X-GhostStream-Control-Token", &tampered)],
        )
        .await;
    assert_eq!((code, v["code"].as_str()), (403, Some("token-invalid")));
    let (code, v) = gs
        .post(&format!("/api/transcode/{id}/cancel"), json!({}))
        .await;
    assert_eq!((code, v["code"].as_str()), (403, Some("token-required")));
    // A stream token does not open control routes.
    let s = gs.start_job(json!({"source": media.url("h264.mkv")})).await;
    let sid = s["job_id"].as_str().unwrap();
    let gst = s["stream_url"]
        .as_str()
        .unwrap()
        .split("gst=")
        .nth(1)
        .unwrap()
        .to_string();
    let (code, v) = gs
        .req(
            reqwest::Method::GET,
            &format!("/api/transcode/{sid}/status"),
            None,
            &[("X-GhostStream-Control-Token", &gst)],
        )
        .await;
    assert_eq!((code, v["code"].as_str()), (403, Some("token-wrong-scope")));
    // Playlists need a token; the stream token, its header form, or the control token work.
    let bare = s["stream_url"]
        .as_str()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(gs.fetch(&bare).await.0, 403);
    assert_eq!(gs.fetch(s["stream_url"].as_str().unwrap()).await.0, 200);
    let ct = s["control_token"].as_str().unwrap();
    for (h, v) in [
        ("X-GhostStream-Stream-Token", gst.as_str()),
        ("X-GhostStream-Control-Token", ct),
    ] {
        let r = gs.http.get(&bare).header(h, v).send().await.unwrap();
        assert_eq!(r.status(), 200, "{h}");
    }
    // Another job's stream token does not open this stream.
    let wrong = format!("{bare}?gst={}", b["control_token"].as_str().unwrap());
    assert_eq!(gs.fetch(&wrong).await.0, 403);
}

#[tokio::test]
async fn open_mode_accepts_requests_without_tokens() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default().env("GHOSTSTREAM__SECURITY__JOB_TOKENS", "open"));
    let s = gs.start_job(json!({"source": media.url("h264.mkv")})).await;
    let id = s["job_id"].as_str().unwrap();
    assert_eq!(gs.get(&format!("/api/transcode/{id}/status")).await.0, 200);
    assert_eq!(gs.get(&format!("/transcode/{id}")).await.0, 200);
    let bare = s["stream_url"]
        .as_str()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(gs.fetch(&bare).await.0, 200);
    let (code, v) = gs
        .req(
            reqwest::Method::DELETE,
            &format!("/transcode/{id}"),
            None,
            &[],
        )
        .await;
    assert!(
        code == 200 || v["code"] == "job-not-cancellable",
        "{code} {v}"
    );
}

#[tokio::test]
async fn api_key_guards_every_route_but_health() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default().env("GHOSTSTREAM__SECURITY__API_KEY", "sesame"));
    assert_eq!(gs.get("/api/health").await.0, 200);
    assert_eq!(gs.get("/health").await.0, 200);
    for path in [
        "/api/capabilities",
        "/api/stats",
        "/api/transcode/jobs",
        "/api/health/detailed",
        "/api/clients",
    ] {
        let (code, v) = gs.get(path).await;
        assert_eq!(
            (code, v["code"].as_str()),
            (401, Some("api-key-required")),
            "{path}"
        );
    }
    let (code, v) = gs
        .req(
            reqwest::Method::GET,
            "/api/stats",
            None,
            &[("X-API-Key", "wrong")],
        )
        .await;
    assert_eq!((code, v["code"].as_str()), (401, Some("api-key-invalid")));
    assert_eq!(
        gs.req(
            reqwest::Method::GET,
            "/api/stats",
            None,
            &[("X-API-Key", "sesame")]
        )
        .await
        .0,
        200
    );
    assert_eq!(gs.get("/api/stats?api_key=sesame").await.0, 200);
    let (code, _) = gs
        .post(
            "/api/transcode/start",
            json!({"source": media.url("h264.mkv")}),
        )
        .await;
    assert_eq!(code, 401);
    let (code, job) = gs
        .req(
            reqwest::Method::POST,
            "/api/transcode/start",
            Some(json!({"source": media.url("h264.mkv")}).to_string()),
            &[("X-API-Key", "sesame")],
        )
        .await;
    assert_eq!(code, 200);
    // Players cannot send headers: the stream token alone opens the stream.
    assert_eq!(gs.fetch(job["stream_url"].as_str().unwrap()).await.0, 200);
    let bare = job["stream_url"]
        .as_str()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    assert_ne!(gs.fetch(&bare).await.0, 200);
    // Preflights pass without the key.
    let r = gs
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/api/stats", gs.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // The WebSocket needs the key too.
    let ws = gs.base.replace("http://", "ws://");
    assert!(
        tokio_tungstenite::connect_async(format!("{ws}/ws/progress"))
            .await
            .is_err()
    );
    assert!(
        tokio_tungstenite::connect_async(format!("{ws}/ws/progress?api_key=sesame"))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn path_traversal_is_refused() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default().env("GHOSTSTREAM__SECURITY__JOB_TOKENS", "open"));
    let s = gs.start_job(json!({"source": media.url("h264.mkv")})).await;
    let id = s["job_id"].as_str().unwrap();
    for path in [
        format!("/stream/{id}/../../etc/passwd"),
        format!("/stream/{id}/..%2f..%2fetc%2fpasswd"),
        format!("/stream/{id}/%2e%2e"),
        format!("/stream/{id}/%252e%252e%252fetc"),
        format!("/stream/{id}/..%5c..%5cwindows"),
        format!("/stream/{id}/sub%2f..%2fx.vtt"),
        format!("/stream/{id}/.hidden"),
    ] {
        let (code, body) = raw_http(&gs.base, "GET", &path, "");
        assert!(code == 400 || code == 404, "{path}: {code}");
        assert!(body.contains("\"code\""), "{path}: not JSON: {body}");
        assert!(!body.contains("root:"), "{path} leaked a file");
    }
    let (code, body) = raw_http(
        &gs.base,
        "GET",
        &format!("/stream/{id}/..%2f..%2fetc%2fpasswd"),
        "",
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("invalid-path"));
    // Files of the job that are not part of the stream are not served either.
    let (code, _) = raw_http(&gs.base, "GET", &format!("/stream/{id}/v0_r1.csv"), "");
    assert_eq!(code, 404);
}

#[tokio::test]
async fn expired_tokens_are_refused_with_their_own_code() {
    let media = MediaServer::start();
    // 0.0008 h: tokens live 3 s.
    let gs = Gs::start(Opts::default().env("GHOSTSTREAM__SECURITY__TOKEN_TTL_HOURS", "0.0008"));
    let s = gs
        .start_job(json!({"source": media.url("short.mkv")}))
        .await;
    let id = s["job_id"].as_str().unwrap();
    let ct = s["control_token"].as_str().unwrap();
    let status = format!("/api/transcode/{id}/status");
    let with_token = [("X-GhostStream-Control-Token", ct)];
    assert_eq!(
        gs.req(reqwest::Method::GET, &status, None, &with_token)
            .await
            .0,
        200
    );
    assert_eq!(gs.fetch(s["stream_url"].as_str().unwrap()).await.0, 200);
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let (code, v) = gs
        .req(reqwest::Method::GET, &status, None, &with_token)
        .await;
    assert_eq!(
        (code, v["code"].as_str()),
        (403, Some("token-expired")),
        "{v}"
    );
    let r = gs
        .http
        .get(s["stream_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["code"], "token-expired");
}

#[tokio::test]
async fn traversal_in_job_ids_is_refused_on_every_route() {
    let gs = Gs::start(Opts::default());
    for id in [
        "..",
        "..%2f..%2fetc%2fpasswd",
        "%2e%2e",
        "%252e%252e%252f",
        "..%5c..%5cwindows",
        "..\\..\\windows",
    ] {
        for path in [
            format!("/api/transcode/{id}/status"),
            format!("/api/transcode/{id}/log"),
            format!("/download/{id}"),
            format!("/stream/{id}/master.m3u8"),
            format!("/transcode/{id}"),
        ] {
            let (code, body) = raw_http(&gs.base, "GET", &path, "");
            assert!(code == 400 || code == 404, "{path}: {code} {body}");
            assert!(body.contains("\"code\""), "{path}: not JSON: {body}");
        }
        let (code, body) = raw_http(&gs.base, "DELETE", &format!("/api/transcode/{id}"), "");
        assert!(code == 400 || code == 404, "{id}: {code} {body}");
    }
    assert_eq!(gs.get("/api/health").await.0, 200);
}
