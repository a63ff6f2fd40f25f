//! The WebDriver harness the end-to-end tests share: tauri-driver on free
//! ports in its own process group, stopped (with WebKitWebDriver and the
//! app) however the test ends.
#![allow(dead_code)] // each end-to-end test file uses a different subset

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn tauri_driver() -> PathBuf {
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|p| {
        std::env::split_paths(&p).map(|d| d.join("tauri-driver")).collect::<Vec<_>>()
    });
    let in_cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .map(|d| d.join("bin").join("tauri-driver"));
    on_path
        .chain(in_cargo_home)
        .find(|p| p.is_file())
        .expect("tauri-driver on PATH or in ~/.cargo/bin")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// tauri-driver and what it starts, in their own process group, signalled
/// as a whole on drop.
pub struct Driver {
    pub child: Child,
    pub url: String,
}

impl Driver {
    /// Start tauri-driver on free ports, with `env` added to its environment
    /// (which the app it launches inherits).
    pub fn start(env: &[(&str, &str)]) -> Driver {
        use std::os::unix::process::CommandExt;
        let (port, native_port) = (free_port(), free_port());
        let mut cmd = Command::new(tauri_driver());
        cmd.args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("tauri-driver starts");
        let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
        // tauri-driver listens at once but forwards a new session to
        // WebKitWebDriver, which it starts beside itself; a session asked for
        // before that one listens is dropped mid-request (seen under load with
        // several apps starting at once). So wait for both.
        let deadline = Instant::now() + Duration::from_secs(20);
        for (what, p) in [("tauri-driver", port), ("WebKitWebDriver", native_port)] {
            let addr = SocketAddr::from(([127, 0, 0, 1], p));
            while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
                assert!(Instant::now() < deadline, "{what} did not listen on {addr}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        driver
    }

    fn signal_group(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.signal_group("-TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.signal_group("-KILL");
        let _ = self.child.wait();
    }
}

/// The element at `xpath`, waiting up to `timeout`. On a timeout the
/// failure quotes the app's error banner, which usually says why.
pub async fn wait_for(
    client: &fantoccini::Client,
    xpath: &str,
    timeout: Duration,
) -> fantoccini::elements::Element {
    use fantoccini::Locator;
    match client
        .wait()
        .at_most(timeout)
        .every(Duration::from_millis(100))
        .for_element(Locator::XPath(xpath))
        .await
    {
        Ok(element) => element,
        Err(e) => {
            let banner = match client.find(Locator::Css("[data-testid=error-banner]")).await {
                Ok(b) => text_content(&b).await,
                Err(_) => "(no error banner)".into(),
            };
            // The window as it was, for whoever reads the failure (test
            // data only: these sessions never see a real customer).
            let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
                "wait-failed-{}.png",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis())
            ));
            let saved = match client.screenshot().await {
                Ok(png) if std::fs::write(&shot, &png).is_ok() => shot.display().to_string(),
                _ => "none".into(),
            };
            panic!(
                "waited {timeout:?} for {xpath}: {e}; error banner: {banner}; screenshot: {saved}"
            );
        }
    }
}

/// `textContent`, which (unlike WebDriver's text) includes ellipsised text.
pub async fn text_content(element: &fantoccini::elements::Element) -> String {
    element.prop("textContent").await.unwrap().unwrap_or_default()
}

