//! The dashboard window in a process of its own, so the app rests light.
//!
//! The app's process holds the server and the tray, and never a webview. "Open" starts
//! this same program again as the window process (told where by [`BRIDGE_ENV`]): it
//! shows the dashboard, passes every command the page invokes to the app over a private
//! loopback connection (one JSON object per line), and emits the app's events to the
//! page. When the window closes the process ends, and with it WebKit, its web and network
//! processes, the GL driver and every page they touched: nothing of the window stays in
//! the app. A closed connection ends the window process, so it never outlives the app.
//!
//! Who may connect: the window process proves itself with the token the app gave it in
//! its environment (a new random one per app run); anything else on the machine that
//! connects is dropped without an answer.

use ghoststream_types::{ErrorBody, ErrorCode};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tauri::{AppHandle, Emitter, Listener, Manager};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Set only in the window process's environment: `ADDRESS TOKEN` of the app's bridge.
pub const BRIDGE_ENV: &str = "GHOSTSTREAM_WINDOW_BRIDGE";

/// The longest line either side accepts (a settings object is a few KB; a job list page
/// stays well under this).
const MAX_LINE: usize = 8 << 20;

/// From the window process to the app.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ToApp {
    /// First line: who is calling.
    Hello { token: String },
    /// A command the page invoked, with its arguments as the page sent them.
    Call { id: u64, cmd: String, args: Value },
    /// The user closed the window: the app decides whether it closes or minimises.
    CloseRequested,
}

/// From the app to the window process.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ToWindow {
    /// The answer to `Call` `id`: the command's value, or its `{detail, code}` error.
    Reply {
        id: u64,
        #[serde(default)]
        ok: Option<Box<RawValue>>,
        #[serde(default)]
        err: Option<ErrorBody>,
    },
    /// One of the app's typed events, as the page listens for it.
    Event {
        name: String,
        payload: Box<RawValue>,
    },
    /// Show and focus the window (Open again, a second launch).
    Show,
    /// Close for good: the tray keeps the app.
    Close,
    /// Minimise instead: there is no tray to come back from.
    Minimise,
}

/// The events the page listens for, forwarded as the app emits them.
fn event_names() -> [&'static str; 4] {
    use crate::events::*;
    use tauri_specta::Event as E;
    [
        <JobUpdate as E>::NAME,
        <ServerChanged as E>::NAME,
        <ExitAsked as E>::NAME,
        <NoticeMissed as E>::NAME,
    ]
}

enum State {
    /// No window.
    Closed,
    /// Started (this pid), not yet connected.
    Starting(u32),
    /// Connected: lines for it go down this channel.
    Open(u64, tokio::sync::mpsc::UnboundedSender<String>),
}

/// The app's side: the listener, the window process and what goes to it.
pub struct WindowHost {
    address: std::net::SocketAddr,
    token: String,
    state: Mutex<State>,
    /// Numbers connections, so an old one ending does not close a newer one.
    next_connection: AtomicU64,
    /// Connections that have not yet proven themselves.
    unproven: AtomicUsize,
}

/// How many connections may be proving themselves at once.
const UNPROVEN: usize = 4;

