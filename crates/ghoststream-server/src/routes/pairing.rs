//! Pairing and discovery over HTTP: rendezvous info, code rotation, announce-now, the
//! reachability self-test, and the `/pair` page a phone opens after scanning the QR code.

use super::doc::Failure;
use super::json_object;
use crate::error::{field, ApiError, ApiResult};
use crate::App;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Html;
use axum::Json;
use bytes::Bytes;
use ghoststream_types::ErrorCode;
use ghoststream_types::{
    AnnounceResult, GhostHubRequest, GhostHubSaved, PairingInfo, Reachability,
};
use std::net::SocketAddr;

fn discovery(s: &App) -> ApiResult<std::sync::Arc<crate::discovery::Discovery>> {
    s.discovery()
        .ok_or(ApiError::Engine(ghoststream_engine::EngineError::Stopped))
}

#[utoipa::path(
    get,
    path = "/api/rendezvous",
    tag = "pairing",
    summary = "Pairing code, URLs and registration state",
    responses(
        (status = 200, description = "OK", body = PairingInfo),
        Failure,
    )
)]
pub async fn rendezvous(
    State(s): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Json<PairingInfo>> {
    let mut info = s.pairing_info()?;
    // The code pairs a GhostHub without the owner: only the owner's dashboard sees it.
    if crate::auth::local_owner(&s, peer, &headers).is_err() {
        info.code = String::new();
        info.pair_url = info
            .pair_url
            .split_once('?')
            .map(|(u, _)| u.to_string())
            .unwrap_or(info.pair_url);
    }
    Ok(Json(info))
}

#[utoipa::path(
    post,
    path = "/api/rendezvous/rotate",
    tag = "pairing",
    summary = "A new pairing code",
    responses(
        (status = 200, description = "OK", body = PairingInfo),
        Failure,
    )
)]
pub async fn rotate(
    State(s): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Json<PairingInfo>> {
    crate::auth::local_owner(&s, peer, &headers)?;
    s.rotate_pairing_code().map(Json)
}

#[utoipa::path(
    post,
    path = "/api/announce-now",
    tag = "pairing",
    summary = "Announce over mDNS, UDP and to GhostHub now",
    responses(
        (status = 200, description = "OK", body = AnnounceResult),
        Failure,
    )
)]
pub async fn announce_now(
    State(s): State<App>,
    headers: HeaderMap,
) -> ApiResult<Json<AnnounceResult>> {
    crate::auth::same_origin(&s, &headers)?;
    s.announce_now().await.map(Json)
}

#[utoipa::path(
    get,
    path = "/api/reachability",
    tag = "pairing",
    summary = "Whether other machines can reach this server",
    responses(
        (status = 200, description = "OK", body = Reachability),
        Failure,
    )
)]
pub async fn reachability(State(s): State<App>) -> ApiResult<Json<Reachability>> {
    s.reachability().await.map(Json)
}

/// Stores the GhostHub URL and registers at once. Needs the pairing code (from the QR
/// code), except from the owner's own dashboard; wrong codes are rate-limited. The URL is
/// vetted like a source. Only the owner learns how the hub answered: to anyone else the
/// answer would tell an open port from a closed one.
pub async fn pair_ghosthub(
    State(s): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Json<GhostHubSaved>> {
    let d = discovery(&s)?;
    let owner = crate::auth::local_owner(&s, peer, &headers).is_ok();
    if !owner {
        // The /pair page is ours: a page elsewhere cannot pair even with the code.
        crate::auth::same_origin(&s, &headers)?;
    }
    let req: GhostHubRequest = json_object(body, 16 * 1024, true)?.ok_or_else(|| {
        ApiError::Invalid(vec![field(
            &["body"],
            "ghosthub_url is required",
            "missing",
        )])
    })?;
    if !owner {
        if !d.may_try_code() {
            return Err(ApiError::RateLimited {
                code: ErrorCode::TooManyAttempts,
                detail: "too many wrong pairing codes; wait a minute and scan the QR code again"
                    .into(),
            });
        }
        if !d.code_matches(req.code.as_deref().unwrap_or("")) {
            d.code_failed();
            return Err(ApiError::Forbidden {
                code: ErrorCode::PairingCodeInvalid,
                detail: "the pairing code is missing or wrong; scan the QR code again".into(),
            });
        }
    }
    let mut saved = s.set_ghosthub(req.ghosthub_url).await?;
    if !owner {
        saved.ok = true;
        saved.registration = None;
    }
    Ok(Json(saved))
}

#[utoipa::path(
    get,
    path = "/api/pair/info",
    tag = "pairing",
    summary = "What the pairing page shows before the code",
    responses(
        (status = 200, description = "Label and GhostHub URL", body = Object),
        Failure,
    )
)]
pub async fn pair_info(State(s): State<App>) -> ApiResult<Json<serde_json::Value>> {
    let d = discovery(&s)?;
    let info = d.info();
    Ok(Json(
        serde_json::json!({"label": info.label, "ghosthub_url": info.ghosthub_url}),
    ))
}

