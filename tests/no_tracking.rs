//! "No tracking, no telemetry": the app talks only to Meta's Graph API and
//! the configured relay. In sandbox mode both are on loopback, so a whole
//! session — start-up, simulated customers writing, notifications, sync —
//! must make no network connection anywhere else. strace records every
//! `connect` of the app and all its threads and children.
//!
//! Needs Xvfb, a D-Bus session with gnome-keyring and dunst, and strace:
//! scripts/test.sh provides them.

use std::process::Command;
use std::time::Duration;

const APP: &str = env!("CARGO_BIN_EXE_parley");

#[test]
fn promise_no_tracking_no_telemetry_a_sandbox_session_connects_only_to_loopback() {
    for var in ["DISPLAY", "DBUS_SESSION_BUS_ADDRESS"] {
        assert!(
            std::env::var_os(var).is_some(),
            "{var} is not set: run this test through scripts/test.sh"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("connect.trace");
    let data = dir.path().join("data");
    // The app runs until `timeout` ends it; customers write every second.
    let status = Command::new("timeout")
        .args(["-s", "TERM", "15"])
        .arg("strace")
        .args(["-f", "-qq", "-e", "trace=connect", "-o"])
        .arg(&trace)
        .arg(APP)
        .arg("--data-dir")
        .arg(&data)
        .args(["--demo-autochat-secs", "1"])
        .status()
        .expect("strace runs (scripts/setup.sh installs it)");
    // 124 is timeout's "had to stop it"; the app exits 0 on SIGTERM.
    assert!(matches!(status.code(), Some(0 | 124)), "app under strace: {status:?}");
    let log = std::fs::read_to_string(&trace).unwrap();
    std::thread::sleep(Duration::from_millis(10));

    let mut inet = 0;
    let mut outside = Vec::new();
    for line in log.lines().filter(|l| l.contains("connect(")) {
        if line.contains("AF_INET6") {
            inet += 1;
            if !line.contains("inet_pton(AF_INET6, \"::1\"") && !line.contains("\"::ffff:127.") {
                outside.push(line.to_owned());
            }
        } else if line.contains("AF_INET") {
            inet += 1;
            if !line.contains("inet_addr(\"127.") {
                outside.push(line.to_owned());
            }
        }
    }
    // The session really ran: the core reached the relay, and the sandbox
    // posted webhooks to it (HTTP keep-alive reuses each connection).
    assert!(inet >= 2, "too few connections to prove anything ({inet}):\n{log}");
    assert!(
        std::fs::read_to_string(data.join("sandbox").join("config.json"))
            .unwrap()
            .contains("relay_url"),
        "the sandbox profile was set up"
    );
    assert!(outside.is_empty(), "connections beyond loopback:\n{}", outside.join("\n"));
}
