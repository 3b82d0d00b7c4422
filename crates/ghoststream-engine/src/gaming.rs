//! Game-aware pausing: every `gaming.poll_seconds` the process list is read for a name
//! from `gaming.games`. While one runs, `gaming.when_playing` applies: batch jobs freeze
//! and streams go on at idle priority, or every job freezes. When the game has been gone
//! for `gaming.resume_delay_seconds`, the jobs frozen for it thaw and streams get their
//! priority back. The reason ("Paused: eldenring is running") is on each job, on
//! `/api/server`, and in a notice for the desktop.
//!
//! Another program holding NVENC sessions (NVML's encoder sessions whose process is not
//! this server or one it started: OBS, a game's recorder) counts the same as a game.
//!
//! Not built yet (issue 15): Windows' full-screen exclusive check.

use crate::engine::WeakEngine;
use ghoststream_types::{Notice, Priority, WhenPlaying};
use std::collections::HashSet;
use std::time::Duration;

/// What a process list says: the first game found, if any.
pub fn find_game(
    games: &[String],
    processes: impl IntoIterator<Item = ProcessNames>,
) -> Option<String> {
    let wanted: Vec<String> = games.iter().map(|g| normalize(g)).collect();
    processes
        .into_iter()
        .find_map(|p| p.matches(&wanted).then(|| p.shown()))
}

/// The names a process goes by: its kernel name (15 characters on Linux), and the file
/// names of its executable and of its first argument (Wine/Proton games show as
/// `Game.exe` there).
#[derive(Debug, Clone, Default)]
pub struct ProcessNames {
    pub pid: u32,
    pub name: String,
    pub exe: Option<String>,
    pub arg0: Option<String>,
}

impl ProcessNames {
    fn candidates(&self) -> impl Iterator<Item = String> + '_ {
        std::iter::once(&self.name)
            .chain(self.exe.iter())
            .chain(self.arg0.iter())
            .map(|n| normalize(base_name(n)))
    }

    fn matches(&self, wanted: &[String]) -> bool {
        let kernel = normalize(&self.name);
        self.candidates().any(|c| wanted.contains(&c))
            // A kernel name cut at 15 characters still names a longer game.
            || (self.name.len() == 15 && wanted.iter().any(|w| w.starts_with(&kernel)))
    }

    fn shown(&self) -> String {
        self.arg0
            .as_deref()
            .or(self.exe.as_deref())
            .map(base_name)
            .unwrap_or(&self.name)
            .to_string()
    }
}

fn base_name(s: &str) -> &str {
    s.rsplit(['/', '\\']).next().unwrap_or(s)
}

/// Case-insensitive, without `.exe`.
fn normalize(s: &str) -> String {
    let l = s.trim().to_lowercase();
    l.strip_suffix(".exe").map(str::to_string).unwrap_or(l)
}

/// Why jobs should wait, from the process list and NVML's encoder sessions: a game from
/// `games`, or a program that is not ours (`ours`) encoding on NVENC.
pub fn reason(
    games: &[String],
    processes: &[ProcessNames],
    nvenc_pids: &[u32],
    ours: &HashSet<u32>,
) -> Option<String> {
    if let Some(game) = find_game(games, processes.iter().cloned()) {
        return Some(format!("Paused: {game} is running"));
    }
    let pid = nvenc_pids.iter().find(|p| !ours.contains(p))?;
    let name = processes
        .iter()
        .find(|p| p.pid == *pid)
        .map(|p| p.shown())
        .unwrap_or_else(|| format!("process {pid}"));
    Some(format!("Paused: {name} is using the GPU encoder"))
}

/// The process list of this machine, without this server and what it started (returned
/// apart: NVML's sessions are judged against it).
fn processes(sys: &mut sysinfo::System) -> (Vec<ProcessNames>, HashSet<u32>) {
    use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, UpdateKind};
    sys.refresh_processes_specifics(
        ProcessesToUpdate::All,
        true,
        ProcessRefreshKind::nothing()
            .without_tasks()
            .with_exe(UpdateKind::OnlyIfNotSet)
            .with_cmd(UpdateKind::OnlyIfNotSet),
    );
    let me = sysinfo::Pid::from_u32(std::process::id());
    // This server, what it started, and what those started (ffmpeg's own helpers).
    let mut ours: HashSet<sysinfo::Pid> = HashSet::from([me]);
    loop {
        let more: Vec<sysinfo::Pid> = sys
            .processes()
            .iter()
            .filter(|(pid, p)| !ours.contains(pid) && p.parent().is_some_and(|q| ours.contains(&q)))
            .map(|(pid, _)| *pid)
            .collect();
        if more.is_empty() {
            break;
        }
        ours.extend(more);
    }
    let list = sys
        .processes()
        .iter()
        .filter(|(pid, _)| !ours.contains(pid))
        .map(|(pid, p)| ProcessNames {
            pid: pid.as_u32(),
            name: p.name().to_string_lossy().into_owned(),
            exe: p.exe().map(|e| e.to_string_lossy().into_owned()),
            arg0: p.cmd().first().map(|a| a.to_string_lossy().into_owned()),
        })
        .collect();
    (list, ours.into_iter().map(|p| p.as_u32()).collect())
}

