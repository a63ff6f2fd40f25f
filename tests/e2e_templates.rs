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

use std::path::PathBuf;

use fantoccini::{Client, Locator};
use serde_json::json;

const APP: &str = env!("CARGO_BIN_EXE_parley");

#[path = "common/sandbox_app.rs"]
mod sandbox_app;
use sandbox_app::{exists, nonce, now_s, text_message, Sandbox, START_TIMEOUT};

#[path = "common/webdriver.rs"]
mod webdriver;

use webdriver::{
    js, open_conversation, save_screenshot, text_content, wait_for, wait_gone, STEP_TIMEOUT,
};

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
    let data_dir = tempfile::tempdir().unwrap();
    sandbox_app::with_app_on(APP, "templates", &[], data_dir, test).await
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
        let old = text_message(wa_id, &format!("wamid.old.{n}"), two_days_ago, "Thanks, bye!");
        sandbox.webhook(wa_id, &name, vec![old]).await;
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
