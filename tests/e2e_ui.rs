//! End to end through the real app window: the inbox UI of issue 6.
//!
//! Same harness as `e2e.rs` (tauri-driver, WebKitWebDriver, the app in
//! sandbox mode on a temporary data directory). Customers write through the
//! sandbox's control API; message types the sandbox cannot produce (media,
//! locations, contacts, replies, reactions, long histories) are delivered as
//! Meta-shaped webhooks signed with the demo tenant's app secret and POSTed
//! to the demo relay, exactly as Meta would.
//!
//! Covered: user content rendered as text (script tags, `onerror`, RTL,
//! emoji, links); every message kind; quoted replies and reactions; older
//! history loaded on scroll with a bounded DOM; search jumping to a hit
//! older than the first page; a failed reply with its reason, Retry and
//! Delete; list filters; the keyboard help overlay. A second test covers the
//! composer: replying to a message (button, Escape, the R key) with the
//! quote reaching the sandbox as `context.message_id`, reacting and
//! removing the reaction, and forwarded labels. A third sends attachments:
//! an image with a caption and a PDF set on the file input and a file dropped
//! on the thread, checked byte for byte at the sandbox, and an oversized file
//! refused with a sentence.
//!
//! `PARLEY_UPDATE_SCREENSHOT=1` also saves docs/inbox.png, docs/thread.png
//! and (second test) docs/dark.png; the attachments test saves
//! docs/attachments.png (the pending-file chip with its caption).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use serde_json::{json, Value};

const APP: &str = env!("CARGO_BIN_EXE_parley");

#[path = "common/inbox.rs"]
mod inbox;
use inbox::{fill_profile, InboxSpec};

#[path = "common/sandbox_app.rs"]
mod sandbox_app;
use sandbox_app::{
    exists, nonce, now_s, require_session, text_message, Sandbox, DISPLAY_NUMBER, START_TIMEOUT,
};

#[path = "common/webdriver.rs"]
mod webdriver;

use webdriver::{
    js, open_conversation, save_screenshot, text_content, wait_for, wait_gone, STEP_TIMEOUT,
};

/// Runs `test` against the app on a fresh data directory, then closes the
/// session and stops the driver however `test` ended.
async fn with_app<F, Fut>(name: &str, env: &[(&str, &str)], test: F)
where
    F: FnOnce(Client, PathBuf) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    with_app_on(name, env, tempfile::tempdir().unwrap(), test).await
}

/// [`with_app`] on a data directory the caller prepared.
async fn with_app_on<F, Fut>(name: &str, env: &[(&str, &str)], data_dir: tempfile::TempDir, test: F)
where
    F: FnOnce(Client, PathBuf) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    sandbox_app::with_app_on(APP, name, env, data_dir, test).await
}

