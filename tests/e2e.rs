//! End to end through the real desktop app.
//!
//! The `parley` binary runs under WebDriver (tauri-driver in front of
//! WebKitWebDriver) in sandbox mode: its in-process demo relay and sandbox
//! stand in for Meta. A simulated customer writes in through the sandbox's
//! control API; the message must appear in the window without a reload; the
//! reply typed into the composer must reach the sandbox and come back
//! delivered. Along the way the test checks what the privacy promises rest
//! on: the database key is in the real Secret Service and opens the SQLCipher
//! file, the customer message raised a real desktop notification, the page
//! runs under the strict CSP and the window cannot call commands it was not
//! granted.
//!
//! Needs an X display, a D-Bus session with an unlocked gnome-keyring and
//! dunst as the notification server, tauri-driver and WebKitWebDriver:
//! `scripts/test.sh` provides all of them. `PARLEY_UPDATE_SCREENSHOT=1` also
//! saves the window to docs/screenshot.png.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use parley_core::{KeyringStore, Profile, SecretName, SecretStore};
use serde_json::{json, Value};

const APP: &str = env!("CARGO_BIN_EXE_parley");
const CUSTOMER_NAME: &str = "E2E Customer";
/// Start-up includes the keyring, two databases and enrollment; a cold
/// WebKit start under Xvfb alone can take several seconds.
const START_TIMEOUT: Duration = Duration::from_secs(90);

mod common;
#[path = "common/webdriver.rs"]
mod webdriver;

use webdriver::{require_session, text_content, wait_for, KeyringCleanup, STEP_TIMEOUT};

