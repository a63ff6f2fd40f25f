//! One test per promise of the privacy policy (design.md §4), named after
//! it, against real parts: the `parley-relay`, `parley-sandbox` and
//! `parleyctl` binaries on loopback, the real keyring (gnome-keyring under
//! `dbus-run-session`) and the real SQLCipher file.
//!
//! More relay-side tests live with the relay's own, which run the relay's
//! router on a real store: `crates/relay/tests/features.rs`
//! (`promise_meta_data_deletion_callback_honoured…`,
//! `promise_production_access_restricted_and_logged…`); "no tracking" is
//! `tests/no_tracking.rs` (`promise_no_tracking_no_telemetry`). ARCHITECTURE.md
//! has the whole table.
//!
//! Needs the workspace binaries built, a D-Bus session with an unlocked
//! Secret Service, Debian's `sqlcipher` CLI, and a Python with SQLCipher 4
//! (`scripts/setup.sh` installs it; `PARLEY_SQLCIPHER4_PYTHON` overrides the
//! path). `scripts/test.sh` provides all of them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

mod common;

use common::*;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn keyring(p: &Pipeline) -> parley_core::KeyringStore {
    let status = ctl_json(&p.profile, &["status"]);
    parley_core::KeyringStore::new(status["profile_id"].as_str().unwrap())
}

