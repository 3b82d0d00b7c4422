//! Resting light. The window runs in a process of its own ([`crate::window`]), so what
//! it used goes back to the system when it closes. The app's process never shows a
//! webview, yet it links WebKit, and loading WebKit runs its initialisers and those of
//! the libraries it brings (speech synthesis voices, ICU, media codecs): clean file pages
//! this process then never uses. They are paged out once the app has started and again
//! each time the window process has ended (pages a running window shares with this
//! process are not ours to drop); anything that does use one reads it back from the file.

/// Libraries only a webview uses, whose read-only pages the app's process can drop.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const WINDOW_LIBRARIES: &[&str] = &[
    "libwebkit2gtk-4.1",
    "libjavascriptcoregtk-4.1",
    "libflite",
    "libicu",
    "libgst",
    "librav1e",
    "libaom",
    "libSvtAv1",
    "libdav1d",
    "libyuv",
];

/// GTK's own OpenGL stays off (`GDK_GL=disable`, unless the user set `GDK_GL`): the
/// dashboard draws nothing with it, and without it the window's process holds about 75 MB
/// less (`bench/memory.py`); WebKit's web process renders as before. Called first thing,
/// before GTK starts and before any other thread exists.
pub fn without_gdk_gl() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("GDK_GL").is_none() {
        std::env::set_var("GDK_GL", "disable");
    }
}

/// Called once the app has started (tray built, server starting) and when a window
/// process has ended; works a moment later, off the UI thread.
pub fn shed_window_libraries() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_secs(3));
        let dropped = page_out(WINDOW_LIBRARIES);
        tracing::info!(
            "resting light: {} MB of WebKit's library mappings paged out of the app's process",
            dropped >> 20
        );
    });
}

/// Pages out this process's read-only mappings of the named libraries; returns the bytes
/// of address space advised. Clean file pages only: nothing is lost, a later use reads
/// them again.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn page_out(libraries: &[&str]) -> usize {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return 0;
    };
    let mut advised = 0;
    for (start, end) in read_only_mappings(&maps, libraries) {
        // SAFETY: the range is a whole read-only file mapping of this process taken from
        // /proc/self/maps; MADV_PAGEOUT only drops its clean pages, which are read back from
        // the file on the next access. It never changes what the memory holds.
        #[allow(unsafe_code)]
        let r =
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_PAGEOUT) };
        if r == 0 {
            advised += end - start;
        }
    }
    advised
}

/// `(start, end)` of each mapping in `/proc/self/maps` text that is not writable and
/// whose file name contains one of `libraries`.
#[cfg_attr(not(all(target_os = "linux", target_env = "gnu")), allow(dead_code))]
pub fn read_only_mappings(maps: &str, libraries: &[&str]) -> Vec<(usize, usize)> {
    maps.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let range = f.next()?;
            let perms = f.next()?;
            let path = f.nth(3)?;
            let name = path.rsplit('/').next()?;
            if perms.contains('w') || !libraries.iter().any(|l| name.contains(l)) {
                return None;
            }
            let (a, b) = range.split_once('-')?;
            Some((
                usize::from_str_radix(a, 16).ok()?,
                usize::from_str_radix(b, 16).ok()?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_read_only_mappings_of_the_named_libraries() {
        let maps = "\
7f0000000000-7f0000100000 r--p 00000000 08:01 12 /usr/lib/x86_64-linux-gnu/libwebkit2gtk-4.1.so.0.13.3
7f0000100000-7f0000900000 r-xp 00100000 08:01 12 /usr/lib/x86_64-linux-gnu/libwebkit2gtk-4.1.so.0.13.3
7f0000900000-7f0000910000 rw-p 00900000 08:01 12 /usr/lib/x86_64-linux-gnu/libwebkit2gtk-4.1.so.0.13.3
7f0001000000-7f0001100000 r-xp 00000000 08:01 13 /usr/lib/x86_64-linux-gnu/libgtk-3.so.0.2406.32
7f0002000000-7f0002001000 rw-p 00000000 00:00 0
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]
";
        let got = super::read_only_mappings(maps, &["libwebkit2gtk-4.1", "_dri.so"]);
        assert_eq!(
            got,
            vec![
                (0x7f0000000000, 0x7f0000100000),
                (0x7f0000100000, 0x7f0000900000)
            ]
        );
    }
}
