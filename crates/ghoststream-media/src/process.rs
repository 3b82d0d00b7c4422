//! Running ffmpeg and ffprobe so that none of them outlives its job or the server.
//!
//! Each child gets its own process group (so a stop reaches anything it forked) and, on
//! Linux, a parent-death signal (so a `kill -9` of the server still takes them down).
//! Stopping is: SIGTERM to the group, a grace period, then SIGKILL to the group.
//!
//! Windows: the server puts itself in a job object that kills every process in it when
//! its last handle closes, which is when the server exits or is killed; children inherit
//! the job. Stopping one child is `TerminateProcess`.
//! macOS has no parent-death signal: a graceful stop signals each group, `kill_on_drop`
//! covers panics, and a `kill -9` of the server leaves children to end when their output
//! pipes close (ffmpeg exits on the next write to its closed progress pipe).

use std::ffi::OsStr;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// A command configured for hygiene: own process group, parent-death signal, no stdin,
/// killed when dropped.
pub fn command(program: impl AsRef<OsStr>) -> Command {
    #[cfg(windows)]
    join_kill_on_close_job();
    let mut cmd = Command::new(program);
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    #[cfg(target_os = "linux")]
    set_parent_death_signal(&mut cmd);
    cmd
}

/// Once per process: join a job object with "kill on job close" and keep its handle open
/// until the process ends (the handle is deliberately never closed).
#[cfg(windows)]
fn join_kill_on_close_job() {
    static JOINED: std::sync::Once = std::sync::Once::new();
    JOINED.call_once(|| {
        let mut limits = win32job::ExtendedLimitInfo::new();
        limits.limit_kill_on_job_close();
        match win32job::Job::create_with_limit_info(&limits) {
            Ok(job) => match job.assign_current_process() {
                Ok(()) => {
                    let _ = job.into_handle();
                }
                Err(e) => tracing::warn!("cannot join a job object: {e}"),
            },
            Err(e) => tracing::warn!("cannot create a job object: {e}"),
        }
    });
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn set_parent_death_signal(cmd: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only calls
    // async-signal-safe functions (prctl, getppid, kill).
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl.
            if libc::getppid() == 1 {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
            Ok(())
        });
    }
}

/// Sends `signal` to the child's whole process group.
#[cfg(unix)]
pub fn signal_group(child: &Child, signal: nix::sys::signal::Signal) {
    if let Some(pid) = child.id() {
        // The group id equals the child's pid (process_group(0)).
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), signal);
    }
}

/// SIGTERM the group, wait up to `grace`, then SIGKILL the group and reap the child.
/// Starts the command's process at `priority` (its threads and children inherit it).
pub fn set_priority(cmd: &mut Command, priority: ghoststream_types::Priority) {
    use ghoststream_types::Priority;
    if priority == Priority::Normal {
        return;
    }
    #[cfg(unix)]
    {
        let nice: libc::c_int = if priority == Priority::Idle { 19 } else { 10 };
        // I/O: the idle class, or the lowest best-effort level (Linux's ioprio_set).
        #[cfg(target_os = "linux")]
        let ioprio: libc::c_long = if priority == Priority::Idle {
            3 << 13
        } else {
            (2 << 13) | 7
        };
        // SAFETY: between fork and exec only async-signal-safe calls are made
        // (setpriority and a raw ioprio_set syscall), with no allocation.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(move || {
                if libc::setpriority(libc::PRIO_PROCESS, 0, nice) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                #[cfg(target_os = "linux")]
                if libc::syscall(libc::SYS_ioprio_set, 1, 0, ioprio) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    #[cfg(windows)]
    {
        const BELOW_NORMAL_PRIORITY_CLASS: u32 = 0x0000_4000;
        const IDLE_PRIORITY_CLASS: u32 = 0x0000_0040;
        cmd.creation_flags(if priority == Priority::Idle {
            IDLE_PRIORITY_CLASS
        } else {
            BELOW_NORMAL_PRIORITY_CLASS
        });
    }
}

/// Moves a running process group to `priority`. Raising a priority back (a lower nice
/// value) needs privileges most users lack: then the group keeps the lower one.
#[cfg(unix)]
pub fn renice_group(pid: u32, priority: ghoststream_types::Priority) -> std::io::Result<()> {
    use ghoststream_types::Priority;
    let nice: libc::c_int = match priority {
        Priority::Normal => 0,
        Priority::Low => 10,
        Priority::Idle => 19,
    };
    // SAFETY: plain system calls on a process group id; no memory is shared.
    #[allow(unsafe_code)]
    unsafe {
        if libc::setpriority(libc::PRIO_PGRP, pid as libc::id_t, nice) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        #[cfg(target_os = "linux")]
        {
            let ioprio: libc::c_long = match priority {
                Priority::Normal => (2 << 13) | 4,
                Priority::Low => (2 << 13) | 7,
                Priority::Idle => 3 << 13,
            };
            if libc::syscall(libc::SYS_ioprio_set, 2, pid as libc::c_long, ioprio) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn renice_group(_pid: u32, _priority: ghoststream_types::Priority) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "changing a running job's priority is not available on this platform yet",
    ))
}

/// Freezes (`true`) or thaws a process group started by [`command`]: every process in
/// it stops where it is, or goes on. Nothing is lost; the kernel holds them.
#[cfg(unix)]
pub fn freeze_group(pid: u32, frozen: bool) -> std::io::Result<()> {
    use nix::sys::signal::Signal;
    let signal = if frozen {
        Signal::SIGSTOP
    } else {
        Signal::SIGCONT
    };
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), signal)
        .map_err(std::io::Error::from)
}