fn secret(p: &Pipeline, name: parley_core::SecretName) -> Option<Vec<u8>> {
    use parley_core::SecretStore;
    keyring(p).get(name).unwrap().map(|s| s.to_vec())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sync until the profile holds `count` messages in all; returns the list of
/// conversations.
fn sync_until_messages(p: &Pipeline, count: u64) -> Vec<Value> {
    eventually(30, "the messages to reach the database", || {
        p.sync();
        let inventory = ctl_json(&p.profile, &["inventory"]);
        (inventory["counts"]["messages"].as_u64()? >= count).then_some(())
    });
    ctl_json(&p.profile, &["conversations"]).as_array().unwrap().clone()
}

fn conversation_of(conversations: &[Value], handle: &str) -> i64 {
    conversations
        .iter()
        .find(|c| c["handle"] == handle)
        .unwrap_or_else(|| panic!("no conversation with {handle}: {conversations:?}"))["id"]
        .as_i64()
        .unwrap()
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// Byte-search every file under `dir` for each needle; returns the hits as
/// "file: needle-label".
fn byte_hits(dir: &Path, needles: &[(&str, &[u8])]) -> Vec<String> {
    let mut hits = Vec::new();
    for file in files_under(dir) {
        let bytes = std::fs::read(&file).unwrap();
        for (label, needle) in needles {
            if !needle.is_empty() && bytes.windows(needle.len()).any(|w| w == *needle) {
                hits.push(format!("{}: {label}", file.display()));
            }
        }
    }
    hits
}

/// SQLCipher 4 defaults (what the app's bundled SQLCipher writes): 4096-byte
/// pages whose last 80 bytes are the 16-byte IV and the 64-byte HMAC-SHA512;
/// page 1 starts with the 16-byte salt, stored in clear.
const PAGE: usize = 4096;
const RESERVE: usize = 80;

/// Decrypt one page with the raw key (AES-256-CBC; the raw-key form skips
/// key derivation, so the keyring's 32 bytes are the AES key).
fn decrypt_page(cipher: &aes::Aes256, page: &[u8], first: bool) -> Vec<u8> {
    use aes::cipher::{Array, BlockCipherDecrypt};
    let start = if first { 16 } else { 0 };
    let iv: [u8; 16] = page[PAGE - RESERVE..PAGE - RESERVE + 16].try_into().unwrap();
    let mut prev = iv;
    let mut plain = Vec::with_capacity(PAGE);
    for chunk in page[start..PAGE - RESERVE].chunks(16) {
        let block: [u8; 16] = chunk.try_into().unwrap();
        let mut b = Array::from(block);
        cipher.decrypt_block(&mut b);
        plain.extend(b.iter().zip(prev).map(|(x, y)| x ^ y));
        prev = block;
    }
    plain
}

/// Every page of the database file and every frame of its WAL, decrypted
/// with our own AES code rather than through SQLite, so that free pages and
/// stale frames are read too: where deleted content would survive if
/// `secure_delete` or the checkpoint failed.
fn decrypted_file_content(db: &Path, key: &[u8]) -> Vec<u8> {
    use aes::cipher::{Array, KeyInit};
    let key: [u8; 32] = key.try_into().unwrap();
    let cipher = aes::Aes256::new(&Array::from(key));
    let mut plain = Vec::new();
    let file = std::fs::read(db).unwrap();
    assert_eq!(file.len() % PAGE, 0, "the database is whole pages");
    for (i, page) in file.chunks(PAGE).enumerate() {
        let data = decrypt_page(&cipher, page, i == 0);
        if i == 0 {
            // The decryption is right only if the header reads as SQLite's:
            // page size 4096, 80 reserved bytes, payload fractions 64/32/32.
            assert_eq!(&data[..2], &[0x10, 0x00], "page size in the decrypted header");
            assert_eq!(&data[4..8], &[80, 64, 32, 32], "reserve and payload fractions");
        }
        plain.extend(data);
    }
    let wal = db.with_extension("db-wal");
    if let Ok(wal) = std::fs::read(&wal) {
        // A 32-byte WAL header, then frames of a 24-byte header and a page.
        for frame in wal.get(32..).unwrap_or_default().chunks(24 + PAGE) {
            if frame.len() == 24 + PAGE {
                let pgno = u32::from_be_bytes(frame[..4].try_into().unwrap());
                plain.extend(decrypt_page(&cipher, &frame[24..], pgno == 1));
            }
        }
    }
    plain
}

fn sqlcipher4_python() -> PathBuf {
    if let Some(path) = std::env::var_os("PARLEY_SQLCIPHER4_PYTHON") {
        return path.into();
    }
    // scripts/with-session.sh moves XDG_CACHE_HOME into its temporary
    // session, so look in the home directory's cache as well.
    let home_cache = PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache");
    let caches =
        std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).into_iter().chain([home_cache]);
    let candidates: Vec<PathBuf> =
        caches.map(|c| c.join("parley/sqlcipher-venv/bin/python")).collect();
    candidates.iter().find(|p| p.exists()).unwrap_or(&candidates[0]).clone()
}

/// Open `db` with an independent SQLCipher 4 (the `sqlcipher3` module's own
/// build) and the given raw key, passed on stdin so it is in no argv.
fn open_with_sqlcipher4(db: &Path, key: &[u8]) -> Value {
    let script = r#"
import json, sys, sqlcipher3
key = sys.stdin.readline().strip()
c = sqlcipher3.connect(sys.argv[1])
c.execute("PRAGMA key = \"x'%s'\"" % key)
out = {
    "cipher_version": c.execute("PRAGMA cipher_version").fetchone()[0],
    "integrity": [r[0] for r in c.execute("PRAGMA cipher_integrity_check")],
    "bodies": [r[0] for r in c.execute("SELECT body FROM messages ORDER BY id")],
}
print(json.dumps(out))
"#;
    let python = sqlcipher4_python();
    let mut child = Command::new(&python)
        .args(["-c", script])
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{} runs (scripts/setup.sh installs it): {e}", python.display())
        });
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), format!("{}\n", hex(key)).as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "sqlcipher3: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Debian's `sqlcipher` CLI: its SQLCipher version, and what it makes of
/// the file without a key.
fn debian_sqlcipher(db: &Path, statements: &str) -> std::process::Output {
    let mut child = Command::new("sqlcipher")
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the sqlcipher CLI runs (scripts/setup.sh installs it)");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), statements.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn promise_message_content_encrypted_at_rest_aes256_with_the_key_in_the_keyring() {
    let p = pipeline();
    let canary = "at-rest canary: my card ends 4417";
    p.customer_writes(canary);
    sync_until_messages(&p, 1);

    let key = secret(&p, parley_core::SecretName::DatabaseKey).expect("db key in the keyring");
    assert_eq!(key.len(), 32, "a raw 256-bit key");
    let db = p.profile.join("parley.db");

    // Nothing the profile holds shows the text, the customer's number or
    // name in clear: not the database, its WAL, the config, or anything else.
    let hits = byte_hits(
        &p.profile,
        &[
            ("text", canary.as_bytes()),
            ("number", CUSTOMER.as_bytes()),
            ("name", b"Pipeline Customer"),
        ],
    );
    assert!(hits.is_empty(), "plaintext at rest: {hits:?}");
    // ... and it is no plaintext SQLite file.
    assert!(!std::fs::read(&db).unwrap().starts_with(b"SQLite format 3\0"));

    // The format is standard SQLCipher 4: an independent implementation
    // opens it with the keyring's key, checks every page's HMAC and reads
    // the message back.
    let opened = open_with_sqlcipher4(&db, &key);
    assert!(opened["cipher_version"].as_str().unwrap().starts_with('4'), "{opened}");
    assert_eq!(opened["integrity"], json!([]), "cipher_integrity_check: {opened}");
    assert_eq!(opened["bodies"], json!([canary]));
    // Our own AES-256-CBC decryption of the raw pages finds it too, which is
    // what makes the byte searches of decrypted pages below meaningful.
    assert!(contains(&decrypted_file_content(&db, &key), canary));

    // Debian's sqlcipher CLI sees no database without the key. (Debian 12's
    // is SQLCipher 3.4, which cannot read the version 4 format even with the
    // key; where the CLI is version 4, as on Ubuntu 24.04, it must open it.)
    let no_key = debian_sqlcipher(&db, "SELECT count(*) FROM messages;\n");
    let err = String::from_utf8_lossy(&no_key.stderr);
    assert!(err.contains("not a database"), "without the key: {err}");
    let version = debian_sqlcipher(Path::new(":memory:"), "PRAGMA cipher_version;\n");
    if String::from_utf8_lossy(&version.stdout).trim_start().starts_with('4') {
        let with_key = debian_sqlcipher(
            &db,
            &format!("PRAGMA key = \"x'{}'\";\nSELECT body FROM messages;\n", hex(&key)),
        );
        assert!(contains(&with_key.stdout, canary), "{with_key:?}");
    }

    // Another key opens nothing, and a wrong key in the keyring gives the
    // agent a clear error and leaves the file byte-identical.
    let wrong = parley_core::DbKey::generate();
    let err = parley_core::Store::open(&db, &wrong).err().expect("another key does not open it");
    assert!(err.to_string().contains("cannot be decrypted"), "{err}");
    let before = std::fs::read(&db).unwrap();
    use parley_core::SecretStore;
    let store = keyring(&p);
    store.set(parley_core::SecretName::DatabaseKey, wrong.as_bytes()).unwrap();
    let out = ctl(&p.profile).arg("conversations").output().unwrap();
    store.set(parley_core::SecretName::DatabaseKey, &key).unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot be decrypted with the key in the keyring"), "{stderr}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
    run(ctl(&p.profile).arg("conversations"));
}