impl WindowHost {
    /// Listens on a loopback port of its own and forwards the app's events; called once
    /// from the app's setup.
    pub fn start(app: &AppHandle) -> std::io::Result<Arc<WindowHost>> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let host = Arc::new(WindowHost {
            address: listener.local_addr()?,
            token: uuid::Uuid::new_v4().simple().to_string(),
            state: Mutex::new(State::Closed),
            next_connection: 1.into(),
            unproven: 0.into(),
        });
        for name in event_names() {
            let h = host.clone();
            app.listen_any(name, move |e| {
                if let Ok(payload) = RawValue::from_string(e.payload().to_string()) {
                    h.send(&ToWindow::Event {
                        name: name.to_string(),
                        payload,
                    });
                }
            });
        }
        let (h, app) = (host.clone(), app.clone());
        tauri::async_runtime::spawn(async move {
            let listener = match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, "the window bridge cannot listen");
                    return;
                }
            };
            loop {
                if let Ok((stream, _)) = listener.accept().await {
                    // At most UNPROVEN connections wait to prove themselves; more are
                    // closed at once, so nothing on the machine can make the app hold
                    // more than a few.
                    let waiting = h.unproven.fetch_add(1, Ordering::AcqRel);
                    if waiting >= UNPROVEN {
                        h.unproven.fetch_sub(1, Ordering::AcqRel);
                        continue;
                    }
                    let (h, app) = (h.clone(), app.clone());
                    tokio::spawn(async move { h.serve(app, stream).await });
                }
            }
        });
        Ok(host)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send(&self, message: &ToWindow) {
        if let State::Open(_, tx) = &*self.lock() {
            if let Ok(line) = serde_json::to_string(message) {
                let _ = tx.send(line);
            }
        }
    }

    /// Shows the dashboard: the open window comes forward, or a window process starts.
    pub fn show(self: &Arc<Self>) {
        let mut state = self.lock();
        match &*state {
            State::Open(..) => {
                drop(state);
                self.send(&ToWindow::Show);
            }
            State::Starting(_) => {}
            State::Closed => match self.spawn() {
                Ok(mut child) => {
                    let pid = child.id();
                    *state = State::Starting(pid);
                    drop(state);
                    // Reaped when it ends, so no zombie is left; one that ended before it
                    // connected can be started again. WebKit's pages it shared with this
                    // process are this process's alone again then, and can be dropped.
                    let me = self.clone();
                    std::thread::spawn(move || {
                        let _ = child.wait();
                        {
                            let mut state = me.lock();
                            if matches!(*state, State::Starting(p) if p == pid) {
                                *state = State::Closed;
                            }
                        }
                        crate::rest::shed_window_libraries();
                    });
                }
                Err(e) => tracing::error!(error = %e, "the dashboard window could not be started"),
            },
        }
    }

    fn spawn(&self) -> std::io::Result<std::process::Child> {
        std::process::Command::new(std::env::current_exe()?)
            .env(BRIDGE_ENV, format!("{} {}", self.address, self.token))
            .stdin(std::process::Stdio::null())
            .spawn()
    }

    /// One connection: a window process proves itself, then calls commands until it ends.
    async fn serve(self: Arc<Self>, app: AppHandle, stream: tokio::net::TcpStream) {
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        let ok = proven(&mut read, &self.token).await;
        self.unproven.fetch_sub(1, Ordering::AcqRel);
        if !ok {
            tracing::warn!("a connection to the window bridge did not prove itself; dropped");
            return;
        }
        let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        *self.lock() = State::Open(id, tx.clone());
        let writer = tokio::spawn(async move {
            while let Some(mut line) = rx.recv().await {
                line.push('\n');
                if write.write_all(line.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
        while let Ok(Some(line)) = next_line(&mut read, MAX_LINE).await {
            match serde_json::from_str::<ToApp>(&line) {
                Ok(ToApp::Call { id, cmd, args }) => {
                    let (app, tx) = (app.clone(), tx.clone());
                    tokio::spawn(async move {
                        let reply = match crate::commands::dispatch(&app, &cmd, args).await {
                            Ok(v) => ToWindow::Reply {
                                id,
                                ok: RawValue::from_string(v.to_string()).ok(),
                                err: None,
                            },
                            Err(e) => ToWindow::Reply {
                                id,
                                ok: None,
                                err: Some(e),
                            },
                        };
                        if let Ok(line) = serde_json::to_string(&reply) {
                            let _ = tx.send(line);
                        }
                    });
                }
                Ok(ToApp::CloseRequested) => {
                    let answer = if app.tray_by_id("main").is_some() && crate::tray_host() {
                        tracing::info!("window closed; GhostStream keeps serving from the tray");
                        ToWindow::Close
                    } else {
                        tracing::info!(
                            "no tray host to return from: the window is minimised instead of closed"
                        );
                        ToWindow::Minimise
                    };
                    if let Ok(line) = serde_json::to_string(&answer) {
                        let _ = tx.send(line);
                    }
                }
                Ok(ToApp::Hello { .. }) | Err(_) => {
                    tracing::warn!("the window sent a line the app does not understand");
                }
            }
        }
        writer.abort();
        let mut state = self.lock();
        if matches!(&*state, State::Open(open, _) if *open == id) {
            *state = State::Closed;
        }
    }
}

/// Whether the first line, within 10 s and 1 KB, is a hello with `token`.
async fn proven(read: &mut (impl tokio::io::AsyncBufRead + Unpin), token: &str) -> bool {
    let hello = tokio::time::timeout(Duration::from_secs(10), next_line(read, 1024));
    match hello.await {
        Ok(Ok(Some(line))) => matches!(
            serde_json::from_str::<ToApp>(&line),
            Ok(ToApp::Hello { token: t }) if same(&t, token)
        ),
        _ => false,
    }
}

/// One line of at most `max` bytes (without its newline); `None` at the end. A longer
/// line is an error, so nothing that connects can make the app hold more.
async fn next_line(
    r: &mut (impl tokio::io::AsyncBufRead + Unpin),
    max: usize,
) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(None);
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        line.extend_from_slice(&chunk[..take]);
        r.consume(take + usize::from(done));
        if line.len() > max {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "line too long",
            ));
        }
        if done {
            return String::from_utf8(line)
                .map(Some)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e));
        }
    }
}