/// Windows has no group stop signal; suspending a job object's threads is not built yet.
#[cfg(not(unix))]
pub fn freeze_group(_pid: u32, _frozen: bool) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "pausing a running job is not available on this platform yet",
    ))
}

pub async fn stop(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        #[cfg(unix)]
        signal_group(child, nix::sys::signal::Signal::SIGKILL);
        return;
    }
    #[cfg(unix)]
    {
        signal_group(child, nix::sys::signal::Signal::SIGTERM);
        // A frozen group only sees the SIGTERM once it runs again.
        signal_group(child, nix::sys::signal::Signal::SIGCONT);
    }
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        #[cfg(unix)]
        signal_group(child, nix::sys::signal::Signal::SIGKILL);
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}

/// Output of a bounded tool run.
#[derive(Debug)]
pub struct ToolOutput {
    pub success: bool,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// Runs a short-lived tool (ffprobe, a trial encode) with a time limit; on timeout the
/// whole group is killed.
pub async fn run_bounded<I, S>(
    program: &OsStr,
    args: I,
    timeout: Duration,
    tool: &'static str,
) -> Result<ToolOutput, crate::MediaError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = command(program);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().map_err(|e| crate::MediaError::Spawn {
        tool,
        cause: e.to_string(),
    })?;
    #[cfg_attr(not(unix), allow(unused_variables))]
    let pid = child.id();
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => Ok(ToolOutput {
            success: out.status.success(),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }),
        Ok(Err(e)) => Err(crate::MediaError::Spawn {
            tool,
            cause: e.to_string(),
        }),
        Err(_) => {
            #[cfg(unix)]
            if let Some(pid) = pid {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            Err(crate::MediaError::Timeout {
                tool,
                secs: timeout.as_secs(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_kills_the_whole_group() {
        // A shell that forks a grandchild ignoring SIGTERM: only a group SIGKILL ends both.
        let mut cmd = command("sh");
        cmd.arg("-c")
            .arg("trap '' TERM; sleep 30 & echo $!; wait")
            .stdout(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut buf = [0u8; 32];
        let n = tokio::io::AsyncReadExt::read(&mut out, &mut buf)
            .await
            .unwrap();
        let grandchild: i32 = std::str::from_utf8(&buf[..n])
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        stop(&mut child, Duration::from_millis(200)).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !is_running(grandchild),
            "grandchild {grandchild} survived the stop"
        );
    }

    /// Alive and not a zombie waiting for a slow reaper.
    fn is_running(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat
                .rsplit_once(')')
                .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
                .unwrap_or(false),
            Err(_) => false,
        }
    }

    #[tokio::test]
    async fn bounded_run_times_out() {
        let r = run_bounded(
            OsStr::new("sleep"),
            ["5"],
            Duration::from_millis(100),
            "ffprobe",
        )
        .await;
        assert!(matches!(r, Err(crate::MediaError::Timeout { .. })));
    }
}