#[test]
fn promise_api_tokens_and_secrets_encrypted_at_rest_in_the_os_keyring_only() {
    let p = pipeline();
    p.customer_writes("hello");
    sync_until_messages(&p, 1);
    use parley_core::SecretName;
    let db_key = secret(&p, SecretName::DatabaseKey).expect("database key in the keyring");
    let relay_token = secret(&p, SecretName::RelayToken).expect("relay token in the keyring");
    let graph_token = secret(&p, SecretName::GraphToken).expect("Meta token in the keyring");
    let device_key = secret(&p, SecretName::DeviceKey).expect("device key in the keyring");
    assert_eq!(graph_token, ACCESS_TOKEN.as_bytes());

    let db_key_hex = hex(&db_key);
    let device_key_hex = hex(&device_key);
    let hits = byte_hits(
        &p.profile,
        &[
            ("Meta access token", graph_token.as_slice()),
            ("relay token", relay_token.as_slice()),
            ("database key", db_key.as_slice()),
            ("database key (hex)", db_key_hex.as_bytes()),
            ("device key", device_key.as_slice()),
            ("device key (hex)", device_key_hex.as_bytes()),
        ],
    );
    assert!(hits.is_empty(), "a secret outside the keyring: {hits:?}");
    // Not in the decrypted database either: the keyring is their only home.
    let inside = decrypted_file_content(&p.profile.join("parley.db"), &db_key);
    assert!(!contains(&inside, ACCESS_TOKEN));
    assert!(!inside.windows(relay_token.len()).any(|w| w == relay_token));
    // The status command shows settings, never a secret.
    let status = run(ctl(&p.profile).arg("status")).stdout;
    assert!(!contains(&status, ACCESS_TOKEN));
    assert!(!status.windows(relay_token.len()).any(|w| w == relay_token));
}

