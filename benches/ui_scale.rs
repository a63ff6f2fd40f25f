//! The inbox UI on a 1,000,000-message database, in the real app window.
//!
//!     scripts/build-ui.sh --release
//!     scripts/with-session.sh --fresh -- cargo bench --bench ui_scale
//!
//! Writes a large inbox into a sandbox profile's encrypted database (key in
//! the session's keyring), starts the optimised app on it under WebDriver
//! and measures, with the page's own Performance API (`performance.now()`
//! around a real click, until a MutationObserver sees the result in the
//! DOM, and until the next animation frame after that):
//! - opening a conversation from the list;
//! - opening a search hit (the thread pages back to a message far above
//!   its first page and highlights it);
//! - the search box: typing to the hits shown (including its 180 ms debounce);
//! - the DOM row counts while both lists are scrolled end to end.
//!
//! The baseline, in the same run: the same steps on a 1,000-message inbox,
//! so each figure is also given as a ratio (large / small). Target
//! (issue 6): opening a conversation and a search hit under 100 ms.
//!
//! `PARLEY_BENCH_MESSAGES` (default 1,000,000) and `PARLEY_BENCH_CONVERSATIONS`
//! (default 50,000) change the large inbox. Needs an X display and a D-Bus
//! session with gnome-keyring (`scripts/with-session.sh`), tauri-driver and
//! WebKitWebDriver, as the end-to-end tests do.

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use serde_json::{json, Value};

#[path = "../tests/common/inbox.rs"]
mod inbox;
#[path = "../tests/common/sandbox_app.rs"]
mod sandbox_app;
#[path = "../tests/common/webdriver.rs"]
mod webdriver;

use inbox::{fill_profile, InboxSpec, LONG_THREAD};
use webdriver::{wait_for, KeyringCleanup};

const APP: &str = env!("CARGO_BIN_EXE_parley");
const OPENS: usize = 30;
const NEEDLES: u64 = 20;
const TIMEOUT: Duration = Duration::from_secs(120);

/// Click a target, then resolve with [ms until the expected change is in
/// the DOM, ms until the next frame after it]. The page's CSP forbids
/// `eval`, so the target and the change are named, not passed as code:
/// arguments[0] = ["row", title] or ["hit"]; arguments[1] = ["thread",
/// title] or ["highlight", word].
const TIMED_CLICK: &str = r#"
const [target, expect, callback] = [arguments[0], arguments[1], arguments[2]];
const el = target[0] === 'row'
    ? [...document.querySelectorAll('[data-testid=conversation-row]')]
        .find(r => r.getAttribute('aria-label').startsWith(target[1] + ','))
    : document.querySelector('[data-testid=search-hit]');
if (!el) { callback('no target'); return; }
const done = () => {
    if (expect[0] === 'thread') {
        const t = document.querySelector('[data-testid=thread-title]');
        return !!t && t.textContent === expect[1]
            && document.querySelectorAll('[data-testid=message]').length > 0;
    }
    const m = document.querySelector('[data-testid=message][data-highlighted=true]');
    return !!m && m.textContent.includes(expect[1]);
};
if (done()) { callback('already there'); return; }
const t0 = performance.now();
let finished = false;
const observer = new MutationObserver(() => {
    if (finished || !done()) return;
    finished = true;
    observer.disconnect();
    const dom = performance.now() - t0;
    requestAnimationFrame(() => callback([dom, performance.now() - t0]));
});
observer.observe(document.body, { childList: true, subtree: true, characterData: true, attributes: true });
el.click();
setTimeout(() => { if (!finished) { observer.disconnect(); callback(null); } }, 20000);
"#;

/// Type `text` into the search box as one input event and time the hits.
const TIMED_SEARCH: &str = r#"
const [text, callback] = [arguments[0], arguments[1]];
const input = document.querySelector('[data-testid=search-input]');
const t0 = performance.now();
let finished = false;
const done = () => [...document.querySelectorAll('[data-testid=search-hit-text] mark')]
    .some(m => m.textContent.toLowerCase() === text.toLowerCase());
const observer = new MutationObserver(() => {
    if (finished || !done()) return;
    finished = true;
    observer.disconnect();
    const dom = performance.now() - t0;
    requestAnimationFrame(() => callback([dom, performance.now() - t0]));
});
observer.observe(document.body, { childList: true, subtree: true, characterData: true });
input.value = text;
input.dispatchEvent(new Event('input', { bubbles: true }));
setTimeout(() => { if (!finished) { observer.disconnect(); callback(null); } }, 20000);
"#;

