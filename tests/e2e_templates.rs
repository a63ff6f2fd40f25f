//! End to end through the real app window: sending an approved template
//! once the customer's 24-hour window is closed.
//!
//! Same harness as `e2e_ui.rs` (tauri-driver, WebKitWebDriver, the app in
//! sandbox mode on a temporary data directory). The customer's last message
//! is delivered as a signed Meta webhook dated two days ago, so the app
//! sees the window closed; the composer shows the template picker instead
//! of the reply box. The test searches, closes with Escape and reopens it,
//! fills the variables (Send stays disabled until all are filled), checks
//! the live preview, sends with Enter in the last field, and checks that
//! the thread shows the rendered text up to `delivered` and that the
//! SANDBOX (Meta's side) received exactly those parameter values.
//!
//! `PARLEY_UPDATE_SCREENSHOT=1` also saves docs/templates.png (the picker
//! with a filled preview).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

const APP: &str = env!("CARGO_BIN_EXE_parley");
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// The demo tenant's app secret and business ids (parley_sandbox defaults).
const APP_SECRET: &str = "sandbox-app-secret";
const WABA_ID: &str = "200000000000001";
const PHONE_NUMBER_ID: &str = "100000000000001";
const DISPLAY_NUMBER: &str = "15550001000";

#[path = "common/webdriver.rs"]
mod webdriver;

use webdriver::{
    js, open_conversation, save_screenshot, text_content, wait_for, wait_gone, Driver,
    KeyringCleanup, STEP_TIMEOUT,
};

fn require_session() {
    for var in ["DISPLAY", "DBUS_SESSION_BUS_ADDRESS"] {
        assert!(
            std::env::var_os(var).is_some(),
            "{var} is not set: run this test through scripts/with-session.sh --fresh"
        );
    }
}

/// Where the sandbox and the demo relay listen.
struct Sandbox {
    graph: String,
    relay: String,
    http: reqwest::Client,
}