/// Start the app on `data_dir` under WebDriver, run `test` against it, and
/// clean up however `test` ends: the session must be closed (which ends the
/// app) and tauri-driver stopped before the data directory goes away.
async fn with_app<F, Fut>(name: &str, data_dir: &Path, test: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    require_session();
    let started = Instant::now();
    // Only the test's own customers write in.
    let (driver, client) =
        webdriver::launch(APP, data_dir, &["--demo-autochat-secs", "0"], &[]).await;
    webdriver::try_the_sandbox(&client).await;
    eprintln!("e2e {name}: app session after {:?}", started.elapsed());

    // A task of its own, so that a failed assertion still reaches the
    // cleanup below.
    let outcome = tokio::spawn(test(client.clone())).await;
    if let Err(e) = client.close().await {
        eprintln!("e2e {name}: closing the WebDriver session failed: {e}");
    }
    drop(driver);
    match outcome {
        Ok(()) => eprintln!("e2e {name}: passed in {:?}", started.elapsed()),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("the test was cancelled: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_message_arrives_and_the_reply_is_delivered() {
    let data_dir = tempfile::tempdir().unwrap();
    let sandbox_dir = data_dir.path().join("sandbox");
    // The id the app derives for the same directory: its keyring namespace.
    let profile_id = Profile::open(&sandbox_dir).unwrap().id().to_owned();
    let _keyring = KeyringCleanup(sandbox_dir.clone());
    with_app("round trip", data_dir.path(), |client| flow(client, sandbox_dir, profile_id)).await;
}

/// A database whose key is not in the keyring must not be replaced or
/// "repaired": the app says so in the window and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_without_its_key_is_reported_in_the_window() {
    let data_dir = tempfile::tempdir().unwrap();
    let sandbox_dir = data_dir.path().join("sandbox");
    // Opening makes the profile (directory and id) the app will find.
    Profile::open(&sandbox_dir).unwrap();
    let _keyring = KeyringCleanup(sandbox_dir.clone());
    let db = sandbox_dir.join("parley.db");
    let foreign = vec![0x5a_u8; 4096];
    std::fs::write(&db, &foreign).unwrap();
    with_app("missing key", data_dir.path(), |client| async move {
        let banner = wait_for(&client, "//*[@data-testid='error-banner']", START_TIMEOUT).await;
        let text = text_content(&banner).await;
        assert!(text.contains("keyring has no key for this profile's database"), "{text:?}");
        // Commands answer with the same error, so the sync indicator says
        // sync is stopped rather than spinning.
        wait_for(&client, "//*[@data-testid='sync-state'][@data-state='error']", STEP_TIMEOUT)
            .await;
    })
    .await;
    assert_eq!(std::fs::read(&db).unwrap(), foreign, "the database was left untouched");
    assert!(!sandbox_dir.join("sandbox.json").exists(), "no sandbox runs without its profile");
}

/// The account profile on the real relay and sandbox binaries: when the
/// relay goes away the window says so (with the reason) and stays usable;
/// when it is back, sync resumes by itself and the message a customer wrote
/// during the outage arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_relay_is_shown_and_sync_recovers() {
    use common::{ctl, relay_with_enrolled_profile, run, start_relay, start_sandbox};
    let data_dir = tempfile::tempdir().unwrap();
    let relay_dir = tempfile::tempdir().unwrap();
    let relay_db = relay_dir.path().join("relay.db");
    let profile = data_dir.path().join(parley_app::ACCOUNT_PROFILE);
    let _keyring = KeyringCleanup(profile.clone());
    let relay = relay_with_enrolled_profile(&relay_db, &profile);
    let sandbox = start_sandbox(&relay.url, "127.0.0.1:0", 100, None);
    run(ctl(&profile)
        .args(["configure-graph", "--base-url", &sandbox.url])
        .args(["--phone-number-id", common::PHONE_NUMBER_ID])
        .env("PARLEY_ACCESS_TOKEN", common::ACCESS_TOKEN));
    let sandbox_url = sandbox.url.clone();
    with_app("offline relay", data_dir.path(), |client| async move {
        let _sandbox = sandbox;
        let http = reqwest::Client::new();
        let write = |text: String| {
            let (http, url) = (http.clone(), sandbox_url.clone());
            async move {
                let resp = http
                    .post(format!("{url}/_sandbox/customers/{}/messages", common::CUSTOMER))
                    .json(&json!({ "text": text, "name": "Offline Customer" }))
                    .send()
                    .await
                    .unwrap();
                assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
            }
        };
        let n = rand_u32();
        let running = "//*[@data-testid='sync-state'][@data-state='running']";
        wait_for(&client, running, START_TIMEOUT).await;
        write(format!("before the outage {n}")).await;
        let row =
            format!("//*[@data-testid='conversation-row'][contains(., 'before the outage {n}')]");
        wait_for(&client, &row, STEP_TIMEOUT).await;

        // The relay dies (SIGKILL, no goodbye to the open stream).
        let listen = relay.url.trim_start_matches("http://").to_owned();
        drop(relay);
        let offline = wait_for(
            &client,
            "//*[@data-testid='sync-state'][@data-state='offline']",
            STEP_TIMEOUT,
        )
        .await;
        let shown = text_content(&offline).await;
        assert!(shown.contains("relay is unreachable"), "the reason is shown: {shown:?}");
        // History stays readable while offline.
        client.find(Locator::XPath(&row)).await.unwrap().click().await.unwrap();
        wait_for(
            &client,
            &format!("//*[@data-testid='message-body'][contains(., 'before the outage {n}')]"),
            STEP_TIMEOUT,
        )
        .await;

        // A customer writes while it is down; Meta (the sandbox) retries
        // until the relay is back on the same address.
        let during = tokio::spawn(write(format!("during the outage {n}")));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _relay = start_relay(&relay_db, &listen);
        during.await.unwrap();
        wait_for(&client, running, START_TIMEOUT).await;
        wait_for(
            &client,
            &format!("//*[@data-testid='message-body'][contains(., 'during the outage {n}')]"),
            STEP_TIMEOUT,
        )
        .await;
    })
    .await;
}