#[test]
fn promise_all_transmission_over_tls_except_loopback() {
    let p = pipeline();
    // A relay or Graph address off this computer must be https.
    let out = ctl(&p.profile)
        .args(["enroll", "--relay", "http://relay.example.com"])
        .env("PARLEY_ENROLL_CODE", "whatever")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("must start with https://"), "{err}");

    let out = ctl(&p.profile)
        .args(["configure-graph", "--base-url", "http://graph.example.com"])
        .args(["--phone-number-id", PHONE_NUMBER_ID])
        .env("PARLEY_ACCESS_TOKEN", ACCESS_TOKEN)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("must start with https://"), "{err}");
    // The refused address was not saved: sending still goes to the sandbox.
    let status = ctl_json(&p.profile, &["status"]);
    assert_eq!(status["config"]["graph"]["base_url"], p.sandbox.url.as_str(), "{status}");

    // https is accepted (nothing is contacted by configuring it).
    run(ctl(&p.profile)
        .args(["configure-graph", "--base-url", "https://graph.facebook.com"])
        .args(["--phone-number-id", PHONE_NUMBER_ID])
        .env("PARLEY_ACCESS_TOKEN", ACCESS_TOKEN));
}

#[test]
fn promise_message_logs_kept_90_days_by_default_then_purged_unrecoverably() {
    let p = pipeline();
    let canary = "retention canary: old order 7731";
    p.customer_writes(canary);
    sync_until_messages(&p, 1);
    let key = secret(&p, parley_core::SecretName::DatabaseKey).unwrap();
    let db = p.profile.join("parley.db");
    assert_eq!(ctl_json(&p.profile, &["inventory"])["retention_days"], 90, "90 days by default");

    // With the clock moved 89 days on, nothing is due; 91 days, it goes.
    let at = |days: i64| (now_ms() + days * DAY_MS).to_string();
    let report = ctl_json(&p.profile, &["purge", "--as-of", &at(89)]);
    assert_eq!(report["messages"], 0, "{report}");
    assert!(contains(&decrypted_file_content(&db, &key), canary), "still kept at 89 days");
    let report = ctl_json(&p.profile, &["purge", "--as-of", &at(91)]);
    assert_eq!(report["messages"], 1, "{report}");

    assert_eq!(ctl_json(&p.profile, &["inventory"])["counts"]["messages"], 0);
    assert_eq!(ctl_json(&p.profile, &["search", canary]), json!([]));
    // Unrecoverable: no page of the file, free or used, and no WAL frame
    // holds the text once decrypted with the key, and nothing else in the
    // profile holds it in clear.
    assert!(!contains(&decrypted_file_content(&db, &key), canary), "deleted text left in the file");
    assert!(byte_hits(&p.profile, &[("text", canary.as_bytes())]).is_empty());

    // Configurable: a shorter period, and forever.
    run(ctl(&p.profile).args(["retention", "30"]));
    assert_eq!(ctl_json(&p.profile, &["inventory"])["retention_days"], 30);
    p.customer_writes("kept forever");
    sync_until_messages(&p, 1);
    run(ctl(&p.profile).args(["retention", "forever"]));
    assert_eq!(ctl_json(&p.profile, &["inventory"])["retention_days"], Value::Null);
    let report = ctl_json(&p.profile, &["purge", "--as-of", &at(3650)]);
    assert_eq!(report["messages"], 0, "forever keeps everything: {report}");
    let refused = ctl(&p.profile).args(["retention", "0"]).output().unwrap();
    assert!(!refused.status.success(), "zero days is refused");
}