/// Compares tokens in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// The window process: the dashboard, with commands and events through the app's
/// bridge at `bridge` (`ADDRESS TOKEN`). Returns when the window has closed or the app
/// is gone.
pub fn run_window(bridge: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("ghoststream_tray=info,warn")
        .with_writer(std::io::stderr)
        .try_init();
    let Some((address, token)) = bridge.split_once(' ') else {
        eprintln!("{BRIDGE_ENV} is not `ADDRESS TOKEN`");
        std::process::exit(2);
    };
    let stream = match address
        .parse()
        .map_err(|e: std::net::AddrParseError| e.to_string())
        .and_then(|a| {
            std::net::TcpStream::connect_timeout(&a, Duration::from_secs(5))
                .map_err(|e| e.to_string())
        }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("the window cannot reach GhostStream at {address}: {e}");
            std::process::exit(1);
        }
    };
    let reader = match stream.try_clone() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("the window's connection failed: {e}");
            std::process::exit(1);
        }
    };
    // Lines to the app go through one writer thread, so the UI thread never waits on it.
    let (tx, rx) = std::sync::mpsc::channel::<ToApp>();
    std::thread::spawn(move || {
        use std::io::Write;
        let mut stream = std::io::BufWriter::new(stream);
        while let Ok(m) = rx.recv() {
            let Ok(mut line) = serde_json::to_string(&m) else {
                continue;
            };
            line.push('\n');
            if stream.write_all(line.as_bytes()).is_err() || stream.flush().is_err() {
                break;
            }
        }
    });
    let _ = tx.send(ToApp::Hello {
        token: token.to_string(),
    });
    type Pending = std::collections::HashMap<u64, tauri::ipc::InvokeResolver<tauri::Wry>>;
    let pending: Arc<Mutex<Pending>> = Default::default();
    let next = Arc::new(AtomicU64::new(1));
    let (p, calls) = (pending.clone(), tx.clone());
    let app = tauri::Builder::default()
        .invoke_handler(move |invoke| {
            let id = next.fetch_add(1, Ordering::Relaxed);
            let cmd = invoke.message.command().to_string();
            let args = match invoke.message.payload() {
                tauri::ipc::InvokeBody::Json(v) => v.clone(),
                tauri::ipc::InvokeBody::Raw(_) => Value::Null,
            };
            p.lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, invoke.resolver);
            if calls.send(ToApp::Call { id, cmd, args }).is_err() {
                if let Some(r) = p.lock().unwrap_or_else(|e| e.into_inner()).remove(&id) {
                    r.reject(gone());
                }
            }
            true
        })
        .setup(move |app| {
            let w = crate::create_window(app.handle())?;
            let closing = tx.clone();
            w.on_window_event(move |e| {
                if let tauri::WindowEvent::CloseRequested { api, .. } = e {
                    api.prevent_close();
                    let _ = closing.send(ToApp::CloseRequested);
                }
            });
            let _ = w.show();
            let _ = w.set_focus();
            let handle = app.handle().clone();
            std::thread::spawn(move || listen(reader, handle, pending));
            Ok(())
        })
        .build(crate::context());
    match app {
        Ok(app) => app.run(|_, _| {}),
        Err(e) => {
            eprintln!("the dashboard window could not open: {e}");
            std::process::exit(1);
        }
    }
}

/// What a command gets when the app cannot answer it.
fn gone() -> ErrorBody {
    ErrorBody::new(
        ErrorCode::ServerStopped,
        "GhostStream is not running: its window lost the app",
    )
}