async fn flow(client: Client, sandbox_dir: PathBuf, profile_id: String) {
    let t0 = Instant::now();
    let step = |what: &str| eprintln!("e2e round trip: {what} ({:?})", t0.elapsed());

    let sandbox = sandbox_info(&sandbox_dir.join("sandbox.json")).await;
    let graph = sandbox["graph_base_url"].as_str().expect("graph_base_url").to_owned();
    assert!(graph.starts_with("http://127.0.0.1:"), "the sandbox listens on loopback: {graph}");
    step("sandbox up");

    wait_for(&client, "//*[@data-testid='sync-state'][@data-state='running']", START_TIMEOUT).await;
    wait_for(&client, "//*[@data-testid='sandbox-badge']", STEP_TIMEOUT).await;
    step("synced");

    check_security(&client).await;
    step("CSP and capabilities hold");

    // A customer writes in. The text is unique, so finding it proves it is
    // this run's message.
    let nonce = format!("{:08x}", rand_u32());
    let wa_id = format!("1555{}", &format!("{:010}", u64::from(rand_u32()))[..7]);
    let inbound = format!("Hello from e2e {nonce}");
    let http = reqwest::Client::new();
    let answer = http
        .post(format!("{graph}/_sandbox/customers/{wa_id}/messages"))
        .json(&json!({ "text": inbound, "name": CUSTOMER_NAME }))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "sandbox refused the customer message: {answer:?}");

    // Pushed to the list: no reload, no click.
    let row = wait_for(
        &client,
        &format!("//*[@data-testid='conversation-row'][contains(., '{inbound}')]"),
        STEP_TIMEOUT,
    )
    .await;
    let text = text_content(&row).await;
    assert!(text.contains(CUSTOMER_NAME), "the row names the customer: {text:?}");
    step("conversation row pushed");

    // Clicking the desktop notification (its default action, invoked the
    // way a click on it does) brings up that conversation.
    click_notification().await;
    wait_for(
        &client,
        &format!(
            "//*[@data-testid='message'][@data-direction='inbound']\
             //*[@data-testid='message-body'][contains(., '{inbound}')]"
        ),
        STEP_TIMEOUT,
    )
    .await;
    let title = client.find(Locator::Css("[data-testid=thread-title]")).await.unwrap();
    assert_eq!(text_content(&title).await, CUSTOMER_NAME);
    step("thread opened from the notification");
    // And by clicking its row, the usual way.
    row.click().await.unwrap();
    assert_eq!(text_content(&title).await, CUSTOMER_NAME);

    let reply = format!("Thanks, we are on it ({nonce})");
    let input = client.find(Locator::Css("[data-testid=composer-input]")).await.unwrap();
    input.send_keys(&reply).await.unwrap();
    client.find(Locator::Css("[data-testid=send-button]")).await.unwrap().click().await.unwrap();
    let outbound = wait_for(
        &client,
        &format!(
            "//*[@data-testid='message'][@data-direction='outbound']\
             [@data-status='delivered' or @data-status='read']\
             [.//*[@data-testid='message-body'][contains(., '{reply}')]]"
        ),
        STEP_TIMEOUT,
    )
    .await;
    let status = outbound.attr("data-status").await.unwrap();
    step(&format!("reply {}", status.as_deref().unwrap_or("?")));

    // The reply reached "Meta", addressed to this customer.
    let sent: Vec<Value> =
        http.get(format!("{graph}/_sandbox/sent")).send().await.unwrap().json().await.unwrap();
    assert!(
        sent.iter().any(|m| m["to"] == wa_id.as_str() && m["text"] == reply.as_str()),
        "the sandbox did not receive the reply for {wa_id}: {sent:#?}"
    );

    // The database key is in the OS keyring, and it opens the database.
    let key = KeyringStore::new(profile_id.as_str())
        .get(SecretName::DatabaseKey)
        .expect("the keyring answers")
        .expect("the database key is in the keyring");
    assert_eq!(key.len(), 32, "a raw 256-bit SQLCipher key");
    let stored = read_messages(&sandbox_dir.join("parley.db"), &key);
    assert!(stored.contains(&("inbound".to_owned(), inbound.clone())), "{stored:?}");
    assert!(stored.contains(&("outbound".to_owned(), reply.clone())), "{stored:?}");
    for file in ["parley.db", "parley.db-wal"] {
        let raw = std::fs::read(sandbox_dir.join(file)).unwrap_or_default();
        assert!(!contains(&raw, inbound.as_bytes()), "{file} holds the message in plaintext");
    }
    step("keyring and database checked");

    // The customer's message raised a real desktop notification.
    assert_notified(CUSTOMER_NAME, &inbound).await;
    step("notification seen");

    if std::env::var_os("PARLEY_UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
        let png = client.screenshot().await.unwrap();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshot.png");
        std::fs::write(&path, png).unwrap();
        step(&format!("screenshot saved to {}", path.display()));
    }
}

