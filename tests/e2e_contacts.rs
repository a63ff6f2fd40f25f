//! End to end through the real app window: the Contacts screen.
//!
//! Same harness as `e2e_ui.rs` (tauri-driver, WebKitWebDriver, the app in
//! sandbox mode on a temporary data directory). A CSV file with good rows,
//! a bad number, a missing number, a repeated number and a formula cell is
//! set on the import wizard's file input; the mapping is guessed from the
//! headers, the preview and the report give the right counts and reasons,
//! and the imported contacts are listed with their labels and attributes.
//! A contact is created (an invalid number first shows its field error) and
//! edited; a customer who wrote through the sandbox and a contact of the
//! same name are merged into one, whose conversation opens from the form; a
//! contact is deleted; the export writes a CSV that Python's `csv` module
//! reads back with the right rows and the formula neutralised.
//!
//! `PARLEY_UPDATE_SCREENSHOT=1` also saves docs/contacts.png.

use std::path::PathBuf;

use fantoccini::{Client, Locator};
use serde_json::json;

const APP: &str = env!("CARGO_BIN_EXE_parley");

#[path = "common/sandbox_app.rs"]
mod sandbox_app;
use sandbox_app::{exists, nonce, Sandbox, START_TIMEOUT};

#[path = "common/webdriver.rs"]
mod webdriver;

use webdriver::{
    click, js, save_screenshot, text_content, type_into, wait_for, wait_gone, STEP_TIMEOUT,
};

async fn with_app<F, Fut>(test: F)
where
    F: FnOnce(Client, PathBuf) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let data_dir = tempfile::tempdir().unwrap();
    sandbox_app::with_app_on(APP, "contacts", &[], data_dir, test).await
}

/// The contact rows' titles, in order.
async fn row_titles(client: &Client) -> Vec<String> {
    let value = js(
        client,
        "return [...document.querySelectorAll('[data-testid=contact-row-title]')].map(e => e.textContent);",
    )
    .await;
    serde_json::from_value(value).unwrap()
}

