//! First run, "Connect your business" and the Channels screen, end to end in
//! the real app window (tauri-driver + WebKitWebDriver, as `e2e.rs`).
//!
//! - A fresh app shows the welcome screen; "Try the sandbox" leads to the
//!   inbox, where the demo's simulated customers write in; a restart does not
//!   welcome again.
//! - "Connect your business" against the REAL `parley-relay` and
//!   `parley-sandbox` binaries on loopback (the app's Graph address pointed at
//!   the sandbox with `--graph-url`): a wrong token is refused by the sandbox
//!   like Meta (code 190) and shown on the token field; the right values
//!   switch the window to the account profile, where a customer's message
//!   arrives through the real relay. The token is in gnome-keyring and in no
//!   file of the data directory.
//! - The Channels screen shows the sandbox number's quality rating and
//!   messaging-limit tier, fetched from its Graph API.
//!
//! `PARLEY_UPDATE_SCREENSHOT=1` saves docs/onboarding.png, docs/connect.png and
//! docs/channels.png.

mod common;

#[path = "common/webdriver.rs"]
mod webdriver;

use std::path::Path;
use std::time::Duration;

use fantoccini::Client;
use parley_core::{KeyringStore, Profile, SecretName, SecretStore};
use serde_json::json;

use common::{
    relay_admin, run, start_relay, start_sandbox, stdout_line, tenant_with_number, ACCESS_TOKEN,
    PHONE_NUMBER_ID,
};
use webdriver::{
    click, js, launch, require_session, save_screenshot, stop_app, text_content, try_the_sandbox,
    type_into, wait_for, wait_gone, KeyringCleanup, STEP_TIMEOUT,
};

const APP: &str = env!("CARGO_BIN_EXE_parley");
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// The sandbox binary's default WhatsApp Business Account.
const WABA_ID: &str = "200000000000001";

