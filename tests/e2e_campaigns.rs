//! A broadcast campaign end to end, through the real app on the account
//! profile, the real relay and the real sandbox binary enforcing Meta's
//! 80 messages per second (130429 beyond it).
//!
//! 5,000 contacts are imported (37 of them opted out); the campaign is built
//! and confirmed in the Campaigns screen; the app is killed with SIGKILL
//! part-way and started again; the campaign finishes by itself. Then: every
//! recipient was sent at most once (nobody twice, nobody opted out), the
//! sandbox refused nothing for the rate, and the per-recipient statistics in
//! the window agree with what the sandbox received, delivered and read.
//!
//! Needs the session `scripts/test.sh` provides (Xvfb, D-Bus, keyring).

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const APP: &str = env!("CARGO_BIN_EXE_parley");
const CONTACTS: usize = 5_000;
const OPTED_OUT: usize = 37;
/// Sends that can be with Meta at once (the sender's in-flight bound at
/// 80/s), so at most this many can be unconfirmed by a kill.
const MAX_IN_FLIGHT: usize = 40;
const START_TIMEOUT: Duration = Duration::from_secs(90);

mod common;
#[path = "common/webdriver.rs"]
mod webdriver;

use webdriver::{click, js, require_session, wait_for, KeyringCleanup, STEP_TIMEOUT};

fn number(i: usize) -> String {
    format!("1666{i:07}")
}

