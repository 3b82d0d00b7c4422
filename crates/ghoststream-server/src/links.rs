//! Where a job is served over HTTP: its stream and download URLs. The engine knows ids,
//! tokens and file names; this module alone knows the URL layout.

use ghoststream_engine::Snapshot;
use ghoststream_types::{JobResponse, JobStatus, Mode};
use uuid::Uuid;

/// `<base>/stream/<id>/master.m3u8?gst=<token>`.
pub fn stream_url(base: &str, id: Uuid, stream_token: &str) -> String {
    format!("{base}/stream/{id}/master.m3u8?gst={stream_token}")
}

/// `<base>/download/<id>?gst=<token>`.
pub fn download_url(base: &str, id: Uuid, stream_token: &str) -> String {
    format!("{base}/download/{id}?gst={stream_token}")
}

/// A job's whole answer, URLs included; `base` is `http://host:port` as the client reached
/// us. A stream's URL is there from the first answer; a download's once it is ready.
pub fn answer(snap: &Snapshot, base: &str) -> JobResponse {
    let rec = &snap.record;
    let mut r = snap.to_response();
    if rec.mode.is_hls() {
        r.stream_url = Some(stream_url(base, rec.id, &rec.stream_token));
    }
    if rec.mode == Mode::Batch && rec.status == JobStatus::Ready && !rec.files_removed {
        r.download_url = Some(download_url(base, rec.id, &rec.stream_token));
    }
    r
}
