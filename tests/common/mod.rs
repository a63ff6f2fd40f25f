//! Helpers shared by the integration tests that drive the real binaries.
#![allow(dead_code)] // each test file uses a different subset

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const APP_SECRET: &str = "pipeline-app-secret";
pub const ACCESS_TOKEN: &str = "pipeline-access-token";
pub const PHONE_NUMBER_ID: &str = "106540352242922";
pub const VERIFY_TOKEN: &str = "pipeline-verify";
pub const CUSTOMER: &str = "15551230001";
/// The sandbox's default Instagram professional account.
pub const INSTAGRAM_ACCOUNT_ID: &str = "17841400000000001";

/// A workspace binary next to this test's own executable.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (scripts/test.sh does)",
        path.display()
    );
    path
}

pub fn require_session() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "this test needs a D-Bus session with gnome-keyring; run it through scripts/test.sh"
    );
}

/// Kills the child when the test ends, however it ends.
pub struct Running {
    pub child: Child,
    pub url: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start a server binary and read the URL from its "listening on" line.
pub fn serve(cmd: Command) -> Running {
    serve_logging_to(cmd, None)
}

/// [`serve`], with the server's logs (at debug level) appended to `log`, so
/// a test can check that they carry no content.
pub fn serve_logging_to(mut cmd: Command, log: Option<&Path>) -> Running {
    let stderr = match log {
        Some(path) => {
            cmd.env("RUST_LOG", "debug");
            Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("log file opens"),
            )
        }
        None => Stdio::inherit(),
    };
    let mut child = cmd.stdout(Stdio::piped()).stderr(stderr).spawn().expect("server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "unexpected first line {line:?}");
    Running { child, url }
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

pub fn stdout_line(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap().trim().to_owned()
}

pub fn relay_admin(db: &Path) -> Command {
    let mut cmd = Command::new(bin("parley-relay"));
    cmd.arg("--db").arg(db).env("PARLEY_APP_SECRET", APP_SECRET);
    cmd
}

pub fn ctl(profile: &Path) -> Command {
    let mut cmd = Command::new(bin("parleyctl"));
    cmd.arg("--profile-dir").arg(profile);
    cmd
}

pub fn ctl_json(profile: &Path, args: &[&str]) -> Value {
    let out = run(ctl(profile).args(args));
    serde_json::from_slice(&out.stdout).expect("parleyctl prints JSON")
}

/// Poll `check` until it returns `Some`, or fail after `secs`.
pub fn eventually<T>(secs: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

pub fn start_relay(db: &Path, listen: &str) -> Running {
    let mut cmd = relay_admin(db);
    cmd.args(["serve", "--listen", listen]);
    // The relay's log sits beside its database, for the plaintext checks.
    serve_logging_to(cmd, Some(&db.with_extension("log")))
}

/// A relay tenant with one WhatsApp number and a profile enrolled with it.
/// Returns the relay process; the profile is ready to sync.
pub fn relay_with_enrolled_profile(relay_db: &Path, profile: &Path) -> Running {
    relay_with_enrolled_profiles(relay_db, &[profile])
}

/// A relay tenant named `name` owning the WhatsApp number, made with the
/// relay's admin CLI. Returns its id.
pub fn tenant_with_number(relay_db: &Path, name: &str) -> String {
    let tenant = stdout_line(&run(relay_admin(relay_db).args([
        "tenant",
        "create",
        "--name",
        name,
        "--verify-token",
        VERIFY_TOKEN,
    ])));
    run(relay_admin(relay_db).args([
        "channel",
        "add",
        "--tenant",
        &tenant,
        "--whatsapp-number",
        PHONE_NUMBER_ID,
    ]));
    tenant
}

/// The same, with several devices (agents) of one tenant.
pub fn relay_with_enrolled_profiles(relay_db: &Path, profiles: &[&Path]) -> Running {
    let tenant = tenant_with_number(relay_db, "acme");
    run(relay_admin(relay_db).args([
        "channel",
        "add",
        "--tenant",
        &tenant,
        "--instagram",
        INSTAGRAM_ACCOUNT_ID,
    ]));
    let relay = start_relay(relay_db, "127.0.0.1:0");
    for profile in profiles {
        let code =
            stdout_line(&run(relay_admin(relay_db).args(["enroll-code", "--tenant", &tenant])));
        run(ctl(profile).args(["enroll", "--relay", &relay.url]).env("PARLEY_ENROLL_CODE", &code));
    }
    relay
}

/// A sandbox posting its webhooks to `relay`, with the test app's secrets.
/// `log` keeps its debug log for the plaintext checks.
pub fn start_sandbox(
    relay: &str,
    listen: &str,
    status_delay_ms: u32,
    log: Option<&Path>,
) -> Running {
    let mut cmd = Command::new(bin("parley-sandbox"));
    cmd.args(["--listen", listen, "--phone-number-id", PHONE_NUMBER_ID, "--status-delay-ms"])
        .arg(status_delay_ms.to_string())
        .arg("--webhook-url")
        .arg(format!("{relay}/webhooks/meta"))
        .env("PARLEY_APP_SECRET", APP_SECRET)
        .env("PARLEY_ACCESS_TOKEN", ACCESS_TOKEN);
    serve_logging_to(cmd, log)
}

/// The whole chain on loopback: a relay with one tenant and this profile
/// enrolled, a sandbox posting to it, and the profile connected to the
/// sandbox's Graph API.
pub struct Pipeline {
    pub _dir: tempfile::TempDir,
    pub relay_db: PathBuf,
    pub profile: PathBuf,
    pub relay: Running,
    pub sandbox: Running,
    pub http: reqwest::blocking::Client,
}

pub fn pipeline() -> Pipeline {
    require_session();
    let dir = tempfile::tempdir().unwrap();
    let relay_db = dir.path().join("relay.db");
    let profile = dir.path().join("profile");
    let relay = relay_with_enrolled_profile(&relay_db, &profile);
    let sandbox =
        start_sandbox(&relay.url, "127.0.0.1:0", 100, Some(&dir.path().join("sandbox.log")));
    run(ctl(&profile)
        .args(["configure-graph", "--base-url", &sandbox.url, "--phone-number-id", PHONE_NUMBER_ID])
        .env("PARLEY_ACCESS_TOKEN", ACCESS_TOKEN));
    let http = reqwest::blocking::Client::new();
    Pipeline { _dir: dir, relay_db, profile, relay, sandbox, http }
}

impl Pipeline {
    /// [`CUSTOMER`] writes `text`; returns the message's wamid.
    pub fn customer_writes(&self, text: &str) -> String {
        self.customer_writes_as(CUSTOMER, "Pipeline Customer", text)
    }

    /// Any WhatsApp customer writes `text`; returns the message's wamid.
    pub fn customer_writes_as(&self, wa_id: &str, name: &str, text: &str) -> String {
        let resp = self
            .http
            .post(format!("{}/_sandbox/customers/{wa_id}/messages", self.sandbox.url))
            .json(&json!({ "text": text, "name": name }))
            .send()
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().unwrap());
        resp.json::<Value>().unwrap()["id"].as_str().unwrap().to_owned()
    }

    /// The IGSID of the sandbox's first simulated Instagram customer.
    pub fn instagram_customer(&self) -> String {
        let customers: Vec<Value> = self
            .http
            .get(format!("{}/_sandbox/instagram/customers", self.sandbox.url))
            .send()
            .unwrap()
            .json()
            .unwrap();
        customers[0]["igsid"].as_str().unwrap().to_owned()
    }

    /// One sync round, with the core's debug log kept for the plaintext check.
    pub fn sync(&self) -> Value {
        let out = run(ctl(&self.profile).args(["sync", "--once"]).env("RUST_LOG", "debug"));
        let log = self.relay_db.with_file_name("core.log");
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        std::io::Write::write_all(&mut file, &out.stderr).unwrap();
        serde_json::from_slice(&out.stdout).expect("parleyctl prints JSON")
    }

    pub fn messages(&self, conversation: i64) -> Vec<Value> {
        ctl_json(&self.profile, &["messages", "--conversation", &conversation.to_string()])
            .as_array()
            .unwrap()
            .clone()
    }
}