/// What a phone opens after scanning: name, status, hardware, and "Add to GhostHub".
pub async fn pair_page() -> Html<&'static str> {
    Html(PAIR_PAGE)
}

const PAIR_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pair GhostStream</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#0f1117;color:#e6e8ee}
main{max-width:460px;margin:0 auto;padding:20px}
h1{font-size:22px;margin:0 0 4px}.muted{color:#8a8f98}
.card{background:#171a23;border:1px solid #262b38;border-radius:12px;padding:16px;margin:14px 0}
input{width:100%;box-sizing:border-box;padding:10px;border-radius:8px;border:1px solid #262b38;background:#0b0d12;color:#e6e8ee;font:inherit}
button{margin-top:10px;width:100%;padding:11px;border:0;border-radius:8px;background:#6d4aff;color:#fff;font:inherit;font-weight:600}
#result.ok{color:#86efac}#result.err{color:#fca5a5}
</style></head>
<body><main>
<h1 id="name">GhostStream</h1>
<p class="muted" id="status">Checking…</p>
<div class="card"><b>Hardware</b><div id="hw" class="muted">…</div></div>
<form class="card" id="form">
<label for="hub"><b>Add to GhostHub</b></label>
<p class="muted">GhostHub's address, as you open it in a browser.</p>
<input id="hub" name="ghosthub_url" type="url" placeholder="http://192.168.1.10:5000" required>
<button type="submit">Add to GhostHub</button>
<p id="result"></p>
</form>
</main>
<script>
const code = new URLSearchParams(location.search).get("code") || "";
fetch("api/health").then(r => r.json()).then(h => {
  document.getElementById("status").textContent = `Online · version ${h.version} · ${h.current_jobs} running, ${h.queued_jobs} queued`;
  document.getElementById("hw").textContent = (h.hw_accels || []).join(", ") || "software";
}).catch(() => { document.getElementById("status").textContent = "Not reachable"; });
fetch("api/pair/info").then(r => r.ok ? r.json() : null).then(p => {
  if (!p) return;
  document.getElementById("name").textContent = p.label;
  if (p.ghosthub_url) document.getElementById("hub").value = p.ghosthub_url;
}).catch(() => {});
document.getElementById("form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const out = document.getElementById("result");
  out.className = ""; out.textContent = "Registering…";
  const r = await fetch("api/pair/ghosthub", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ ghosthub_url: document.getElementById("hub").value, code }) });
  const v = await r.json().catch(() => ({}));
  if (!r.ok) { out.className = "err"; out.textContent = Array.isArray(v.detail) ? v.detail.map(d => d.msg).join("; ") : (v.detail || `HTTP ${r.status}`); return; }
  const reg = v.registration;
  out.className = reg && reg.ok ? "ok" : "err";
  out.textContent = reg ? (reg.ok ? `Added: GhostHub answered ${reg.detail}.` : `Saved, but GhostHub did not accept it yet (${reg.detail}); GhostStream keeps trying.`) : "Saved. GhostStream registers with GhostHub now and every minute; the dashboard on the PC shows the result.";
});
</script></body></html>"#;