/// Run `test` on a started app, then stop it however `test` ended.
async fn with_app<F, Fut>(data_dir: &Path, args: &[&str], test: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (driver, client) = launch(APP, data_dir, args, &[]).await;
    let outcome = tokio::spawn(test(client.clone())).await;
    stop_app(driver, client).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn count(client: &Client, css: &str) -> u64 {
    js(client, &format!("return document.querySelectorAll({}).length;", json!(css)))
        .await
        .as_u64()
        .unwrap()
}

/// Waits until the previous app released the profile (it has exited).
async fn wait_released(profile: &Path) {
    let deadline = std::time::Instant::now() + STEP_TIMEOUT;
    while Profile::open(profile).unwrap().lock().is_err() {
        assert!(std::time::Instant::now() < deadline, "the first app still holds the profile");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_welcomes_and_try_the_sandbox_leads_to_the_inbox_once() {
    require_session();
    let data_dir = tempfile::tempdir().unwrap();
    let sandbox_dir = data_dir.path().join("sandbox");
    drop(Profile::open(&sandbox_dir).unwrap());
    let _keyring = KeyringCleanup(sandbox_dir.clone());

    // Simulated customers write in every second or so: the demo's seed.
    with_app(data_dir.path(), &["--demo-autochat-secs", "1"], |client| async move {
        wait_for(&client, "//*[@data-testid='welcome']", START_TIMEOUT).await;
        assert_eq!(count(&client, "[data-testid=conversation-list]").await, 0, "welcome first");
        save_screenshot(&client, "onboarding.png").await;
        click(&client, "try-sandbox").await;
        wait_gone(&client, "//*[@data-testid='welcome-screen']").await;
        wait_for(&client, "//*[@data-testid='sandbox-badge']", STEP_TIMEOUT).await;
        wait_for(&client, "//*[@data-testid='conversation-row']", START_TIMEOUT).await;
    })
    .await;
    let config = std::fs::read_to_string(sandbox_dir.join("config.json")).unwrap();
    assert!(config.contains("\"welcome_done\": true"), "{config}");

    wait_released(&sandbox_dir).await;
    with_app(data_dir.path(), &["--demo-autochat-secs", "0"], |client| async move {
        assert!(!try_the_sandbox(&client).await, "no welcome after a restart");
        // The conversations of the first run are still there.
        wait_for(&client, "//*[@data-testid='conversation-row']", START_TIMEOUT).await;
        assert_eq!(count(&client, "[data-testid=welcome-screen]").await, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_show_the_sandbox_numbers_quality_rating_and_limit() {
    require_session();
    let data_dir = tempfile::tempdir().unwrap();
    let sandbox_dir = data_dir.path().join("sandbox");
    drop(Profile::open(&sandbox_dir).unwrap());
    let _keyring = KeyringCleanup(sandbox_dir.clone());
    with_app(data_dir.path(), &["--demo-autochat-secs", "0"], |client| async move {
        assert!(try_the_sandbox(&client).await);
        wait_for(&client, "//*[@data-testid='sync-state'][@data-state='running']", START_TIMEOUT)
            .await;
        click(&client, "channels-button").await;
        let quality = wait_for(&client, "//*[@data-testid='channel-quality']", STEP_TIMEOUT).await;
        assert_eq!(text_content(&quality).await, "High quality");
        assert!(quality.attr("class").await.unwrap().unwrap().contains("quality-green"));
        let tier = wait_for(&client, "//*[@data-testid='channel-tier']", STEP_TIMEOUT).await;
        assert_eq!(text_content(&tier).await, "2,000 customers per day");
        let number = wait_for(&client, "//*[@data-testid='channel-number']", STEP_TIMEOUT).await;
        assert_eq!(text_content(&number).await, "+15550001000 · Parley Sandbox");
        wait_for(
            &client,
            "//*[@data-testid='channel'][@data-kind='whatsapp'][@data-state='online']",
            STEP_TIMEOUT,
        )
        .await;
        save_screenshot(&client, "channels.png").await;
        // Escape closes it; the shortcut opens it again.
        js(&client, "window.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'})); return 0;")
            .await;
        wait_gone(&client, "//*[@data-testid='channels-screen']").await;
        js(
            &client,
            "window.dispatchEvent(new KeyboardEvent('keydown', {key: '.', ctrlKey: true})); return 0;",
        )
        .await;
        wait_for(&client, "//*[@data-testid='channels-screen']", STEP_TIMEOUT).await;
        // From here the welcome screen's second path is reachable again.
        click(&client, "channels-connect").await;
        wait_for(&client, "//*[@data-testid='connect-form']", STEP_TIMEOUT).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_a_business_checks_with_meta_enrolls_and_switches_to_the_account() {
    require_session();
    let work = tempfile::tempdir().unwrap();
    let relay_db = work.path().join("relay.db");
    let tenant = tenant_with_number(&relay_db, "onboarding");
    let relay = start_relay(&relay_db, "127.0.0.1:0");
    let code = stdout_line(&run(relay_admin(&relay_db).args(["enroll-code", "--tenant", &tenant])));
    let sandbox = start_sandbox(&relay.url, "127.0.0.1:0", 100, None);

    let data_dir = work.path().join("data");
    let sandbox_dir = data_dir.join("sandbox");
    let account_dir = data_dir.join("account");
    drop(Profile::open(&sandbox_dir).unwrap());
    let _keyring = (KeyringCleanup(sandbox_dir.clone()), KeyringCleanup(account_dir.clone()));

    let args = ["--demo-autochat-secs", "0", "--graph-url", sandbox.url.as_str()];
    let (relay_url, graph) = (relay.url.clone(), sandbox.url.clone());
    let (account, enroll_code) = (account_dir.clone(), code.clone());
    with_app(&data_dir, &args, |client| async move {
        let (account_dir, code) = (account, enroll_code);
        wait_for(&client, "//*[@data-testid='welcome']", START_TIMEOUT).await;
        click(&client, "connect-business").await;
        wait_for(&client, "//*[@data-testid='connect-form']", STEP_TIMEOUT).await;
        // The live check: a phone number where its id belongs.
        type_into(&client, "connect-phone_number_id", "+1 555 000 1000").await;
        type_into(&client, "connect-waba_id", WABA_ID).await;
        let error =
            wait_for(&client, "//*[@data-testid='connect-phone_number_id-error']", STEP_TIMEOUT)
                .await;
        assert!(text_content(&error).await.contains("not the phone number itself"));

        type_into(&client, "connect-phone_number_id", PHONE_NUMBER_ID).await;
        type_into(&client, "connect-access_token", "EAAwrong-token").await;
        type_into(&client, "connect-relay_url", &relay_url).await;
        type_into(&client, "connect-enrollment_code", &code).await;
        click(&client, "connect-submit").await;
        let error =
            wait_for(&client, "//*[@data-testid='connect-access_token-error']", STEP_TIMEOUT).await;
        let text = text_content(&error).await;
        assert!(text.contains("Meta refused this access token"), "{text}");
        assert_eq!(count(&client, "[data-testid=sandbox-badge]").await, 1, "still the sandbox");
        save_screenshot(&client, "connect.png").await;
        assert!(
            !account_dir.join("config.json").exists()
                || !std::fs::read_to_string(account_dir.join("config.json"))
                    .unwrap()
                    .contains("\"graph\": {"),
            "nothing half-configured"
        );

        type_into(&client, "connect-access_token", ACCESS_TOKEN).await;
        wait_gone(&client, "//*[@data-testid='connect-access_token-error']").await;
        click(&client, "connect-submit").await;
        // The window reloads on the account profile: no sandbox badge.
        wait_gone(&client, "//*[@data-testid='connect-form']").await;
        wait_for(&client, "//div[contains(@class, 'app')][@data-app-info]", START_TIMEOUT).await;
        wait_for(&client, "//*[@data-testid='sync-state'][@data-state='running']", START_TIMEOUT)
            .await;
        assert_eq!(count(&client, "[data-testid=sandbox-badge]").await, 0);
        assert_eq!(count(&client, "[data-testid=welcome-screen]").await, 0);

        // A customer writes to the business number: sandbox → real relay → app.
        let sent = reqwest::Client::new()
            .post(format!("{graph}/_sandbox/customers/15551230077/messages"))
            .json(&json!({ "text": "hello business", "name": "Onboarded Customer" }))
            .send()
            .await
            .unwrap();
        assert!(sent.status().is_success());
        wait_for(
            &client,
            "//*[@data-testid='conversation-row'][contains(@aria-label, 'Onboarded Customer')]",
            STEP_TIMEOUT,
        )
        .await;
        // The Channels screen of the account.
        click(&client, "channels-button").await;
        let number = wait_for(&client, "//*[@data-testid='channel-number']", STEP_TIMEOUT).await;
        assert!(text_content(&number).await.contains("Parley Sandbox"));
        assert_eq!(count(&client, "[data-testid=channels-connect]").await, 0);
    })
    .await;

    // The sandbox demo stopped: its address file is gone.
    assert!(!sandbox_dir.join("sandbox.json").exists());
    let config = std::fs::read_to_string(account_dir.join("config.json")).unwrap();
    assert!(config.contains(&relay.url) && config.contains(PHONE_NUMBER_ID), "{config}");
    // The token: in gnome-keyring under the account profile, in no file.
    let profile = Profile::open(&account_dir).unwrap();
    let stored = KeyringStore::new(profile.id().to_owned()).get(SecretName::GraphToken).unwrap();
    assert_eq!(stored.as_deref().map(|t| &t[..]), Some(ACCESS_TOKEN.as_bytes()));
    for entry in walk(&data_dir) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(!common::contains(&bytes, ACCESS_TOKEN), "the token is in {}", entry.display());
        assert!(!common::contains(&bytes, &code), "the enrollment code is in {}", entry.display());
    }
}

/// A connection that fails at the relay (a code it never issued) leaves an
/// `account/` profile behind that is not configured. Even when that
/// profile's keys are gone from the keyring, the next start is the sandbox,
/// not an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_refused_at_the_relay_leaves_the_next_start_on_the_sandbox() {
    require_session();
    let work = tempfile::tempdir().unwrap();
    let relay_db = work.path().join("relay.db");
    tenant_with_number(&relay_db, "refused");
    let relay = start_relay(&relay_db, "127.0.0.1:0");
    let sandbox = start_sandbox(&relay.url, "127.0.0.1:0", 100, None);
    let data_dir = work.path().join("data");
    let (sandbox_dir, account_dir) = (data_dir.join("sandbox"), data_dir.join("account"));
    let _keyring = (KeyringCleanup(sandbox_dir.clone()), KeyringCleanup(account_dir.clone()));
    let args = ["--demo-autochat-secs", "0", "--graph-url", sandbox.url.as_str()];

    let relay_url = relay.url.clone();
    with_app(&data_dir, &args, |client| async move {
        wait_for(&client, "//*[@data-testid='welcome']", START_TIMEOUT).await;
        click(&client, "connect-business").await;
        type_into(&client, "connect-waba_id", WABA_ID).await;
        type_into(&client, "connect-phone_number_id", PHONE_NUMBER_ID).await;
        type_into(&client, "connect-access_token", ACCESS_TOKEN).await;
        type_into(&client, "connect-relay_url", &relay_url).await;
        type_into(&client, "connect-enrollment_code", "never-issued-code").await;
        click(&client, "connect-submit").await;
        let error =
            wait_for(&client, "//*[@data-testid='connect-enrollment_code-error']", STEP_TIMEOUT)
                .await;
        assert!(text_content(&error).await.contains("refused this enrollment code"));
    })
    .await;
    assert!(account_dir.join("config.json").exists(), "the half-made profile is there");
    // Its keys go (a keyring reset, another machine's copy of the folder).
    drop(KeyringCleanup(account_dir.clone()));
    wait_released(&sandbox_dir).await;

    with_app(&data_dir, &args, |client| async move {
        wait_for(&client, "//div[contains(@class, 'app')][@data-app-info]", START_TIMEOUT).await;
        wait_for(&client, "//*[@data-testid='welcome']", START_TIMEOUT).await;
        assert_eq!(count(&client, "[data-testid=error-banner]").await, 0, "no start-up error");
        click(&client, "try-sandbox").await;
        wait_for(&client, "//*[@data-testid='sync-state'][@data-state='running']", START_TIMEOUT)
            .await;
        assert_eq!(count(&client, "[data-testid=sandbox-badge]").await, 1, "the sandbox");
    })
    .await;
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