#[derive(Debug, Default)]
struct Figures {
    open: Vec<(f64, f64)>,
    hit: Vec<(f64, f64)>,
    search: Vec<(f64, f64)>,
    list_rows_max: u64,
    list_loaded: u64,
    thread_rows_max: u64,
    thread_loaded: u64,
}

fn main() {
    sandbox_app::require_session();
    let env_u64 = |name: &str, default: u64| {
        std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
    };
    let messages = env_u64("PARLEY_BENCH_MESSAGES", 1_000_000);
    let conversations = env_u64("PARLEY_BENCH_CONVERSATIONS", 50_000);
    let long_thread = (messages / 50).clamp(1_000, 20_000);
    let large = InboxSpec { messages, conversations, long_thread, needles: NEEDLES };
    let small =
        InboxSpec { messages: 1_000, conversations: 50, long_thread: 900, needles: NEEDLES };
    assert!(NEEDLES * 37 + 100 < small.long_thread);

    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let baseline = runtime.block_on(run("small", small));
    let measured = runtime.block_on(run("large", large));
    report(&small, &baseline, &large, &measured);
}

async fn run(name: &str, spec: InboxSpec) -> Figures {
    let data_dir = tempfile::tempdir().unwrap();
    let profile = data_dir.path().join("sandbox");
    let _keyring = KeyringCleanup(profile.clone());
    let started = Instant::now();
    let dir = profile.clone();
    tokio::task::spawn_blocking(move || fill_profile(&dir, spec)).await.unwrap();
    eprintln!(
        "ui_scale {name}: {} messages in {} conversations written in {:.0} s",
        spec.messages,
        spec.conversations,
        started.elapsed().as_secs_f64()
    );
    let (driver, client) = sandbox_app::start_app(APP, data_dir.path(), &[]).await;
    let outcome = tokio::spawn(measure(client.clone(), spec)).await;
    let _ = client.close().await;
    drop(driver);
    match outcome {
        Ok(figures) => figures,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("cancelled: {e}"),
    }
}

