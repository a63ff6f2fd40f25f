//! The `parley-relay` binary: admin commands on the database file, and
//! `serve` announcing its address and stopping cleanly on SIGTERM.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use parley_protocol::{DeviceSecretKey, EnrollRequest, EnrollResponse};

use crate::util::{fetch_events, message_texts, post_signed, wa_batch};

fn relay(db: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_parley-relay"));
    cmd.arg("--db").arg(db).env_remove("PARLEY_APP_SECRET").env_remove("PARLEY_RELAY_DB");
    cmd
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{:?} failed: {}", cmd, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn run_err(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "{cmd:?} should have failed");
    out
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test]
async fn admin_commands_then_serve_deliver_and_stop_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");

    // The secret never comes from an argument.
    let no_secret =
        run_err(relay(&db).args(["tenant", "create", "--name", "acme", "--verify-token", "vt"]));
    assert!(String::from_utf8_lossy(&no_secret.stderr).contains("PARLEY_APP_SECRET"));
    let tenant = run_ok(
        relay(&db)
            .args(["tenant", "create", "--name", "acme", "--verify-token", "vt"])
            .env("PARLEY_APP_SECRET", "cli-secret"),
    );
    assert!(is_hex(&tenant, 32), "{tenant}");
    let secret_file = dir.path().join("secret.txt");
    std::fs::write(&secret_file, "other-secret\n").unwrap();
    let other = run_ok(
        relay(&db)
            .args(["tenant", "create", "--name", "other", "--verify-token", "vt2"])
            .arg("--app-secret-file")
            .arg(&secret_file),
    );
    assert!(is_hex(&other, 32));

    run_ok(relay(&db).args(["channel", "add", "--tenant", &tenant, "--whatsapp-number", "111"]));
    let taken = run_err(relay(&db).args([
        "channel",
        "add",
        "--tenant",
        &other,
        "--whatsapp-number",
        "111",
    ]));
    assert!(String::from_utf8_lossy(&taken.stderr).contains("another tenant"));
    run_err(relay(&db).args([
        "channel",
        "add",
        "--tenant",
        &other,
        "--whatsapp-number",
        "1",
        "--instagram",
        "2",
    ]));

    // PARLEY_RELAY_DB works in place of --db.
    let code = run_ok(
        Command::new(env!("CARGO_BIN_EXE_parley-relay"))
            .args(["enroll-code", "--tenant", &tenant, "--ttl-mins", "5"])
            .env("PARLEY_RELAY_DB", &db),
    );
    assert!(is_hex(&code, 64), "{code}");

    let mut server = relay(&db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("parley-relay listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"), "{url}");

    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{url}/healthz")).send().await.unwrap().text().await.unwrap(),
        "ok"
    );
    let sk = DeviceSecretKey::generate();
    let enroll = EnrollRequest {
        code,
        device_name: "cli test".into(),
        public_key: sk.public_key().to_base64(),
    };
    let device: EnrollResponse = http
        .post(format!("{url}/v1/devices/enroll"))
        .json(&enroll)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let body = wa_batch(&[("111", "via the binary")]);
    assert_eq!(post_signed(&http, &url, "cli-secret", body).await, 200);
    let events = fetch_events(&http, &url, &device.token, 0).await;
    assert_eq!(message_texts(&sk, &events), vec!["via the binary"]);

    // Admin commands run against the file while the server holds it.
    let listed = run_ok(relay(&db).args(["devices", "list", "--tenant", &tenant]));
    let row: serde_json::Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(row["id"], device.device_id.as_str());
    assert_eq!(row["name"], "cli test");
    assert_eq!((row["revoked"].as_bool(), row["queue_depth"].as_u64()), (Some(false), Some(1)));
    run_ok(relay(&db).args(["devices", "revoke", &device.device_id]));
    let revoked = http
        .get(format!("{url}/v1/events?after=0"))
        .bearer_auth(&device.token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 401);
    let listed = run_ok(relay(&db).args(["devices", "list", "--tenant", &tenant]));
    assert!(listed.contains("\"revoked\":true"), "{listed}");

    let term = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(term.success());
    let status = server.wait().unwrap();
    assert!(status.success(), "serve did not exit cleanly on SIGTERM: {status:?}");
}

#[tokio::test]
async fn config_file_admin_key_channel_remove_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("from-config.db");

    // The key goes only to a new private file; stdout carries just its hash.
    let key_file = dir.path().join("admin.key");
    let line = run_ok(
        relay(&dir.path().join("unused.db"))
            .args(["admin-key", "generate", "--out"])
            .arg(&key_file),
    );
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert!(is_hex(&key, 64));
    assert!(!line.contains(&key));
    let hash = line.strip_prefix("admin_key_sha256 = \"").unwrap().trim_end_matches('"').to_owned();
    assert!(is_hex(&hash, 64));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o077, 0);
    }
    run_err(relay(&db).args(["admin-key", "generate", "--out"]).arg(&key_file));

    let config = dir.path().join("relay.toml");
    std::fs::write(
        &config,
        format!(
            "db = {db:?}\nlisten = \"127.0.0.1:0\"\nadmin_key_sha256 = \"{hash}\"\n[limits]\nper_device = {{ per_sec = 5.0, burst = 10.0 }}\n"
        ),
    )
    .unwrap();
    let with_config = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_parley-relay"));
        cmd.arg("--config")
            .arg(&config)
            .env_remove("PARLEY_RELAY_DB")
            .env_remove("PARLEY_APP_SECRET");
        cmd
    };
    let tenant = run_ok(
        with_config()
            .args(["tenant", "create", "--name", "acme", "--verify-token", "vt"])
            .env("PARLEY_APP_SECRET", "s"),
    );
    assert!(db.exists(), "the db path came from the config file");
    run_ok(with_config().args(["channel", "add", "--tenant", &tenant, "--instagram", "42"]));
    run_ok(with_config().args(["channel", "remove", "--tenant", &tenant, "--instagram", "42"]));
    let again = run_err(with_config().args([
        "channel",
        "remove",
        "--tenant",
        &tenant,
        "--instagram",
        "42",
    ]));
    assert!(String::from_utf8_lossy(&again.stderr).contains("no channel"));
    let audit = run_ok(with_config().args(["audit", "--limit", "10"]));
    for action in ["tenant.create", "channel.add", "channel.remove"] {
        assert!(audit.contains(action), "{action} missing from {audit}");
    }

    let mut server =
        with_config().arg("serve").stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut first = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let url = first.trim().strip_prefix("parley-relay listening on ").unwrap().to_owned();
    let http = reqwest::Client::new();
    let devices = http
        .get(format!("{url}/admin/v1/tenants/{tenant}/devices"))
        .bearer_auth(key.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(devices.status(), 200, "the admin key from the config file works");
    let term = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(term.success());
    assert!(server.wait().unwrap().success());

    // A config file with a typo is an error, not silently ignored.
    std::fs::write(&config, "listn = \"127.0.0.1:0\"\n").unwrap();
    let bad = run_err(with_config().arg("serve"));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("config"));
}