#[test]
fn promise_right_to_erasure_of_one_customer_leaves_nothing_of_them() {
    let p = pipeline();
    let erased_text = "erase canary: my address is 12 Elm Row";
    let kept_text = "keep canary: the other customer stays";
    p.customer_writes(erased_text);
    p.customer_writes_as("15551230077", "Kept Customer", kept_text);
    let conversations = sync_until_messages(&p, 2);
    let erased = conversation_of(&conversations, CUSTOMER);
    let key = secret(&p, parley_core::SecretName::DatabaseKey).unwrap();
    let db = p.profile.join("parley.db");

    let refused = ctl(&p.profile).args(["erase", "--conversation", &erased.to_string()]).output();
    assert!(!refused.unwrap().status.success(), "erasing needs a confirmation");
    let report = ctl_json(&p.profile, &["erase", "--conversation", &erased.to_string(), "--yes"]);
    assert_eq!(report["messages"], 1, "{report}");

    let left = ctl_json(&p.profile, &["conversations"]);
    assert_eq!(left.as_array().unwrap().len(), 1, "{left}");
    assert_eq!(left[0]["handle"], "15551230077");
    assert_eq!(ctl_json(&p.profile, &["search", "Elm"]), json!([]));
    assert_eq!(ctl_json(&p.profile, &["inventory"])["counts"]["contacts"], 1);
    // Neither the text, nor the number, nor the name survive in any page.
    let inside = decrypted_file_content(&db, &key);
    for gone in [erased_text, "Pipeline Customer"] {
        assert!(!contains(&inside, gone), "{gone:?} left in the file");
    }
    assert!(contains(&inside, kept_text), "the other customer's data is untouched");
}

#[test]
fn promise_delete_account_removes_everything_and_deregisters_the_device() {
    let p = pipeline();
    p.customer_writes("please forget me");
    sync_until_messages(&p, 1);
    let status = ctl_json(&p.profile, &["status"]);
    let profile_id = status["profile_id"].as_str().unwrap().to_owned();
    let tenant = status["config"]["tenant_id"].as_str().unwrap().to_owned();
    let refused = ctl(&p.profile).args(["delete-all", "--confirm", "yes"]).output().unwrap();
    assert!(!refused.status.success(), "a wrong confirmation deletes nothing");
    assert_eq!(ctl_json(&p.profile, &["inventory"])["counts"]["messages"], 1);
    run(ctl(&p.profile).args(["delete-all", "--confirm", "delete all my data"]));

    use parley_core::SecretStore;
    let keyring = parley_core::KeyringStore::new(profile_id.as_str());
    for name in parley_core::SecretName::ALL {
        assert!(keyring.get(name).unwrap().is_none(), "{name:?} is still in the keyring");
    }
    let left: Vec<String> = std::fs::read_dir(&p.profile)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "profile.lock")
        .collect();
    assert!(left.is_empty(), "files left in the profile: {left:?}");
    // The relay no longer knows the device as active.
    let devices = String::from_utf8(
        run(relay_admin(&p.relay_db).args(["devices", "list", "--tenant", &tenant])).stdout,
    )
    .unwrap();
    let device: Value = serde_json::from_str(devices.lines().next().unwrap()).unwrap();
    assert_eq!(device["revoked"], true, "{devices}");
    // And the next start is a first run.
    assert_eq!(ctl_json(&p.profile, &["conversations"]), json!([]));
    assert_eq!(ctl_json(&p.profile, &["status"])["config"]["tenant_id"], Value::Null);
}

