//! The app on its sandbox profile, for the end-to-end tests (and the UI
//! benchmark): starting it under WebDriver past the welcome screen, and the
//! in-process sandbox and demo relay it runs, found through `sandbox.json`.
#![allow(dead_code)] // each user takes a different subset

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fantoccini::Client;
use serde_json::{json, Value};

use super::webdriver::{self, js, Driver, KeyringCleanup, STEP_TIMEOUT};

/// Start-up includes the keyring, two databases and enrollment; a cold
/// WebKit start under Xvfb alone can take several seconds.
pub const START_TIMEOUT: Duration = Duration::from_secs(90);
/// The demo tenant's app secret and business ids.
pub const APP_SECRET: &str = parley_sandbox::DEFAULT_APP_SECRET;
pub const WABA_ID: &str = parley_sandbox::DEFAULT_WABA_ID;
pub const PHONE_NUMBER_ID: &str = parley_sandbox::DEFAULT_PHONE_NUMBER_ID;
pub const DISPLAY_NUMBER: &str = parley_sandbox::DEFAULT_DISPLAY_PHONE_NUMBER;

pub use super::webdriver::require_session;

/// A WebDriver session with the app `app` on `data_dir` (no simulated
/// chatter), past the first-run welcome. Keep the driver until the session
/// is closed.
pub async fn start_app(app: &str, data_dir: &Path, env: &[(&str, &str)]) -> (Driver, Client) {
    let (driver, client) =
        webdriver::launch(app, data_dir, &["--demo-autochat-secs", "0"], env).await;
    webdriver::try_the_sandbox(&client).await;
    (driver, client)
}

/// Runs `test` against the app on `data_dir` (its sandbox profile is
/// `data_dir/sandbox`), then closes the session and stops the driver
/// however `test` ended.
pub async fn with_app_on<F, Fut>(
    app: &str,
    name: &str,
    env: &[(&str, &str)],
    data_dir: tempfile::TempDir,
    test: F,
) where
    F: FnOnce(Client, PathBuf) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    require_session();
    let sandbox_dir = data_dir.path().join("sandbox");
    let _keyring = KeyringCleanup(sandbox_dir.clone());
    let started = Instant::now();
    let (driver, client) = start_app(app, data_dir.path(), env).await;
    let outcome = tokio::spawn(test(client.clone(), sandbox_dir)).await;
    if let Err(e) = client.close().await {
        eprintln!("e2e {name}: closing the session failed: {e}");
    }
    drop(driver);
    match outcome {
        Ok(()) => eprintln!("e2e {name}: passed in {:?}", started.elapsed()),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("the test was cancelled: {e}"),
    }
}

/// Where the sandbox and the demo relay listen.
pub struct Sandbox {
    pub graph: String,
    pub relay: String,
    pub http: reqwest::Client,
}

impl Sandbox {
    pub async fn wait(sandbox_dir: &Path) -> Sandbox {
        let path = sandbox_dir.join("sandbox.json");
        let deadline = Instant::now() + START_TIMEOUT;
        let info: Value = loop {
            if let Ok(bytes) = std::fs::read(&path) {
                break serde_json::from_slice(&bytes).unwrap();
            }
            assert!(Instant::now() < deadline, "the app never wrote {}", path.display());
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        Sandbox {
            graph: info["graph_base_url"].as_str().unwrap().to_owned(),
            relay: info["relay_url"].as_str().unwrap().trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// A simulated customer writes a text through the sandbox. Returns its
    /// `wamid`.
    pub async fn customer_says(&self, wa_id: &str, name: &str, text: &str) -> String {
        let answer = self
            .http
            .post(format!("{}/_sandbox/customers/{wa_id}/messages", self.graph))
            .json(&json!({ "text": text, "name": name }))
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "sandbox refused: {answer:?}");
        let answer: Value = answer.json().await.unwrap();
        answer["id"].as_str().expect("the sandbox names the message").to_owned()
    }

    /// Waits until the business sent a message matching `pick` (Meta's
    /// view: the sandbox's record of `/messages` requests).
    pub async fn wait_sent(&self, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let sent: Vec<Value> = self
                .http
                .get(format!("{}/_sandbox/sent", self.graph))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(found) = sent.into_iter().find(|m| pick(m)) {
                return found;
            }
            assert!(Instant::now() < deadline, "the sandbox never received {what}");
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Delivers `messages` from one customer as a signed Meta webhook.
    pub async fn webhook(&self, wa_id: &str, name: &str, messages: Vec<Value>) {
        let body = serde_json::to_vec(&json!({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": WABA_ID,
                "changes": [{
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {
                            "display_phone_number": DISPLAY_NUMBER,
                            "phone_number_id": PHONE_NUMBER_ID,
                        },
                        "contacts": [{ "profile": { "name": name }, "wa_id": wa_id }],
                        "messages": messages,
                    },
                }],
            }],
        }))
        .unwrap();
        let signature = parley_meta::signature::sign(APP_SECRET.as_bytes(), &body);
        let answer = self
            .http
            .post(format!("{}/webhooks/meta", self.relay))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "relay refused the webhook: {answer:?}");
    }
}

pub fn now_s() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

pub fn text_message(wa_id: &str, id: &str, at: i64, body: &str) -> Value {
    json!({ "from": wa_id, "id": id, "timestamp": at.to_string(), "type": "text", "text": { "body": body } })
}

pub fn nonce() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos());
    format!("{:08x}", h.finish() as u32)
}

/// Whether `css` matches now (no implicit wait, unlike `find_all`).
pub async fn exists(client: &Client, css: &str) -> bool {
    let script = format!("return document.querySelector({}) !== null;", json!(css));
    js(client, &script).await == json!(true)
}
