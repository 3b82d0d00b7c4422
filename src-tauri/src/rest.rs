//! Resting light: when the window closes, the memory it used goes back to the system.
//! The webview and its web process are gone with the window; what stays in this process
//! is freed heap (returned with `malloc_trim`) and the pages of WebKit's libraries the
//! window touched, clean file pages that are paged out and read again when it reopens.

/// Libraries the window loads (WebKit, and Mesa's GL driver with its LLVM for the
/// window's GL context), whose read-only pages can be dropped after it closes.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const WINDOW_LIBRARIES: &[&str] = &[
    "libwebkit2gtk-4.1",
    "libjavascriptcoregtk-4.1",
    "libicudata",
    "libicui18n",
    "libLLVM",
    "libgallium",
    "_dri.so",
];

/// GTK's own OpenGL stays off (`GDK_GL=disable`, unless the user set `GDK_GL`): the
/// dashboard draws nothing with it, and without it the app's process does not load the
/// GL driver (Mesa and its LLVM) until a window opens, and holds about 80 MB less while
/// one is open (`bench/memory.py`). WebKit's web process renders as before. Called first
/// thing in `run`, before GTK starts and before any other thread exists.
pub fn without_gdk_gl() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("GDK_GL").is_none() {
        std::env::set_var("GDK_GL", "disable");
    }
}

/// Called when the window is destroyed; works a moment later, off the UI thread.
pub fn after_window_closed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_secs(2));
        // SAFETY: malloc_trim only hands free heap pages back to the kernel.
        #[allow(unsafe_code)]
        unsafe {
            libc::malloc_trim(0);
        }
        let dropped = page_out(WINDOW_LIBRARIES);
        tracing::info!(
            "window closed: heap trimmed, {} MB of WebKit's library pages paged out",
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