#[test]
fn promise_portability_export_as_csv_and_json_with_formula_injection_neutralised() {
    let p = pipeline();
    let formula = "=HYPERLINK(\"http://evil.example\",\"click\")";
    let awkward = "line one, with a comma\nline \"two\"";
    p.customer_writes(formula);
    p.customer_writes(awkward);
    sync_until_messages(&p, 2);
    let out = p.relay_db.with_file_name("export");
    let report = ctl_json(&p.profile, &["export", "--out", out.to_str().unwrap()]);
    assert_eq!(report["messages"], 2, "{report}");
    for file in [
        "contacts.csv",
        "contacts.json",
        "conversations.csv",
        "conversations.json",
        "messages.csv",
        "messages.json",
        "README.txt",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }

    // Python's csv module (RFC 4180) reads back exactly what was stored,
    // except that a cell a spreadsheet would run as a formula starts with '.
    let script = r#"
import csv, json, sys
with open(sys.argv[1], newline="") as f:
    rows = list(csv.DictReader(f))
print(json.dumps([r["body"] for r in rows]))
"#;
    let parsed =
        run(Command::new("python3").args(["-c", script]).arg(out.join("messages.csv"))).stdout;
    let bodies: Vec<String> = serde_json::from_slice(&parsed).unwrap();
    assert!(bodies.contains(&format!("'{formula}")), "{bodies:?}");
    assert!(bodies.contains(&awkward.to_owned()), "{bodies:?}");
    assert!(!bodies.iter().any(|b| b.starts_with('=')), "{bodies:?}");

    // The JSON keeps the exact text (JSON is not run by spreadsheets).
    let json: Value =
        serde_json::from_slice(&std::fs::read(out.join("messages.json")).unwrap()).unwrap();
    let texts: Vec<&str> =
        json.as_array().unwrap().iter().filter_map(|m| m["body"].as_str()).collect();
    assert!(texts.contains(&formula) && texts.contains(&awkward), "{texts:?}");
    let readme = std::fs::read_to_string(out.join("README.txt")).unwrap();
    assert!(readme.to_lowercase().contains("not encrypted"), "{readme}");
}

#[test]
fn promise_disconnect_any_integration_removes_its_tokens_and_stops_it() {
    let p = pipeline();
    p.customer_writes("before the disconnect");
    let conversations = sync_until_messages(&p, 1);
    let id = conversations[0]["id"].as_i64().unwrap().to_string();

    // Meta: the token leaves the keyring and nothing more is sent.
    run(ctl(&p.profile).arg("disconnect-graph"));
    assert!(secret(&p, parley_core::SecretName::GraphToken).is_none());
    assert_eq!(ctl_json(&p.profile, &["status"])["config"]["graph"], Value::Null);
    // A reply typed now waits in the outbox (the app stays usable) and
    // reaches nobody.
    let out = ctl(&p.profile).args(["send", "--conversation", &id, "--text", "hi"]).output();
    let out = out.unwrap();
    if out.status.success() {
        let queued: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            !["accepted", "sent", "delivered", "read"]
                .contains(&queued["status"].as_str().unwrap()),
            "{queued}"
        );
    }
    run(ctl(&p.profile).args(["sync", "--once"]));
    let sent: Vec<Value> =
        p.http.get(format!("{}/_sandbox/sent", p.sandbox.url)).send().unwrap().json().unwrap();
    assert!(sent.is_empty(), "sent without the Meta connection: {sent:?}");
    // History stays readable after a disconnect.
    assert_eq!(p.messages(id.parse().unwrap())[0]["body"], "before the disconnect");
}

#[test]
fn promise_no_contacting_customers_independently() {
    let p = pipeline();
    // Customers write, including things an eager bot would answer; the
    // profile syncs, marks read and purges; nobody types a reply.
    p.customer_writes("hello? anyone there?");
    p.customer_writes("please call me back");
    p.customer_writes_as("15551230088", "Second Customer", "what are your hours?");
    let conversations = sync_until_messages(&p, 3);
    for c in &conversations {
        run(ctl(&p.profile).args(["mark-read", "--conversation", &c["id"].to_string()]));
    }
    ctl_json(&p.profile, &["purge"]);
    p.sync();
    let sent: Vec<Value> =
        p.http.get(format!("{}/_sandbox/sent", p.sandbox.url)).send().unwrap().json().unwrap();
    assert!(sent.is_empty(), "a message went out without an agent: {sent:?}");

    // One agent action sends exactly one message, to that customer.
    let id = conversation_of(&conversations, CUSTOMER).to_string();
    run(ctl(&p.profile).args(["send", "--conversation", &id, "--text", "yes, hello"]));
    let sent = eventually(30, "the agent's reply", || {
        let sent: Vec<Value> =
            p.http.get(format!("{}/_sandbox/sent", p.sandbox.url)).send().ok()?.json().ok()?;
        (!sent.is_empty()).then_some(sent)
    });
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["to"], CUSTOMER, "{sent:?}");
}

