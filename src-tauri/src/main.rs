// The binary only calls into the library; its dependencies are the library's.
#![allow(unused_crate_dependencies)]

fn main() {
    ghoststream_tray::run()
}