/// Watches for games until the engine is gone.
pub(crate) fn spawn(engine: WeakEngine, poll: Duration) {
    tokio::spawn(async move {
        // Made at the first look, not before: a server stopped within its first poll
        // never opens the process list.
        let mut sys: Option<sysinfo::System> = None;
        let mut playing: Option<(String, String)> = None; // (game, reason)
        let mut gone_since: Option<tokio::time::Instant> = None;
        let Some(stopping) = engine.upgrade().map(|e| e.stopping()) else {
            return;
        };
        let poll = poll.max(Duration::from_millis(200));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + poll, poll);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopping.cancelled() => break,
            }
            // The engine is held only while acting, never while the list is read, so a
            // stopped server's engine is freed at once.
            let live = match engine.upgrade() {
                Some(e) if !e.is_stopping() => e.live(),
                _ => break,
            };
            let found = if live.when_playing == WhenPlaying::Nothing {
                None
            } else {
                let mut taken = sys.take();
                let read = tokio::task::spawn_blocking(move || {
                    if taken.is_none() {
                        taken = sysinfo::System::new().ok();
                    }
                    let (list, ours) = match taken.as_mut() {
                        Some(sys) => processes(sys),
                        None => Default::default(),
                    };
                    let nvenc = ghoststream_media::hw::nvenc_session_pids();
                    (taken, list, ours, nvenc)
                });
                let Ok((back, list, ours, nvenc)) = read.await else {
                    break;
                };
                sys = back;
                reason(&live.games, &list, &nvenc, &ours)
            };
            let Some(e) = engine.upgrade() else { break };
            match (&playing, found) {
                (_, Some(reason)) => {
                    gone_since = None;
                    let game = reason
                        .trim_start_matches("Paused: ")
                        .split(" is ")
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    if playing.as_ref().map(|(_, r)| r) != Some(&reason) {
                        tracing::info!(game = %game, "a game started: {:?}", live.when_playing);
                        e.set_game(Some(reason.clone()));
                        let _ = e.notify(Notice::Gaming {
                            game: Some(game.clone()),
                        });
                        playing = Some((game, reason.clone()));
                    }
                    // Each poll, so jobs that started meanwhile follow too.
                    let batch_only = live.when_playing == WhenPlaying::FreezeBatch;
                    let _ = e.freeze_running(batch_only, reason).await;
                    if batch_only {
                        let _ = e.set_stream_priority(Some(Priority::Idle)).await;
                    }
                }
                (Some((game, reason)), None) => {
                    let since = *gone_since.get_or_insert_with(tokio::time::Instant::now);
                    let delay = Duration::from_secs(u64::from(live.resume_delay_seconds));
                    if since.elapsed() >= delay {
                        tracing::info!(game = %game, "the game exited: jobs resume");
                        let _ = e.thaw_frozen(Some(reason.clone())).await;
                        let _ = e.set_stream_priority(None).await;
                        e.set_game(None);
                        let _ = e.notify(Notice::Gaming { game: None });
                        playing = None;
                        gone_since = None;
                    }
                }
                (None, None) => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, exe: Option<&str>, arg0: Option<&str>) -> ProcessNames {
        ProcessNames {
            pid: 0,
            name: name.into(),
            exe: exe.map(String::from),
            arg0: arg0.map(String::from),
        }
    }

    #[test]
    fn games_are_found_by_any_of_their_names() {
        let games = vec!["eldenring".to_string(), "VALORANT-Win64-Shipping".into()];
        assert_eq!(find_game(&games, vec![p("bash", None, None)]), None);
        assert_eq!(
            find_game(&games, vec![p("EldenRing.exe", None, None)]).as_deref(),
            Some("EldenRing.exe")
        );
        // Proton: the kernel name is wine's, the argument is the game.
        assert_eq!(
            find_game(
                &games,
                vec![p(
                    "wine64-preloader",
                    Some("/usr/bin/wine64-preloader"),
                    Some("Z:\\Games\\ELDEN RING\\Game\\eldenring.exe")
                )]
            )
            .as_deref(),
            Some("eldenring.exe")
        );
        // Linux cuts kernel names at 15 characters.
        assert!(find_game(&games, vec![p("VALORANT-Win64-", None, None)]).is_some());
        assert_eq!(
            find_game(&games, vec![p("eldenringhelper", None, None)]),
            None
        );
        assert_eq!(find_game(&[], vec![p("eldenring", None, None)]), None);
    }

    /// NVML's answer, scripted: sessions of our own ffmpeg do not count, another
    /// program's do, named when the process list knows it.
    #[test]
    fn another_programs_nvenc_sessions_count_like_a_game() {
        let obs = ProcessNames {
            pid: 4242,
            name: "obs".into(),
            exe: Some("/usr/bin/obs".into()),
            arg0: Some("obs".into()),
        };
        let ours = HashSet::from([100, 101]);
        let none: Vec<String> = vec![];
        assert_eq!(
            reason(&none, std::slice::from_ref(&obs), &[101], &ours),
            None
        );
        assert_eq!(
            reason(&none, std::slice::from_ref(&obs), &[101, 4242], &ours).as_deref(),
            Some("Paused: obs is using the GPU encoder")
        );
        assert_eq!(
            reason(&none, &[], &[777], &ours).as_deref(),
            Some("Paused: process 777 is using the GPU encoder")
        );
        // A game is named first.
        let games = vec!["obs".to_string()];
        assert_eq!(
            reason(&games, &[obs], &[4242], &ours).as_deref(),
            Some("Paused: obs is running")
        );
    }
}
