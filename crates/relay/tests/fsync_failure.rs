//! The fsync-failure path on the real binary: an `LD_PRELOAD` shim makes
//! `fsync`/`fdatasync` of the WAL fail with EIO while a flag file exists.
//! A webhook whose group commit cannot be synced is not answered 200, the
//! relay then refuses every later write even once fsync works again, and
//! after a restart (without the shim) nothing that was answered 200 is lost.
//! `LD_PRELOAD` and `/proc/self/fd`: a glibc Linux test.
#![cfg(target_os = "linux")]

mod util;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use parley_protocol::{ApiError, DeviceSecretKey};
use util::*;

/// Fails `fsync` and `fdatasync` with EIO on any descriptor whose path ends
/// in `-wal` while the file named by `PARLEY_TEST_FAILSYNC_FLAG` exists;
/// otherwise calls the real function. SQLite's unix VFS syncs with
/// `fdatasync` when built with `HAVE_FDATASYNC` (`.cargo/config.toml` sets
/// it on Linux) and with `fsync` otherwise; both are wrapped so the test
/// does not depend on that.
const SHIM: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int should_fail(int fd) {
    int saved = errno;
    int fail = 0;
    const char *flag = getenv("PARLEY_TEST_FAILSYNC_FLAG");
    if (flag != NULL && access(flag, F_OK) == 0) {
        char link[64];
        char path[4096];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, path, sizeof path - 1);
        if (n >= 4) {
            path[n] = '\0';
            fail = strcmp(path + n - 4, "-wal") == 0;
        }
    }
    errno = saved;
    return fail;
}

int fsync(int fd) {
    static int (*real)(int);
    if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    if (should_fail(fd)) { errno = EIO; return -1; }
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    if (should_fail(fd)) { errno = EIO; return -1; }
    return real(fd);
}
"#;

/// Write and compile the shim in `dir`. No C compiler is a failure, not a
/// skip: without the shim this test would prove nothing.
fn build_shim(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("failsync.c"), SHIM).unwrap();
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-o", "libfailsync.so", "failsync.c", "-ldl"])
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("this test needs the system C compiler `cc` to build its LD_PRELOAD shim: {e}")
        });
    assert!(
        out.status.success(),
        "cc could not build the fsync shim: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("libfailsync.so")
}

const SECRET: &str = "fsync-secret";
/// `commit.rs`'s refusal once an fsync has failed.
const POISONED: &str = "an fsync of the relay's queue failed earlier; restart the relay";
/// `commit.rs`'s log line when it sees SQLITE_IOERR_FSYNC and poisons.
const SYNC_FAILED: &str = "fsync of the relay queue failed; refusing writes until restart";

struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    /// The JSON error a refused webhook carries.
    /// A 500 with the generic internal error, which names no file or SQL.
    fn assert_internal_error(&self) {
        assert_eq!(self.status, 500, "{}", self.body);
        let error = self.api_error();
        assert_eq!(error.code, "internal");
        assert_eq!(error.message, "the relay could not complete the request");
    }

    fn api_error(&self) -> ApiError {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not an API error ({e}): {}", self.body))
    }
}