/// `CONTACTS` customers labelled `spring`, the first `OPTED_OUT` opted out.
fn contacts_file(dir: &Path) -> std::path::PathBuf {
    let mut csv = String::from("Name,Phone,Labels,Opted out\r\n");
    for i in 0..CONTACTS {
        let out = if i < OPTED_OUT { "yes" } else { "no" };
        csv.push_str(&format!("Customer {i},+{},spring,{out}\r\n", number(i)));
    }
    let path = dir.join("contacts.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

async fn sandbox_get(http: &reqwest::Client, url: &str, path: &str) -> Value {
    http.get(format!("{url}{path}")).send().await.unwrap().json().await.unwrap()
}

/// The numbers of the stat cards in the campaign detail.
async fn stats(client: &fantoccini::Client) -> Value {
    js(
        client,
        "const out = {};
         for (const d of document.querySelectorAll('[data-testid=campaign-stats] [data-stat]')) {
           out[d.dataset.stat] = Number(d.querySelector('dd').textContent);
         }
         return out;",
    )
    .await
}

/// Open the Campaigns screen and the (only) campaign's detail.
async fn open_campaign(client: &fantoccini::Client) {
    click(client, "campaigns-button").await;
    click(client, "campaign-row").await;
    wait_for(client, "//*[@data-testid='campaign-detail']", STEP_TIMEOUT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5000_recipient_campaign_survives_a_kill_and_sends_nobody_twice() {
    use common::{ctl, relay_with_enrolled_profile, run, serve, PHONE_NUMBER_ID};
    require_session();
    let data_dir = tempfile::tempdir().unwrap();
    let relay_dir = tempfile::tempdir().unwrap();
    let relay_db = relay_dir.path().join("relay.db");
    let profile = data_dir.path().join(parley_app::ACCOUNT_PROFILE);
    let _keyring = KeyringCleanup(profile.clone());
    let relay = relay_with_enrolled_profile(&relay_db, &profile);
    let mut cmd = Command::new(common::bin("parley-sandbox"));
    cmd.args(["--listen", "127.0.0.1:0", "--phone-number-id", PHONE_NUMBER_ID])
        .args(["--status-delay-ms", "50", "--max-msgs-per-sec", "80"])
        .arg("--webhook-url")
        .arg(format!("{}/webhooks/meta", relay.url))
        .env("PARLEY_APP_SECRET", common::APP_SECRET)
        .env("PARLEY_ACCESS_TOKEN", common::ACCESS_TOKEN);
    let sandbox = serve(cmd);
    run(ctl(&profile)
        .args(["configure-graph", "--base-url", &sandbox.url])
        .args(["--phone-number-id", PHONE_NUMBER_ID, "--waba-id", parley_sandbox::DEFAULT_WABA_ID])
        .env("PARLEY_ACCESS_TOKEN", common::ACCESS_TOKEN));
    let report = common::ctl_json(
        &profile,
        &["contacts", "import", contacts_file(data_dir.path()).to_str().unwrap()],
    );
    assert_eq!(report["created"], json!(CONTACTS), "{report}");

    let http = reqwest::Client::new();
    let started = Instant::now();
    let recipients = CONTACTS - OPTED_OUT;

    // First run: build, review and confirm the campaign, then die mid-way.
    let (driver, client) = webdriver::launch(APP, data_dir.path(), &[], &[]).await;
    webdriver::try_the_sandbox(&client).await;
    wait_for(&client, "//*[@data-testid='sync-state'][@data-state='running']", START_TIMEOUT).await;
    click(&client, "campaigns-button").await;
    click(&client, "campaign-new").await;
    webdriver::type_into(&client, "campaign-name", "Spring sale").await;
    wait_for(&client, "//option[@value='weekend_offer|en_US']", STEP_TIMEOUT).await;
    js(
        &client,
        "const s = document.querySelector('[data-testid=campaign-template]');
         s.value = 'weekend_offer|en_US';
         s.dispatchEvent(new Event('change', { bubbles: true }));
         return true;",
    )
    .await;
    wait_for(&client, "//*[@data-testid='variable-body-0']", STEP_TIMEOUT).await;
    wait_for(&client, "//input[@data-testid='audience-label'][@value='spring']", STEP_TIMEOUT)
        .await
        .click()
        .await
        .unwrap();
    click(&client, "campaign-review").await;
    let summary = wait_for(
        &client,
        &format!("//*[@data-testid='campaign-summary'][@data-recipients='{recipients}']"),
        STEP_TIMEOUT,
    )
    .await;
    let text = webdriver::text_content(&summary).await;
    assert!(text.contains(&format!("Excluded: {OPTED_OUT} opted out of marketing")), "{text}");
    assert!(text.contains("at 80 messages per second"), "{text}");
    // The sandbox's number is TIER_2K: 4,963 new conversations exceed it.
    assert!(text.contains("Warning:"), "the tier warning is shown: {text}");
    assert!(text.contains("Hi Customer "), "a sample is shown: {text}");
    let before: Vec<Value> =
        serde_json::from_value(sandbox_get(&http, &sandbox.url, "/_sandbox/sent").await).unwrap();
    assert!(before.is_empty(), "nothing is sent before the confirmation");
    webdriver::save_screenshot(&client, "campaign-summary.png").await;
    click(&client, "campaign-confirm").await;
    wait_for(&client, "//*[@data-testid='campaign-detail'][@data-state='running']", STEP_TIMEOUT)
        .await;
    eprintln!("e2e campaign: confirmed after {:?}", started.elapsed());

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let sent = sandbox_get(&http, &sandbox.url, "/_sandbox/sent").await;
        if sent.as_array().unwrap().len() >= 1_500 {
            break;
        }
        assert!(Instant::now() < deadline, "the campaign did not get going");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    webdriver::save_screenshot(&client, "campaign.png").await;
    // SIGKILL: no goodbye, sends may be in flight. The data directory is
    // unique to this test, so only this app matches.
    let killed = Command::new("pkill")
        .args(["-KILL", "-f", data_dir.path().to_str().unwrap()])
        .status()
        .unwrap();
    assert!(killed.success(), "the app was running");
    let at_kill =
        sandbox_get(&http, &sandbox.url, "/_sandbox/sent").await.as_array().unwrap().len();
    eprintln!("e2e campaign: killed after {at_kill} sends ({:?})", started.elapsed());
    let _ = client.close().await;
    drop(driver);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after_kill =
        sandbox_get(&http, &sandbox.url, "/_sandbox/sent").await.as_array().unwrap().len();
    assert!(after_kill < recipients, "killed before the end ({after_kill})");

    // Second run: it finishes by itself.
    let (driver, client) = webdriver::launch(APP, data_dir.path(), &[], &[]).await;
    let outcome = tokio::spawn({
        let (client, http, url) = (client.clone(), http.clone(), sandbox.url.clone());
        async move {
            wait_for(
                &client,
                "//*[@data-testid='sync-state'][@data-state='running']",
                START_TIMEOUT,
            )
            .await;
            open_campaign(&client).await;
            wait_for(
                &client,
                "//*[@data-testid='campaign-detail'][@data-state='completed']",
                Duration::from_secs(240),
            )
            .await;
            eprintln!("e2e campaign: completed");
            let sent: Vec<Value> =
                serde_json::from_value(sandbox_get(&http, &url, "/_sandbox/sent").await).unwrap();
            let to: Vec<&str> = sent.iter().map(|m| m["to"].as_str().unwrap()).collect();
            let distinct: HashSet<&str> = to.iter().copied().collect();
            assert_eq!(distinct.len(), to.len(), "somebody was sent the campaign twice");
            assert!(sent.iter().all(|m| m["kind"] == "template"));
            for i in 0..OPTED_OUT {
                assert!(!distinct.contains(number(i).as_str()), "opted-out {i} was sent");
            }
            let unconfirmed = recipients - to.len();
            assert!(
                unconfirmed <= MAX_IN_FLIGHT,
                "{unconfirmed} recipients lost to the kill, more than were in flight"
            );
            let limits = sandbox_get(&http, &url, "/_sandbox/limits").await;
            assert_eq!(limits["rate_limited"], json!(0), "130429 from the sandbox: {limits}");

            // The statistics agree with the sandbox once its statuses are in.
            let deadline = Instant::now() + Duration::from_secs(180);
            let last = loop {
                let s = stats(&client).await;
                let n = |k: &str| s[k].as_u64().unwrap_or(u64::MAX);
                if n("delivered") + n("read") == to.len() as u64 && n("queued") == 0 {
                    break s;
                }
                assert!(Instant::now() < deadline, "statistics never matched the sandbox: {s}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            };
            assert_eq!(last["recipients"], json!(recipients), "{last}");
            assert_eq!(last["excluded"], json!(OPTED_OUT), "{last}");
            assert_eq!(last["failed"], json!(unconfirmed), "{last}");
            assert_eq!(last["sent"], json!(0), "every accepted send was delivered: {last}");
            eprintln!("e2e campaign: statistics {last} ({unconfirmed} unconfirmed by the kill)");

            // Per recipient: an opted-out one says why.
            js(
                &client,
                "const s = document.querySelector('[data-testid=recipient-filter]');
                 s.value = 'excluded';
                 s.dispatchEvent(new Event('change', { bubbles: true }));
                 return true;",
            )
            .await;
            let row = wait_for(
                &client,
                "//*[@data-testid='recipient'][@data-state='excluded'][contains(., 'Opted out')]",
                STEP_TIMEOUT,
            )
            .await;
            assert!(webdriver::text_content(&row).await.contains("Customer 0"));
        }
    })
    .await;
    if let Err(e) = client.close().await {
        eprintln!("e2e campaign: closing the session failed: {e}");
    }
    drop(driver);
    drop(sandbox);
    drop(relay);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
    eprintln!("e2e campaign: passed in {:?}", started.elapsed());
}
