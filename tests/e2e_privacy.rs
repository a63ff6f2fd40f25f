//! End to end through the real app window: the Privacy & data screen and
//! the app lock (issue 8).
//!
//! Same harness as `e2e_ui.rs`: tauri-driver, WebKitWebDriver, the app in
//! sandbox mode on a temporary data directory, the session's real keyring.
//! One window session walks through every action in order, because each
//! one changes what the next sees:
//!
//! 1. the screen opens from the header button and shows the inventory;
//! 2. retention: global 30 days, WhatsApp a custom 45, saved and read back;
//!    "Purge now" answers with the report sentence;
//! 3. "Export everything" into a temporary folder: the progress bar ends at
//!    the core's total, the CSVs parse with Python's `csv`, the README warns
//!    that the files are not encrypted, the screen says where they went;
//!    one conversation exported alone holds only its messages;
//! 4. one customer erased from the thread's "Customer data": gone from the
//!    list, and the export of what is left no longer names them;
//! 5. the app lock: turned on, locked, a data command refused by the core
//!    itself (invoked from the page), a wrong passphrase refused with words,
//!    the right one unlocks;
//! 6. "Delete all my data" with the typed confirmation: the app restarts as
//!    on first run (fresh profile id, empty inbox, no lock), and no keyring
//!    entry of the old profile remains.
//!
//! A second test turns the lock on, closes the app and starts it again: it
//! opens locked, the core refuses, the passphrase unlocks.
//!
//! `PARLEY_UPDATE_SCREENSHOT=1` also saves docs/privacy.png.

use std::path::Path;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use parley_core::{KeyringStore, Profile, SecretName, SecretStore};
use serde_json::{json, Value};

const APP: &str = env!("CARGO_BIN_EXE_parley");
const START_TIMEOUT: Duration = Duration::from_secs(90);
const PASSPHRASE: &str = "correct horse battery staple";

#[path = "common/webdriver.rs"]
mod webdriver;

use webdriver::{
    click, js, open_conversation, require_session, save_screenshot, stop_app, text_content,
    type_into, wait_for, wait_gone, Driver, KeyringCleanup, STEP_TIMEOUT,
};