/// How long one step of an end-to-end test may wait for the UI.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Run `script` in the page and return its value.
pub async fn js(client: &fantoccini::Client, script: &str) -> serde_json::Value {
    client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// Waits until `xpath` matches nothing (an XPath count, so the implicit
/// wait for elements does not apply).
pub async fn wait_gone(client: &fantoccini::Client, xpath: &str) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    let script = format!(
        "return document.evaluate({}, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue !== null;",
        serde_json::json!(xpath)
    );
    while js(client, &script).await == serde_json::json!(true) {
        assert!(Instant::now() < deadline, "{xpath} is still there");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Click the conversation whose row names `title` and wait for its thread.
pub async fn open_conversation(client: &fantoccini::Client, title: &str) {
    let row_xpath =
        format!("//*[@data-testid='conversation-row'][contains(@aria-label, '{title}')]");
    let title_xpath = format!("//*[@data-testid='thread-title'][normalize-space(.)='{title}']");
    // A row can move between being found and being clicked (a message in
    // another conversation re-sorts the list), and the click then lands
    // beside it; click again until the thread is open.
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let row = wait_for(client, &row_xpath, STEP_TIMEOUT).await;
        let _ = row.click().await;
        let opened = client
            .wait()
            .at_most(Duration::from_secs(3))
            .every(Duration::from_millis(100))
            .for_element(fantoccini::Locator::XPath(&title_xpath))
            .await;
        if opened.is_ok() {
            return;
        }
        if Instant::now() > deadline {
            wait_for(client, &title_xpath, Duration::from_millis(1)).await;
        }
    }
}

/// On a first run the window shows the welcome screen: wait until the
/// window knows whether it shows (the app information arrived or failed),
/// and if it does, choose "Try the sandbox" and wait until it is gone.
/// Returns whether it was shown. Every launch of the app in the end-to-end
/// tests goes through this.
pub async fn try_the_sandbox(client: &fantoccini::Client) -> bool {
    wait_for(client, "//div[contains(@class, 'app')][@data-app-info]", Duration::from_secs(90))
        .await;
    let shown = js(client, "return document.querySelector('[data-testid=try-sandbox]') !== null;")
        .await
        == serde_json::json!(true);
    if shown {
        wait_for(client, "//*[@data-testid='try-sandbox']", STEP_TIMEOUT)
            .await
            .click()
            .await
            .unwrap();
        wait_gone(client, "//*[@data-testid='welcome-screen']").await;
    }
    shown
}

/// With `PARLEY_UPDATE_SCREENSHOT=1`, save the window as docs/`file`.
pub async fn save_screenshot(client: &fantoccini::Client, file: &str) {
    if std::env::var_os("PARLEY_UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
        // Let images and transitions settle.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let png = client.screenshot().await.unwrap();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs").join(file);
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot saved to {}", path.display());
    }
}

/// Removes a profile's keyring entries however the test ends (the login
/// keyring outlives the test session). The profile id is read when dropped,
/// so a profile made anew (after "Delete all my data") is cleaned up too.
pub struct KeyringCleanup(pub PathBuf);

impl Drop for KeyringCleanup {
    fn drop(&mut self) {
        use parley_core::SecretStore as _;
        if let Ok(profile) = parley_core::Profile::open(&self.0) {
            let store = parley_core::KeyringStore::new(profile.id().to_owned());
            for name in parley_core::SecretName::ALL {
                let _ = store.delete(name);
            }
        }
    }
}

/// The tests drive the real app: they need an X display and a D-Bus session
/// (with gnome-keyring and dunst), which `scripts/with-session.sh` provides.
pub fn require_session() {
    for var in ["DISPLAY", "DBUS_SESSION_BUS_ADDRESS"] {
        assert!(
            std::env::var_os(var).is_some(),
            "{var} is not set: run this test through scripts/with-session.sh --fresh or \
             scripts/test.sh"
        );
    }
}

/// A WebDriver session with the app `app` on `data_dir`, with `args` added
/// and `env` set for tauri-driver (which the app inherits). Keep the driver
/// until the session is closed ([`stop_app`]).
pub async fn launch(
    app: &str,
    data_dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Driver, fantoccini::Client) {
    use serde_json::json;
    let driver = Driver::start(env);
    let mut all = vec![json!("--data-dir"), json!(data_dir)];
    all.extend(args.iter().map(|a| json!(a)));
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("wry"));
    caps.insert("tauri:options".into(), json!({ "application": app, "args": all }));
    let client =
        fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .expect("WebDriver session with the app");
    client
        .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
            Some(Duration::from_secs(30)),
            None,
            Some(Duration::from_secs(2)),
        ))
        .await
        .unwrap();
    (driver, client)
}

/// Ends the app: closing the session closes its window; then the driver.
pub async fn stop_app(driver: Driver, client: fantoccini::Client) {
    if let Err(e) = client.close().await {
        eprintln!("closing the WebDriver session failed: {e}");
    }
    drop(driver);
}

/// Clicks the element with this `data-testid`, once it is there.
pub async fn click(client: &fantoccini::Client, testid: &str) {
    wait_for(client, &format!("//*[@data-testid='{testid}']"), STEP_TIMEOUT)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {testid}: {e}"));
}

/// Replaces an input's text, as typing would.
pub async fn type_into(client: &fantoccini::Client, testid: &str, text: &str) {
    let input = wait_for(client, &format!("//*[@data-testid='{testid}']"), STEP_TIMEOUT).await;
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}