async fn message_list_attr(client: &Client, name: &str) -> usize {
    let list = client.find(Locator::Css("[data-testid=message-list]")).await.unwrap();
    list.attr(name).await.unwrap().and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_ui_renders_safely_pages_searches_and_recovers() {
    // Stands in for the user's browser: xdg-open hands a link to $BROWSER
    // when the desktop names no handler, as in this session.
    let browser = FakeBrowser::new();
    let command = browser.command.to_str().unwrap().to_owned();
    let env = [("BROWSER", command.as_str())];
    with_app("inbox", &env, |client, sandbox_dir| async move {
        let t0 = Instant::now();
        let step = |what: &str| eprintln!("e2e_ui: {what} ({:?})", t0.elapsed());
        let sandbox = Sandbox::wait(&sandbox_dir).await;
        wait_for(&client, "//*[@data-testid='sync-state'][@data-state='running']", START_TIMEOUT)
            .await;
        step("synced");

        let n = nonce();
        xss_is_text(&client, &sandbox, &n).await;
        step("hostile text rendered as text");
        link_opens_in_the_browser(&client, &browser, &n).await;
        step("a link opened in the browser, not in the window");
        rich_kinds(&client, &sandbox, &n).await;
        step("every message kind rendered");
        older_history(&client, &sandbox, &n).await;
        step("older history paged in, DOM bounded");
        search_jumps(&client, &sandbox, &n).await;
        step("search jumped to an old hit");
        failed_reply(&client, &sandbox, &n).await;
        step("failed reply: reason, retry, delete");
        drafts_are_kept(&client, &sandbox, &n).await;
        step("a draft kept by the core, listed, restored and cleared by sending");
        close_and_reopen(&client, &sandbox, &n).await;
        step("closed, filtered, reopened by the customer");
        contact_panel(&client, &sandbox, &n).await;
        step("contact panel: notes, labels, opt-out kept; STOP opts out");
        filters_and_keys(&client).await;
        step("filters and shortcuts");
    })
    .await;
}

async fn xss_is_text(client: &Client, sandbox: &Sandbox, n: &str) {
    let wa_id = "15550100001";
    let name = format!("<b>Mallory</b> {n}");
    let hostile = [
        "<script>window.__pwned = 1</script>".to_owned(),
        "<img src=x onerror=\"window.__pwned = 2\">".to_owned(),
        "مرحبا بالعالم — שלום עולם".to_owned(),
        "👋🏽 👨‍👩‍👧 family ok".to_owned(),
        format!("see https://example.com/track?id={n}&x=1. and javascript:alert(1)"),
    ];
    for text in &hostile {
        sandbox.customer_says(wa_id, &name, text).await;
    }
    open_conversation(client, &name).await;
    wait_for(
        client,
        "//*[@data-testid='message-body'][contains(., 'javascript:alert(1)')]",
        STEP_TIMEOUT,
    )
    .await;
    let bodies: Vec<String> = {
        let mut out = Vec::new();
        for el in client.find_all(Locator::Css("[data-testid=message-body]")).await.unwrap() {
            out.push(text_content(&el).await);
        }
        out
    };
    for text in &hostile[..4] {
        assert!(bodies.contains(text), "{text:?} shown literally; bodies: {bodies:?}");
    }
    let report = js(
        client,
        r#"
        const list = document.querySelector('[data-testid=message-list]');
        return {
            pwned: window.__pwned === undefined ? null : window.__pwned,
            scripts: list.querySelectorAll('script').length,
            imgs: list.querySelectorAll('img').length,
            anchors: list.querySelectorAll('a').length,
            bold: document.querySelectorAll('.thread-title b, .conv-row b').length,
            links: [...list.querySelectorAll('[data-testid=message-link]')].map(e => e.textContent),
            title: document.querySelector('[data-testid=thread-title]').textContent,
        };
        "#,
    )
    .await;
    eprintln!("e2e_ui: xss report {report}");
    assert_eq!(report["pwned"], Value::Null, "injected code ran: {report}");
    assert_eq!(report["scripts"], 0, "{report}");
    assert_eq!(report["imgs"], 0, "an <img> was injected: {report}");
    assert_eq!(report["anchors"], 0, "links are not navigable anchors: {report}");
    assert_eq!(report["bold"], 0, "the name's markup became an element: {report}");
    assert_eq!(report["title"], name);
    assert_eq!(
        report["links"],
        json!([format!("https://example.com/track?id={n}&x=1")]),
        "only the https URL is a link, without the trailing '.'"
    );
}

/// A script that records the addresses it is asked to open.
struct FakeBrowser {
    _dir: tempfile::TempDir,
    command: PathBuf,
    opened: PathBuf,
}

impl FakeBrowser {
    fn new() -> FakeBrowser {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (command, opened) = (dir.path().join("browser"), dir.path().join("opened"));
        let script = format!("#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n", opened.display());
        std::fs::write(&command, script).unwrap();
        std::fs::set_permissions(&command, std::fs::Permissions::from_mode(0o755)).unwrap();
        FakeBrowser { _dir: dir, command, opened }
    }

    fn opened(&self) -> Vec<String> {
        std::fs::read_to_string(&self.opened)
            .map(|s| s.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }
}

/// A click on a message's link hands exactly that address to the browser
/// and leaves the inbox where it was.
async fn link_opens_in_the_browser(client: &Client, browser: &FakeBrowser, n: &str) {
    let url = format!("https://example.com/track?id={n}&x=1");
    let before = client.current_url().await.unwrap();
    client.find(Locator::Css("[data-testid=message-link]")).await.unwrap().click().await.unwrap();
    let deadline = Instant::now() + STEP_TIMEOUT;
    while browser.opened().is_empty() {
        assert!(Instant::now() < deadline, "the browser was never asked to open the link");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Long enough for a second, unwanted open to show up.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(browser.opened(), vec![url], "exactly the link, once");
    assert_eq!(client.current_url().await.unwrap(), before, "the window did not navigate");
    assert!(!exists(client, "[data-testid=link-error]").await, "no error shown");
}

async fn rich_kinds(client: &Client, sandbox: &Sandbox, n: &str) {
    let wa_id = "15550100002";
    let name = format!("Rita Rich {n}");
    let t = now_s() - 120;
    let id = |k: &str| format!("wamid.rich.{n}.{k}");
    let messages = vec![
        text_message(wa_id, &id("q"), t, "Do you have this jacket in blue?"),
        json!({ "from": wa_id, "id": id("img"), "timestamp": (t + 1).to_string(), "type": "image",
                "image": { "caption": "This one, size M", "mime_type": "image/jpeg", "sha256": "00", "id": "900000000000101" } }),
        json!({ "from": wa_id, "id": id("doc"), "timestamp": (t + 2).to_string(), "type": "document",
                "document": { "filename": "receipt-0423.pdf", "mime_type": "application/pdf", "sha256": "00", "id": "900000000000102" } }),
        json!({ "from": wa_id, "id": id("voice"), "timestamp": (t + 3).to_string(), "type": "audio",
                "audio": { "mime_type": "audio/ogg; codecs=opus", "sha256": "00", "id": "900000000000103", "voice": true } }),
        json!({ "from": wa_id, "id": id("loc"), "timestamp": (t + 4).to_string(), "type": "location",
                "location": { "latitude": -23.5614, "longitude": -46.6559, "name": "Loja Paulista", "address": "Av. Paulista, 1000" } }),
        json!({ "from": wa_id, "id": id("card"), "timestamp": (t + 5).to_string(), "type": "contacts",
                "contacts": [{ "name": { "formatted_name": "Rui Costa", "first_name": "Rui" }, "phones": [{ "phone": "+351 912 345 678", "type": "CELL" }] }] }),
        json!({ "from": wa_id, "id": id("btn"), "timestamp": (t + 6).to_string(), "type": "interactive",
                "interactive": { "type": "button_reply", "button_reply": { "id": "yes", "title": "Yes, reserve it" } },
                "context": { "from": DISPLAY_NUMBER, "id": id("q") } }),
        json!({ "from": wa_id, "id": id("reply"), "timestamp": (t + 7).to_string(), "type": "text",
                "text": { "body": "About that old message" }, "context": { "from": DISPLAY_NUMBER, "id": "wamid.not-loaded" } }),
        json!({ "from": wa_id, "id": id("sticker"), "timestamp": (t + 8).to_string(), "type": "sticker",
                "sticker": { "mime_type": "image/webp", "sha256": "00", "id": "900000000000104", "animated": false } }),
        json!({ "from": wa_id, "id": id("poll"), "timestamp": (t + 9).to_string(), "type": "unsupported",
                "unsupported": { "type": "poll_update" },
                "errors": [{ "code": 131051, "title": "Message type unknown", "message": "Message type unknown" }] }),
        json!({ "from": wa_id, "id": id("react"), "timestamp": (t + 10).to_string(), "type": "reaction",
                "reaction": { "message_id": id("q"), "emoji": "👍" } }),
    ];
    sandbox.webhook(wa_id, &name, messages).await;
    open_conversation(client, &name).await;
    wait_for(client, "//*[@data-testid='message'][@data-kind='unsupported']", STEP_TIMEOUT).await;
    for kind in ["image", "document", "audio", "location", "contacts", "interactive", "sticker"] {
        wait_for(
            client,
            &format!("//*[@data-testid='message'][@data-kind='{kind}']"),
            STEP_TIMEOUT,
        )
        .await;
    }
    let image =
        wait_for(client, "//*[@data-testid='message'][@data-kind='image']", STEP_TIMEOUT).await;
    let image_text = text_content(&image).await;
    assert!(
        image_text.contains("This one, size M") && image_text.contains("JPEG"),
        "{image_text:?}"
    );
    // A location shows its coordinates and a map link to copy.
    let coords = wait_for(
        client,
        "//*[@data-testid='message'][@data-kind='location']//*[@data-testid='location-coords']",
        STEP_TIMEOUT,
    )
    .await;
    assert_eq!(text_content(&coords).await.trim(), "-23.56140, -46.65590");
    let map = wait_for(
        client,
        "//*[@data-testid='message'][@data-kind='location']//*[@data-testid='message-link']",
        STEP_TIMEOUT,
    )
    .await;
    assert!(text_content(&map)
        .await
        .contains("openstreetmap.org/?mlat=-23.561400&mlon=-46.655900"));
    let doc =
        wait_for(client, "//*[@data-testid='message'][@data-kind='document']", STEP_TIMEOUT).await;
    assert!(text_content(&doc).await.contains("receipt-0423.pdf"));
    // The sandbox serves no media, so downloads end failed, with a reason.
    let state = wait_for(
        client,
        "//*[@data-testid='message'][@data-kind='image']//*[@data-testid='attachment'][@data-media-state='failed' or @data-media-state='stored']",
        STEP_TIMEOUT,
    )
    .await;
    eprintln!("e2e_ui: image attachment {:?}", text_content(&state).await);
    // The quote of a loaded message names its author and text.
    let quote = wait_for(
        client,
        "//*[@data-testid='message'][@data-kind='interactive']//*[@data-testid='quote']",
        STEP_TIMEOUT,
    )
    .await;
    let quote = text_content(&quote).await;
    assert!(quote.contains(&name) && quote.contains("jacket in blue"), "{quote:?}");
    wait_for(
        client,
        "//*[@data-testid='quote'][contains(., 'Quoted message not loaded')]",
        STEP_TIMEOUT,
    )
    .await;
    // The reaction sits under its target, not as a message of its own.
    wait_for(
        client,
        "//*[@data-testid='message'][.//*[contains(., 'jacket in blue')]]/following-sibling::*[@data-testid='reactions'][contains(., '👍')]",
        STEP_TIMEOUT,
    )
    .await;
    let unsupported =
        wait_for(client, "//*[@data-testid='message'][@data-kind='unsupported']", STEP_TIMEOUT)
            .await;
    assert!(text_content(&unsupported).await.contains("Unsupported"));
    save_screenshot(client, "thread.png").await;
}

/// 650 messages: the first page is 500, the rest comes on scrolling up.
async fn older_history(client: &Client, sandbox: &Sandbox, n: &str) {
    let wa_id = "15550100003";
    let name = format!("Hugo History {n}");
    let t = now_s() - 3 * 3600;
    let messages = (0..650)
        .map(|i| {
            text_message(wa_id, &format!("wamid.hist.{n}.{i}"), t + i, &format!("History line {i}"))
        })
        .collect();
    sandbox.webhook(wa_id, &name, messages).await;
    open_conversation(client, &name).await;
    wait_for(client, "//*[@data-testid='message-body'][.='History line 649']", STEP_TIMEOUT).await;
    assert_eq!(message_list_attr(client, "data-loaded").await, 500, "the first page");
    let started = Instant::now();
    let mut max_rendered = 0;
    loop {
        js(client, "document.querySelector('[data-testid=message-list]').scrollTop = 0; return 1;")
            .await;
        tokio::time::sleep(Duration::from_millis(120)).await;
        max_rendered = max_rendered.max(message_list_attr(client, "data-rendered").await);

        let rows =
            js(client, "return document.querySelectorAll('[data-testid=message]').length;").await;
        assert!(rows.as_u64().unwrap() <= 120, "DOM rows bounded: {rows}");
        if exists(client, "[data-testid=history-start]").await {
            break;
        }
        assert!(started.elapsed() < STEP_TIMEOUT, "never reached the start of history");
    }
    assert_eq!(message_list_attr(client, "data-loaded").await, 650);
    wait_for(client, "//*[@data-testid='message-body'][.='History line 0']", STEP_TIMEOUT).await;
    eprintln!(
        "e2e_ui: scrolled to the start of 650 messages in {:?}, at most {max_rendered} rendered",
        started.elapsed()
    );
    save_screenshot(client, "inbox.png").await;
}

async fn search_jumps(client: &Client, sandbox: &Sandbox, n: &str) {
    let wa_id = "15550100004";
    let name = format!("Sara Search {n}");
    let word = format!("needle{n}");
    let t = now_s() - 2 * 3600;
    let messages = (0..560)
        .map(|i| {
            let body = if i == 3 {
                format!("The parcel code is {word} — keep it")
            } else {
                format!("Filler {i}")
            };
            text_message(wa_id, &format!("wamid.search.{n}.{i}"), t + i, &body)
        })
        .collect();
    sandbox.webhook(wa_id, &name, messages).await;
    wait_for(
        client,
        &format!("//*[@data-testid='conversation-row'][contains(@aria-label, '{name}')]"),
        STEP_TIMEOUT,
    )
    .await;
    // Ctrl+K focuses the search box.
    js(
        client,
        "window.dispatchEvent(new KeyboardEvent('keydown', {key: 'k', ctrlKey: true, bubbles: true})); return 1;",
    )
    .await;
    let active = js(client, "return document.activeElement && document.activeElement.id;").await;
    assert_eq!(active, "search-input", "Ctrl+K focuses search");
    let input = client.find(Locator::Css("[data-testid=search-input]")).await.unwrap();
    input.send_keys(&word.to_uppercase()).await.unwrap();
    let hit = wait_for(client, "//*[@data-testid='search-hit']", STEP_TIMEOUT).await;
    let marks = js(
        client,
        "return [...document.querySelectorAll('[data-testid=search-hit-text] mark')].map(m => m.textContent);",
    )
    .await;
    assert_eq!(marks, json!([word]), "the hit term is marked");
    let message_id = hit.attr("data-message-id").await.unwrap().unwrap();
    hit.click().await.unwrap();
    // The hit is older than the first page of 500: the thread pages back.
    let target = wait_for(
        client,
        &format!("//*[@data-testid='message'][@data-message-id='{message_id}'][@data-highlighted='true']"),
        STEP_TIMEOUT,
    )
    .await;
    assert!(text_content(&target).await.contains(&word));
    let in_view = js(
        client,
        &format!(
            "const m = document.querySelector('[data-message-id=\"{message_id}\"]').getBoundingClientRect();
             const l = document.querySelector('[data-testid=message-list]').getBoundingClientRect();
             return m.top >= l.top && m.bottom <= l.bottom;"
        ),
    )
    .await;
    assert_eq!(in_view, true, "the hit is scrolled into view");
    assert!(message_list_attr(client, "data-rendered").await <= 120);
    // Opened at the hit, not at the newest: scrolling down pages in the
    // newer messages up to the last one, the DOM bounded all along.
    let started = Instant::now();
    let newest = "//*[@data-testid='message-body'][.='Filler 559']";
    while !exists_xpath(client, newest).await {
        assert!(started.elapsed() < STEP_TIMEOUT, "never reached the newest message");
        js(client, "const l = document.querySelector('[data-testid=message-list]'); l.scrollTop = l.scrollHeight; return 1;")
            .await;
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(message_list_attr(client, "data-rendered").await <= 120, "DOM rows bounded");
    }
    assert_eq!(message_list_attr(client, "data-loaded").await, 560, "no gap, no repeat");
    // Escape closes the search; the list is back.
    js(client, "window.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'})); return 1;")
        .await;
    wait_gone(client, "//*[@data-testid='search-results']").await;
}

async fn failed_reply(client: &Client, sandbox: &Sandbox, n: &str) {
    let wa_id = "15550100005";
    let name = format!("Fred Failed {n}");
    sandbox.customer_says(wa_id, &name, "Are you there?").await;
    open_conversation(client, &name).await;
    // The sandbox (Meta) now thinks the customer wrote 25 hours ago; the
    // app still has the window open, so the send reaches Meta and fails.
    let rewound = sandbox
        .http
        .post(format!("{}/_sandbox/customers/{wa_id}/rewind", sandbox.graph))
        .json(&json!({ "secs": 90_000 }))
        .send()
        .await
        .unwrap();
    assert!(rewound.status().is_success());
    let reply = format!("Yes, here ({n})");
    let input = client.find(Locator::Css("[data-testid=composer-input]")).await.unwrap();
    input.send_keys(&reply).await.unwrap();
    input.send_keys("\u{E007}").await.unwrap(); // Enter
    let failed = format!(
        "//*[@data-testid='message'][@data-status='failed'][.//*[@data-testid='message-body'][contains(., '{reply}')]]"
    );
    let bubble = wait_for(client, &failed, STEP_TIMEOUT).await;
    let error = bubble.find(Locator::Css("[data-testid=message-error]")).await.unwrap();
    let reason = text_content(&error).await;
    eprintln!("e2e_ui: failure reason {reason:?}");
    assert!(reason.contains("24"), "the reason names the 24-hour window: {reason:?}");
    assert!(!reason.contains('{'), "no raw JSON: {reason:?}");
    // Retry: refused again by Meta, so it comes back failed with its reason.
    // Sending → failed can be quicker than a WebDriver round trip, so the
    // test waits for the failed bubble with its buttons again, then deletes.
    bubble.find(Locator::Css("[data-testid=retry-message]")).await.unwrap().click().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let delete = wait_for(
        client,
        &format!("{failed}[.//*[@data-testid='message-error']]//*[@data-testid='delete-message']"),
        STEP_TIMEOUT,
    )
    .await;
    delete.click().await.unwrap();
    wait_gone(client, &format!("//*[@data-testid='message-body'][contains(., '{reply}')]")).await;
}

/// Text typed but not sent stays with its conversation: the core keeps it
/// (the list row's "Draft:" comes from the core's summary, so it was saved
/// in the database), the composer shows it again, and sending clears it.
async fn drafts_are_kept(client: &Client, sandbox: &Sandbox, n: &str) {
    let (a, b) = (format!("Dana Draft {n}"), format!("Bo Other {n}"));
    sandbox.customer_says("15550100031", &a, "can you check my order?").await;
    sandbox.customer_says("15550100032", &b, "hello").await;
    open_conversation(client, &a).await;
    let draft = format!("Let me look at order {n}");
    let input = client.find(Locator::Css("[data-testid=composer-input]")).await.unwrap();
    input.send_keys(&draft).await.unwrap();
    open_conversation(client, &b).await;
    let row_draft = format!(
        "//*[@data-testid='conversation-row'][contains(@aria-label, '{a}')]\
         //*[@data-testid='row-draft'][contains(., '{draft}')]"
    );
    wait_for(client, &row_draft, STEP_TIMEOUT).await;
    let composer = "return document.querySelector('[data-testid=composer-input]').value";
    assert_eq!(js(client, composer).await, json!(""), "the other conversation has no draft");

    open_conversation(client, &a).await;
    assert_eq!(js(client, composer).await, json!(draft), "the draft is back in the composer");
    let input = client.find(Locator::Css("[data-testid=composer-input]")).await.unwrap();
    input.send_keys("\u{E007}").await.unwrap(); // Enter sends it
    wait_for(
        client,
        &format!("//*[@data-testid='message'][@data-direction='outbound'][contains(., '{draft}')]"),
        STEP_TIMEOUT,
    )
    .await;
    wait_gone(client, &row_draft).await;
}

/// More conversations than one page: the list starts with the newest 500
/// and loads the rest as it is scrolled, with the DOM bounded throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conversation_list_pages_in_older_conversations() {
    require_session();
    let data_dir = tempfile::tempdir().unwrap();
    let sandbox_dir = data_dir.path().join("sandbox");
    let conversations = 1_300;
    let spec = InboxSpec { messages: 1_400, conversations, long_thread: 100, needles: 0 };
    let dir = sandbox_dir.clone();
    tokio::task::spawn_blocking(move || fill_profile(&dir, spec)).await.unwrap();
    with_app_on("paging", &[], data_dir, move |client, _| async move {
        wait_for(&client, "//*[@data-testid='sync-state'][@data-state='running']", START_TIMEOUT)
            .await;
        let list = "document.querySelector('[data-testid=conversation-list]')";
        let total = || async {
            js(&client, &format!("return Number({list}.dataset.total);")).await.as_u64().unwrap()
        };
        assert!(total().await <= 500 + 10, "one page at first (plus the demo's own)");
        let oldest = format!(
            "//*[@data-testid='conversation-row'][contains(@aria-label, '{}')]",
            inbox::title(1)
        );
        let started = Instant::now();
        let mut max_rows = 0;
        while !exists_xpath(&client, &oldest).await {
            assert!(started.elapsed() < STEP_TIMEOUT, "never reached the oldest conversation");
            js(&client, &format!("{list}.scrollTop = {list}.scrollHeight; return 1;")).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            let rows = js(
                &client,
                "return document.querySelectorAll('[data-testid=conversation-row]').length;",
            )
            .await
            .as_u64()
            .unwrap();
            max_rows = max_rows.max(rows);
        }
        let loaded = total().await;
        eprintln!("e2e_ui: {loaded} conversations listed, at most {max_rows} rows in the DOM");
        assert!(loaded >= conversations, "every generated conversation is listed: {loaded}");
        assert!(max_rows <= 40, "DOM rows bounded: {max_rows}");
    })
    .await;
}

/// Without the implicit wait a `find` would spend on a missing element.
async fn exists_xpath(client: &Client, xpath: &str) -> bool {
    let script = "return document.evaluate(arguments[0], document, null, \
                  XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue !== null;";
    client.execute(script, vec![json!(xpath)]).await.unwrap() == json!(true)
}

/// An agent closes a conversation: it leaves "Open" and shows under
/// "Closed"; the customer writing again reopens it.
async fn close_and_reopen(client: &Client, sandbox: &Sandbox, n: &str) {
    let (wa_id, name) = ("15550100041", format!("Cleo Closed {n}"));
    let other = format!("Olga Open {n}");
    sandbox.customer_says("15550100042", &other, "still waiting").await;
    sandbox.customer_says(wa_id, &name, "thanks, that's all").await;
    open_conversation(client, &name).await;
    let row = format!("//*[@data-testid='conversation-row'][contains(@aria-label, '{name}')]");
    client
        .find(Locator::Css("[data-testid=close-conversation]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(client, &format!("{row}[.//*[@data-testid='closed-chip']]"), STEP_TIMEOUT).await;
    wait_for(
        client,
        "//*[@data-testid='close-conversation'][normalize-space(.)='Reopen']",
        STEP_TIMEOUT,
    )
    .await;
    // Leave it, so the filters need not keep it as the open conversation.
    open_conversation(client, &other).await;
    client.find(Locator::Css("[data-filter=open]")).await.unwrap().click().await.unwrap();
    wait_gone(client, &row).await;
    client.find(Locator::Css("[data-filter=closed]")).await.unwrap().click().await.unwrap();
    wait_for(client, &row, STEP_TIMEOUT).await;
    sandbox.customer_says(wa_id, &name, "actually, one more question").await;
    wait_gone(client, &row).await; // reopened: no longer under "Closed"
    client.find(Locator::Css("[data-filter=open]")).await.unwrap().click().await.unwrap();
    wait_for(client, &row, STEP_TIMEOUT).await;
    client.find(Locator::Css("[data-filter=all]")).await.unwrap().click().await.unwrap();
}

/// The contact panel: the agent's notes, labels and opt-out are saved by
/// the core and shown again; a customer's bare STOP opts them out.
async fn contact_panel(client: &Client, sandbox: &Sandbox, n: &str) {
    let (wa_id, name) = ("15550100051", format!("Pia Panel {n}"));
    sandbox.customer_says(wa_id, &name, "hi, about my invoice").await;
    open_conversation(client, &name).await;
    let click = |css: &'static str| async move {
        let el = client.find(Locator::Css(css)).await.unwrap();
        el.click().await.unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    };
    click("[data-testid=contact-button]").await;
    let handle = wait_for(client, "//*[@data-testid='contact-handle']", STEP_TIMEOUT).await;
    assert_eq!(text_content(&handle).await, wa_id);
    let notes = client.find(Locator::Css("[data-testid=contact-notes]")).await.unwrap();
    notes.send_keys(&format!("Pays by transfer <b>{n}</b>")).await.unwrap();
    let label = client.find(Locator::Css("[data-testid=contact-label-input]")).await.unwrap();
    label.send_keys("  VIP \u{E007}").await.unwrap();
    label.send_keys("vip\u{E007}").await.unwrap(); // the same label again: ignored
    label.send_keys("wholesale\u{E007}").await.unwrap();
    click("[data-testid=contact-opt-out]").await;
    click("[data-testid=contact-save]").await;
    wait_for(client, "//*[@data-testid='contact-saved']", STEP_TIMEOUT).await;

    // Closed and opened again: what shows comes back from the core.
    js(client, "window.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'})); return 1;")
        .await;
    wait_gone(client, "//*[@data-testid='contact-panel']").await;
    click("[data-testid=contact-button]").await;
    wait_for(
        client,
        "//*[@data-testid='contact-opt-out-text'][contains(., 'an agent opted them out')]",
        STEP_TIMEOUT,
    )
    .await;
    let report = js(
        client,
        "return {
            notes: document.querySelector('[data-testid=contact-notes]').value,
            labels: [...document.querySelectorAll('[data-testid=contact-label]')].map(l => l.firstChild.textContent),
            opted: document.querySelector('[data-testid=contact-opt-out]').checked,
            bold: document.querySelectorAll('.contact-panel b').length,
        };",
    )
    .await;
    assert_eq!(
        report,
        json!({ "notes": format!("Pays by transfer <b>{n}</b>"), "labels": ["VIP", "wholesale"], "opted": true, "bold": 0 }),
        "kept as typed, as text"
    );
    save_screenshot(client, "contact.png").await;

    // Another customer writes STOP: their panel says so.
    let (stop_id, stop_name) = ("15550100052", format!("Sam Stop {n}"));
    sandbox.customer_says(stop_id, &stop_name, "Stop").await;
    open_conversation(client, &stop_name).await;
    wait_for(
        client,
        "//*[@data-testid='contact-opt-out-text'][contains(., 'they wrote STOP')]",
        STEP_TIMEOUT,
    )
    .await;
    click("[data-testid=contact-button]").await;
    wait_gone(client, "//*[@data-testid='contact-panel']").await;
}

async fn filters_and_keys(client: &Client) {
    let count_rows = || async {
        let n = js(
            client,
            "return document.querySelectorAll('[data-testid=conversation-row]').length;",
        )
        .await;
        n.as_u64().unwrap_or(0) as usize
    };
    let all = count_rows().await;
    assert!(all >= 5, "{all} rows");
    client.find(Locator::Css("[data-filter=instagram]")).await.unwrap().click().await.unwrap();
    // Only the open (WhatsApp) conversation stays: nothing is on Instagram.
    let deadline = Instant::now() + STEP_TIMEOUT;
    while count_rows().await > 1 {
        assert!(Instant::now() < deadline, "the Instagram filter did not narrow the list");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client.find(Locator::Css("[data-filter=all]")).await.unwrap().click().await.unwrap();
    while count_rows().await != all {
        assert!(Instant::now() < deadline, "All did not bring the rows back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // "?" outside a text field opens the help; Escape closes it.
    js(client, "document.activeElement && document.activeElement.blur(); window.dispatchEvent(new KeyboardEvent('keydown', {key: '?'})); return 1;").await;
    wait_for(client, "//*[@data-testid='help-overlay']", STEP_TIMEOUT).await;
    js(client, "window.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'})); return 1;")
        .await;
    wait_gone(client, "//*[@data-testid='help-overlay']").await;
}

/// The composer's reply-to and reactions, end to end: the quote reaches
/// Meta as `context.message_id`, the reaction as a `reaction` message, and
/// the thread shows both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composer_replies_and_reacts() {
    with_app("composer", &[], |client, sandbox_dir| async move {
        let t0 = Instant::now();
        let step = |what: &str| eprintln!("e2e_ui: {what} ({:?})", t0.elapsed());
        let sandbox = Sandbox::wait(&sandbox_dir).await;
        wait_for(&client, "//*[@data-testid='sync-state'][@data-state='running']", START_TIMEOUT)
            .await;
        let n = nonce();
        let wa_id = "15550100021";
        let name = format!("Quinn Quote {n}");
        let question = format!("Is my order on its way? ({n})");
        let wamid = sandbox.customer_says(wa_id, &name, &question).await;
        let t = now_s();
        sandbox
            .webhook(
                wa_id,
                &name,
                vec![
                    json!({ "from": wa_id, "id": format!("wamid.fwd1.{n}"), "timestamp": t.to_string(),
                            "type": "text", "text": { "body": "Look at this offer" },
                            "context": { "forwarded": true } }),
                    json!({ "from": wa_id, "id": format!("wamid.fwd2.{n}"), "timestamp": (t + 1).to_string(),
                            "type": "text", "text": { "body": "Chain letter" },
                            "context": { "frequently_forwarded": true } }),
                ],
            )
            .await;
        open_conversation(&client, &name).await;
        step("customer message shown");

        // Forwarded labels.
        wait_for(
            &client,
            "//*[@data-testid='message'][.//*[@data-testid='forwarded'][normalize-space(.)='Forwarded']][contains(., 'Look at this offer')]",
            STEP_TIMEOUT,
        )
        .await;
        wait_for(
            &client,
            "//*[@data-testid='message'][.//*[@data-testid='forwarded'][normalize-space(.)='Forwarded many times']]",
            STEP_TIMEOUT,
        )
        .await;

        // Reply: the button shows the quote above the box; Escape drops it.
        let target = format!("//*[@data-testid='message'][@data-provider-id='{wamid}']");
        let bubble = wait_for(&client, &target, STEP_TIMEOUT).await;
        bubble.find(Locator::Css("[data-testid=reply-button]")).await.unwrap().click().await.unwrap();
        let preview = wait_for(&client, "//*[@data-testid='reply-preview']", STEP_TIMEOUT).await;
        let preview_text = text_content(&preview).await;
        assert!(preview_text.contains(&question) && preview_text.contains(&name), "{preview_text:?}");
        let input = client.find(Locator::Css("[data-testid=composer-input]")).await.unwrap();
        input.send_keys("\u{E00C}").await.unwrap(); // Escape
        wait_gone(&client, "//*[@data-testid='reply-preview']").await;
        // The keyboard: R on the focused message quotes it and moves to the box.
        let bubble = wait_for(&client, &target, STEP_TIMEOUT).await;
        js(&client, &format!("document.querySelector('[data-provider-id=\"{wamid}\"]').focus(); return true;")).await;
        bubble.send_keys("r").await.unwrap();
        wait_for(&client, "//*[@data-testid='reply-preview']", STEP_TIMEOUT).await;
        let focused = js(&client, "return document.activeElement && document.activeElement.getAttribute('data-testid');").await;
        assert_eq!(focused, json!("composer-input"), "R moves to the message box");
        let reply = format!("Yes, it ships today ({n})");
        let input = client.find(Locator::Css("[data-testid=composer-input]")).await.unwrap();
        input.send_keys(&reply).await.unwrap();
        input.send_keys("\u{E007}").await.unwrap(); // Enter
        wait_gone(&client, "//*[@data-testid='reply-preview']").await;
        let sent = sandbox
            .wait_sent("the reply", |m| m["text"].as_str() == Some(reply.as_str()))
            .await;
        assert_eq!(sent["reply_to"], json!(wamid));
        assert_eq!(sent["body"]["context"]["message_id"], json!(wamid));
        let ours = wait_for(
            &client,
            &format!("//*[@data-testid='message'][@data-direction='outbound'][contains(., '{reply}')]//*[@data-testid='quote']"),
            STEP_TIMEOUT,
        )
        .await;
        let quote = text_content(&ours).await;
        assert!(quote.contains(&name) && quote.contains(&question), "{quote:?}");
        step("reply sent with its quote");

        // React: the picker, the chip at once, and Meta gets a reaction.
        let bubble = wait_for(&client, &target, STEP_TIMEOUT).await;
        bubble.find(Locator::Css("[data-testid=react-button]")).await.unwrap().click().await.unwrap();
        let thumbs = wait_for(
            &client,
            &format!("{target}//*[@data-testid='reaction-option'][@data-emoji='👍']"),
            STEP_TIMEOUT,
        )
        .await;
        thumbs.click().await.unwrap();
        let chip = format!(
            "{target}/following-sibling::*[@data-testid='reactions']/*[@data-testid='reaction'][@data-by='business'][normalize-space(.)='👍']"
        );
        wait_for(&client, &chip, STEP_TIMEOUT).await;
        assert!(!exists(&client, "[data-testid=reaction-picker]").await, "picking closes the list");
        let reaction = sandbox
            .wait_sent("the reaction", |m| {
                m["kind"] == "reaction" && m["reaction"]["message_id"] == json!(wamid)
            })
            .await;
        assert_eq!(reaction["reaction"]["emoji"], json!("👍"));
        assert_eq!(reaction["body"]["reaction"]["message_id"], json!(wamid));
        assert!(reaction["body"].get("context").is_none(), "a reaction names its target itself");
        step("reaction sent and shown");
        // The chip stays after the core's report (the send was accepted).
        tokio::time::sleep(Duration::from_millis(800)).await;
        wait_for(&client, &chip, STEP_TIMEOUT).await;
        save_screenshot(&client, "reply-react.png").await;

        // Picking the same emoji again removes it, at Meta too.
        let bubble = wait_for(&client, &target, STEP_TIMEOUT).await;
        bubble.find(Locator::Css("[data-testid=react-button]")).await.unwrap().click().await.unwrap();
        let picked = wait_for(
            &client,
            &format!("{target}//*[@data-testid='reaction-option'][@data-emoji='👍'][@aria-pressed='true']"),
            STEP_TIMEOUT,
        )
        .await;
        picked.click().await.unwrap();
        wait_gone(&client, &chip).await;
        sandbox
            .wait_sent("the reaction's removal", |m| {
                m["kind"] == "reaction"
                    && m["reaction"]["message_id"] == json!(wamid)
                    && m["reaction"]["emoji"] == json!("")
            })
            .await;
        // Our own messages offer a reply but no reaction.
        let ours = format!("//*[@data-testid='message'][@data-direction='outbound'][contains(., '{reply}')]");
        wait_for(&client, &format!("{ours}[@data-provider-id]//*[@data-testid='reply-button']"), STEP_TIMEOUT).await;
        assert!(
            !exists(&client, "[data-direction=outbound] [data-testid=react-button]").await,
            "WhatsApp takes reactions on the customer's messages only"
        );
        step("reaction removed");
        human_agent_reply(&client, &sandbox, &n).await;
        step("Instagram after 24 hours: a human agent's reply, tagged");
    })
    .await;
}

/// Instagram, two days after the customer wrote: the composer asks the
/// agent to confirm a person is replying, and the reply reaches Meta with
/// the HUMAN_AGENT tag (the sandbox refuses it without).
async fn human_agent_reply(client: &Client, sandbox: &Sandbox, n: &str) {
    let igsid = format!("9{}", u64::from_str_radix(n, 16).unwrap() % 10_000_000_000);
    let two_days = 2 * 24 * 3600;
    let answer = sandbox
        .http
        .post(format!("{}/_sandbox/instagram/{igsid}/send?ago_secs={two_days}", sandbox.graph))
        .json(&json!({ "type": "text", "text": format!("Still there? ({n})") }))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "sandbox refused: {answer:?}");
    open_conversation(client, &igsid).await;
    let chip = wait_for(client, "//*[@data-testid='window-state']", STEP_TIMEOUT).await;
    assert_eq!(text_content(&chip).await, "Human agent · 5 d left");
    assert!(!exists(client, "[data-testid=composer-input]").await, "no box before confirming");
    client
        .find(Locator::Css("[data-testid=human-agent-reply]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let input = wait_for(client, "//*[@data-testid='composer-input']", STEP_TIMEOUT).await;
    let reply = format!("Yes, a person here ({n})");
    input.send_keys(&reply).await.unwrap();
    input.send_keys("\u{E007}").await.unwrap();
    let sent = sandbox
        .wait_sent("the human agent's reply", |m| {
            m["channel"] == "instagram"
                && m["to"] == json!(igsid)
                && m["body"]["tag"] == "HUMAN_AGENT"
        })
        .await;
    assert_eq!(sent["body"]["messaging_type"], "MESSAGE_TAG", "{sent}");
    wait_for(
        client,
        &format!("//*[@data-testid='message'][@data-direction='outbound'][contains(., '{reply}')][@data-status='sent' or @data-status='delivered' or @data-status='read']"),
        STEP_TIMEOUT,
    )
    .await;
}

/// A 1×1 PNG (test data written to a temporary directory, not user content).
const TINY_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

impl Sandbox {
    /// The bytes the sandbox holds for an uploaded media id.
    async fn uploaded(&self, media_id: &str) -> Vec<u8> {
        let answer = self
            .http
            .get(format!("{}/_sandbox/media/{media_id}/file", self.graph))
            .bearer_auth(parley_sandbox::DEFAULT_ACCESS_TOKEN)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{}", answer.status());
        answer.bytes().await.unwrap().to_vec()
    }

    async fn sent_to(&self, wa_id: &str) -> Vec<Value> {
        let sent: Vec<Value> = self
            .http
            .get(format!("{}/_sandbox/sent", self.graph))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        sent.into_iter().filter(|m| m["to"] == json!(wa_id)).collect()
    }
}

/// Issue 6, "sending an attachment": a file set on the composer's file input
/// (as the picker would) shows as a chip, goes with the box's text as its
/// caption, reaches the sandbox byte for byte as the right message type, and
/// shows live in the thread; an oversized file is refused with a sentence and
/// nothing is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composer_sends_attachments() {
    with_app("attachments", &[], |client, sandbox_dir| async move {
        let sandbox = Sandbox::wait(&sandbox_dir).await;
        wait_for(&client, "//*[@data-testid='sync-state'][@data-state='running']", START_TIMEOUT)
            .await;
        let n = nonce();
        let wa_id = "15550100031";
        let name = format!("Ada Attach {n}");
        sandbox.customer_says(wa_id, &name, &format!("Can you send the invoice? ({n})")).await;
        open_conversation(&client, &name).await;

        let fixtures = tempfile::tempdir().unwrap();
        // An image with a caption (Enter sends).
        let png_path = fixtures.path().join(format!("photo-{n}.png"));
        std::fs::write(&png_path, TINY_PNG).unwrap();
        let file_input = client.find(Locator::Css("[data-testid=file-input]")).await.unwrap();
        file_input.send_keys(png_path.to_str().unwrap()).await.unwrap();
        let chip = wait_for(&client, "//*[@data-testid='attachment-chip']", STEP_TIMEOUT).await;
        let chip_text = text_content(&chip).await;
        assert!(
            chip_text.contains(&format!("photo-{n}.png")) && chip_text.contains("Image") && chip_text.contains("70 B"),
            "{chip_text:?}"
        );
        let caption = format!("Here it is ({n})");
        let input = client.find(Locator::Css("[data-testid=composer-input]")).await.unwrap();
        input.send_keys(&caption).await.unwrap();
        save_screenshot(&client, "attachments.png").await;
        input.send_keys("\u{E007}").await.unwrap(); // Enter
        wait_gone(&client, "//*[@data-testid='attachment-chip']").await;
        let sent = sandbox
            .wait_sent("the image", |m| {
                m["kind"] == "image" && m["body"]["image"]["caption"] == json!(caption)
            })
            .await;
        assert_eq!(sent["to"], json!(wa_id));
        let media_id = sent["body"]["image"]["id"].as_str().expect("sent by uploaded id");
        assert_eq!(sandbox.uploaded(media_id).await, TINY_PNG, "the sandbox holds exactly our file");
        wait_for(
            &client,
            &format!("//*[@data-testid='message'][@data-direction='outbound'][@data-kind='image'][contains(., '{caption}')][@data-status='sent' or @data-status='delivered' or @data-status='read']"),
            STEP_TIMEOUT,
        )
        .await;

        // A PDF without a caption (the Send button sends).
        let pdf: Vec<u8> = format!("%PDF-1.4\n% invoice {n}\n%%EOF\n").into_bytes();
        let pdf_path = fixtures.path().join(format!("invoice-{n}.pdf"));
        std::fs::write(&pdf_path, &pdf).unwrap();
        let file_input = client.find(Locator::Css("[data-testid=file-input]")).await.unwrap();
        file_input.send_keys(pdf_path.to_str().unwrap()).await.unwrap();
        wait_for(&client, "//*[@data-testid='attachment-chip'][contains(., 'Document')]", STEP_TIMEOUT).await;
        client.find(Locator::Css("[data-testid=send-button]")).await.unwrap().click().await.unwrap();
        let filename = format!("invoice-{n}.pdf");
        let sent = sandbox
            .wait_sent("the document", |m| {
                m["kind"] == "document" && m["body"]["document"]["filename"] == json!(filename)
            })
            .await;
        assert_eq!(sent["to"], json!(wa_id));
        let media_id = sent["body"]["document"]["id"].as_str().expect("sent by uploaded id");
        assert_eq!(sandbox.uploaded(media_id).await, pdf);
        wait_for(
            &client,
            &format!("//*[@data-testid='message'][@data-direction='outbound'][@data-kind='document'][contains(., '{filename}')]"),
            STEP_TIMEOUT,
        )
        .await;

        // Drag and drop onto the thread: a drop event carrying a file (built
        // in the page, as WebDriver cannot drag from the desktop).
        let dropped = format!("notes from the drop {n}");
        let dropped_name = format!("notes-{n}.txt");
        js(
            &client,
            &format!(
                "const dt = new DataTransfer();
                 dt.items.add(new File([{}], {}, {{ type: 'text/plain' }}));
                 const list = document.querySelector('[data-testid=message-list]');
                 list.dispatchEvent(new DragEvent('dragover', {{ dataTransfer: dt, bubbles: true, cancelable: true }}));
                 list.dispatchEvent(new DragEvent('drop', {{ dataTransfer: dt, bubbles: true, cancelable: true }}));
                 return true;",
                json!(dropped),
                json!(dropped_name)
            ),
        )
        .await;
        wait_for(
            &client,
            &format!("//*[@data-testid='attachment-chip'][contains(., '{dropped_name}')][contains(., 'text/plain')]"),
            STEP_TIMEOUT,
        )
        .await;
        client.find(Locator::Css("[data-testid=send-button]")).await.unwrap().click().await.unwrap();
        let sent = sandbox
            .wait_sent("the dropped file", |m| {
                m["kind"] == "document" && m["body"]["document"]["filename"] == json!(dropped_name)
            })
            .await;
        let media_id = sent["body"]["document"]["id"].as_str().expect("sent by uploaded id");
        assert_eq!(sandbox.uploaded(media_id).await, dropped.as_bytes());

        // Over WhatsApp's 5 MB image limit: refused before reading, nothing sent.
        let before = sandbox.sent_to(wa_id).await.len();
        let big_path = fixtures.path().join(format!("huge-{n}.png"));
        let mut big = TINY_PNG.to_vec();
        big.resize(5 * 1024 * 1024 + 1, 0);
        std::fs::write(&big_path, &big).unwrap();
        let file_input = client.find(Locator::Css("[data-testid=file-input]")).await.unwrap();
        file_input.send_keys(big_path.to_str().unwrap()).await.unwrap();
        let refusal = wait_for(&client, "//*[@data-testid='attach-error']", STEP_TIMEOUT).await;
        let refusal = text_content(&refusal).await;
        assert_eq!(
            refusal,
            format!("\u{201c}huge-{n}.png\u{201d} is over 5 MB; WhatsApp takes at most 5 MB for images. Choose a smaller file.")
        );
        assert!(!exists(&client, "[data-testid=attachment-chip]").await, "no chip for a refused file");
        let input = client.find(Locator::Css("[data-testid=composer-input]")).await.unwrap();
        input.send_keys("\u{E007}").await.unwrap(); // Enter on an empty box sends nothing
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(sandbox.sent_to(wa_id).await.len(), before, "nothing was sent");
    })
    .await;
}

/// The dark theme follows the system: GTK's dark preference reaches the
/// page as `prefers-color-scheme: dark`, and the page's colours follow it.
/// `PARLEY_UPDATE_SCREENSHOT=1` also refreshes docs/dark.png.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dark_theme_follows_the_system() {
    with_app("dark", &[("GTK_THEME", "Adwaita:dark")], |client, sandbox_dir| async move {
        let sandbox = Sandbox::wait(&sandbox_dir).await;
        wait_for(&client, "//*[@data-testid='sync-state'][@data-state='running']", START_TIMEOUT)
            .await;
        let dark = js(&client, "return matchMedia('(prefers-color-scheme: dark)').matches;").await;
        assert_eq!(dark, true, "the page sees the system's dark preference");
        let thread_bg = js(
            &client,
            "return getComputedStyle(document.documentElement).getPropertyValue('--thread-bg').trim();",
        )
        .await;
        assert_eq!(thread_bg, "#0b141a", "the dark palette applies");
        let n = nonce();
        rich_kinds(&client, &sandbox, &n).await;
        sandbox
            .customer_says("15550100009", "Ana Lima", "Hi! Is my order #4417 on its way? 📦")
            .await;
        sandbox.customer_says("15550100010", "Bruno Alves", "Thanks for the quick answer").await;
        open_conversation(&client, &format!("Rita Rich {n}")).await;
        save_screenshot(&client, "dark.png").await;
    })
    .await;
}
