//! The one integration-test binary of `parley-meta`.
//!
//! - `webhook`: golden fixtures (documented Meta payload shapes, our values)
//!   parsed into events.
//! - `never_panics`: property tests that `webhook::parse` survives anything.
//! - `graph`: the Graph API client against a loopback axum server.

mod graph;
mod graph_manage;
mod never_panics;
mod webhook;

use parley_meta::webhook::{parse, WebhookEvent};
use std::path::PathBuf;

/// The raw bytes of `tests/fixtures/<name>`.
pub fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every fixture file, by name.
pub fn fixture_names() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("fixtures dir")
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

/// The events of `tests/fixtures/<name>`.
pub fn events(name: &str) -> Vec<WebhookEvent> {
    parse(&fixture_bytes(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}