async fn wait_rows(client: &Client, want: &[&str]) {
    let deadline = std::time::Instant::now() + STEP_TIMEOUT;
    loop {
        let titles = row_titles(client).await;
        if titles == want {
            return;
        }
        if std::time::Instant::now() > deadline {
            let screen = js(
                client,
                "const s = document.querySelector('[data-testid=contacts-screen]'); return s ? s.innerText : 'no screen';",
            )
            .await;
            panic!("rows {titles:?}, want {want:?}; the screen shows {screen}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Empties an input as deleting its text would (an `input` event).
async fn clear_input(client: &Client, testid: &str) {
    js(
        client,
        &format!(
            "const el = document.querySelector('[data-testid={testid}]');
             el.value = ''; el.dispatchEvent(new Event('input', {{bubbles: true}})); return null;"
        ),
    )
    .await;
}

async fn open_row(client: &Client, title: &str) {
    let xpath = format!(
        "//*[@data-testid='contact-row'][.//*[@data-testid='contact-row-title'][normalize-space(.)='{title}']]"
    );
    wait_for(client, &xpath, STEP_TIMEOUT).await.click().await.unwrap();
    wait_for(
        client,
        &format!("//*[@data-testid='contact-form']//h3[normalize-space(.)='{title}']"),
        STEP_TIMEOUT,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_are_imported_created_edited_merged_deleted_and_exported() {
    with_app(|client, sandbox_dir| async move {
        let sandbox = Sandbox::wait(&sandbox_dir).await;
        wait_for(&client, "//*[@data-testid='sync-state'][@data-state='running']", START_TIMEOUT)
            .await;
        let n = nonce();
        let tag = format!("e2e{n}");
        // A customer writes first: a contact with a conversation.
        let dana = format!("Dana Dup {n}");
        sandbox.customer_says("15550100950", &dana, "Hello, I have a question").await;
        wait_for(
            &client,
            &format!("//*[@data-testid='conversation-row'][contains(@aria-label, '{dana}')]"),
            STEP_TIMEOUT,
        )
        .await;

        // Ctrl+U opens Contacts.
        js(
            &client,
            "window.dispatchEvent(new KeyboardEvent('keydown', {key: 'u', ctrlKey: true, bubbles: true})); return null;",
        )
        .await;
        wait_for(&client, "//*[@data-testid='contacts-screen']", STEP_TIMEOUT).await;

        // --- Import: good rows, a bad number, no number, a repeat, a formula.
        let fixtures = tempfile::tempdir().unwrap();
        let csv_path = fixtures.path().join("customers.csv");
        let formula = "=HYPERLINK(\"http://evil.example\",\"click\")";
        std::fs::write(
            &csv_path,
            format!(
                "Name,Phone,Labels,Notes,City\r\n\
                 Ann Import {n},+1 555 010 0901,VIP;{tag},\"{}\",Oslo\r\n\
                 Bob Import {n},+1 555 010 0902,{tag},,Bergen\r\n\
                 Bad Number {n},0555 123 456,{tag},,\r\n\
                 No Number {n},,{tag},,\r\n\
                 Ann Again {n},+1 (555) 010-0901,,,\r\n",
                formula.replace('"', "\"\"")
            ),
        )
        .unwrap();
        click(&client, "contacts-import").await;
        let file_input = wait_for(&client, "//*[@data-testid='import-file']", STEP_TIMEOUT).await;
        file_input.send_keys(csv_path.to_str().unwrap()).await.unwrap();
        wait_for(&client, "//*[@data-testid='import-map']", STEP_TIMEOUT).await;
        let mapped = js(
            &client,
            "return ['whatsapp','name','labels','notes'].map(f => document.querySelector('[data-testid=map-' + f + ']').value);",
        )
        .await;
        assert_eq!(mapped, json!(["Phone", "Name", "Labels", "Notes"]), "guessed from the headers");
        let attributes = wait_for(&client, "//*[@data-testid='import-attributes']", STEP_TIMEOUT).await;
        assert_eq!(text_content(&attributes).await, "Kept as attributes: City.");
        click(&client, "import-preview").await;
        let summary = wait_for(&client, "//*[@data-testid='import-summary']", STEP_TIMEOUT).await;
        assert_eq!(
            text_content(&summary).await,
            "5 rows in the file: 2 will be imported, 3 are left out."
        );
        let reasons = js(
            &client,
            "return [...document.querySelectorAll('[data-testid=rejected-row]')].map(r => [r.dataset.line, r.textContent]);",
        )
        .await;
        let reasons: Vec<(String, String)> = serde_json::from_value(reasons).unwrap();
        assert_eq!(reasons.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), ["4", "5", "6"]);
        assert!(reasons[0].1.contains("country code"), "{reasons:?}");
        assert!(reasons[1].1.contains("no WhatsApp number"), "{reasons:?}");
        assert!(reasons[2].1.contains("Row 2 has the same WhatsApp number"), "{reasons:?}");
        click(&client, "import-go").await;
        let report =
            wait_for(&client, "//*[@data-testid='import-report-summary']", STEP_TIMEOUT).await;
        assert_eq!(text_content(&report).await, "2 created, 0 updated, 0 unchanged, 3 rejected.");
        assert_eq!(report.attr("data-rejected").await.unwrap().as_deref(), Some("3"));
        let report_lines = js(
            &client,
            "return [...document.querySelectorAll('[data-testid=report-rejected]')].map(r => r.dataset.line);",
        )
        .await;
        assert_eq!(report_lines, json!(["4", "5", "6"]));

        // The imported contacts are listed with their labels and attributes.
        type_into(&client, "contacts-label-filter", &tag).await;
        let ann = format!("Ann Import {n}");
        let bob = format!("Bob Import {n}");
        wait_rows(&client, &[&ann, &bob]).await;
        let labels = js(
            &client,
            "return [...document.querySelectorAll('[data-testid=contact-row]')][0].textContent;",
        )
        .await;
        assert!(labels.as_str().unwrap().contains("VIP"), "{labels}");
        open_row(&client, &ann).await;
        let attribute = js(
            &client,
            "const n = document.querySelector('[data-testid=contact-attr-name]').value;
             const v = document.querySelector('[data-testid=contact-attr-value]').value;
             const notes = document.querySelector('[data-testid=contact-notes]').value;
             return [n, v, notes];",
        )
        .await;
        assert_eq!(attribute, json!(["City", "Oslo", formula]), "the formula is kept as text");

        // --- Create: an invalid number shows its field error first.
        click(&client, "contact-new").await;
        let cy = format!("Cy Created {n}");
        type_into(&client, "contact-name", &cy).await;
        type_into(&client, "contact-whatsapp", "0207 946 0958").await;
        type_into(&client, "contact-labels", &format!("{tag}, new")).await;
        click(&client, "contact-save").await;
        let error = wait_for(&client, "//*[@data-testid='contact-whatsapp-error']", STEP_TIMEOUT).await;
        assert!(text_content(&error).await.contains("country code"));
        type_into(&client, "contact-whatsapp", "+44 20 7946 0958").await;
        wait_gone(&client, "//*[@data-testid='contact-whatsapp-error']").await;
        click(&client, "contact-save").await;
        wait_for(&client, &format!("//*[@data-testid='contacts-note'][contains(., 'Saved {cy}')]"), STEP_TIMEOUT).await;
        wait_rows(&client, &[&ann, &bob, &cy]).await;
        // Edit it.
        let cy_edited = format!("Cy Edited {n}");
        type_into(&client, "contact-name", &cy_edited).await;
        click(&client, "contact-save").await;
        wait_rows(&client, &[&ann, &bob, &cy_edited]).await;

        // --- Merge: a contact with the name of the customer who wrote.
        click(&client, "contact-new").await;
        type_into(&client, "contact-name", &dana).await;
        type_into(&client, "contact-whatsapp", "+1 555 010 0951").await;
        type_into(&client, "contact-labels", &tag).await;
        type_into(&client, "contact-notes", "Second number, from the shop").await;
        click(&client, "contact-save").await;
        wait_rows(&client, &[&ann, &bob, &cy_edited, &dana]).await;
        save_screenshot(&client, "contacts.png").await;
        click(&client, "contacts-duplicates").await;
        let pair = format!("//*[@data-testid='duplicate-pair'][contains(., '{dana}')]");
        wait_for(&client, &pair, STEP_TIMEOUT)
            .await
            .find(Locator::Css("[data-testid=duplicate-merge]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for(&client, &format!("//*[@data-testid='contacts-note'][contains(., 'Merged into {dana}')]"), STEP_TIMEOUT).await;
        wait_gone(&client, &pair).await;
        // One Dana left: the customer's, with the label and notes of the other.
        clear_input(&client, "contacts-label-filter").await;
        type_into(&client, "contacts-search", &dana).await;
        wait_rows(&client, &[&dana]).await;
        open_row(&client, &dana).await;
        let merged = js(
            &client,
            "return [document.querySelector('[data-testid=contact-labels]').value,
                     document.querySelector('[data-testid=contact-notes]').value,
                     document.querySelector('[data-testid=contact-whatsapp-fixed]').textContent];",
        )
        .await;
        assert_eq!(merged, json!([tag, "Second number, from the shop", "+15550100950"]));
        // Its conversation opens from the form.
        click(&client, "contact-open-conversation").await;
        wait_gone(&client, "//*[@data-testid='contacts-screen']").await;
        wait_for(
            &client,
            &format!("//*[@data-testid='thread-title'][normalize-space(.)='{dana}']"),
            STEP_TIMEOUT,
        )
        .await;

        // --- Delete (the header button opens the screen again).
        click(&client, "contacts-button").await;
        type_into(&client, "contacts-label-filter", &tag).await;
        wait_rows(&client, &[&ann, &bob, &cy_edited, &dana]).await;
        open_row(&client, &bob).await;
        click(&client, "contact-delete").await;
        click(&client, "contact-delete-yes").await;
        wait_rows(&client, &[&ann, &cy_edited, &dana]).await;

        // --- Export the current filter; Python's csv module reads it back.
        let out = fixtures.path().join("export.csv");
        click(&client, "contacts-export-open").await;
        type_into(&client, "contacts-export-path", out.to_str().unwrap()).await;
        click(&client, "export-filtered").await;
        click(&client, "contacts-export-go").await;
        wait_for(&client, "//*[@data-testid='contacts-note'][contains(., '3 contacts written')]", STEP_TIMEOUT).await;
        let read = std::process::Command::new("python3")
            .arg("-c")
            .arg("import csv, json, sys; print(json.dumps(list(csv.reader(open(sys.argv[1], newline='', encoding='utf-8')))))")
            .arg(&out)
            .output()
            .unwrap();
        assert!(read.status.success(), "{}", String::from_utf8_lossy(&read.stderr));
        let rows: Vec<Vec<String>> = serde_json::from_slice(&read.stdout).unwrap();
        assert_eq!(rows[0][..5], ["Name", "WhatsApp", "Labels", "Notes", "Opted out"]);
        let mut names: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
        names.sort();
        assert_eq!(names, [ann.as_str(), cy_edited.as_str(), dana.as_str()]);
        let ann_row = rows.iter().find(|r| r[0] == ann).unwrap();
        assert_eq!(ann_row[1], "15550100901");
        assert_eq!(ann_row[3], format!("'{formula}"), "the formula is neutralised");
        let city = rows[0].iter().position(|h| h == "City").unwrap();
        assert_eq!(ann_row[city], "Oslo");

        // Escape closes the screen.
        js(&client, "window.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'})); return null;")
            .await;
        wait_gone(&client, "//*[@data-testid='contacts-screen']").await;
        assert!(!exists(&client, "[data-testid=contacts-screen]").await);
    })
    .await;
}