/// The app writes this once the sandbox is up and the profile enrolled.
async fn sandbox_info(path: &Path) -> Value {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(bytes) = std::fs::read(path) {
            return serde_json::from_slice(&bytes).expect("sandbox.json is JSON");
        }
        assert!(Instant::now() < deadline, "the app never wrote {}", path.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the page may and may not do, asked from inside it:
/// - the IPC custom protocol is allowed by the CSP (otherwise Tauri falls
///   back to postMessage silently, so only a violation report shows it);
/// - `eval` is refused, which proves the CSP is in force at all;
/// - a core command the capability does not grant is refused.
async fn check_security(client: &Client) {
    let script = r#"
        const done = arguments[arguments.length - 1];
        const violations = [];
        // The probe's own eval is refused on purpose; anything else counts.
        document.addEventListener('securitypolicyviolation', (e) => {
            if (e.blockedURI !== 'eval') violations.push(e.violatedDirective + ' ' + e.blockedURI);
        });
        let evalAllowed;
        try { eval('1'); evalAllowed = true; } catch (e) { evalAllowed = false; }
        const granted = window.__TAURI__.core.invoke('sync_state')
            .then(() => 'ok', (e) => 'refused: ' + JSON.stringify(e));
        const ungranted = window.__TAURI__.core.invoke('plugin:window|set_title', { value: 'x' })
            .then(() => 'ok', (e) => 'refused: ' + String(e));
        const ipc = fetch('ipc://localhost/__e2e_csp_probe', { method: 'POST' })
            .then(() => 'reached', (e) => 'blocked: ' + e);
        Promise.all([granted, ungranted, ipc]).then(([granted, ungranted, ipc]) =>
            setTimeout(() => done({ evalAllowed, granted, ungranted, ipc, violations }), 300));
    "#;
    let report = client.execute_async(script, vec![]).await.expect("the probe runs");
    eprintln!("e2e: security probe: {report}");
    assert_eq!(report["evalAllowed"], false, "the CSP must forbid eval: {report}");
    assert_eq!(report["granted"], "ok", "{report}");
    let ungranted = report["ungranted"].as_str().unwrap_or_default();
    assert!(ungranted.starts_with("refused"), "an ungranted command ran: {report}");
    assert_eq!(report["violations"], json!([]), "CSP violations: {report}");
    assert_eq!(report["ipc"], "reached", "the CSP blocks Tauri's IPC protocol: {report}");
}

/// Rows of the messages table, read with the key from the keyring through
/// a read-only connection (the app keeps running and writing).
fn read_messages(db: &Path, key: &[u8]) -> Vec<(String, String)> {
    use rusqlite::{Connection, OpenFlags};
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap();
    conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", hex(key))).unwrap();
    let mut stmt = conn.prepare("SELECT direction, body FROM messages ORDER BY id").unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .expect("the key from the keyring opens the database")
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    rows
}

/// Invoke the default action of the notification dunst shows, as a click
/// on it would. Waits for it to be displayed first.
async fn click_notification() {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let out =
            Command::new("dunstctl").args(["count", "displayed"]).output().expect("dunstctl runs");
        let shown: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0);
        if shown > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no notification was displayed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let acted = Command::new("dunstctl").args(["action", "0"]).status();
    assert!(acted.as_ref().is_ok_and(|s| s.success()), "dunstctl action failed: {acted:?}");
}

/// dunst lists a notification in its history once it is closed, so close
/// what is showing (this session's dunst only shows the test's) and look.
async fn assert_notified(summary: &str, body: &str) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let closed = Command::new("dunstctl").arg("close-all").status();
        assert!(
            closed.as_ref().is_ok_and(|s| s.success()),
            "dunstctl close-all failed ({closed:?}): is dunst the notification server? \
             Run the test through scripts/test.sh"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let out = Command::new("dunstctl").arg("history").output().expect("dunstctl runs");
        let history: Value = serde_json::from_slice(&out.stdout).expect("dunstctl history is JSON");
        let found = history["data"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|group| group.as_array().into_iter().flatten());
        let mut seen = Vec::new();
        for n in found {
            let s = n["summary"]["data"].as_str().unwrap_or_default();
            let b = n["body"]["data"].as_str().unwrap_or_default();
            if s == summary && b.contains(body) {
                assert_eq!(n["appname"]["data"], "Parley", "{n}");
                return;
            }
            seen.push(format!("{s}: {b}"));
        }
        assert!(
            Instant::now() < deadline,
            "no notification titled {summary:?} with {body:?}; dunst history: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Enough uniqueness for test data without another dependency.
fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos(),
    );
    h.finish() as u32
}