#[test]
fn promise_multi_tenant_isolation_with_exact_identifier_matching() {
    let p = pipeline();
    // A second business on the same relay and the same Meta app (so the
    // sandbox's signature is valid for both), whose number is the first
    // one's minus its last digit: routing must match ids exactly.
    let admin = |args: &[&str]| stdout_line(&run(relay_admin(&p.relay_db).args(args)));
    let other = admin(&["tenant", "create", "--name", "globex", "--verify-token", "globex"]);
    let near_miss = &PHONE_NUMBER_ID[..PHONE_NUMBER_ID.len() - 1];
    admin(&["channel", "add", "--tenant", &other, "--whatsapp-number", near_miss]);
    let claimed = relay_admin(&p.relay_db)
        .args(["channel", "add", "--tenant", &other, "--whatsapp-number", PHONE_NUMBER_ID])
        .output()
        .unwrap();
    assert!(!claimed.status.success(), "a number belongs to one tenant only");
    let code = admin(&["enroll-code", "--tenant", &other]);
    let other_profile = p.relay_db.with_file_name("other-profile");
    run(ctl(&other_profile)
        .args(["enroll", "--relay", &p.relay.url])
        .env("PARLEY_ENROLL_CODE", &code));

    let text = "isolation canary: for acme's eyes only";
    p.customer_writes(text);
    sync_until_messages(&p, 1);
    // The first tenant has it; the other tenant's device gets nothing, now
    // or after the relay has had every chance to deliver.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let report = ctl_json(&other_profile, &["sync", "--once"]);
    assert_eq!(report["events"], 0, "{report}");
    assert_eq!(ctl_json(&other_profile, &["inventory"])["counts"]["messages"], 0);
    assert_eq!(ctl_json(&other_profile, &["conversations"]), json!([]));
}

#[test]
fn promise_meta_data_deletion_callback_honoured_by_the_running_relay() {
    let p = pipeline();
    let igsid = p.instagram_customer();
    // The Instagram user writes, then asks Meta to delete their data before
    // this desktop has collected the message; a WhatsApp customer's message
    // waits beside it.
    let leaver = "deletion canary: forget what I said";
    let resp = p
        .http
        .post(format!("{}/_sandbox/instagram/{igsid}/send", p.sandbox.url))
        .json(&json!({ "type": "text", "text": leaver }))
        .send()
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().unwrap());
    p.customer_writes("a message that stays");
    std::thread::sleep(std::time::Duration::from_millis(300));

    let post = |signed: &str| {
        p.http
            .post(format!("{}/meta/data-deletion", p.relay.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("signed_request={signed}"))
            .send()
            .unwrap()
    };
    let payload =
        json!({ "algorithm": "HMAC-SHA256", "issued_at": now_ms() / 1000, "user_id": igsid });
    // A request signed with another secret is refused and deletes nothing.
    let forged = post(&parley_meta::signed_request::sign(&payload, b"someone-elses-secret"));
    assert_eq!(forged.status(), 401);
    let answer: Value = post(&parley_meta::signed_request::sign(&payload, APP_SECRET.as_bytes()))
        .error_for_status()
        .unwrap()
        .json()
        .unwrap();
    let code = answer["confirmation_code"].as_str().unwrap();
    assert!(answer["url"].as_str().unwrap().ends_with(&format!("?code={code}")), "{answer}");

    // The desktop now receives the other customer's message and not theirs.
    sync_until_messages(&p, 1);
    p.sync();
    let conversations = ctl_json(&p.profile, &["conversations"]);
    assert_eq!(conversations.as_array().unwrap().len(), 1, "{conversations}");
    assert_eq!(conversations[0]["handle"], CUSTOMER);
    assert_eq!(ctl_json(&p.profile, &["search", "canary"]), json!([]));

    // The status page Meta links the user to says it is done, without
    // naming them.
    let page = p
        .http
        .get(format!("{}/meta/data-deletion/status?code={code}", p.relay.url))
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().unwrap();
    assert!(html.contains(code) && html.contains("Completed"), "{html}");
    assert!(!html.contains(&igsid), "the page never names the user");
}