/// Reads the app's lines in the window process until the connection ends, then ends
/// the window: without the app it could do nothing.
fn listen(
    stream: std::net::TcpStream,
    app: AppHandle,
    pending: Arc<Mutex<std::collections::HashMap<u64, tauri::ipc::InvokeResolver<tauri::Wry>>>>,
) {
    use std::io::BufRead;
    for line in std::io::BufReader::new(stream).lines() {
        let Ok(line) = line else { break };
        let Ok(message) = serde_json::from_str::<ToWindow>(&line) else {
            tracing::warn!("the app sent a line the window does not understand");
            continue;
        };
        match message {
            ToWindow::Reply { id, ok, err } => {
                let resolver = pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
                if let Some(r) = resolver {
                    match (ok, err) {
                        (_, Some(e)) => r.reject(e),
                        (Some(v), None) => r.resolve(v),
                        (None, None) => r.resolve(Value::Null),
                    }
                }
            }
            ToWindow::Event { name, payload } => {
                let _ = app.emit(&name, payload);
            }
            ToWindow::Show | ToWindow::Close | ToWindow::Minimise => {
                let a = app.clone();
                let _ = app.run_on_main_thread(move || {
                    if let Some(w) = a.get_webview_window(crate::MAIN) {
                        match message {
                            ToWindow::Show => {
                                let _ = w.show();
                                let _ = w.unminimize();
                                let _ = w.set_focus();
                            }
                            ToWindow::Close => {
                                let _ = w.destroy();
                            }
                            _ => {
                                let _ = w.minimize();
                            }
                        }
                    }
                });
            }
        }
    }
    for (_, r) in pending.lock().unwrap_or_else(|e| e.into_inner()).drain() {
        r.reject(gone());
    }
    app.exit(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines both sides write read back as what was sent; a reply's value passes
    /// through unparsed (which is why the enums are tagged by their outer key: serde reads
    /// a raw value only where it need not buffer the object first).
    #[test]
    fn messages_round_trip_as_one_line_each() {
        let call = ToApp::Call {
            id: 7,
            cmd: "list_jobs".into(),
            args: serde_json::json!({"offset": 0, "limit": 50}),
        };
        let line = serde_json::to_string(&call).unwrap();
        assert!(!line.contains('\n'));
        assert!(matches!(
            serde_json::from_str::<ToApp>(&line).unwrap(),
            ToApp::Call { id: 7, ref cmd, .. } if cmd == "list_jobs"
        ));
        let reply = ToWindow::Reply {
            id: 7,
            ok: Some(RawValue::from_string(r#"{"jobs":[],"total":0}"#.into()).unwrap()),
            err: None,
        };
        let line = serde_json::to_string(&reply).unwrap();
        assert_eq!(
            line,
            r#"{"reply":{"id":7,"ok":{"jobs":[],"total":0},"err":null}}"#
        );
        let err = serde_json::to_string(&ToWindow::Reply {
            id: 8,
            ok: None,
            err: Some(ErrorBody::new(
                ErrorCode::ServerStopped,
                "the server is stopped",
            )),
        })
        .unwrap();
        let event = r#"{"event":{"name":"job-update","payload":{"type":"progress"}}}"#;
        match serde_json::from_str::<ToWindow>(event).unwrap() {
            ToWindow::Event { name, payload } => {
                assert_eq!(
                    (name.as_str(), payload.get()),
                    ("job-update", r#"{"type":"progress"}"#)
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(serde_json::to_string(&ToWindow::Show).unwrap(), r#""show""#);
        match serde_json::from_str::<ToWindow>(&err).unwrap() {
            ToWindow::Reply {
                id: 8,
                ok: None,
                err: Some(e),
            } => {
                assert_eq!(e.code, ErrorCode::ServerStopped)
            }
            other => panic!("{other:?}"),
        }
    }

    /// Only the first line with the app's token opens the bridge: not another token, not
    /// another message, not a line too long to be a hello (nothing is held for it), not
    /// silence.
    #[tokio::test(start_paused = true)]
    async fn only_the_token_opens_the_bridge() {
        async fn first_line(bytes: Vec<u8>) -> bool {
            let (mut client, server) = tokio::io::duplex(64 << 10);
            tokio::spawn(async move {
                let _ = client.write_all(&bytes).await;
                // Held open, as a client that says nothing more would.
                tokio::time::sleep(Duration::from_secs(60)).await;
                drop(client);
            });
            proven(&mut BufReader::new(server), "0123abcd").await
        }
        let hello = |t: &str| format!("{{\"hello\":{{\"token\":\"{t}\"}}}}\n").into_bytes();
        assert!(first_line(hello("0123abcd")).await);
        assert!(!first_line(hello("0123abce")).await);
        assert!(!first_line(hello("")).await);
        assert!(!first_line(b"\"close_requested\"\n".to_vec()).await);
        assert!(!first_line(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_vec()).await);
        assert!(!first_line(vec![b'x'; 4096]).await);
        assert!(!first_line(Vec::new()).await);
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
        assert!(!same("", "a"));
    }
}