async fn js(client: &Client, script: &str, args: Vec<Value>) -> Value {
    client.execute(script, args).await.unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// How many elements match `css` now.
async fn count(client: &Client, css: &str) -> u64 {
    let script = format!("return document.querySelectorAll({}).length;", json!(css));
    js(client, &script, vec![]).await.as_u64().unwrap()
}

async fn timed(client: &Client, script: &str, args: Vec<Value>) -> (f64, f64) {
    let v = client.execute_async(script, args.clone()).await.expect("timed script runs");
    let pair = v.as_array().unwrap_or_else(|| {
        panic!(
            "{args:?}: {}",
            if v.is_null() { "the change never came".into() } else { v.to_string() }
        )
    });
    (pair[0].as_f64().unwrap(), pair[1].as_f64().unwrap())
}

async fn measure(client: Client, spec: InboxSpec) -> Figures {
    let mut f = Figures::default();
    wait_for(&client, "//*[@data-testid='sync-state'][@data-state='running']", TIMEOUT).await;
    wait_for(&client, "//*[@data-testid='conversation-row']", TIMEOUT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Opening conversations: alternate between the top rows (the long
    // thread and the next newest), each open a different conversation.
    let titles: Vec<String> = js(
        &client,
        "return [...document.querySelectorAll('[data-testid=conversation-row]')].slice(0, 6)\
         .map(r => r.getAttribute('aria-label').split(',')[0]);",
        vec![],
    )
    .await
    .as_array()
    .unwrap()
    .iter()
    .map(|v| v.as_str().unwrap().to_owned())
    .collect();
    assert!(titles.len() >= 2, "rows: {titles:?}");
    for i in 0..OPENS {
        let title = &titles[i % titles.len()];
        let args = vec![json!(["row", title]), json!(["thread", title])];
        f.open.push(timed(&client, TIMED_CLICK, args).await);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    // The long thread, scrolled to its top page by page.
    let args = vec![json!(["row", LONG_THREAD]), json!(["thread", LONG_THREAD])];
    timed(&client, TIMED_CLICK, args).await;
    let list = "const l = document.querySelector('[data-testid=message-list]');";
    for _ in 0..40 {
        js(&client, &format!("{list} l.scrollTop = 0; return 1;"), vec![]).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        let rows = count(&client, "[data-testid=message]").await;
        f.thread_rows_max = f.thread_rows_max.max(rows);
    }
    f.thread_loaded = js(&client, &format!("{list} return Number(l.dataset.loaded);"), vec![])
        .await
        .as_u64()
        .unwrap();

    // The conversation list, scrolled down in steps (it pages in more).
    let conv = "const c = document.querySelector('[data-testid=conversation-list]');";
    for step in 0..60 {
        js(
            &client,
            &format!("{conv} c.scrollTop = c.scrollHeight * {step} / 30; return 1;"),
            vec![],
        )
        .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let rows = count(&client, "[data-testid=conversation-row]").await;
        f.list_rows_max = f.list_rows_max.max(rows);
    }
    f.list_loaded = js(&client, &format!("{conv} return Number(c.dataset.total);"), vec![])
        .await
        .as_u64()
        .unwrap();
    js(&client, &format!("{conv} c.scrollTop = 0; return 1;"), vec![]).await;

    // Search: for each needle, from another conversation (so the long
    // thread is not loaded: every jump is a cold one), type it, then open
    // its hit far up the long thread.
    for k in 0..spec.needles {
        js(
            &client,
            "window.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'})); return 1;",
            vec![],
        )
        .await;
        let others: Vec<&String> = titles.iter().filter(|t| *t != LONG_THREAD).collect();
        let other = others[k as usize % others.len()];
        let open = js(
            &client,
            "const t = document.querySelector('[data-testid=thread-title]'); return t ? t.textContent : null;",
            vec![],
        )
        .await;
        if open != json!(other) {
            let args = vec![json!(["row", other]), json!(["thread", other])];
            timed(&client, TIMED_CLICK, args).await;
        }
        js(
            &client,
            "window.dispatchEvent(new KeyboardEvent('keydown', {key: 'k', ctrlKey: true, bubbles: true})); return 1;",
            vec![],
        )
        .await;
        client.find(Locator::Css("[data-testid=search-input]")).await.unwrap();
        let word = inbox::needle(k);
        f.search.push(timed(&client, TIMED_SEARCH, vec![json!(word)]).await);
        let args = vec![json!(["hit"]), json!(["highlight", word])];
        f.hit.push(timed(&client, TIMED_CLICK, args).await);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    f
}

/// (ms to the DOM change, ms to the next frame).
type Sample = (f64, f64);
type Pick = fn(&Sample) -> f64;

fn percentile(samples: &[Sample], pick: Pick, p: f64) -> f64 {
    let mut v: Vec<f64> = samples.iter().map(pick).collect();
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn report(small: &InboxSpec, base: &Figures, large: &InboxSpec, f: &Figures) {
    println!(
        "\nui_scale: large inbox {} messages / {} conversations (long thread {}), baseline {} / {}",
        large.messages, large.conversations, large.long_thread, small.messages, small.conversations
    );
    println!(
        "{:<34} {:>22} {:>22} {:>8}",
        "", "large p50 / p95 ms", "baseline p50 / p95 ms", "ratio"
    );
    let rows: [(&str, &[Sample], &[Sample], Pick); 6] = [
        ("open conversation (DOM)", &f.open, &base.open, |s| s.0),
        ("open conversation (next frame)", &f.open, &base.open, |s| s.1),
        ("open search hit (DOM)", &f.hit, &base.hit, |s| s.0),
        ("open search hit (next frame)", &f.hit, &base.hit, |s| s.1),
        ("search hits shown (DOM, +180 ms debounce)", &f.search, &base.search, |s| s.0),
        ("search hits shown (next frame)", &f.search, &base.search, |s| s.1),
    ];
    for (name, large, small, pick) in rows {
        let (l50, l95) = (percentile(large, pick, 0.5), percentile(large, pick, 0.95));
        let (s50, s95) = (percentile(small, pick, 0.5), percentile(small, pick, 0.95));
        println!(
            "{name:<34} {:>10.1} / {:>9.1} {:>10.1} / {:>9.1} {:>7.2}×",
            l50,
            l95,
            s50,
            s95,
            l50 / s50
        );
    }
    println!(
        "DOM rows, conversation list: at most {} while scrolling {} loaded (baseline {} of {})",
        f.list_rows_max, f.list_loaded, base.list_rows_max, base.list_loaded
    );
    println!(
        "DOM rows, thread: at most {} while scrolling up through {} loaded (baseline {} of {})",
        f.thread_rows_max, f.thread_loaded, base.thread_rows_max, base.thread_loaded
    );
}
