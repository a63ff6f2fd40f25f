//! End to end through the real app window: the Templates screen.
//!
//! Same harness as `e2e_templates.rs` (tauri-driver, WebKitWebDriver, the
//! app in sandbox mode on a temporary data directory, whose in-process
//! sandbox reviews a submitted template after two seconds and posts the
//! review webhook through the demo relay).
//!
//! (a) A template is written in the builder (a body variable with its
//! example, a footer, a quick reply): a 26-character button label shows
//! its refusal on the button while Submit stays disabled, the preview shows
//! the message with the example filled in, it is submitted, listed PENDING,
//! turns APPROVED when the sandbox's review webhook arrives, shows the
//! quality the sandbox reports next, and is then sent from a conversation
//! whose 24-hour window is closed, with the sandbox (Meta's side) checked
//! for exactly that template and value; a named `{{customer_name}}` is
//! then prefilled from the contact.
//! (b) A template the sandbox rejects (any name holding "reject") is listed
//! REJECTED with its reason; duplicating another template opens the
//! builder prefilled in the new language; the rejected one is deleted after
//! the confirmation and stays gone after a Refresh from the sandbox; an
//! authentication template is built from Meta's options (an expiry over 90
//! minutes refused on its field), previewed with Meta's text and approved;
//! an image header refuses a text file and uploads a PNG sample first.
//!
//! `PARLEY_UPDATE_SCREENSHOT=1` also saves docs/template-builder.png.

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
    click, js, open_conversation, save_screenshot, text_content, type_into, wait_for, wait_gone,
    STEP_TIMEOUT,
};

async fn with_app<F, Fut>(name: &str, test: F)
where
    F: FnOnce(Client, PathBuf) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let data_dir = tempfile::tempdir().unwrap();
    sandbox_app::with_app_on(APP, name, &[], data_dir, test).await
}

async fn disabled(client: &Client, testid: &str) -> bool {
    let script = format!("return document.querySelector('[data-testid={testid}]').disabled;");
    js(client, &script).await == json!(true)
}

/// A 1×1 PNG (test data written to a temporary directory).
const TINY_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

fn row(name: &str) -> String {
    format!("//*[@data-testid='template-row'][@data-name='{name}']")
}

