//! Entry point of the end-to-end suite in the repository's top-level `tests/e2e/`.
#![allow(clippy::unwrap_used, unused_crate_dependencies)]
// The suite drives processes with signals, process groups and mount namespaces: Linux.
#![cfg(unix)]

#[path = "../../../tests/e2e/main.rs"]
mod e2e;
