//! Batch mode: containers and codecs, downloads with Range, callbacks.

use super::support::*;
use serde_json::json;
use std::time::Duration;

const MIN: Duration = Duration::from_secs(60);

#[tokio::test]
async fn batch_outputs_are_playable_with_the_asked_codec_and_size() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    let cases = [
        (
            json!({"format": "mp4", "video_codec": "h265", "resolution": "480p"}),
            ".mp4",
            "hevc",
            "aac",
        ),
        (json!({"format": "webm"}), ".webm", "vp9", "opus"),
        (
            json!({"format": "mkv", "video_codec": "av1", "audio_codec": "flac"}),
            ".mkv",
            "av1",
            "flac",
        ),
        (json!({}), ".mp4", "h264", "aac"),
    ];
    let mut jobs = Vec::new();
    for (output, ..) in &cases {
        let src = if output.get("video_codec").is_some_and(|c| c == "h265") {
            "abr.mkv"
        } else {
            "short.mkv"
        };
        jobs.push(
            gs.start_job(json!({"source": media.url(src), "mode": "batch", "output": output}))
                .await,
        );
    }
    for (job, (_, ext, vcodec, acodec)) in jobs.iter().zip(cases.iter()) {
        assert!(job["stream_url"].is_null());
        let done = gs.wait_for(job, &["ready", "error"], MIN).await;
        assert_eq!(done["status"], "ready", "{done}");
        let url = done["download_url"].as_str().unwrap();
        assert!(url.contains("/download/") && url.contains("?gst="));
        let r = gs.http.get(url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(ext));
        let bytes = r.bytes().await.unwrap();
        let p = probe_bytes(&bytes, ext);
        assert_eq!(
            stream_of(&p, "video").unwrap()["codec_name"],
            *vcodec,
            "{done}"
        );
        assert_eq!(stream_of(&p, "audio").unwrap()["codec_name"], *acodec);
        if *vcodec == "hevc" {
            // 640x480 asked for 480p: no upscale, same size.
            assert_eq!(stream_of(&p, "video").unwrap()["height"], 480);
        }
    }
}

#[tokio::test]
async fn download_supports_range_and_refuses_early_requests() {
    let media = MediaServer::start();
    let gs = Gs::start(Opts::default());
    // A slow source keeps the job running long enough to ask too early.
    let slow = gs
        .start_job(
            json!({"source": format!("{}?rate=60000", media.url("short.mkv")), "mode": "batch"}),
        )
        .await;
    let id = slow["job_id"].as_str().unwrap();
    let token = slow["control_token"].as_str().unwrap();
    let (code, v) = gs
        .req(
            reqwest::Method::GET,
            &format!("/download/{id}"),
            None,
            &[("X-GhostStream-Control-Token", token)],
        )
        .await;
    assert_eq!(
        (code, v["code"].as_str()),
        (400, Some("job-not-ready")),
        "{v}"
    );
    let callback = format!("{}/hook", media.base);
    let job = gs
        .start_job(
            json!({"source": media.url("short.mkv"), "mode": "batch", "callback_url": callback}),
        )
        .await;
    let done = gs.wait_for(&job, &["ready"], MIN).await;
    let url = done["download_url"].as_str().unwrap();
    let full = gs
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let r = gs
        .http
        .get(url)
        .header("Range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 10-19/{}", full.len())
    );
    assert_eq!(r.bytes().await.unwrap(), full.slice(10..20));
    let r = gs
        .http
        .get(url)
        .header("Range", format!("bytes={}-", full.len() + 5))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["code"], "range-not-satisfiable");
    // The callback was POSTed with the finished job.
    assert!(eventually(Duration::from_secs(10), || !media.posts().is_empty()).await);
    let (path, body) = media.posts()[0].clone();
    assert_eq!(path, "/hook");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["job_id"], job["job_id"]);
    assert_eq!(body["status"], "ready");
    assert!(body["download_url"].is_string());
    let (_, stats) = gs.get("/api/stats").await;
    assert!(stats["total_bytes_processed"].as_u64().unwrap() > 0);
    assert!(stats["average_transcode_speed"].as_f64().unwrap() > 0.0);
}