/// The Templates screen, opened with Ctrl+T or the header's button, its
/// list loaded.
async fn open_templates(client: &Client, shortcut: bool) {
    if shortcut {
        js(
            client,
            "window.dispatchEvent(new KeyboardEvent('keydown', {key: 't', ctrlKey: true, bubbles: true})); return 1;",
        )
        .await;
    } else {
        click(client, "templates-button").await;
    }
    wait_for(client, "//*[@data-testid='templates-screen']", STEP_TIMEOUT).await;
    wait_for(client, &format!("{}[@data-status='APPROVED']", row("hello_world")), STEP_TIMEOUT)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_built_here_is_approved_live_and_sent_to_a_closed_window() {
    with_app("template-manager", |client, sandbox_dir| async move {
        let sandbox = Sandbox::wait(&sandbox_dir).await;
        wait_for(&client, "//*[@data-testid='sync-state'][@data-state='running']", START_TIMEOUT)
            .await;
        let name = format!("pickup_ready_{}", nonce());
        open_templates(&client, true).await;
        // Seeded templates show their quality.
        let quality = client
            .find(Locator::XPath(&format!("{}//*[@data-testid='template-quality']", row("hello_world"))))
            .await
            .unwrap();
        assert_eq!(text_content(&quality).await, "High quality");

        click(&client, "templates-new").await;
        wait_for(&client, "//*[@data-testid='template-builder']", STEP_TIMEOUT).await;
        assert!(disabled(&client, "builder-submit").await, "an empty form is not submitted");
        type_into(&client, "builder-name", &name).await;
        type_into(&client, "builder-body", "Hi {{1}}, your order is ready for pickup.").await;
        // The variable asks for its example on the body field until given.
        wait_for(
            &client,
            "//*[@data-testid='builder-error-body'][contains(., 'each needs an example')]",
            STEP_TIMEOUT,
        )
        .await;
        type_into(&client, "builder-example-0", "Ana").await;
        wait_gone(&client, "//*[@data-testid='builder-error-body']").await;
        type_into(&client, "builder-footer", "Sandbox Shop").await;
        click(&client, "builder-add-quick-reply").await;
        // Too long a label: refused on that button, Submit disabled.
        type_into(&client, "builder-button-text-0", &"x".repeat(26)).await;
        let refusal = wait_for(
            &client,
            "//*[@data-testid='builder-error-button-0'][contains(., '26 characters')]",
            STEP_TIMEOUT,
        )
        .await;
        assert!(text_content(&refusal).await.contains("shorten it to 25 or fewer"));
        assert!(disabled(&client, "builder-submit").await, "refused while a rule is broken");
        type_into(&client, "builder-button-text-0", "On my way").await;
        wait_gone(&client, "//*[@data-testid='builder-error-button-0']").await;
        assert!(!disabled(&client, "builder-submit").await, "every rule is kept");

        // The preview: the example in place of {{1}}, footer and button.
        let body = wait_for(
            &client,
            "//*[@data-testid='template-preview-body'][.='Hi Ana, your order is ready for pickup.']",
            STEP_TIMEOUT,
        )
        .await;
        assert!(body.is_displayed().await.unwrap());
        let footer =
            client.find(Locator::Css("[data-testid=template-preview-footer]")).await.unwrap();
        assert_eq!(text_content(&footer).await, "Sandbox Shop");
        let button =
            client.find(Locator::Css("[data-testid=template-preview-button]")).await.unwrap();
        assert_eq!(text_content(&button).await, "On my way");
        save_screenshot(&client, "template-builder.png").await;

        click(&client, "builder-submit").await;
        wait_for(&client, &format!("{}[@data-status='PENDING']", row(&name)), STEP_TIMEOUT).await;
        // The sandbox's review webhook, through the relay: approved, live.
        let approved = format!("{}[@data-status='APPROVED']", row(&name));
        wait_for(&client, &approved, STEP_TIMEOUT).await;
        // Meta rates it later (the review carries no score): the quality
        // webhook updates the row.
        let quality = format!("{approved}//*[@data-testid='template-quality']");
        let answer = sandbox
            .http
            .post(format!("{}/_sandbox/templates/{name}/quality", sandbox.graph))
            .json(&json!({ "language": "en_US", "score": "YELLOW" }))
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{answer:?}");
        wait_for(&client, &format!("{quality}[.='Medium quality']"), STEP_TIMEOUT).await;

        // Escape closes the screen.
        client
            .find(Locator::Css("[data-testid=templates-refresh]"))
            .await
            .unwrap()
            .send_keys("\u{E00C}")
            .await
            .unwrap();
        wait_gone(&client, "//*[@data-testid='templates-screen']").await;

        // Sent to a customer whose window closed two days ago.
        let wa_id = "15550100888";
        let customer = "Ana Souza";
        let old = text_message(
            wa_id,
            &format!("wamid.old.{}", nonce()),
            now_s() - 2 * 24 * 60 * 60,
            "See you!",
        );
        sandbox.webhook(wa_id, customer, vec![old]).await;
        open_conversation(&client, customer).await;
        wait_for(&client, "//*[@data-testid='template-picker']", STEP_TIMEOUT).await;
        let option = format!("//*[@data-testid='template-option'][@data-name='{name}']");
        wait_for(&client, &option, STEP_TIMEOUT).await.click().await.unwrap();
        type_into(&client, "template-body-param-0", "Ana").await;
        let text = "Hi Ana, your order is ready for pickup.";
        wait_for(
            &client,
            &format!("//*[@data-testid='template-preview-body'][.='{text}']"),
            STEP_TIMEOUT,
        )
        .await;
        click(&client, "template-send").await;
        wait_for(
            &client,
            &format!(
                "//*[@data-testid='message'][@data-status='delivered' or @data-status='read']\
                 [.//*[@data-testid='message-body'][contains(., '{text}')]]"
            ),
            STEP_TIMEOUT,
        )
        .await;
        let sent = sandbox
            .wait_sent("the new template", |m| m["kind"] == "template" && m["to"] == wa_id)
            .await;
        assert_eq!(sent["body"]["template"]["name"], name.as_str());
        assert_eq!(sent["body"]["template"]["language"]["code"], "en_US");
        assert_eq!(
            sent["body"]["template"]["components"],
            json!([{"type":"body","parameters":[{"type":"text","text":"Ana"}]}])
        );

        // A named variable matching the contact is filled from it, and
        // stays editable: order_shipped's {{customer_name}}.
        let option = "//*[@data-testid='template-option'][@data-name='order_shipped']";
        wait_for(&client, option, STEP_TIMEOUT).await.click().await.unwrap();
        let value = |id: &'static str| {
            let client = client.clone();
            async move {
                js(&client, &format!("return document.querySelector('[data-testid={id}]').value;"))
                    .await
            }
        };
        // "Good news {{customer_name}}! Order {{order_id}} has shipped."
        wait_for(&client, "//*[@data-testid='template-body-param-0-source']", STEP_TIMEOUT).await;
        assert_eq!(value("template-body-param-0").await, json!(customer));
        assert_eq!(value("template-body-param-0-source").await, json!("name"));
        assert_eq!(value("template-body-param-1").await, json!(""), "no attribute order_id");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_template_shows_its_reason_and_templates_are_duplicated_and_deleted() {
    with_app("template-manager-rejected", |client, sandbox_dir| async move {
        let sandbox = Sandbox::wait(&sandbox_dir).await;
        wait_for(&client, "//*[@data-testid='sync-state'][@data-state='running']", START_TIMEOUT)
            .await;
        let name = format!("reject_offer_{}", nonce());
        open_templates(&client, false).await;
        click(&client, "templates-new").await;
        type_into(&client, "builder-name", &name).await;
        type_into(&client, "builder-body", "Our spring offer is here.").await;
        click(&client, "builder-submit").await;
        let rejected = format!("{}[@data-status='REJECTED']", row(&name));
        wait_for(&client, &rejected, STEP_TIMEOUT).await;
        let reason = client
            .find(Locator::XPath(&format!("{rejected}//*[@data-testid='template-rejection']")))
            .await
            .unwrap();
        let reason = text_content(&reason).await;
        assert!(reason.contains("INVALID_FORMAT"), "{reason}");
        assert!(reason.starts_with("Rejected because its format is invalid."), "{reason}");

        // Duplicate hello_world into French: the builder, prefilled.
        let duplicate = format!("{}//*[@data-testid='template-duplicate']", row("hello_world"));
        client.find(Locator::XPath(&duplicate)).await.unwrap().click().await.unwrap();
        assert!(disabled(&client, "template-duplicate-go").await, "no language yet");
        type_into(&client, "template-duplicate-language", "en_US").await;
        wait_for(
            &client,
            "//*[@role='alert'][contains(., 'already exists in en_US')]",
            STEP_TIMEOUT,
        )
        .await;
        type_into(&client, "template-duplicate-language", "fr").await;
        click(&client, "template-duplicate-go").await;
        wait_for(&client, "//*[@data-testid='template-builder']", STEP_TIMEOUT).await;
        let field = |id: &'static str| {
            let client = client.clone();
            async move {
                js(&client, &format!("return document.querySelector('[data-testid={id}]').value;"))
                    .await
            }
        };
        assert_eq!(field("builder-name").await, json!("hello_world"));
        assert_eq!(field("builder-language").await, json!("fr"));
        assert!(
            !field("builder-body").await.as_str().unwrap().is_empty(),
            "the body is copied for translating"
        );
        click(&client, "builder-cancel").await;

        // Delete asks first; Cancel keeps it, Delete removes it at Meta.
        let delete = format!("{}//*[@data-testid='template-delete']", row(&name));
        client.find(Locator::XPath(&delete)).await.unwrap().click().await.unwrap();
        click(&client, "template-delete-no").await;
        wait_gone(&client, "//*[@data-testid='template-confirm-delete']").await;
        assert!(exists(&client, &format!("[data-testid=template-row][data-name={name}]")).await);
        client.find(Locator::XPath(&delete)).await.unwrap().click().await.unwrap();
        click(&client, "template-delete-yes").await;
        wait_gone(&client, &row(&name)).await;
        // Gone at the sandbox too (Meta's list, asked with the token).
        let listed: serde_json::Value = sandbox
            .http
            .get(format!("{}/{}/{}/message_templates?limit=100", sandbox.graph, parley_sandbox::DEFAULT_VERSION, sandbox_app::WABA_ID))
            .bearer_auth(parley_sandbox::DEFAULT_ACCESS_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let names: Vec<&str> =
            listed["data"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
        assert!(names.contains(&"hello_world"), "{names:?}");
        assert!(!names.contains(&name.as_str()), "{names:?}");
        // A Refresh lists Meta's set again, without it.
        click(&client, "templates-refresh").await;
        wait_for(&client, "//*[@data-testid='templates-refresh'][not(@disabled)]", STEP_TIMEOUT)
            .await;
        wait_for(&client, &row("hello_world"), STEP_TIMEOUT).await;
        assert!(!exists(&client, &format!("[data-testid=template-row][data-name={name}]")).await);

        // An image header: a wrong file is refused on the field, a PNG is
        // uploaded to the sandbox (Meta's Resumable Upload API) first.
        let photo = format!("spring_photo_{}", nonce());
        click(&client, "templates-new").await;
        type_into(&client, "builder-name", &photo).await;
        type_into(&client, "builder-body", "Our spring collection is in the shop.").await;
        js(
            &client,
            "const s = document.querySelector('[data-testid=builder-header-kind]'); \
             s.value = 'image'; s.dispatchEvent(new Event('change', {bubbles: true})); return 1;",
        )
        .await;
        wait_for(
            &client,
            "//*[@data-testid='builder-error-header'][contains(., 'Choose a sample for the header')]",
            STEP_TIMEOUT,
        )
        .await;
        assert!(disabled(&client, "builder-submit").await, "no sample yet");
        let fixtures = tempfile::tempdir().unwrap();
        let text_path = fixtures.path().join("notes.txt");
        std::fs::write(&text_path, "not an image").unwrap();
        let sample = client.find(Locator::Css("[data-testid=builder-sample]")).await.unwrap();
        sample.send_keys(text_path.to_str().unwrap()).await.unwrap();
        wait_for(
            &client,
            "//*[@data-testid='builder-sample-status'][@data-state='failed']\
             [contains(., 'must be a JPEG or PNG image')]",
            STEP_TIMEOUT,
        )
        .await;
        let png_path = fixtures.path().join("spring.png");
        std::fs::write(&png_path, TINY_PNG).unwrap();
        let sample = client.find(Locator::Css("[data-testid=builder-sample]")).await.unwrap();
        sample.send_keys(png_path.to_str().unwrap()).await.unwrap();
        wait_for(
            &client,
            "//*[@data-testid='builder-sample-status'][@data-state='uploaded'][contains(., 'spring.png')]",
            STEP_TIMEOUT,
        )
        .await;
        wait_for(
            &client,
            "//*[@data-testid='template-preview-header'][.='[image: spring.png]']",
            STEP_TIMEOUT,
        )
        .await;
        assert!(!disabled(&client, "builder-submit").await, "the sample is uploaded");
        click(&client, "builder-submit").await;
        wait_for(&client, &format!("{}[@data-status='APPROVED']", row(&photo)), STEP_TIMEOUT).await;

        // An authentication template: Meta's text, the options chosen here.
        let otp = format!("login_code_{}", nonce());
        click(&client, "templates-new").await;
        type_into(&client, "builder-name", &otp).await;
        js(
            &client,
            "const s = document.querySelector('[data-testid=builder-category]'); \
             s.value = 'AUTHENTICATION'; s.dispatchEvent(new Event('change', {bubbles: true})); \
             return 1;",
        )
        .await;
        wait_for(&client, "//*[@data-testid='builder-auth-expiry']", STEP_TIMEOUT).await;
        assert!(!exists(&client, "[data-testid=builder-body]").await, "Meta writes the text");
        type_into(&client, "builder-auth-expiry", "120").await;
        wait_for(
            &client,
            "//*[@data-testid='builder-error-footer'][contains(., '1 to 90 minutes')]",
            STEP_TIMEOUT,
        )
        .await;
        assert!(disabled(&client, "builder-submit").await);
        type_into(&client, "builder-auth-expiry", "5").await;
        wait_for(
            &client,
            "//*[@data-testid='template-preview-body'][.='123456 is your verification code. \
             For your security, do not share this code.']",
            STEP_TIMEOUT,
        )
        .await;
        wait_for(
            &client,
            "//*[@data-testid='template-preview-footer'][.='This code expires in 5 minutes.']",
            STEP_TIMEOUT,
        )
        .await;
        click(&client, "builder-submit").await;
        let approved = format!("{}[@data-status='APPROVED']", row(&otp));
        let listed = wait_for(&client, &approved, STEP_TIMEOUT).await;
        let details = text_content(&listed).await;
        assert!(details.contains("Authentication"), "{details}");
        assert!(details.contains("is your verification code"), "{details}");
    })
    .await;
}