fn profile_id(sandbox_dir: &Path) -> String {
    let config: Value =
        serde_json::from_slice(&std::fs::read(sandbox_dir.join("config.json")).unwrap()).unwrap();
    config["profile_id"]
        .as_str()
        .or_else(|| config["id"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no profile id in config.json: {config}"))
}

async fn async_js(client: &Client, script: &str) -> Value {
    client.execute_async(script, vec![]).await.unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// Waits until the screen filled in its suggested folder (loaded with the
/// settings), so typing is not overwritten by the suggestion arriving late.
async fn wait_prefilled(client: &Client, testid: &str) {
    let script = format!(
        "const i = document.querySelector('[data-testid={testid}]'); return !!i && i.value !== '';"
    );
    let deadline = Instant::now() + STEP_TIMEOUT;
    while js(client, &script).await != json!(true) {
        assert!(Instant::now() < deadline, "{testid} was never filled in");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn choose(client: &Client, testid: &str, value: &str) {
    let select = wait_for(client, &format!("//*[@data-testid='{testid}']"), STEP_TIMEOUT).await;
    select.select_by_value(value).await.unwrap_or_else(|e| panic!("{testid} = {value}: {e}"));
}

/// The text of `testid` once it contains `needle`.
async fn wait_text(client: &Client, testid: &str, needle: &str) -> String {
    let el = wait_for(
        client,
        &format!("//*[@data-testid='{testid}'][contains(., {})]", xpath_literal(needle)),
        STEP_TIMEOUT,
    )
    .await;
    text_content(&el).await
}

fn xpath_literal(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else {
        format!("\"{s}\"")
    }
}

async fn count(client: &Client, css: &str) -> u64 {
    js(client, &format!("return document.querySelectorAll({}).length;", json!(css)))
        .await
        .as_u64()
        .unwrap()
}

/// Where the sandbox listens, from sandbox.json.
async fn sandbox_graph(sandbox_dir: &Path) -> String {
    let path = sandbox_dir.join("sandbox.json");
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(bytes) = std::fs::read(&path) {
            if let Ok(info) = serde_json::from_slice::<Value>(&bytes) {
                return info["graph_base_url"].as_str().unwrap().to_owned();
            }
        }
        assert!(Instant::now() < deadline, "the app never wrote {}", path.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn customer_says(graph: &str, wa_id: &str, name: &str, text: &str) {
    let answer = reqwest::Client::new()
        .post(format!("{graph}/_sandbox/customers/{wa_id}/messages"))
        .json(&json!({ "text": text, "name": name }))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "sandbox refused: {answer:?}");
}

/// Parse an export's CSVs with Python's csv module: the message bodies and
/// contact names.
fn parse_export(dir: &Path) -> Value {
    let script = r#"
import csv, json, sys
d = sys.argv[1]
rows = list(csv.DictReader(open(d + "/messages.csv", newline="", encoding="utf-8")))
contacts = list(csv.DictReader(open(d + "/contacts.csv", newline="", encoding="utf-8")))
convs = list(csv.DictReader(open(d + "/conversations.csv", newline="", encoding="utf-8")))
data = json.load(open(d + "/messages.json", encoding="utf-8"))
print(json.dumps({"bodies": [r["body"] for r in rows], "names": [c["name"] for c in contacts],
                  "conversations": len(convs), "json_messages": len(data)}))
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "python: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The app on `data_dir` through a new WebDriver session, past the welcome.
async fn start_app(data_dir: &Path) -> (Driver, Client) {
    let (driver, client) =
        webdriver::launch(APP, data_dir, &["--demo-autochat-secs", "0"], &[]).await;
    webdriver::try_the_sandbox(&client).await;
    (driver, client)
}

/// The core's answer to `list_conversations`, invoked from the page.
async fn invoke_list(client: &Client) -> Value {
    async_js(
        client,
        "const done = arguments[arguments.length - 1];
         window.__TAURI__.core.invoke('list_conversations')
           .then(v => done({ok: v}), e => done({err: e}));",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_lock_holds_from_the_next_start() {
    require_session();
    let data_dir = tempfile::tempdir().unwrap();
    let sandbox_dir = data_dir.path().join("sandbox");
    drop(Profile::open(&sandbox_dir).unwrap());
    let _keyring = KeyringCleanup(sandbox_dir.clone());
    let t0 = Instant::now();
    let step = |what: &str| eprintln!("e2e_privacy (restart): {what} ({:?})", t0.elapsed());

    let (driver, client) = start_app(data_dir.path()).await;
    let first = {
        let client = client.clone();
        let sandbox_dir = sandbox_dir.clone();
        tokio::spawn(async move {
            let graph = sandbox_graph(&sandbox_dir).await;
            wait_for(
                &client,
                "//*[@data-testid='sync-state'][@data-state='running']",
                START_TIMEOUT,
            )
            .await;
            customer_says(&graph, "15550200003", "Cy Locked", "zqxcy hello").await;
            wait_for(
                &client,
                "//*[@data-testid='conversation-row'][contains(@aria-label, 'Cy Locked')]",
                STEP_TIMEOUT,
            )
            .await;
            click(&client, "privacy-button").await;
            choose(&client, "lock-idle", "60").await;
            type_into(&client, "lock-pass", PASSPHRASE).await;
            type_into(&client, "lock-pass2", PASSPHRASE).await;
            click(&client, "lock-enable").await;
            wait_text(&client, "lock-note", "The app lock is on").await;
        })
        .await
    };
    stop_app(driver, client).await;
    if let Err(e) = first {
        std::panic::resume_unwind(e.into_panic());
    }
    // The first app is gone once its profile lock is free.
    let deadline = Instant::now() + STEP_TIMEOUT;
    while Profile::open(&sandbox_dir).unwrap().lock().is_err() {
        assert!(Instant::now() < deadline, "the first app still holds the profile");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    step("lock turned on; app closed");

    let (driver, client) = start_app(data_dir.path()).await;
    let second = {
        let client = client.clone();
        tokio::spawn(async move {
            wait_for(&client, "//*[@data-testid='lock-screen']", START_TIMEOUT).await;
            assert_eq!(count(&client, "[data-testid=conversation-row]").await, 0);
            let refused = invoke_list(&client).await;
            assert_eq!(refused["err"]["code"], "locked", "{refused}");
            type_into(&client, "unlock-pass", PASSPHRASE).await;
            click(&client, "unlock").await;
            wait_for(
                &client,
                "//*[@data-testid='conversation-row'][contains(@aria-label, 'Cy Locked')]",
                STEP_TIMEOUT,
            )
            .await;
            let listed = invoke_list(&client).await;
            assert_eq!(listed["ok"].as_array().map(Vec::len), Some(1), "{listed}");
        })
        .await
    };
    stop_app(driver, client).await;
    if let Err(e) = second {
        std::panic::resume_unwind(e.into_panic());
    }
    step("locked at start, refused by the core, unlocked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_screen_retention_export_erasure_lock_and_delete_all() {
    require_session();
    let data_dir = tempfile::tempdir().unwrap();
    let sandbox_dir = data_dir.path().join("sandbox");
    // Made now so the first profile's id is known for the cleanup.
    drop(Profile::open(&sandbox_dir).unwrap());
    let _keyring = KeyringCleanup(sandbox_dir.clone());
    let first_id = profile_id(&sandbox_dir);
    let out_dir = tempfile::tempdir().unwrap();

    let started = Instant::now();
    let (driver, client) = start_app(data_dir.path()).await;
    let test = {
        let client = client.clone();
        let (sandbox_dir, out) = (sandbox_dir.clone(), out_dir.path().to_owned());
        tokio::spawn(async move { walk_through(&client, &sandbox_dir, &out, &first_id).await })
    };
    let outcome = test.await;
    if let Err(e) = client.close().await {
        eprintln!("e2e_privacy: closing the session failed: {e}");
    }
    drop(driver);
    match outcome {
        Ok(()) => eprintln!("e2e_privacy: passed in {:?}", started.elapsed()),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("the test was cancelled: {e}"),
    }
}

async fn walk_through(client: &Client, sandbox_dir: &Path, out: &Path, first_id: &str) {
    let t0 = Instant::now();
    let step = |what: &str| eprintln!("e2e_privacy: {what} ({:?})", t0.elapsed());
    let graph = sandbox_graph(sandbox_dir).await;
    wait_for(client, "//*[@data-testid='sync-state'][@data-state='running']", START_TIMEOUT).await;
    customer_says(&graph, "15550200001", "Ana Erase", "zqxana first, with a comma").await;
    customer_says(&graph, "15550200001", "Ana Erase", "=HYPERLINK(\"http://evil\")").await;
    customer_says(&graph, "15550200002", "Bo Keep", "zqxbo hello").await;
    for name in ["Ana Erase", "Bo Keep"] {
        wait_for(
            client,
            &format!("//*[@data-testid='conversation-row'][contains(@aria-label, '{name}')]"),
            STEP_TIMEOUT,
        )
        .await;
    }
    step("two customers wrote");

    // 1. The screen, from the header button; the inventory counts them.
    click(client, "privacy-button").await;
    wait_for(client, "//*[@data-testid='privacy-screen']", STEP_TIMEOUT).await;
    wait_for(
        client,
        "//*[@data-testid='inventory-row'][th[.='Messages']][td[contains(., '3')]]",
        STEP_TIMEOUT,
    )
    .await;
    let inventory =
        text_content(&client.find(Locator::Css("[data-testid=inventory]")).await.unwrap()).await;
    assert!(inventory.contains("SQLCipher"), "{inventory}");
    assert!(inventory.contains("keyring"), "{inventory}");
    step("screen open with the inventory");

    // 2. Retention: global 30 days, WhatsApp a custom 45.
    choose(client, "retention-global", "30").await;
    choose(client, "retention-whatsapp", "custom").await;
    type_into(client, "retention-whatsapp-days", "45").await;
    click(client, "retention-save").await;
    wait_text(client, "retention-note", "Retention saved").await;
    // Read back from the core: close and reopen (a fresh load).
    click(client, "privacy-close").await;
    wait_gone(client, "//*[@data-testid='privacy-screen']").await;
    // The keyboard shortcut opens it too.
    js(
        client,
        "window.dispatchEvent(new KeyboardEvent('keydown', {key: ',', ctrlKey: true, bubbles: true})); return null;",
    )
    .await;
    wait_for(client, "//*[@data-testid='privacy-screen']", STEP_TIMEOUT).await;
    wait_for(client, "//*[@data-testid='retention-whatsapp-days']", STEP_TIMEOUT).await;
    let read_back = js(
        client,
        "return [document.querySelector('[data-testid=retention-global]').value,
                 document.querySelector('[data-testid=retention-whatsapp]').value,
                 document.querySelector('[data-testid=retention-whatsapp-days]').value,
                 document.querySelector('[data-testid=retention-instagram]').value];",
    )
    .await;
    assert_eq!(read_back, json!(["30", "custom", "45", "global"]));
    click(client, "purge-now").await;
    let report = wait_text(client, "retention-note", "deleted").await;
    assert!(
        report.contains("WhatsApp: 0 messages and 0 files older than 45 days deleted")
            && report.contains("Instagram: 0 messages and 0 files older than 30 days deleted"),
        "{report}"
    );
    step("retention saved, read back, purge reported");

    // 3. Export everything.
    let export = out.join("everything");
    wait_prefilled(client, "export-dir").await;
    type_into(client, "export-dir", &export.to_string_lossy()).await;
    click(client, "export-all").await;
    let said = wait_text(client, "export-note", "not encrypted").await;
    assert!(said.contains(&*export.to_string_lossy()), "says where: {said}");
    assert!(said.contains("2 contacts, 3 messages"), "{said}");
    // The bar is fed by the core's progress events: it ends at the core's
    // total (2 contacts + 2 conversations + 3 messages).
    wait_for(
        client,
        "//*[@data-testid='export-progress'][@data-total='7'][@data-done='7']",
        STEP_TIMEOUT,
    )
    .await;
    let parsed = parse_export(&export);
    assert_eq!(parsed["conversations"], 2);
    assert_eq!(parsed["json_messages"], 3);
    let bodies = parsed["bodies"].as_array().unwrap();
    assert!(bodies.contains(&json!("zqxana first, with a comma")), "{parsed}");
    assert!(bodies.contains(&json!("'=HYPERLINK(\"http://evil\")")), "neutralised: {parsed}");
    assert!(std::fs::read_to_string(export.join("README.txt")).unwrap().contains("NOT encrypted"));
    // The screen with the purge report, the finished bar and where the export went.
    js(
        client,
        "document.querySelector('[data-testid=privacy-screen]').scrollTop = 0; return null;",
    )
    .await;
    save_screenshot(client, "privacy.png").await;
    // Refused, with words, into a folder that is not empty.
    click(client, "export-all").await;
    wait_text(client, "export-note", "not an empty folder").await;
    step("exported everything; CSVs parse");

    // One conversation alone, from the thread's "Customer data".
    click(client, "privacy-close").await;
    open_conversation(client, "Bo Keep").await;
    click(client, "customer-data").await;
    wait_for(client, "//*[@data-testid='export-one-dir']", STEP_TIMEOUT).await;
    let one = out.join("bo");
    wait_prefilled(client, "export-one-dir").await;
    type_into(client, "export-one-dir", &one.to_string_lossy()).await;
    click(client, "export-one").await;
    wait_text(client, "customer-note", "not encrypted").await;
    let parsed = parse_export(&one);
    assert_eq!(parsed["bodies"], json!(["zqxbo hello"]), "only Bo's messages: {parsed}");
    assert_eq!(parsed["names"], json!(["Bo Keep"]));
    step("one conversation exported");

    // 4. Erase Ana, with a confirmation.
    click(client, "privacy-close").await;
    open_conversation(client, "Ana Erase").await;
    click(client, "customer-data").await;
    click(client, "erase-ask").await;
    click(client, "erase-confirm").await;
    wait_text(client, "customer-note", "is erased").await;
    click(client, "privacy-close").await;
    wait_gone(client, "//*[@data-testid='conversation-row'][contains(@aria-label, 'Ana Erase')]")
        .await;
    assert_eq!(count(client, "[data-testid=conversation-row]").await, 1);
    click(client, "privacy-button").await;
    let after = out.join("after-erasure");
    wait_prefilled(client, "export-dir").await;
    type_into(client, "export-dir", &after.to_string_lossy()).await;
    click(client, "export-all").await;
    wait_text(client, "export-note", "not encrypted").await;
    let parsed = parse_export(&after);
    assert_eq!(parsed["names"], json!(["Bo Keep"]), "Ana is gone: {parsed}");
    assert_eq!(parsed["bodies"], json!(["zqxbo hello"]));
    step("one customer erased");

    // 5. The app lock.
    type_into(client, "lock-pass", PASSPHRASE).await;
    type_into(client, "lock-pass2", PASSPHRASE).await;
    click(client, "lock-enable").await;
    wait_text(client, "lock-note", "The app lock is on").await;
    click(client, "lock-now").await;
    wait_for(client, "//*[@data-testid='lock-screen']", STEP_TIMEOUT).await;
    assert_eq!(count(client, "[data-testid=conversation-row]").await, 0, "nothing shown");
    // The core itself refuses, not just the view.
    let refused = invoke_list(client).await;
    assert_eq!(refused["err"]["code"], "locked", "{refused}");
    type_into(client, "unlock-pass", "wrong horse battery").await;
    click(client, "unlock").await;
    let wrong = wait_text(client, "unlock-error", "not right").await;
    assert!(wrong.contains("try again"), "{wrong}");
    wait_for(client, "//*[@data-testid='lock-screen']", STEP_TIMEOUT).await;
    type_into(client, "unlock-pass", PASSPHRASE).await;
    click(client, "unlock").await;
    wait_gone(client, "//*[@data-testid='lock-screen']").await;
    wait_for(
        client,
        "//*[@data-testid='conversation-row'][contains(@aria-label, 'Bo Keep')]",
        STEP_TIMEOUT,
    )
    .await;
    step("locked, refused by the core, wrong passphrase refused, unlocked");

    // Ctrl+L locks too (the header's padlock does the same).
    wait_for(client, "//*[@data-testid='lock-button']", STEP_TIMEOUT).await;
    js(
        client,
        "window.dispatchEvent(new KeyboardEvent('keydown', {key: 'l', ctrlKey: true, bubbles: true})); return null;",
    )
    .await;
    wait_for(client, "//*[@data-testid='lock-screen']", STEP_TIMEOUT).await;
    type_into(client, "unlock-pass", PASSPHRASE).await;
    click(client, "unlock").await;
    wait_gone(client, "//*[@data-testid='lock-screen']").await;
    step("Ctrl+L locked, unlocked again");

    // Disconnect, keeping the history: the tokens and the device key leave
    // the keyring, sync stops, the conversation stays.
    click(client, "privacy-button").await;
    click(client, "disconnect-keep").await;
    click(client, "disconnect-ask").await;
    click(client, "disconnect-confirm").await;
    wait_text(client, "disconnect-note", "history stays").await;
    let keyring = KeyringStore::new(first_id.to_owned());
    for name in [SecretName::GraphToken, SecretName::RelayToken, SecretName::DeviceKey] {
        assert!(keyring.get(name).unwrap().is_none(), "{name:?} still in the keyring");
    }
    assert!(keyring.get(SecretName::DatabaseKey).unwrap().is_some(), "the history stays readable");
    wait_for(
        client,
        "//*[@data-testid='sync-state'][@data-state='error'][contains(., 'Disconnected')]",
        STEP_TIMEOUT,
    )
    .await;
    click(client, "privacy-close").await;
    wait_for(
        client,
        "//*[@data-testid='conversation-row'][contains(@aria-label, 'Bo Keep')]",
        STEP_TIMEOUT,
    )
    .await;
    step("disconnected, history kept");

    // 6. Delete all my data.
    click(client, "privacy-button").await;
    let button = wait_for(client, "//*[@data-testid='delete-all']", STEP_TIMEOUT).await;
    assert!(button.attr("disabled").await.unwrap().is_some(), "disabled before the word");
    type_into(client, "delete-all-typed", "DELETE").await;
    click(client, "delete-all").await;
    // The window reloads onto a fresh start.
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let fresh = std::fs::read(sandbox_dir.join("config.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|_| profile_id(sandbox_dir) != first_id);
        if fresh && sandbox_dir.join("sandbox.json").exists() {
            break;
        }
        assert!(Instant::now() < deadline, "the app did not start again with a new profile");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // First run again: the reloaded window welcomes. The reload may cut a
    // WebDriver call short, so errors while it happens are retried.
    let deadline = Instant::now() + START_TIMEOUT;
    while client.find(Locator::Css("[data-testid=try-sandbox]")).await.is_err() {
        assert!(Instant::now() < deadline, "no welcome screen after deleting everything");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(webdriver::try_the_sandbox(client).await);
    wait_for(client, "//*[@data-testid='sync-state'][@data-state='running']", START_TIMEOUT).await;
    wait_for(client, "//*[@data-testid='conversation-list']", STEP_TIMEOUT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count(client, "[data-testid=conversation-row]").await, 0, "an empty inbox");
    assert_eq!(count(client, "[data-testid=lock-screen]").await, 0, "no lock: first run");
    let old = KeyringStore::new(first_id.to_owned());
    for name in SecretName::ALL {
        assert!(old.get(name).unwrap().is_none(), "{name:?} of the old profile is still there");
    }
    step("deleted everything; first-run state");
}
