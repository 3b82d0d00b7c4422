//! The tray: a pure mapping from server state to menu and icon (unit-tested), and the
//! glue that builds and refreshes the real tray from it.

use ghoststream_types::ServerState;

/// Every tray menu item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuId {
    Status,
    Open,
    Start,
    Stop,
    Pause,
    Resume,
    FreezeJobs,
    ThawJobs,
    Logs,
    StartAtLogin,
    Quit,
}

impl MenuId {
    pub const ALL: [MenuId; 11] = [
        MenuId::Status,
        MenuId::Open,
        MenuId::Start,
        MenuId::Stop,
        MenuId::Pause,
        MenuId::Resume,
        MenuId::FreezeJobs,
        MenuId::ThawJobs,
        MenuId::Logs,
        MenuId::StartAtLogin,
        MenuId::Quit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MenuId::Status => "status",
            MenuId::Open => "open",
            MenuId::Start => "start",
            MenuId::Stop => "stop",
            MenuId::Pause => "pause",
            MenuId::Resume => "resume",
            MenuId::FreezeJobs => "freeze-jobs",
            MenuId::ThawJobs => "thaw-jobs",
            MenuId::Logs => "logs",
            MenuId::StartAtLogin => "start-at-login",
            MenuId::Quit => "quit",
        }
    }

    pub fn parse(s: &str) -> Option<MenuId> {
        MenuId::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// What the tray shows.
#[derive(Debug, Clone, PartialEq)]
pub struct TrayState {
    pub server: ServerState,
    /// `ip:port` of the first LAN address.
    pub address: Option<String>,
    pub jobs: u32,
    /// Running jobs frozen now.
    pub frozen: u32,
    /// Why, when a game paused them.
    pub reason: Option<String>,
    pub start_at_login: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayIcon {
    Idle,
    Busy,
    Paused,
    Stopped,
}

impl TrayIcon {
    pub fn file(self) -> &'static str {
        match self {
            TrayIcon::Idle => "tray-idle.png",
            TrayIcon::Busy => "tray-busy.png",
            TrayIcon::Paused => "tray-paused.png",
            TrayIcon::Stopped => "tray-stopped.png",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MenuItemModel {
    pub id: MenuId,
    pub label: String,
    pub enabled: bool,
    /// `Some` for check items.
    pub checked: Option<bool>,
}

pub fn status_line(t: &TrayState) -> String {
    let mut jobs = match t.jobs {
        1 => "1 job".to_string(),
        n => format!("{n} jobs"),
    };
    if t.frozen > 0 {
        jobs.push_str(&format!(" ({} paused)", t.frozen));
    }
    if let (Some(r), ServerState::Running | ServerState::Paused) = (&t.reason, t.server) {
        return format!("{r} · {jobs}");
    }
    match t.server {
        ServerState::Running => match &t.address {
            Some(a) => format!("Running on {a} · {jobs}"),
            None => format!("Running · {jobs}"),
        },
        ServerState::Paused => format!("Paused · {jobs}"),
        ServerState::Stopped => "Stopped".to_string(),
        ServerState::Error => format!("Error: {}", t.error.as_deref().unwrap_or("unknown")),
    }
}

pub fn icon(t: &TrayState) -> TrayIcon {
    match t.server {
        ServerState::Running if t.jobs > 0 => TrayIcon::Busy,
        ServerState::Running => TrayIcon::Idle,
        ServerState::Paused => TrayIcon::Paused,
        ServerState::Stopped | ServerState::Error => TrayIcon::Stopped,
    }
}

/// The menu for a state, in order.
pub fn menu_model(t: &TrayState) -> Vec<MenuItemModel> {
    let up = matches!(t.server, ServerState::Running | ServerState::Paused);
    let item = |id, label: &str, enabled| MenuItemModel {
        id,
        label: label.to_string(),
        enabled,
        checked: None,
    };
    vec![
        MenuItemModel {
            id: MenuId::Status,
            label: status_line(t),
            enabled: false,
            checked: None,
        },
        item(MenuId::Open, "Open dashboard", true),
        item(MenuId::Start, "Start server", !up),
        item(MenuId::Stop, "Stop server", up),
        item(
            MenuId::Pause,
            "Pause new jobs",
            t.server == ServerState::Running,
        ),
        item(MenuId::Resume, "Resume", t.server == ServerState::Paused),
        item(
            MenuId::FreezeJobs,
            "Pause running jobs",
            up && t.jobs > t.frozen,
        ),
        item(MenuId::ThawJobs, "Resume paused jobs", up && t.frozen > 0),
        item(MenuId::Logs, "Open logs folder", true),
        MenuItemModel {
            id: MenuId::StartAtLogin,
            label: "Start at login".into(),
            enabled: true,
            checked: Some(t.start_at_login),
        },
        item(MenuId::Quit, "Quit", true),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(server: ServerState, jobs: u32) -> TrayState {
        TrayState {
            server,
            address: Some("192.168.4.2:8765".into()),
            jobs,
            frozen: 0,
            reason: None,
            start_at_login: true,
            error: Some("port 8765 is taken".into()),
        }
    }

    fn enabled(m: &[MenuItemModel], id: MenuId) -> bool {
        m.iter().find(|i| i.id == id).unwrap().enabled
    }

    #[test]
    fn running_state() {
        let t = state(ServerState::Running, 2);
        let m = menu_model(&t);
        assert_eq!(m[0].label, "Running on 192.168.4.2:8765 · 2 jobs");
        assert!(!m[0].enabled);
        assert!(!enabled(&m, MenuId::Start) && enabled(&m, MenuId::Stop));
        assert!(enabled(&m, MenuId::Pause) && !enabled(&m, MenuId::Resume));
        assert_eq!(icon(&t), TrayIcon::Busy);
        assert_eq!(icon(&state(ServerState::Running, 0)), TrayIcon::Idle);
        let ids: Vec<MenuId> = m.iter().map(|i| i.id).collect();
        assert_eq!(ids, MenuId::ALL);
    }

    #[test]
    fn paused_stopped_error() {
        let m = menu_model(&state(ServerState::Paused, 1));
        assert_eq!(m[0].label, "Paused · 1 job");
        assert!(
            !enabled(&m, MenuId::Pause) && enabled(&m, MenuId::Resume) && enabled(&m, MenuId::Stop)
        );
        assert_eq!(icon(&state(ServerState::Paused, 1)), TrayIcon::Paused);
        let m = menu_model(&state(ServerState::Stopped, 0));
        assert_eq!(m[0].label, "Stopped");
        assert!(
            enabled(&m, MenuId::Start) && !enabled(&m, MenuId::Stop) && !enabled(&m, MenuId::Pause)
        );
        let m = menu_model(&state(ServerState::Error, 0));
        assert_eq!(m[0].label, "Error: port 8765 is taken");
        assert!(enabled(&m, MenuId::Start));
        assert_eq!(icon(&state(ServerState::Error, 0)), TrayIcon::Stopped);
        assert_eq!(
            m.iter()
                .find(|i| i.id == MenuId::StartAtLogin)
                .unwrap()
                .checked,
            Some(true)
        );
    }

    #[test]
    fn running_jobs_can_be_frozen_and_thawed_from_the_tray() {
        let mut t = state(ServerState::Running, 2);
        let m = menu_model(&t);
        assert!(enabled(&m, MenuId::FreezeJobs) && !enabled(&m, MenuId::ThawJobs));
        t.frozen = 2;
        let m = menu_model(&t);
        assert!(!enabled(&m, MenuId::FreezeJobs) && enabled(&m, MenuId::ThawJobs));
        assert_eq!(
            m[0].label,
            "Running on 192.168.4.2:8765 · 2 jobs (2 paused)"
        );
        t.reason = Some("Paused: eldenring is running".into());
        assert_eq!(
            status_line(&t),
            "Paused: eldenring is running · 2 jobs (2 paused)"
        );
        let idle = menu_model(&state(ServerState::Running, 0));
        assert!(!enabled(&idle, MenuId::FreezeJobs) && !enabled(&idle, MenuId::ThawJobs));
    }

    #[test]
    fn ids_round_trip() {
        for id in MenuId::ALL {
            assert_eq!(MenuId::parse(id.as_str()), Some(id));
        }
        assert_eq!(MenuId::parse("nope"), None);
    }
}
