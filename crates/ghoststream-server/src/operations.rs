//! Where HTTP offers each operation of the application API ([`crate::App`]) that the
//! dashboard uses. Exported into the UI's bindings with the IPC commands, so the HTTP
//! transport is built from this table, never written by hand.

use serde::Serialize;

/// Where HTTP offers an operation of the application API.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Op {
    /// The IPC command and the UI's method.
    pub name: &'static str,
    pub method: &'static str,
    /// `{arg}` segments take the argument of that name.
    pub path: &'static str,
    /// Arguments, in the IPC command's order.
    pub args: &'static [&'static str],
    /// Arguments sent as query parameters.
    pub query: &'static [&'static str],
    /// The argument sent as the JSON body, whole.
    pub body: Option<&'static str>,
    /// The answer is plain text.
    pub text: bool,
}

const fn op(name: &'static str, method: &'static str, path: &'static str) -> Op {
    Op {
        name,
        method,
        path,
        args: &[],
        query: &[],
        body: None,
        text: false,
    }
}

/// Every operation of the dashboard, with its HTTP route. The app's IPC commands have the
/// same names and arguments (a test checks both ways), plus the ones only the app has
/// (start, stop, quit, open the logs folder).
pub const OPS: &[Op] = &[
    op("server_status", "GET", "/api/server"),
    op("pause_server", "POST", "/api/server/pause"),
    op("resume_server", "POST", "/api/server/resume"),
    Op {
        args: &["offset", "limit"],
        query: &["offset", "limit"],
        ..op("list_jobs", "GET", "/api/transcode/jobs")
    },
    Op {
        args: &["job_id"],
        ..op("job", "GET", "/api/transcode/{job_id}/status")
    },
    Op {
        args: &["request"],
        body: Some("request"),
        ..op("start_job", "POST", "/api/transcode/start")
    },
    Op {
        args: &["job_id"],
        ..op("cancel_job", "POST", "/api/transcode/{job_id}/cancel")
    },
    Op {
        args: &["job_id"],
        text: true,
        ..op("job_log", "GET", "/api/transcode/{job_id}/log")
    },
    Op {
        args: &["job_id"],
        ..op("pause_job", "POST", "/api/transcode/{job_id}/pause")
    },
    Op {
        args: &["job_id"],
        ..op("resume_job", "POST", "/api/transcode/{job_id}/resume")
    },
    Op {
        args: &["job_id"],
        ..op("retry_job", "POST", "/api/transcode/{job_id}/retry")
    },
    Op {
        args: &["job_id"],
        ..op("delete_job", "DELETE", "/api/transcode/{job_id}")
    },
    op("capabilities", "GET", "/api/capabilities"),
    op("resources", "GET", "/api/resources"),
    op("stats", "GET", "/api/stats"),
    Op {
        args: &["days"],
        query: &["days"],
        ..op("daily_stats", "GET", "/api/stats/daily")
    },
    Op {
        args: &["hours"],
        query: &["hours"],
        ..op("hourly_stats", "GET", "/api/stats/hourly")
    },
    Op {
        args: &["after", "limit"],
        query: &["after", "limit"],
        ..op("app_log", "GET", "/api/logs")
    },
    op("get_settings", "GET", "/api/settings"),
    Op {
        args: &["settings"],
        body: Some("settings"),
        ..op("save_settings", "PUT", "/api/settings")
    },
    op("pairing_info", "GET", "/api/rendezvous"),
    op("rotate_pairing_code", "POST", "/api/rendezvous/rotate"),
    Op {
        args: &["request"],
        body: Some("request"),
        ..op("set_ghosthub", "POST", "/api/pair/ghosthub")
    },
    op("announce_now", "POST", "/api/announce-now"),
    op("reachability", "GET", "/api/reachability"),
    op("ingest_status", "GET", "/api/ingest"),
    op("ingest_keys", "GET", "/api/ingest/keys"),
    Op {
        args: &["request"],
        body: Some("request"),
        ..op("create_ingest_key", "POST", "/api/ingest/keys")
    },
    Op {
        args: &["key", "request"],
        body: Some("request"),
        ..op("rename_ingest_key", "PUT", "/api/ingest/keys/{key}")
    },
    Op {
        args: &["key"],
        ..op("revoke_ingest_key", "DELETE", "/api/ingest/keys/{key}")
    },
    Op {
        args: &["key"],
        ..op("stop_live", "POST", "/api/ingest/{key}/stop")
    },
];

#[cfg(test)]
mod tests {
    use super::OPS;

    /// Every operation the UI calls over HTTP is a documented route with that method (the
    /// pairing page's own route aside), and its path arguments are its arguments.
    #[test]
    fn every_operation_is_a_route() {
        let doc = crate::routes().into_openapi();
        for op in OPS {
            for arg in op.query.iter().chain(op.body.iter()) {
                assert!(
                    op.args.contains(arg),
                    "{}: {arg} is not an argument",
                    op.name
                );
            }
            if op.path == "/api/pair/ghosthub" {
                continue;
            }
            let path = op.path.replace("{job_id}", "{id}");
            let item = doc
                .paths
                .paths
                .get(&path)
                .unwrap_or_else(|| panic!("{}: {path} is not a route", op.name));
            let method = match op.method {
                "GET" => &item.get,
                "POST" => &item.post,
                "PUT" => &item.put,
                "DELETE" => &item.delete,
                m => panic!("{}: method {m}", op.name),
            };
            assert!(
                method.is_some(),
                "{}: {} {path} is not a route",
                op.name,
                op.method
            );
        }
    }
}
