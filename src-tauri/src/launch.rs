//! Before any window: what the command line asks for, and whether there is a desktop to
//! open one on. Without one the app says what to run instead, and exits 1.

/// What a launch does.
#[derive(Debug, PartialEq, Eq)]
pub enum Launch {
    /// Open the app; `minimized` starts it in the tray (the login item passes it).
    Run { minimized: bool },
    /// Print this and exit 0 (`--help`, `--version`).
    Print(String),
    /// Print this and exit 2 (an argument the app does not know).
    Usage(String),
}

pub fn usage() -> String {
    format!(
        "GhostStream {} — the LAN transcoding node, as a tray app with its dashboard.\n\
         \n\
         Usage: ghoststream-tray [--minimized]\n\
         \n\
         Options:\n\
         \x20 --minimized   start in the tray without opening the window\n\
         \x20 -h, --help    print this\n\
         \x20 -V, --version print the version\n\
         \n\
         The same server runs without a desktop: `ghoststream serve` (see `ghoststream --help`).\n\
         Configuration: GHOSTSTREAM_CONFIG names the file; GHOSTSTREAM__SECTION__KEY variables\n\
         override it.\n",
        env!("CARGO_PKG_VERSION")
    )
}

pub fn parse(args: impl IntoIterator<Item = String>) -> Launch {
    let mut minimized = false;
    for a in args {
        match a.as_str() {
            "-h" | "--help" => return Launch::Print(usage()),
            "-V" | "--version" => {
                return Launch::Print(format!("ghoststream-tray {}\n", env!("CARGO_PKG_VERSION")))
            }
            "--minimized" => minimized = true,
            // macOS passes a process serial number when launched from Finder.
            a if a.starts_with("-psn_") => {}
            other => {
                return Launch::Usage(format!(
                    "ghoststream-tray: unknown argument `{other}`\n\n{}",
                    usage()
                ))
            }
        }
    }
    Launch::Run { minimized }
}

/// What to run where the app cannot open a window.
pub fn headless_hint(why: &str) -> String {
    format!(
        "GhostStream cannot open its window: {why}.\n\
         \n\
         On a machine without a desktop, run the headless server instead:\n\
         \x20 ghoststream serve                            # in this terminal (0.0.0.0:8765)\n\
         \x20 systemctl --user enable --now ghoststream    # as a service of this user\n\
         \x20 loginctl enable-linger \"$USER\"               # ...kept running without a login\n\
         \n\
         `ghoststream --help` lists the rest.\n"
    )
}

/// Why there is no desktop session to open a window on, if there is none. Only Linux
/// and the BSDs can be without one while the app is running.
pub fn no_display(env: impl Fn(&str) -> Option<String>) -> Option<String> {
    if cfg!(any(target_os = "windows", target_os = "macos")) {
        return None;
    }
    let set = |k: &str| env(k).is_some_and(|v| !v.is_empty());
    (!set("DISPLAY") && !set("WAYLAND_DISPLAY"))
        .then(|| "there is no desktop session (DISPLAY and WAYLAND_DISPLAY are unset)".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn help_version_and_unknown_arguments() {
        assert_eq!(parse(args(&[])), Launch::Run { minimized: false });
        assert_eq!(
            parse(args(&["--minimized"])),
            Launch::Run { minimized: true }
        );
        match parse(args(&["--help"])) {
            Launch::Print(t) => {
                assert!(t.contains("ghoststream serve") && t.contains("--minimized"))
            }
            other => panic!("{other:?}"),
        }
        match parse(args(&["-V"])) {
            Launch::Print(t) => assert_eq!(
                t,
                format!("ghoststream-tray {}\n", env!("CARGO_PKG_VERSION"))
            ),
            other => panic!("{other:?}"),
        }
        match parse(args(&["serve"])) {
            Launch::Usage(t) => {
                assert!(t.starts_with("ghoststream-tray: unknown argument `serve`"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_desktop_needs_x11_or_wayland() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        if cfg!(any(target_os = "windows", target_os = "macos")) {
            return;
        }
        let why = no_display(env(&[])).unwrap();
        assert!(why.contains("DISPLAY"), "{why}");
        assert!(no_display(env(&[("DISPLAY", "")])).is_some());
        assert!(no_display(env(&[("DISPLAY", ":0")])).is_none());
        assert!(no_display(env(&[("WAYLAND_DISPLAY", "wayland-0")])).is_none());
        assert!(headless_hint(&why).contains("systemctl --user enable --now ghoststream"));
    }
}