impl Sandbox {
    async fn wait(sandbox_dir: &Path) -> Sandbox {
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

    /// Waits until the business sent a message matching `pick`, as the
    /// sandbox recorded the `/messages` request.
    async fn wait_sent(&self, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
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

    /// One customer text, sent at `at` (Unix seconds), as a signed webhook.
    async fn old_message(&self, wa_id: &str, name: &str, id: &str, at: i64, body: &str) {
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
                        "messages": [{ "from": wa_id, "id": id, "timestamp": at.to_string(),
                                       "type": "text", "text": { "body": body } }],
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

fn now_s() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn nonce() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos());
    format!("{:08x}", h.finish() as u32)
}

async fn exists(client: &Client, css: &str) -> bool {
    let script = format!("return document.querySelector({}) !== null;", json!(css));
    js(client, &script).await == json!(true)
}

async fn send_disabled(client: &Client) -> bool {
    js(client, "return document.querySelector('[data-testid=template-send]').disabled;").await
        == json!(true)
}

async fn fill(client: &Client, test_id: &str, value: &str) {
    let input = client.find(Locator::Css(&format!("[data-testid={test_id}]"))).await.unwrap();
    input.send_keys(value).await.unwrap();
}

async fn with_app<F, Fut>(test: F)
where
    F: FnOnce(Client, PathBuf) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    require_session();
    let data_dir = tempfile::tempdir().unwrap();
    let sandbox_dir = data_dir.path().join("sandbox");
    let _keyring = KeyringCleanup(sandbox_dir.clone());
    let driver = Driver::start(&[]);
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("wry"));
    caps.insert(
        "tauri:options".into(),
        json!({
            "application": APP,
            "args": ["--data-dir", data_dir.path(), "--demo-autochat-secs", "0"],
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("WebDriver session with the app");
    client
        .update_timeouts(TimeoutConfiguration::new(None, None, Some(Duration::from_secs(2))))
        .await
        .unwrap();
    webdriver::try_the_sandbox(&client).await;
    let outcome = tokio::spawn(test(client.clone(), sandbox_dir)).await;
    if let Err(e) = client.close().await {
        eprintln!("e2e_templates: closing the session failed: {e}");
    }
    drop(driver);
    match outcome {
        Ok(()) => {}
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("the test was cancelled: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_window_offers_templates_and_sends_one_with_its_values() {
    with_app(|client, sandbox_dir| async move {
        let sandbox = Sandbox::wait(&sandbox_dir).await;
        wait_for(&client, "//*[@data-testid='sync-state'][@data-state='running']", START_TIMEOUT)
            .await;
        let n = nonce();
        let wa_id = "15550100777";
        let name = "Olga Petrova".to_owned();
        let two_days_ago = now_s() - 2 * 24 * 60 * 60;
        sandbox
            .old_message(wa_id, &name, &format!("wamid.old.{n}"), two_days_ago, "Thanks, bye!")
            .await;
        open_conversation(&client, &name).await;

        // The window is closed: the template picker, not the reply box.
        wait_for(&client, "//*[@data-testid='template-picker']", STEP_TIMEOUT).await;
        assert!(!exists(&client, "[data-testid=composer-input]").await, "no free-text box");
        let option = "//*[@data-testid='template-option'][@data-name='appointment_reminder']";
        wait_for(&client, option, STEP_TIMEOUT).await;
        // Only approved templates are offered (the sandbox's paused one is not).
        assert!(
            !exists(&client, "[data-testid=template-option][data-name=winter_clearance]").await
        );

        // Search narrows the list; Escape closes the picker, the button reopens it.
        let search = client.find(Locator::Css("[data-testid=template-search]")).await.unwrap();
        search.send_keys("appoint").await.unwrap();
        wait_gone(&client, "//*[@data-testid='template-option'][@data-name='hello_world']").await;
        search.send_keys("\u{E00C}").await.unwrap(); // Escape
        wait_gone(&client, "//*[@data-testid='template-picker']").await;
        wait_for(&client, "//*[@data-testid='choose-template']", STEP_TIMEOUT)
            .await
            .click()
            .await
            .unwrap();
        wait_for(&client, option, STEP_TIMEOUT).await.click().await.unwrap();

        // One labelled field per variable, examples as placeholders.
        let first =
            wait_for(&client, "//*[@data-testid='template-header-param-0']", STEP_TIMEOUT).await;
        assert_eq!(first.attr("placeholder").await.unwrap().as_deref(), Some("e.g. Friday"));
        assert!(send_disabled(&client).await, "nothing filled in yet");
        fill(&client, "template-header-param-0", "Friday").await;
        fill(&client, "template-body-param-0", "Olga").await;
        fill(&client, "template-body-param-1", "3:30 pm").await;
        assert!(send_disabled(&client).await, "one variable is still empty");
        fill(&client, "template-body-param-2", "Dr. Silva").await;
        let body = "Hi Olga, this is a reminder of your appointment at 3:30 pm with Dr. Silva.";
        wait_for(
            &client,
            &format!("//*[@data-testid='template-preview-body'][contains(., '{body}')]"),
            STEP_TIMEOUT,
        )
        .await;
        let header =
            client.find(Locator::Css("[data-testid=template-preview-header]")).await.unwrap();
        assert_eq!(text_content(&header).await, "Appointment on Friday");
        assert!(!send_disabled(&client).await, "every variable is filled in");
        save_screenshot(&client, "templates.png").await;

        // Enter in the last field sends.
        client
            .find(Locator::Css("[data-testid=template-body-param-2]"))
            .await
            .unwrap()
            .send_keys("\u{E007}")
            .await
            .unwrap();
        let delivered = format!(
            "//*[@data-testid='message'][@data-status='delivered' or @data-status='read']\
             [.//*[@data-testid='message-body'][contains(., '{body}')]]"
        );
        let bubble = wait_for(&client, &delivered, STEP_TIMEOUT).await;
        let shown =
            text_content(&bubble.find(Locator::Css("[data-testid=message-body]")).await.unwrap())
                .await;
        assert!(shown.contains("Appointment on Friday"), "the header is shown: {shown:?}");
        assert!(shown.contains("Sandbox Clinic"), "the footer is shown: {shown:?}");

        // Meta's side: one template message with exactly those values.
        let sent = sandbox
            .wait_sent("the template", |m| m["kind"] == "template" && m["to"] == wa_id)
            .await;
        assert_eq!(sent["body"]["template"]["name"], "appointment_reminder");
        assert_eq!(sent["body"]["template"]["language"]["code"], "en_US");
        assert_eq!(
            sent["body"]["template"]["components"],
            json!([
                {"type":"header","parameters":[{"type":"text","text":"Friday"}]},
                {"type":"body","parameters":[
                    {"type":"text","text":"Olga"},
                    {"type":"text","text":"3:30 pm"},
                    {"type":"text","text":"Dr. Silva"}]}
            ])
        );
        // The picker is back at the list, ready for another template.
        wait_for(&client, "//*[@data-testid='template-search']", STEP_TIMEOUT).await;
    })
    .await;
}