async fn post_webhook(http: &reqwest::Client, url: &str, text: &str) -> Answer {
    let body = wa_batch(&[("111", text)]);
    let resp = http
        .post(format!("{url}/webhooks/meta"))
        .header("x-hub-signature-256", sign(SECRET, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    Answer { status, body: resp.text().await.unwrap() }
}

/// Redeem `code` for a new device; the answer's status.
async fn post_enroll(http: &reqwest::Client, url: &str, code: &str) -> u16 {
    http.post(format!("{url}/v1/devices/enroll"))
        .json(&parley_protocol::EnrollRequest {
            code: code.to_owned(),
            device_name: "late".into(),
            public_key: DeviceSecretKey::generate().public_key().to_base64(),
        })
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A relay on a fresh database (tenant "acme" with WhatsApp number 111)
/// running with the fsync shim, its log in a file.
struct Shimmed {
    db: PathBuf,
    /// While this file exists, fsyncs of the WAL fail.
    flag: PathBuf,
    log_path: PathBuf,
    /// Two unused enrollment codes.
    code: String,
    second_code: String,
    server: Server,
    url: String,
}

fn start_shimmed(dir: &tempfile::TempDir) -> Shimmed {
    let shim = build_shim(dir.path());
    let db = dir.path().join("relay.db");
    let flag = dir.path().join("fail-wal-fsync");
    let log_path = dir.path().join("relay.log");
    let (code, second_code) = {
        let store = parley_relay::Store::open(&db).unwrap();
        let t = store.create_tenant("acme", SECRET, "v").unwrap();
        store.add_channel(&t, &number("111")).unwrap();
        let code = || store.issue_enrollment_code(&t, Duration::from_secs(600)).unwrap();
        (code(), code())
    };
    let mut cmd = relay_bin(&db);
    cmd.env("LD_PRELOAD", &shim)
        .env("PARLEY_TEST_FAILSYNC_FLAG", &flag)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(File::create(&log_path).unwrap());
    let (server, url) = serve(cmd, &[]);
    Shimmed { db, flag, log_path, code, second_code, server, url }
}

fn count(texts: &[String], text: &str) -> usize {
    texts.iter().filter(|t| *t == text).count()
}

#[tokio::test]
async fn a_failed_wal_fsync_is_never_acknowledged_and_stops_writes_until_restart() {
    let dir = tempfile::tempdir().unwrap();
    let Shimmed { db, flag, log_path, code, second_code, server, url } = start_shimmed(&dir);
    let log = || std::fs::read_to_string(&log_path).unwrap();
    let http = reqwest::Client::new();
    let (sk, device) = enroll_with_code(&http, &url, code).await;

    let acknowledged: Vec<String> = (1..=5).map(|i| format!("acknowledged {i}")).collect();
    for text in &acknowledged {
        let answer = post_webhook(&http, &url, text).await;
        assert_eq!(answer.status, 200, "{text}: {}", answer.body);
    }
    assert!(!log().contains(SYNC_FAILED), "no fsync failed yet:\n{}", log());

    // From now on every fsync of the WAL fails with EIO.
    File::create(&flag).unwrap();
    let during = post_webhook(&http, &url, "sent while fsync fails").await;
    // `StoreError::Commit` maps to `AppError::Internal`: a 500 whose body
    // names no file or SQL.
    during.assert_internal_error();
    // The committer recognised SQLITE_IOERR_FSYNC (not just any I/O error)
    // and poisoned the queue; this also shows the shim fired.
    assert!(log().contains(SYNC_FAILED), "the failed fsync was not seen as one:\n{}", log());
    assert!(!log().contains(POISONED), "nothing was refused as poisoned yet:\n{}", log());

    // fsync works again, but what the kernel kept after the failure is
    // unknown: the relay still acknowledges nothing.
    std::fs::remove_file(&flag).unwrap();
    let after = post_webhook(&http, &url, "sent after the failed fsync").await;
    after.assert_internal_error();
    // The answer does not say why (internal details are only logged); the
    // log does.
    assert!(log().contains(POISONED), "webhook 7 was not refused as poisoned:\n{}", log());
    // Acks go through the same committer and are refused too.
    let ack = http
        .post(format!("{url}/v1/events/ack"))
        .bearer_auth(&device.token)
        .json(&serde_json::json!({"up_to": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(ack.status(), 500);
    // So are the writes that do not go through the committer (here an
    // enrollment with a valid, unused code).
    let enroll = post_enroll(&http, &url, &second_code).await;
    assert_eq!(enroll, 500, "an enrollment was stored after a failed fsync");

    // Devices still read what is durable, and the failed group was never
    // published to them.
    let now = fetch_events(&http, &url, &device.token, 0).await;
    assert_eq!(message_texts(&sk, &now), acknowledged);

    // `/metrics` counts only the 200s; the health check says the relay
    // needs a restart, so that a supervisor does it.
    let metrics = http.get(format!("{url}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.lines().any(|l| l == "parley_relay_webhooks_accepted_total 5"), "{metrics}");
    let health = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 503);
    assert!(health.text().await.unwrap().contains("restart the relay"));

    server.kill();

    // Restarted without the shim, on the same files.
    let (server, url) = start_server(&db, &[]);
    let got = fetch_events(&http, &url, &device.token, 0).await;
    let texts = message_texts(&sk, &got);
    for text in &acknowledged {
        assert_eq!(count(&texts, text), 1, "{text} is lost or doubled: {texts:?}");
    }
    assert_eq!(count(&texts, "sent after the failed fsync"), 0, "{texts:?}");
    // Its frames reached the WAL before the failed fsync, so WAL recovery
    // may bring it back: a duplicate of what Meta resends, never a loss.
    assert!(count(&texts, "sent while fsync fails") <= 1, "{texts:?}");
    let mut seqs = seqs(&got);
    let n = seqs.len();
    seqs.dedup();
    assert_eq!(seqs.len(), n, "seqs are unique");

    // The restarted relay acknowledges and delivers again.
    let last = *seqs.last().unwrap();
    let answer = post_webhook(&http, &url, "sent after the restart").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let newer = fetch_events(&http, &url, &device.token, last).await;
    assert_eq!(message_texts(&sk, &newer), vec!["sent after the restart"]);
    // The code refused while poisoned was not spent (this asserts a 200).
    enroll_with_code(&http, &url, second_code).await;
    let health = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    server.kill();
}

/// A write outside the group committer (an enrollment) whose commit cannot
/// be synced poisons the relay just as a webhook group's does.
#[tokio::test]
async fn a_failed_fsync_in_a_write_outside_the_committer_stops_writes_too() {
    let dir = tempfile::tempdir().unwrap();
    let Shimmed { db, flag, log_path, code, second_code, server, url } = start_shimmed(&dir);
    let log = || std::fs::read_to_string(&log_path).unwrap();
    let http = reqwest::Client::new();
    let answer = post_webhook(&http, &url, "before").await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    File::create(&flag).unwrap();
    assert_eq!(post_enroll(&http, &url, &code).await, 500);
    assert!(log().contains(SYNC_FAILED), "the enrollment's failed fsync was not seen:\n{}", log());
    std::fs::remove_file(&flag).unwrap();

    // fsync works again; nothing is acknowledged until a restart.
    post_webhook(&http, &url, "after").await.assert_internal_error();
    assert!(log().contains(POISONED), "the webhook was not refused as poisoned:\n{}", log());
    assert_eq!(post_enroll(&http, &url, &second_code).await, 500);
    let health = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 503);
    server.kill();

    let (server, url) = start_server(&db, &[]);
    assert_eq!(post_webhook(&http, &url, "after the restart").await.status, 200);
    assert_eq!(post_enroll(&http, &url, &second_code).await, 200);
    server.kill();
}
