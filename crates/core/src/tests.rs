//! Core facade tests with an in-memory keyring; the real keyring, relay and
//! Graph API are exercised by the workspace integration tests.

use std::sync::Arc;

use parley_types::{ErrorCode, InboxEvent, IpcError, SendTextRequest};

use super::*;

fn open(dir: &Path, secrets: Arc<InMemorySecretStore>) -> Result<Core, CoreError> {
    Core::open(Profile::open(dir).unwrap(), secrets, Arc::new(NoNotifier))
}

/// A core whose Graph account goes nowhere (nothing is started, so nothing
/// is sent): for tests of what the store keeps.
pub(crate) fn offline_core(dir: &Path, secrets: Arc<InMemorySecretStore>) -> Core {
    let core = open(dir, secrets).unwrap();
    let settings = GraphSettings {
        base_url: "http://127.0.0.1:9".into(),
        version: "v23.0".into(),
        phone_number_id: "100".into(),
        waba_id: None,
    };
    core.configure_graph(settings, Zeroizing::new("t".into())).unwrap();
    core
}

/// Import a contacts CSV with the columns guessed from its header.
pub(crate) fn import_csv(core: &Core, csv: &str) -> parley_types::contacts_csv::ImportReport {
    use parley_types::contacts_csv::{ColumnMapping, CsvReader};
    let mapping = ColumnMapping::guess(&CsvReader::new(csv).next().unwrap().unwrap().cells);
    core.import_contacts(csv, &mapping, &mut |_, _| {}).unwrap()
}

/// The one number `sql` selects.
pub(crate) fn count(core: &Core, sql: &str) -> i64 {
    core.store().reader().query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn the_database_key_is_created_once_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = Arc::new(InMemorySecretStore::default());
    drop(open(dir.path(), secrets.clone()).unwrap());
    let key = secrets.get(SecretName::DatabaseKey).unwrap().unwrap();
    assert_eq!(key.len(), 32);
    drop(open(dir.path(), secrets.clone()).unwrap());
    assert_eq!(secrets.get(SecretName::DatabaseKey).unwrap().unwrap(), key);
}

#[test]
fn a_database_whose_key_is_gone_is_reported_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path(), Arc::new(InMemorySecretStore::default())).unwrap());
    let fresh = Arc::new(InMemorySecretStore::default());
    let err = open(dir.path(), fresh.clone()).err().unwrap();
    assert!(matches!(err, CoreError::MissingDatabaseKey));
    assert!(fresh.get(SecretName::DatabaseKey).unwrap().is_none(), "no new key may be made");
    assert_eq!(IpcError::from(&err).code, ErrorCode::Storage);
}

#[test]
fn send_text_validates_before_queueing() {
    let dir = tempfile::tempdir().unwrap();
    let core = open(dir.path(), Arc::new(InMemorySecretStore::default())).unwrap();
    let empty = core
        .send_text(&SendTextRequest { conversation_id: 1, text: "  \n".into(), reply_to: None })
        .unwrap_err();
    assert_eq!(IpcError::from(&empty).code, ErrorCode::InvalidInput);
    let long = "x".repeat(MAX_TEXT_CHARS + 1);
    let too_long = core
        .send_text(&SendTextRequest { conversation_id: 1, text: long, reply_to: None })
        .unwrap_err();
    assert!(too_long.to_string().contains("4096"));
    let missing = core
        .send_text(&SendTextRequest { conversation_id: 77, text: "hi".into(), reply_to: None })
        .unwrap_err();
    assert_eq!(IpcError::from(&missing).code, ErrorCode::NotFound);
}

#[tokio::test]
async fn without_enrollment_sync_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let core = open(dir.path(), Arc::new(InMemorySecretStore::default())).unwrap();
    let err = core.sync_once().await.unwrap_err();
    assert!(matches!(err, CoreError::NotEnrolled));
    assert_eq!(IpcError::from(&err).code, ErrorCode::Reconnect);
}

#[tokio::test]
async fn an_unreachable_relay_shows_as_offline_and_recovers_nothing_lost() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = Arc::new(InMemorySecretStore::default());
    let core = open(dir.path(), secrets.clone()).unwrap();
    // Enrolled against a port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    secrets.set(SecretName::RelayToken, b"token").unwrap();
    secrets
        .set(SecretName::DeviceKey, &parley_protocol::DeviceSecretKey::generate().to_bytes()[..])
        .unwrap();
    core.update_config(|c| c.relay_url = Some(url)).unwrap();
    let mut events = core.subscribe();
    core.start();
    let offline = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(InboxEvent::SyncStateChanged { state: SyncState::Offline { reason, .. } }) =
                events.recv().await
            {
                return reason;
            }
        }
    })
    .await
    .expect("sync state goes offline");
    assert!(offline.contains("unreachable"), "{offline}");
    core.shutdown();
}

#[test]
fn configure_graph_rejects_a_bad_address_and_keeps_the_token_in_the_keyring() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = Arc::new(InMemorySecretStore::default());
    let core = open(dir.path(), secrets.clone()).unwrap();
    let settings = |base: &str| GraphSettings {
        base_url: base.into(),
        version: "v23.0".into(),
        phone_number_id: "100".into(),
        waba_id: None,
    };
    assert!(core.configure_graph(settings("ftp://nope"), Zeroizing::new("t".into())).is_err());
    core.configure_graph(settings("http://127.0.0.1:9"), Zeroizing::new("tok-secret-1".into()))
        .unwrap();
    let on_disk = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    assert!(!on_disk.contains("tok-secret-1"));
    assert_eq!(&secrets.get(SecretName::GraphToken).unwrap().unwrap()[..], b"tok-secret-1");
    assert!(core.graph_client().is_ok());
}

#[test]
fn a_profile_is_used_by_one_engine_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = Arc::new(InMemorySecretStore::default());
    let first = open(dir.path(), secrets.clone()).unwrap();
    let second = open(dir.path(), secrets.clone()).err().expect("a second engine is refused");
    assert!(second.to_string().contains("already open"), "{second}");
    drop(first);
    open(dir.path(), secrets).expect("free again once the first is gone");
}

#[test]
fn a_moved_profile_keeps_its_keys() {
    let root = tempfile::tempdir().unwrap();
    let secrets = Arc::new(InMemorySecretStore::default());
    let before = root.path().join("before");
    let core = open(&before, secrets.clone()).unwrap();
    let id = core.profile().id().to_owned();
    drop(core);
    let after = root.path().join("after");
    std::fs::rename(&before, &after).unwrap();
    let moved = open(&after, secrets).expect("the database key is still found");
    assert_eq!(moved.profile().id(), id);
    assert_ne!(Profile::open(&root.path().join("other")).unwrap().id(), id, "profiles stay apart");
}

mod privacy {
    use super::*;
    use parley_meta::webhook;

    const DAY: i64 = 24 * 60 * 60 * 1000;
    const T0: i64 = 1_700_000_000_000;

    pub(super) fn text(core: &Core, wamid: &str, from: &str, name: &str, body: &str, at_ms: i64) {
        let json = serde_json::json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": "200", "changes": [{ "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": "1", "phone_number_id": "100" },
                "contacts": [{ "profile": { "name": name }, "wa_id": from }],
                "messages": [{ "from": from, "id": wamid, "timestamp": (at_ms / 1000).to_string(),
                               "type": "text", "text": { "body": body } }]
            }}]}]
        });
        core.store().ingest(&webhook::parse_value(&json).unwrap(), None, at_ms).unwrap();
    }

    #[test]
    fn retention_deletes_expired_messages_and_their_index_entries() {
        let dir = tempfile::tempdir().unwrap();
        let core = open(dir.path(), Arc::new(InMemorySecretStore::default())).unwrap();
        assert_eq!(core.retention_days().unwrap(), Some(crate::privacy::DEFAULT_RETENTION_DAYS));
        text(&core, "wamid.old", "15550000001", "Old", "zqxoldword expired", T0);
        text(&core, "wamid.new", "15550000001", "Old", "fresh words", T0 + 80 * DAY);
        core.set_retention_days(Some(30)).unwrap();
        let report = core.purge_expired(T0 + 100 * DAY).unwrap(); // the injected clock
        assert_eq!(report.messages, 1);
        assert!(core.store().search("zqxoldword", 10).unwrap().is_empty());
        assert_eq!(core.store().search("fresh", 10).unwrap().len(), 1);
        // Forever keeps everything.
        core.set_retention_days(None).unwrap();
        assert_eq!(core.purge_expired(T0 + 10_000 * DAY).unwrap().messages, 0);
        assert!(core.set_retention_days(Some(0)).is_err());
    }

    #[test]
    fn export_writes_rfc4180_csv_that_python_parses_with_formulas_neutralised() {
        let dir = tempfile::tempdir().unwrap();
        let core = open(&dir.path().join("p"), Arc::new(InMemorySecretStore::default())).unwrap();
        let nasty = "=HYPERLINK(\"http://evil.example\",\"click\")";
        text(&core, "wamid.1", "15550000001", "Ana, \"the\" customer", nasty, T0);
        text(
            &core,
            "wamid.2",
            "15550000001",
            "Ana, \"the\" customer",
            "two\nlines, and a comma",
            T0 + 1,
        );
        text(&core, "wamid.3", "15550000002", "Bo", "other conversation", T0 + 2);
        let out = dir.path().join("export");
        let report = core.export(&out, None).unwrap();
        assert_eq!((report.contacts, report.conversations, report.messages), (2, 2, 3));
        assert!(std::fs::read_to_string(out.join("README.txt")).unwrap().contains("NOT encrypted"));
        let script = r#"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1] + "/messages.csv", newline="", encoding="utf-8")))
contacts = list(csv.DictReader(open(sys.argv[1] + "/contacts.csv", newline="", encoding="utf-8")))
data = json.load(open(sys.argv[1] + "/messages.json", encoding="utf-8"))
print(json.dumps({"bodies": [r["body"] for r in rows], "names": [c["name"] for c in contacts], "json": [m["body"] for m in data]}))
"#;
        let parsed = std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&out)
            .output()
            .expect("python3 runs");
        assert!(parsed.status.success(), "{}", String::from_utf8_lossy(&parsed.stderr));
        let parsed: serde_json::Value = serde_json::from_slice(&parsed.stdout).unwrap();
        assert_eq!(parsed["bodies"][0], format!("'{nasty}"), "the formula is neutralised");
        assert_eq!(parsed["bodies"][1], "two\nlines, and a comma");
        assert_eq!(parsed["names"][0], "Ana, \"the\" customer");
        assert_eq!(parsed["json"][0], nasty, "JSON keeps the text exactly");
        // One conversation alone.
        let one = core.export(&dir.path().join("one"), Some(1)).unwrap();
        assert_eq!((one.contacts, one.conversations, one.messages), (1, 1, 2));
    }

    #[test]
    fn erasing_a_customer_leaves_nothing_of_them() {
        let dir = tempfile::tempdir().unwrap();
        let core = open(dir.path(), Arc::new(InMemorySecretStore::default())).unwrap();
        text(&core, "wamid.a", "15550000001", "Erase Me", "zqxerase secret", T0);
        text(&core, "wamid.b", "15550000002", "Keep Me", "kept", T0 + 1);
        let erase =
            core.list_conversations().unwrap().into_iter().find(|c| c.title == "Erase Me").unwrap();
        assert_eq!(core.delete_conversation_data(erase.id).unwrap().messages, 1);
        assert_eq!(core.list_conversations().unwrap().len(), 1);
        assert!(core.store().search("zqxerase", 10).unwrap().is_empty());
        assert!(core.store().search_contacts("erase", 10).unwrap().is_empty());
        let inventory = core.data_inventory().unwrap();
        assert_eq!((inventory.counts.contacts, inventory.counts.messages), (1, 1));
    }

    #[test]
    fn delete_all_leaves_no_file_or_secret_and_the_next_start_is_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Arc::new(InMemorySecretStore::default());
        let core = open(dir.path(), secrets.clone()).unwrap();
        secrets.set(SecretName::GraphToken, b"token").unwrap();
        text(&core, "wamid.a", "15550000001", "Ana", "hello", T0);
        core.delete_all_data().unwrap();
        for name in SecretName::ALL {
            assert!(secrets.get(name).unwrap().is_none(), "{name:?} left in the keyring");
        }
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != "profile.lock")
            .collect();
        assert!(left.is_empty(), "files left: {left:?}");
        let fresh = open(dir.path(), secrets).unwrap();
        assert!(fresh.list_conversations().unwrap().is_empty());
    }

    fn instagram(core: &Core, mid: &str, sender: &str, body: &str, at_ms: i64) {
        let json = serde_json::json!({
            "object": "instagram",
            "entry": [{ "id": "17841400000000000", "time": at_ms, "messaging": [{
                "sender": { "id": sender },
                "recipient": { "id": "17841400000000000" },
                "timestamp": at_ms,
                "message": { "mid": mid, "text": body }
            }]}]
        });
        core.store().ingest(&webhook::parse_value(&json).unwrap(), None, at_ms).unwrap();
    }

    #[test]
    fn a_channel_period_overrides_the_global_one_and_purge_respects_each() {
        use parley_types::{ChannelKind, RetentionPeriod};
        let dir = tempfile::tempdir().unwrap();
        let core = open(dir.path(), Arc::new(InMemorySecretStore::default())).unwrap();
        // 40 days old at the injected "now" below, on both channels.
        let now = T0 + 100 * DAY;
        text(&core, "wamid.wa-old", "15550000001", "Wa", "zqxwaold", now - 40 * DAY);
        text(&core, "wamid.wa-new", "15550000001", "Wa", "zqxwanew", now - 10 * DAY);
        instagram(&core, "mid.ig-old", "9000000000000001", "zqxigold", now - 40 * DAY);
        instagram(&core, "mid.ig-ancient", "9000000000000001", "zqxigancient", now - 400 * DAY);

        // Global 90 days: only the 400-day-old Instagram message goes.
        let outcome = core.purge_expired(now).unwrap();
        assert_eq!((outcome.messages, outcome.media_files), (1, 0));
        assert!(core.store().search("zqxigancient", 10).unwrap().is_empty());

        // WhatsApp 30 days, Instagram forever, global 90.
        core.set_retention(Some(ChannelKind::Whatsapp), Some(RetentionPeriod::Days { days: 30 }))
            .unwrap();
        core.set_retention(Some(ChannelKind::Instagram), Some(RetentionPeriod::Forever)).unwrap();
        let settings = core.retention_settings().unwrap();
        assert_eq!(settings.effective(ChannelKind::Whatsapp), RetentionPeriod::Days { days: 30 });
        assert_eq!(settings.effective(ChannelKind::Instagram), RetentionPeriod::Forever);
        let outcome = core.purge_expired(now).unwrap();
        assert_eq!(outcome.messages, 1);
        let wa = outcome.channels.iter().find(|c| c.channel == ChannelKind::Whatsapp).unwrap();
        assert_eq!((wa.days, wa.messages), (Some(30), 1));
        let ig = outcome.channels.iter().find(|c| c.channel == ChannelKind::Instagram).unwrap();
        assert_eq!((ig.days, ig.messages), (None, 0));
        assert!(core.store().search("zqxwaold", 10).unwrap().is_empty());
        assert_eq!(core.store().search("zqxwanew", 10).unwrap().len(), 1);
        assert_eq!(core.store().search("zqxigold", 10).unwrap().len(), 1, "Instagram keeps it");

        // Instagram back to following the global period, now 7 days.
        core.set_retention(Some(ChannelKind::Instagram), None).unwrap();
        core.set_retention(None, Some(RetentionPeriod::Days { days: 7 })).unwrap();
        let outcome = core.purge_expired(now).unwrap();
        let ig = outcome.channels.iter().find(|c| c.channel == ChannelKind::Instagram).unwrap();
        assert_eq!((ig.days, ig.messages), (Some(7), 1));
        assert!(core.store().search("zqxigold", 10).unwrap().is_empty());
        // WhatsApp still has its own 30 days: the 10-day-old message stays.
        assert_eq!(core.store().search("zqxwanew", 10).unwrap().len(), 1);

        for bad in [0, crate::privacy::MAX_RETENTION_DAYS + 1] {
            let err = core.set_retention(None, Some(RetentionPeriod::Days { days: bad }));
            assert_eq!(IpcError::from(&err.unwrap_err()).code, ErrorCode::InvalidInput);
        }
    }

    #[tokio::test]
    async fn an_export_reports_progress_and_refuses_a_folder_that_is_not_empty() {
        let dir = tempfile::tempdir().unwrap();
        let core = open(&dir.path().join("p"), Arc::new(InMemorySecretStore::default())).unwrap();
        for i in 0..1500 {
            text(&core, &format!("wamid.{i}"), "15550000001", "Ana", "hello", T0 + i);
        }
        let mut events = core.subscribe();
        let out = dir.path().join("export");
        let summary = core.export_to(out.to_string_lossy().into_owned(), None).await.unwrap();
        assert_eq!(summary.messages, 1500);
        let mut seen = Vec::new();
        while let Ok(event) = events.try_recv() {
            if let InboxEvent::ExportProgress { done, total } = event {
                seen.push((done, total));
            }
        }
        // 1 contact + 1 conversation + 1500 messages.
        assert_eq!(seen.first(), Some(&(0, 1502)));
        assert_eq!(seen.last(), Some(&(1502, 1502)));
        assert!(seen.len() >= 3, "progress in between: {seen:?}");
        assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "never backwards: {seen:?}");

        let again = core.export_to(out.to_string_lossy().into_owned(), None).await.unwrap_err();
        assert!(again.to_string().contains("not an empty folder"), "{again}");
        let relative = core.export_to("exports/here".into(), None).await.unwrap_err();
        assert!(relative.to_string().contains("full folder path"), "{relative}");
        let orphan = dir.path().join("missing/deeper");
        let orphan = core.export_to(orphan.to_string_lossy().into_owned(), None).await;
        assert!(orphan.unwrap_err().to_string().contains("does not exist"));
    }

    #[tokio::test]
    async fn disconnecting_removes_the_meta_token_and_may_delete_the_history() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Arc::new(InMemorySecretStore::default());
        let core = open(dir.path(), secrets.clone()).unwrap();
        secrets.set(SecretName::GraphToken, b"token").unwrap();
        text(&core, "wamid.a", "15550000001", "Ana", "zqxkeep", T0);
        core.disconnect(true).await.unwrap();
        assert!(secrets.get(SecretName::GraphToken).unwrap().is_none());
        assert_eq!(core.list_conversations().unwrap().len(), 1, "history kept");
        core.disconnect(false).await.unwrap();
        assert!(core.list_conversations().unwrap().is_empty());
        assert!(core.store().search("zqxkeep", 10).unwrap().is_empty());
        assert!(core.store().search_contacts("ana", 10).unwrap().is_empty());
    }
}

mod app_lock {
    use super::*;
    use zeroize::Zeroizing;

    fn pass(s: &str) -> Zeroizing<String> {
        Zeroizing::new(s.to_owned())
    }

    #[tokio::test]
    async fn only_a_verifier_is_stored_and_a_locked_core_refuses_data_commands() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Arc::new(InMemorySecretStore::default());
        let core = open(dir.path(), secrets.clone()).unwrap();
        assert!(!core.lock_state().enabled);
        let short = core.enable_app_lock(pass("short"), 5).await.unwrap_err();
        assert!(short.to_string().contains("at least 8"), "{short}");
        core.enable_app_lock(pass("correct horse battery"), 5).await.unwrap();
        let verifier = core.store().setting("app_lock.verifier").unwrap().unwrap();
        assert!(verifier.starts_with("$argon2id$"), "a PHC string: {verifier}");
        assert!(!verifier.contains("correct horse"));
        assert!(!core.is_locked(), "turning it on does not lock at once");
        drop(core);

        // A new start is locked.
        let core = open(dir.path(), secrets).unwrap();
        assert!(core.lock_state().locked);
        let refused = core.list_conversations().unwrap_err();
        assert_eq!(IpcError::from(&refused).code, ErrorCode::Locked);
        assert!(IpcError::from(&refused).message.contains("unlock"));
        for refused in [
            core.search("x").map(drop),
            core.data_inventory().map(drop),
            core.privacy_settings().map(drop),
            core.set_notification_content(parley_types::NotificationContent::Full),
            core.delete_conversation_data(1).map(drop),
        ] {
            assert!(matches!(refused, Err(CoreError::Locked)), "{refused:?}");
        }
        assert_eq!(core.notification_content(), parley_types::NotificationContent::Hidden);
        // app_info and the lock state stay readable.
        let _ = core.app_info();

        let started = std::time::Instant::now();
        let wrong = core.unlock(pass("wrong horse battery")).await.unwrap_err();
        assert!(matches!(wrong, CoreError::WrongPassphrase));
        assert!(started.elapsed() >= Duration::from_millis(900), "a wrong guess is slowed down");
        assert!(core.is_locked());
        core.unlock(pass("correct horse battery")).await.unwrap();
        assert!(core.list_conversations().unwrap().is_empty());

        // Turning it off needs the passphrase.
        assert!(core.disable_app_lock(pass("nope nope nope")).await.is_err());
        core.disable_app_lock(pass("correct horse battery")).await.unwrap();
        assert!(core.store().setting("app_lock.verifier").unwrap().is_none());
    }

    #[tokio::test]
    async fn idle_time_locks_and_tells_the_ui() {
        let dir = tempfile::tempdir().unwrap();
        let core = open(dir.path(), Arc::new(InMemorySecretStore::default())).unwrap();
        core.enable_app_lock(pass("correct horse battery"), 10).await.unwrap();
        let mut events = core.subscribe();
        let t = crate::now_ms();
        core.gate_at(t + 9 * 60_000).unwrap();
        // Activity at +9 min postpones the lock: +18 min is 9 idle minutes.
        assert!(!core.lock_if_idle(t + 18 * 60_000));
        assert!(core.lock_if_idle(t + 19 * 60_000 + 1));
        assert!(matches!(events.try_recv(), Ok(InboxEvent::Locked)));
        assert!(matches!(core.gate_at(t + 20 * 60_000), Err(CoreError::Locked)));
        // Locking by hand, and no idle lock at 0 minutes.
        core.unlock(pass("correct horse battery")).await.unwrap();
        core.set_lock_idle_minutes(0).unwrap();
        assert!(!core.lock_if_idle(t + 10_000 * 60_000));
        core.lock().unwrap();
        assert!(core.is_locked());
        assert_eq!(crate::lock::failure_delay(0), Duration::from_secs(1));
        assert_eq!(crate::lock::failure_delay(10), Duration::from_secs(8));
    }
}

mod reactions {
    use super::*;
    use parley_types::{Direction, ReactRequest};

    #[tokio::test]
    async fn a_reaction_that_cannot_be_sent_is_taken_back_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let core = open(dir.path(), Arc::new(InMemorySecretStore::default())).unwrap();
        let now = now_ms();
        privacy::text(&core, "wamid.q", "15551234567", "Ana", "where is it?", now);
        let conversation = core.list_conversations().unwrap()[0].id;
        let message = core.list_messages(conversation).unwrap()[0].id;

        for bad in ["ok", "👍 👍", "a👍"] {
            let err =
                core.react(&ReactRequest { message_id: message, emoji: bad.into() }).unwrap_err();
            assert_eq!(IpcError::from(&err).code, ErrorCode::InvalidInput, "{bad:?}");
        }
        let missing =
            core.react(&ReactRequest { message_id: 999, emoji: "👍".into() }).unwrap_err();
        assert_eq!(IpcError::from(&missing).code, ErrorCode::NotFound);

        let mut events = core.subscribe();
        let shown = core.react(&ReactRequest { message_id: message, emoji: "👍".into() }).unwrap();
        assert_eq!(shown.reactions.len(), 1);
        assert_eq!(shown.reactions[0].by, Direction::Outbound);
        assert!(matches!(
            events.try_recv(),
            Ok(InboxEvent::MessageChanged { message: m }) if m.reactions == shown.reactions
        ));
        // No WhatsApp number is configured: the worker cannot send it.
        assert_eq!(core.flush_outbox().await.unwrap(), 1);
        let mut failed = None;
        while let Ok(event) = events.try_recv() {
            match event {
                InboxEvent::ReactionFailed { message_id, error, .. } => {
                    failed = Some((message_id, error))
                }
                InboxEvent::MessageChanged { message: m } => {
                    assert!(m.reactions.is_empty(), "the reaction is taken back")
                }
                _ => {}
            }
        }
        let (id, error) = failed.expect("the failure is reported");
        assert_eq!(id, message);
        assert!(error.starts_with("Your reaction could not be sent."), "{error}");
        assert!(error.contains("Connect a WhatsApp number"), "{error}");
        assert!(core.store().message(message).unwrap().reactions.is_empty());
    }
}

#[test]
fn a_quote_on_instagram_is_refused_rather_than_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let core = open(dir.path(), Arc::new(InMemorySecretStore::default())).unwrap();
    let now = now_ms();
    let json = serde_json::json!({
        "object": "instagram",
        "entry": [{ "id": "17841400000000000", "time": now, "messaging": [{
            "sender": { "id": "9000000000000001" },
            "recipient": { "id": "17841400000000000" },
            "timestamp": now,
            "message": { "mid": "mid.A", "text": "hi" }
        }]}]
    });
    core.store().ingest(&parley_meta::webhook::parse_value(&json).unwrap(), None, now).unwrap();
    let conversation_id = core.list_conversations().unwrap()[0].id;
    let request =
        SendTextRequest { conversation_id, text: "hello".into(), reply_to: Some("mid.A".into()) };
    let err = core.send_text(&request).unwrap_err();
    assert_eq!(IpcError::from(&err).code, ErrorCode::InvalidInput);
    assert!(IpcError::from(&err).message.contains("WhatsApp only"), "{err}");
    assert!(core.list_messages(conversation_id).unwrap().len() == 1, "nothing queued");
}

mod templates {
    use super::*;

    /// A fresh core whose Graph account is `sandbox`'s default business.
    pub(super) fn core_on(sandbox: &parley_sandbox::SandboxHandle) -> (tempfile::TempDir, Core) {
        let dir = tempfile::tempdir().unwrap();
        let core = open(dir.path(), Arc::new(InMemorySecretStore::default())).unwrap();
        core.configure_graph(
            GraphSettings {
                base_url: sandbox.graph_base_url(),
                version: DEFAULT_VERSION.into(),
                phone_number_id: DEFAULT_PHONE_NUMBER_ID.into(),
                waba_id: Some(DEFAULT_WABA_ID.into()),
            },
            Zeroizing::new(DEFAULT_ACCESS_TOKEN.into()),
        )
        .unwrap();
        (dir, core)
    }
    use parley_sandbox::{
        SandboxConfig, DEFAULT_ACCESS_TOKEN, DEFAULT_PHONE_NUMBER_ID, DEFAULT_VERSION,
        DEFAULT_WABA_ID,
    };
    use parley_types::template::SendTemplateRequest;
    use parley_types::DeliveryStatus;

    const CUSTOMER: &str = "15557770001";

    /// A core talking to a fresh sandbox, with one WhatsApp conversation
    /// whose customer last wrote two days ago (the window is closed).
    async fn closed_window() -> (tempfile::TempDir, Core, parley_sandbox::SandboxHandle, i64) {
        let sandbox = parley_sandbox::spawn(SandboxConfig::new(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            None,
        ))
        .await
        .unwrap();
        let (dir, core) = core_on(&sandbox);
        let json = serde_json::json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": DEFAULT_WABA_ID, "changes": [{ "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": "1", "phone_number_id": DEFAULT_PHONE_NUMBER_ID },
                "contacts": [{ "profile": { "name": "Ana" }, "wa_id": CUSTOMER }],
                "messages": [{ "from": CUSTOMER, "id": "wamid.old",
                               "timestamp": ((now_ms() - 2 * parley_types::WINDOW_MILLIS) / 1000).to_string(),
                               "type": "text", "text": { "body": "thanks" } }]
            }}]}]
        });
        core.store()
            .ingest(&parley_meta::webhook::parse_value(&json).unwrap(), None, now_ms())
            .unwrap();
        let conversation = core.list_conversations().unwrap()[0].id;
        (dir, core, sandbox, conversation)
    }

    fn request(
        conversation_id: i64,
        name: &str,
        header: &[&str],
        body: &[&str],
    ) -> SendTemplateRequest {
        SendTemplateRequest {
            conversation_id,
            name: name.into(),
            language: "en_US".into(),
            header_params: header.iter().map(|s| (*s).to_owned()).collect(),
            body_params: body.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[tokio::test]
    async fn a_template_goes_out_through_the_outbox_when_the_window_is_closed() {
        let (_dir, core, sandbox, conversation) = closed_window().await;
        assert!(core.list_templates().unwrap().is_empty(), "nothing stored before a refresh");
        let listed = core.refresh_templates().await.unwrap();
        assert!(listed.iter().any(|t| t.name == "appointment_reminder" && t.is_approved()));
        assert_eq!(core.list_templates().unwrap(), listed, "the refresh is stored");

        // Free text is refused: the window is closed.
        let text =
            SendTextRequest { conversation_id: conversation, text: "hi".into(), reply_to: None };
        assert_eq!(
            IpcError::from(&core.send_text(&text).unwrap_err()).code,
            ErrorCode::WindowClosed
        );

        // Wrong counts, empty values and unapproved templates never reach Meta.
        for bad in [
            request(conversation, "appointment_reminder", &["Friday"], &["Ana", "3 pm"]),
            request(conversation, "appointment_reminder", &[], &["Ana", "3 pm", "Dr. Silva"]),
            request(conversation, "appointment_reminder", &["Friday"], &["Ana", " ", "Dr. Silva"]),
            request(conversation, "winter_clearance", &[], &[]),
            request(conversation, "order_ready", &[], &["Ana", "7"]),
            request(conversation, "no_such_template", &[], &[]),
        ] {
            let err = core.send_template(&bad).unwrap_err();
            assert_eq!(IpcError::from(&err).code, ErrorCode::InvalidInput, "{bad:?}");
        }
        let err = core
            .send_template(&request(
                conversation,
                "appointment_reminder",
                &["Friday"],
                &["Ana", "3 pm"],
            ))
            .unwrap_err();
        assert!(err.to_string().contains("expects 3 body values but 2 were given"), "{err}");
        assert_eq!(core.list_messages(conversation).unwrap().len(), 1, "nothing queued");
        assert_eq!(core.flush_outbox().await.unwrap(), 0);
        assert!(sandbox.control().sent().is_empty(), "nothing reached the sandbox");

        let queued = core
            .send_template(&request(
                conversation,
                "appointment_reminder",
                &["Friday"],
                &["Ana", "3:30 pm", "Dr. Silva"],
            ))
            .unwrap();
        assert_eq!(queued.kind, "template");
        assert_eq!(queued.status, Some(DeliveryStatus::Sending));
        assert_eq!(
            queued.body,
            "Appointment on Friday\n\nHi Ana, this is a reminder of your appointment at 3:30 pm \
             with Dr. Silva. Reply to confirm or change it.\n\nSandbox Clinic"
        );
        assert_eq!(core.flush_outbox().await.unwrap(), 1);
        let sent = core.store().message(queued.id).unwrap();
        assert_eq!(sent.status, Some(DeliveryStatus::Accepted), "{:?}", sent.error);
        let at_meta = sandbox.control().sent();
        assert_eq!(at_meta.len(), 1);
        assert_eq!(at_meta[0].kind, "template");
        assert_eq!(at_meta[0].body["template"]["name"], "appointment_reminder");
        assert_eq!(
            at_meta[0].body["template"]["components"],
            serde_json::json!([
                {"type":"header","parameters":[{"type":"text","text":"Friday"}]},
                {"type":"body","parameters":[{"type":"text","text":"Ana"},
                    {"type":"text","text":"3:30 pm"},{"type":"text","text":"Dr. Silva"}]}
            ])
        );
        sandbox.shutdown().await;
    }

    #[tokio::test]
    async fn an_authentication_template_is_created_from_options_and_sends_its_code_twice() {
        use parley_types::template_builder::{
            AuthenticationOptions, DraftBody, DraftCategory, ParameterFormat, TemplateDraft,
        };
        let (_dir, core, sandbox, conversation) = closed_window().await;
        let draft = TemplateDraft {
            name: "login_code".into(),
            language: "en_US".into(),
            category: DraftCategory::Authentication,
            parameter_format: ParameterFormat::Positional,
            header: None,
            body: DraftBody::default(),
            footer: None,
            buttons: vec![],
            authentication: Some(AuthenticationOptions::default()),
            header_handle: None,
        };
        let made = core.create_template(&draft).await.unwrap();
        assert_eq!(made.status, "PENDING");
        assert_eq!(
            made.body,
            "{{1}} is your verification code. For your security, do not share this code."
        );
        assert_eq!(made.footer.as_deref(), Some("This code expires in 10 minutes."));
        // The sandbox reviews it (no webhook here): Meta's list has it approved.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !sandbox
            .control()
            .templates()
            .iter()
            .any(|(n, _, s)| n == "login_code" && s == "APPROVED")
        {
            assert!(std::time::Instant::now() < deadline, "the sandbox never approved it");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        core.refresh_templates().await.unwrap();
        let listed =
            core.list_templates().unwrap().into_iter().find(|t| t.name == "login_code").unwrap();
        assert_eq!(listed.body, made.body, "Meta's written text reads the same");
        assert_eq!(listed.buttons, vec!["Copy code".to_owned()]);
        let queued =
            core.send_template(&request(conversation, "login_code", &[], &["482913"])).unwrap();
        assert!(queued.body.starts_with("482913 is your verification code."), "{}", queued.body);
        assert_eq!(core.flush_outbox().await.unwrap(), 1);
        assert_eq!(
            core.store().message(queued.id).unwrap().status,
            Some(DeliveryStatus::Accepted),
            "the sandbox checks the button's parameter like Meta"
        );
        let sent = sandbox.control().sent().pop().unwrap();
        assert_eq!(
            sent.body["template"]["components"],
            serde_json::json!([
                {"type":"body","parameters":[{"type":"text","text":"482913"}]},
                {"type":"button","sub_type":"url","index":"0",
                 "parameters":[{"type":"text","text":"482913"}]}
            ])
        );
        sandbox.shutdown().await;
    }

    #[tokio::test]
    async fn marketing_templates_skip_a_customer_who_opted_out_and_utility_ones_still_go() {
        let (_dir, core, sandbox, conversation) = closed_window().await;
        core.refresh_templates().await.unwrap();
        let opt_out = parley_types::contact::ContactUpdate {
            conversation_id: conversation,
            notes: String::new(),
            labels: vec![],
            opted_out: Some(true),
        };
        core.update_contact(&opt_out).unwrap();
        let err =
            core.send_template(&request(conversation, "weekend_offer", &[], &["Ana"])).unwrap_err();
        assert!(err.to_string().contains("opted out of marketing"), "{err}");
        core.send_template(&request(conversation, "hello_world", &[], &[])).unwrap();
        assert_eq!(core.flush_outbox().await.unwrap(), 1, "only the utility template");
        let sent = sandbox.control().sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].body["template"]["name"], "hello_world");
        // Opted back in: marketing goes again.
        core.update_contact(&parley_types::contact::ContactUpdate {
            opted_out: Some(false),
            ..opt_out
        })
        .unwrap();
        core.send_template(&request(conversation, "weekend_offer", &[], &["Ana"])).unwrap();
        sandbox.shutdown().await;
    }

    #[tokio::test]
    async fn a_template_meta_refuses_ends_failed_with_a_reason_and_named_values_carry_names() {
        let (_dir, core, sandbox, conversation) = closed_window().await;
        core.refresh_templates().await.unwrap();
        // Meta no longer has it (deleted elsewhere); the stored list is stale.
        core.graph_client().unwrap().delete_template(DEFAULT_WABA_ID, "hello_world").await.unwrap();
        let queued = core.send_template(&request(conversation, "hello_world", &[], &[])).unwrap();
        assert_eq!(core.flush_outbox().await.unwrap(), 1);
        let failed = core.store().message(queued.id).unwrap();
        assert_eq!(failed.status, Some(DeliveryStatus::Failed));
        let reason = failed.error.unwrap();
        assert!(
            reason.contains("does not exist") && reason.contains("approved template"),
            "{reason}"
        );
        // A retry is not refused for the closed window: it goes to Meta again.
        let retried = core.retry_message(queued.id).unwrap();
        assert_eq!(retried.status, Some(DeliveryStatus::Sending));
        assert_eq!(core.flush_outbox().await.unwrap(), 1);
        assert_eq!(core.store().message(queued.id).unwrap().status, Some(DeliveryStatus::Failed));

        let named = core
            .send_template(&request(conversation, "order_shipped", &[], &["Jo", "B-12"]))
            .unwrap();
        assert_eq!(named.body, "Good news Jo! Order B-12 has shipped.");
        core.flush_outbox().await.unwrap();
        assert_eq!(core.store().message(named.id).unwrap().status, Some(DeliveryStatus::Accepted));
        let last = sandbox.control().sent().pop().unwrap();
        assert_eq!(
            last.body["template"]["components"][0]["parameters"][1],
            serde_json::json!({"type":"text","parameter_name":"order_id","text":"B-12"})
        );

        // A later status webhook updates the stored status.
        let hook = serde_json::json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": DEFAULT_WABA_ID, "changes": [{ "field": "message_template_status_update",
                "value": { "event": "PAUSED", "message_template_id": 1000000000000004u64,
                           "message_template_name": "order_shipped",
                           "message_template_language": "en_US", "reason": "NONE" }}]}]
        });
        core.store()
            .ingest(&parley_meta::webhook::parse_value(&hook).unwrap(), None, now_ms())
            .unwrap();
        let t =
            core.list_templates().unwrap().into_iter().find(|t| t.name == "order_shipped").unwrap();
        assert_eq!(t.status, "PAUSED");
        let err = core
            .send_template(&request(conversation, "order_shipped", &[], &["Jo", "B-13"]))
            .unwrap_err();
        assert!(err.to_string().contains("paused, not approved"), "{err}");
        sandbox.shutdown().await;
    }

    /// Creating, deleting and duplicating templates against the sandbox,
    /// whose review webhook is caught on a loopback port and ingested like
    /// the relay would hand it over.
    mod builder {
        use super::*;
        use crate::templates::TEMPLATE_CREATIONS_PER_HOUR;
        use parley_types::template::TemplateSummary;
        use parley_types::template_builder::{
            DraftBody, DraftButton, DraftCategory, DraftHeader, ParameterFormat, TemplateDraft,
        };
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        /// A webhook receiver: every POST body, answered 200.
        async fn hook_receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>)
        {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/webhook", listener.local_addr().unwrap());
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(async move {
                while let Ok((mut socket, _)) = listener.accept().await {
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let mut buf = Vec::new();
                        let mut chunk = [0u8; 4096];
                        loop {
                            let n = socket.read(&mut chunk).await.unwrap_or(0);
                            if n == 0 {
                                return;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                            let Some(head_end) =
                                buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
                            else {
                                continue;
                            };
                            let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                            let length: usize = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse().ok())
                                .unwrap_or(0);
                            if buf.len() < head_end + length {
                                continue;
                            }
                            let body = &buf[head_end..head_end + length];
                            if let Ok(v) = serde_json::from_slice(body) {
                                let _ = tx.send(v);
                            }
                            let _ = socket
                                .write_all(
                                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                                )
                                .await;
                            return;
                        }
                    });
                }
            });
            (url, rx)
        }

        /// A core on a fresh sandbox that reviews templates after 50 ms and
        /// posts its webhooks to the returned receiver.
        async fn reviewing() -> (
            tempfile::TempDir,
            Core,
            parley_sandbox::SandboxHandle,
            tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>,
        ) {
            let (url, hooks) = hook_receiver().await;
            let mut config =
                SandboxConfig::new(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), Some(url));
            config.template_review_delay = std::time::Duration::from_millis(50);
            let sandbox = parley_sandbox::spawn(config).await.unwrap();
            let (dir, core) = core_on(&sandbox);
            (dir, core, sandbox, hooks)
        }

        /// Wait for the sandbox's review of `name` and ingest it.
        async fn ingest_review(
            core: &Core,
            hooks: &mut tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>,
            name: &str,
        ) -> serde_json::Value {
            loop {
                let hook = tokio::time::timeout(std::time::Duration::from_secs(30), hooks.recv())
                    .await
                    .expect("the sandbox reviews the template")
                    .expect("the receiver runs");
                let value = &hook["entry"][0]["changes"][0]["value"];
                if value["message_template_name"] == name {
                    core.store()
                        .ingest(&parley_meta::webhook::parse_value(&hook).unwrap(), None, now_ms())
                        .unwrap();
                    return value.clone();
                }
            }
        }

        fn draft(name: &str) -> TemplateDraft {
            TemplateDraft {
                name: name.into(),
                language: "en_US".into(),
                category: DraftCategory::Marketing,
                parameter_format: ParameterFormat::Positional,
                header: Some(DraftHeader::Text {
                    text: "Sale for {{1}}".into(),
                    example: Some("Ana".into()),
                }),
                body: DraftBody {
                    text: "Hi {{1}}, use {{2}} at checkout.".into(),
                    examples: vec!["Ana".into(), "SPRING".into()],
                },
                footer: Some("Reply STOP to opt out".into()),
                buttons: vec![
                    DraftButton::QuickReply { text: "Not now".into() },
                    DraftButton::Url {
                        text: "Shop".into(),
                        url: "https://shop.example/s/{{1}}".into(),
                        example: Some("https://shop.example/s/spring".into()),
                    },
                    DraftButton::CopyCode { example: "SPRING".into() },
                ],
                authentication: None,
                header_handle: None,
            }
        }

        fn stored(core: &Core, name: &str) -> Option<TemplateSummary> {
            core.list_templates().unwrap().into_iter().find(|t| t.name == name)
        }

        #[tokio::test]
        async fn a_created_template_is_listed_pending_then_approved_by_the_review_webhook() {
            let (_dir, core, sandbox, mut hooks) = reviewing().await;
            let made = core.create_template(&draft("spring_sale")).await.unwrap();
            assert_eq!(made.status, "PENDING");
            let listed = stored(&core, "spring_sale").expect("listed at once");
            assert_eq!(listed.status, "PENDING");
            assert_eq!(listed.body, "Hi {{1}}, use {{2}} at checkout.");
            assert_eq!(listed.header_params[0].example.as_deref(), Some("Ana"));
            assert_eq!(listed.buttons, vec!["Not now".to_owned(), "Shop".to_owned()]);

            // Meta's shapes reached the sandbox, examples included.
            let at_meta = core
                .graph_client()
                .unwrap()
                .list_all_templates(DEFAULT_WABA_ID)
                .await
                .unwrap()
                .into_iter()
                .find(|t| t.name == "spring_sale")
                .unwrap();
            assert_eq!(at_meta.category.as_deref(), Some("MARKETING"));
            let c = &at_meta.components;
            assert_eq!(c[0]["example"], serde_json::json!({"header_text": ["Ana"]}));
            assert_eq!(c[1]["example"], serde_json::json!({"body_text": [["Ana", "SPRING"]]}));
            assert_eq!(c[2], serde_json::json!({"type":"FOOTER","text":"Reply STOP to opt out"}));
            assert_eq!(
                c[3]["buttons"][1]["example"],
                serde_json::json!(["https://shop.example/s/spring"])
            );
            assert_eq!(
                c[3]["buttons"][2],
                serde_json::json!({"type":"COPY_CODE","example":"SPRING"})
            );

            let review = ingest_review(&core, &mut hooks, "spring_sale").await;
            assert_eq!(review["event"], "APPROVED");
            let approved = stored(&core, "spring_sale").unwrap();
            assert!(approved.is_approved(), "{approved:?}");
            assert_eq!(core.template_rejection("spring_sale", "en_US").unwrap(), None);
            assert_eq!(approved.rejected_reason, None);

            // Meta's quality score arrives by webhook and in the list.
            assert!(sandbox.control().set_template_quality("spring_sale", "en_US", "YELLOW").await);
            let quality = ingest_review(&core, &mut hooks, "spring_sale").await;
            assert_eq!(quality["new_quality_score"], "YELLOW");
            assert_eq!(stored(&core, "spring_sale").unwrap().quality.as_deref(), Some("YELLOW"));
            core.refresh_templates().await.unwrap();
            assert_eq!(stored(&core, "spring_sale").unwrap().quality.as_deref(), Some("YELLOW"));
            assert_eq!(stored(&core, "hello_world").unwrap().quality.as_deref(), Some("GREEN"));
            // A category Meta changed is stored too.
            let hook = serde_json::json!({
                "object": "whatsapp_business_account",
                "entry": [{ "id": DEFAULT_WABA_ID, "changes": [{ "field": "template_category_update",
                    "value": { "message_template_id": 1, "message_template_name": "spring_sale",
                               "message_template_language": "en_US",
                               "previous_category": "MARKETING", "new_category": "UTILITY" }}]}]
            });
            let outcome = core
                .store()
                .ingest(&parley_meta::webhook::parse_value(&hook).unwrap(), None, now_ms())
                .unwrap();
            assert!(outcome.templates_changed);
            assert_eq!(stored(&core, "spring_sale").unwrap().category, "UTILITY");

            // The same name and language again is refused before Meta.
            let again = core.create_template(&draft("spring_sale")).await.unwrap_err();
            assert!(again.to_string().contains("already a template spring_sale"), "{again}");
            sandbox.shutdown().await;
        }

        #[tokio::test]
        async fn a_rejected_template_keeps_the_reason_and_a_broken_draft_never_leaves() {
            let (_dir, core, sandbox, mut hooks) = reviewing().await;
            // The sandbox rejects any name holding "reject" as INVALID_FORMAT.
            let mut named = draft("reject_me");
            named.parameter_format = ParameterFormat::Named;
            named.header = None;
            named.body.text = "Hi {{customer_name}}, your code is {{code}} today.".into();
            core.create_template(&named).await.unwrap();
            let at_meta = core
                .graph_client()
                .unwrap()
                .list_all_templates(DEFAULT_WABA_ID)
                .await
                .unwrap()
                .into_iter()
                .find(|t| t.name == "reject_me")
                .unwrap();
            assert_eq!(
                at_meta.components[0]["example"],
                serde_json::json!({"body_text_named_params": [
                    {"param_name": "customer_name", "example": "Ana"},
                    {"param_name": "code", "example": "SPRING"}]})
            );
            let review = ingest_review(&core, &mut hooks, "reject_me").await;
            assert_eq!(review["event"], "REJECTED");
            assert_eq!(stored(&core, "reject_me").unwrap().status, "REJECTED");
            assert_eq!(
                stored(&core, "reject_me").unwrap().rejected_reason.as_deref(),
                Some("INVALID_FORMAT")
            );
            assert_eq!(
                core.template_rejection("reject_me", "en_US").unwrap().as_deref(),
                Some("INVALID_FORMAT")
            );

            // A draft breaking a rule is refused with the sentence, nothing sent.
            let before = sandbox.control().templates().len();
            let mut bad = draft("bad_one");
            bad.body.text = "{{1}} and {{2}} at checkout.".into();
            let err = core.create_template(&bad).await.unwrap_err();
            assert_eq!(IpcError::from(&err).code, ErrorCode::InvalidInput);
            assert!(err.to_string().contains("may not start with a variable"), "{err}");
            assert_eq!(sandbox.control().templates().len(), before);
            assert!(stored(&core, "bad_one").is_none());
            sandbox.shutdown().await;
        }

        #[tokio::test]
        async fn the_101st_creation_in_an_hour_is_refused_before_meta() {
            let (_dir, core, sandbox, _hooks) = reviewing().await;
            let now = now_ms();
            for i in 0..TEMPLATE_CREATIONS_PER_HOUR as i64 {
                // 100 submissions in the last hour, the oldest 59 minutes ago.
                let at = now - 59 * 60 * 1000 + i;
                core.store().record_template_creation(at, 0).unwrap();
            }
            let before = sandbox.control().templates().len();
            let err = core.create_template_at(&draft("one_too_many"), now).await.unwrap_err();
            assert_eq!(IpcError::from(&err).code, ErrorCode::InvalidInput);
            assert!(err.to_string().contains("Meta allows 100; try again in an hour"), "{err}");
            assert_eq!(sandbox.control().templates().len(), before, "nothing reached the sandbox");
            assert!(stored(&core, "one_too_many").is_none());

            // An hour after the oldest, one slot is free again.
            let later = now + 60 * 1000;
            core.create_template_at(&draft("one_too_many"), later).await.unwrap();
            assert_eq!(sandbox.control().templates().len(), before + 1);
            let err = core.create_template_at(&draft("and_another"), later).await.unwrap_err();
            assert!(err.to_string().contains("Meta allows 100"), "{err}");
            sandbox.shutdown().await;
        }

        #[tokio::test]
        async fn a_media_header_is_submitted_with_a_sample_uploaded_to_meta() {
            let (_dir, core, sandbox, mut hooks) = reviewing().await;
            let mut with_image = draft("spring_photo");
            with_image.header = Some(DraftHeader::Image);
            // Without a sample: refused on the header, nothing leaves.
            let refused = core.create_template(&with_image).await.unwrap_err();
            assert!(refused.to_string().contains("choose a sample for the header"), "{refused}");
            // A wrong type or an oversized file is refused before Meta.
            let wrong = core.upload_template_sample("a.gif", "image/gif", b"GIF89a").await;
            assert!(wrong.unwrap_err().to_string().contains("JPEG or PNG"));
            let big = vec![0u8; 5 * 1024 * 1024 + 1];
            let big = core.upload_template_sample("a.png", "image/png", &big).await.unwrap_err();
            assert!(big.to_string().contains("at most 5 MB"), "{big}");
            // The Resumable Upload API: the app, a session, the bytes.
            let png = b"\x89PNG\r\n\x1a\n sample bytes";
            let handle = core.upload_template_sample("spring.png", "image/png", png).await.unwrap();
            assert!(handle.starts_with("4::"), "{handle}");
            with_image.header_handle = Some(handle.clone());
            core.create_template(&with_image).await.unwrap();
            let at_meta = core
                .graph_client()
                .unwrap()
                .list_all_templates(DEFAULT_WABA_ID)
                .await
                .unwrap()
                .into_iter()
                .find(|t| t.name == "spring_photo")
                .unwrap();
            assert_eq!(
                at_meta.components[0],
                serde_json::json!({"type":"HEADER","format":"IMAGE",
                                   "example":{"header_handle":[handle]}})
            );
            assert_eq!(ingest_review(&core, &mut hooks, "spring_photo").await["event"], "APPROVED");
            // A handle Meta never issued is refused by Meta (the sandbox).
            let mut forged = draft("spring_forged");
            forged.header = Some(DraftHeader::Video);
            forged.header_handle = Some("4::bm9wZQ".into());
            let err = core.create_template(&forged).await.unwrap_err();
            assert!(err.to_string().contains("header_handle"), "{err}");
            sandbox.shutdown().await;
        }

        #[tokio::test]
        async fn delete_removes_every_language_at_the_sandbox_and_here() {
            let (_dir, core, sandbox, _hooks) = reviewing().await;
            core.create_template(&draft("old_offer")).await.unwrap();
            let mut french = draft("old_offer");
            french.language = "fr".into();
            core.create_template(&french).await.unwrap();
            assert_eq!(
                sandbox.control().templates().iter().filter(|t| t.0 == "old_offer").count(),
                2
            );
            core.delete_template("old_offer").await.unwrap();
            assert!(sandbox.control().templates().iter().all(|t| t.0 != "old_offer"));
            assert!(stored(&core, "old_offer").is_none());
            // Gone at Meta: a second delete is Meta's refusal, as a sentence.
            let err = core.delete_template("old_offer").await.unwrap_err();
            assert!(err.to_string().contains("Meta refused to delete the template"), "{err}");
            assert!(core.delete_template("Not A Name").await.is_err());
            sandbox.shutdown().await;
        }

        #[tokio::test]
        async fn duplicate_keeps_the_components_for_another_language() {
            let (_dir, core, sandbox, _hooks) = reviewing().await;
            let original = draft("spring_sale");
            core.create_template(&original).await.unwrap();
            let copy = core.duplicate_template("spring_sale", "en_US", "es").unwrap();
            assert_eq!(copy.language, "es");
            assert_eq!(copy, TemplateDraft { language: "es".into(), ..original.clone() });
            // Translated and submitted, it is a second language of the name.
            let mut translated = copy;
            translated.body.text = "Hola {{1}}, usa {{2}} al pagar.".into();
            core.create_template(&translated).await.unwrap();
            assert!(core
                .list_templates()
                .unwrap()
                .iter()
                .any(|t| t.name == "spring_sale" && t.language == "es"));
            let err = core.duplicate_template("spring_sale", "en_US", "es").unwrap_err();
            assert!(err.to_string().contains("already exists in es"), "{err}");
            let err = core.duplicate_template("nothing_here", "en_US", "es").unwrap_err();
            assert!(err.to_string().contains("no template nothing_here"), "{err}");

            // A refreshed (Meta-listed) template duplicates too, named variables kept.
            core.refresh_templates().await.unwrap();
            let shipped = core.duplicate_template("order_shipped", "en_US", "de").unwrap();
            assert_eq!(shipped.parameter_format, ParameterFormat::Named);
            assert!(shipped.body.examples.iter().all(|e| !e.is_empty()), "{shipped:?}");
            sandbox.shutdown().await;
        }
    }
}

mod campaigns {
    use std::collections::HashSet;
    use std::time::Duration;

    use parley_sandbox::SandboxConfig;
    use parley_types::campaign::{
        Audience, CampaignAction, CampaignDraft, CampaignState, CreateCampaignRequest, ParamSource,
        RecipientState, RecipientsRequest,
    };
    use parley_types::contacts_csv::{ColumnMapping, CsvReader};

    use super::*;

    /// `n` contacts labelled `vip`, the first `opted_out` of them opted out,
    /// every fifth without a city; one more contact without the label.
    fn contacts_csv(n: usize, opted_out: usize) -> String {
        let mut csv = String::from("Name,Phone,Labels,Opted out,City\r\n");
        for i in 0..n {
            let city = if i % 5 == 4 { "" } else { "Porto" };
            let out = if i < opted_out { "yes" } else { "no" };
            csv.push_str(&format!("C{i},+1555{i:07},vip,{out},{city}\r\n"));
        }
        csv.push_str("Other,+15559999999,,no,Lisbon\r\n");
        csv
    }

    fn draft(rate: u32) -> CampaignDraft {
        CampaignDraft {
            name: "Weekend".into(),
            template_name: "weekend_offer".into(),
            language: "en_US".into(),
            audience: Audience { labels: vec!["VIP".into()], ..Default::default() },
            header_params: vec![],
            body_params: vec![ParamSource::Attribute {
                name: "city".into(),
                fallback: String::new(),
            }],
            rate_per_sec: rate,
            start_at: None,
        }
    }

    async fn until(
        core: &Core,
        id: i64,
        what: &str,
        done: impl Fn(&parley_types::campaign::CampaignSummary) -> bool,
    ) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let s = core.campaigns().unwrap().into_iter().find(|c| c.id == id).unwrap();
            if done(&s) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{what}: {s:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_campaign_reaches_each_recipient_once_paced_under_the_limit_and_honours_opt_outs() {
        let mut config = SandboxConfig::new(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), None);
        config.max_msgs_per_sec = 40;
        let sandbox = parley_sandbox::spawn(config).await.unwrap();
        let (_dir, core) = super::templates::core_on(&sandbox);
        core.refresh_templates().await.unwrap();
        let csv = contacts_csv(200, 10);
        let mapping = ColumnMapping::guess(&CsvReader::new(&csv).next().unwrap().unwrap().cells);
        core.import_contacts(&csv, &mapping, &mut |_, _| {}).unwrap();

        // The summary: 200 labelled, 10 opted out, 40 without a city (8 of
        // them among the opted out), the unlabelled one not counted.
        let preview = core.preview_campaign(&draft(40)).await.unwrap();
        assert_eq!(preview.excluded_opted_out, 10);
        assert_eq!(preview.excluded_missing_value, 38);
        assert_eq!(preview.recipients, 152);
        assert_eq!(preview.outside_window, 152, "none of them wrote");
        assert_eq!(preview.estimated_secs, 4);
        assert_eq!(preview.tier.as_deref(), Some("TIER_2K"));
        assert!(!preview.exceeds_tier);
        assert_eq!(
            preview.samples[0].text,
            "Hi Porto, this weekend only: 20% off everything in our shop."
        );

        // Nothing is created unconfirmed, or with a stale count.
        let stale = CreateCampaignRequest { draft: draft(40), confirmed_recipients: 151 };
        assert!(core.create_campaign(&stale).unwrap_err().to_string().contains("changed"));
        assert!(core.campaigns().unwrap().is_empty());

        core.start();
        let request = CreateCampaignRequest { draft: draft(40), confirmed_recipients: 152 };
        let id = core.create_campaign(&request).unwrap().id;
        until(&core, id, "some sent", |s| s.totals.sent >= 20).await;
        core.campaign_action(id, CampaignAction::Pause).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let paused_at = sandbox.control().sent().len();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(sandbox.control().sent().len(), paused_at, "nothing leaves while paused");
        assert!(paused_at < 152, "paused before the end ({paused_at})");
        assert_eq!(core.campaigns().unwrap()[0].state, CampaignState::Paused);
        assert!(core.campaign_action(id, CampaignAction::Pause).is_err(), "already paused");
        core.campaign_action(id, CampaignAction::Resume).unwrap();
        until(&core, id, "completed", |s| s.state == CampaignState::Completed).await;

        let summary = core.campaigns().unwrap().remove(0);
        assert_eq!(summary.totals.recipients, 152);
        assert_eq!(summary.totals.excluded, 48);
        assert_eq!(summary.totals.sent, 152, "{:?}", summary.totals);
        assert_eq!(summary.totals.failed + summary.totals.queued + summary.totals.sending, 0);
        let sent = sandbox.control().sent();
        let numbers: HashSet<&str> = sent.iter().map(|m| m.to.as_str()).collect();
        assert_eq!(sent.len(), 152, "one send per recipient");
        assert_eq!(numbers.len(), 152, "nobody twice");
        for i in 0..10 {
            assert!(!numbers.contains(format!("1555{i:07}").as_str()), "opted-out {i} was sent");
        }
        assert!(!numbers.contains("15559999999"), "outside the audience");
        assert_eq!(sandbox.control().limit_refusals().rate_limited, 0, "paced under 40/s");

        // Per recipient: the excluded say why, the sent are in a thread.
        let excluded = core
            .campaign_recipients(&RecipientsRequest {
                campaign_id: id,
                after: None,
                state: Some(RecipientState::Excluded),
            })
            .unwrap();
        assert_eq!(excluded.len(), 48);
        assert!(excluded[0].reason.as_deref().unwrap().contains("Opted out"));
        let all = core
            .campaign_recipients(&RecipientsRequest { campaign_id: id, after: None, state: None })
            .unwrap();
        let first_sent = all.iter().find(|r| r.state == RecipientState::Sent).unwrap();
        let thread = core.list_messages(first_sent.conversation_id.unwrap()).unwrap();
        assert_eq!(thread.len(), 1);
        assert_eq!(thread[0].body, "Hi Porto, this weekend only: 20% off everything in our shop.");

        // A reply within three days counts for the campaign.
        let wa_id = &first_sent.handle;
        sandbox_reply(&core, wa_id, "Is it online too?");
        let s = core.campaigns().unwrap().remove(0);
        assert_eq!(s.totals.replied, 1);

        // Results export: one row per recipient, excluded included.
        let out = _dir.path().join("results.csv");
        assert_eq!(core.export_campaign(id, &out).unwrap(), 200);
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.starts_with("name,number,status,reason,sent_at,replied_at\r\n"));
        assert_eq!(text.lines().count(), 201);
        assert!(text
            .lines()
            .any(|l| l.contains(wa_id) && l.contains(",sent,") && l.ends_with('Z')));
    }

    fn sandbox_reply(core: &Core, wa_id: &str, text: &str) {
        let json = serde_json::json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": parley_sandbox::DEFAULT_WABA_ID, "changes": [{ "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": "1", "phone_number_id": parley_sandbox::DEFAULT_PHONE_NUMBER_ID },
                "contacts": [{ "profile": { "name": "R" }, "wa_id": wa_id }],
                "messages": [{ "from": wa_id, "id": format!("wamid.reply.{wa_id}"),
                               "timestamp": (now_ms() / 1000 + 1).to_string(),
                               "type": "text", "text": { "body": text } }]
            }}]}]
        });
        core.store()
            .ingest(&parley_meta::webhook::parse_value(&json).unwrap(), None, now_ms())
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn over_the_number_rate_it_slows_down_and_still_sends_each_once() {
        let mut config = SandboxConfig::new(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), None);
        config.max_msgs_per_sec = 10;
        let sandbox = parley_sandbox::spawn(config).await.unwrap();
        let (_dir, core) = super::templates::core_on(&sandbox);
        core.refresh_templates().await.unwrap();
        let csv = contacts_csv(60, 0);
        let mapping = ColumnMapping::guess(&CsvReader::new(&csv).next().unwrap().unwrap().cells);
        core.import_contacts(&csv, &mapping, &mut |_, _| {}).unwrap();
        let mut d = draft(40);
        d.body_params = vec![ParamSource::Name { fallback: "there".into() }];
        core.start();
        let id = core
            .create_campaign(&CreateCampaignRequest { draft: d, confirmed_recipients: 60 })
            .unwrap()
            .id;
        until(&core, id, "completed", |s| s.state == CampaignState::Completed).await;
        let s = core.campaigns().unwrap().remove(0);
        assert_eq!(s.totals.sent, 60, "{:?}", s.totals);
        assert!(
            sandbox.control().limit_refusals().rate_limited > 0,
            "the sandbox refused some (40/s > 10/s)"
        );
        assert!(s.note.as_deref().unwrap_or_default().contains("130429"), "{:?}", s.note);
        let numbers: HashSet<String> = sandbox.control().sent().into_iter().map(|m| m.to).collect();
        assert_eq!((sandbox.control().sent().len(), numbers.len()), (60, 60));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_paused_template_pauses_the_campaign_and_cancel_settles_the_rest() {
        let sandbox = parley_sandbox::spawn(SandboxConfig::new(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            None,
        ))
        .await
        .unwrap();
        let (_dir, core) = super::templates::core_on(&sandbox);
        core.refresh_templates().await.unwrap();
        let csv = contacts_csv(20, 0);
        let mapping = ColumnMapping::guess(&CsvReader::new(&csv).next().unwrap().unwrap().cells);
        core.import_contacts(&csv, &mapping, &mut |_, _| {}).unwrap();
        let mut d = draft(5);
        d.body_params = vec![ParamSource::Fixed { value: "friend".into() }];
        sandbox.control().fail_next(132015, 1);
        core.start();
        let id = core
            .create_campaign(&CreateCampaignRequest { draft: d, confirmed_recipients: 20 })
            .unwrap()
            .id;
        until(&core, id, "paused by Meta's answer", |s| s.state == CampaignState::Paused).await;
        let s = core.campaigns().unwrap().remove(0);
        assert!(s.note.as_deref().unwrap().contains("132015"), "{:?}", s.note);
        assert_eq!(s.totals.failed, 0, "the recipient went back to the queue");
        assert_eq!(s.totals.queued, 20);
        core.campaign_action(id, CampaignAction::Cancel).unwrap();
        let s = core.campaigns().unwrap().remove(0);
        assert_eq!(
            (s.state, s.totals.not_sent, s.totals.queued),
            (CampaignState::Cancelled, 20, 0)
        );
        assert!(core.campaign_action(id, CampaignAction::Resume).is_err());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(sandbox.control().sent().is_empty());
    }

    /// A core whose Graph account goes nowhere, with `n` imported contacts
    /// (their ids returned). Nothing is started, so nothing sends.
    fn offline_core_with_contacts(
        dir: &Path,
        secrets: Arc<InMemorySecretStore>,
        n: usize,
    ) -> (Core, Vec<i64>) {
        let core = super::offline_core(dir, secrets);
        super::import_csv(&core, &contacts_csv(n, 0));
        let ids: Vec<i64> = {
            let conn = core.store().reader();
            let mut stmt =
                conn.prepare(&format!("SELECT id FROM contacts ORDER BY id LIMIT {n}")).unwrap();
            stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
        };
        (core, ids)
    }

    /// A campaign of `contacts`, all queued, written straight to the store.
    fn insert_campaign(core: &Core, contacts: &[i64], start_at: Option<i64>) -> i64 {
        let recipients: Vec<crate::store::NewRecipient> = contacts
            .iter()
            .map(|&contact_id| crate::store::NewRecipient {
                contact_id,
                exclusion: None,
                params: Some(r#"{"header":[],"body":["x"]}"#.into()),
            })
            .collect();
        let template = r#"{"category":"MARKETING","components":"[]"}"#;
        core.store()
            .insert_campaign("c", "t", "en_US", template, "{}", 10, start_at, &recipients, now_ms())
            .unwrap()
    }

    /// [`offline_core_with_contacts`] and one campaign of them starting at
    /// `start_at`: the store is driven by hand.
    fn manual_campaign(n: usize, start_at: Option<i64>) -> (tempfile::TempDir, Core, i64) {
        let dir = tempfile::tempdir().unwrap();
        let (core, ids) =
            offline_core_with_contacts(dir.path(), Arc::new(InMemorySecretStore::default()), n);
        let id = insert_campaign(&core, &ids, start_at);
        (dir, core, id)
    }

    fn claim(core: &Core, id: i64) -> Option<crate::store::ClaimedSend> {
        let render =
            |_: &str| Ok(("text".to_owned(), r#"{"name":"t","language":"en_US"}"#.to_owned()));
        core.store().claim_campaign_send(id, now_ms(), &crate::new_client_txn_id, &render).unwrap()
    }

    #[test]
    fn cancel_settles_waiting_retries_and_answers_that_come_after_it() {
        use crate::store::{RecipientOutcome, CANCELLED_BEFORE_SEND};
        let (_dir, core, id) = manual_campaign(3, None);
        // One refused for the rate, waiting to retry; one with Meta.
        let waiting = claim(&core, id).unwrap();
        let retry = RecipientOutcome::RetryAt { at_ms: now_ms() + 60_000 };
        core.store().finish_campaign_send(&waiting, &retry).unwrap();
        let in_flight = claim(&core, id).unwrap();
        core.campaign_action(id, CampaignAction::Cancel).unwrap();
        assert!(claim(&core, id).is_none(), "nothing is claimed once cancelled");
        // Meta refuses the one in flight for the rate after the cancel.
        core.store().finish_campaign_send(&in_flight, &retry).unwrap();
        let s = core.store().campaign_summary(id).unwrap();
        assert_eq!(
            (s.totals.not_sent, s.totals.queued, s.totals.sending),
            (3, 0, 0),
            "{:?}",
            s.totals
        );
        for send in [&waiting, &in_flight] {
            let m = core.store().message(send.message_id).unwrap();
            assert_eq!(m.error.as_deref(), Some(CANCELLED_BEFORE_SEND), "no spinner left behind");
        }
    }

    #[test]
    fn a_pause_stops_claims_and_a_paused_scheduled_campaign_waits_for_its_time() {
        let (_dir, core, id) = manual_campaign(2, Some(now_ms() + 3_600_000));
        assert_eq!(core.campaigns().unwrap()[0].state, CampaignState::Scheduled);
        assert!(claim(&core, id).is_none(), "not before its start");
        core.campaign_action(id, CampaignAction::Pause).unwrap();
        let resumed = core.campaign_action(id, CampaignAction::Resume).unwrap();
        assert_eq!(resumed.state, CampaignState::Scheduled, "its start time still stands");

        let (_dir, core, id) = manual_campaign(2, None);
        core.campaign_action(id, CampaignAction::Pause).unwrap();
        assert!(claim(&core, id).is_none(), "a paused campaign claims nothing");
        core.campaign_action(id, CampaignAction::Resume).unwrap();
        assert!(claim(&core, id).is_some());
    }

    #[test]
    fn a_deleted_campaign_message_keeps_its_outcome_in_the_totals() {
        use crate::store::RecipientOutcome;
        let (_dir, core, id) = manual_campaign(1, None);
        let send = claim(&core, id).unwrap();
        let failed = RecipientOutcome::Failed { error: "Meta refused it (131026).".into() };
        core.store().finish_campaign_send(&send, &failed).unwrap();
        // The agent deletes the failed message from the thread.
        core.delete_message(send.message_id).unwrap();
        let s = core.store().campaign_summary(id).unwrap();
        assert_eq!((s.totals.failed, s.totals.sent), (1, 0), "{:?}", s.totals);
        let r = core.store().all_campaign_recipients(id).unwrap().remove(0);
        assert_eq!(r.reason.as_deref(), Some("Meta refused it (131026)."));
    }

    #[test]
    fn merging_contacts_keeps_their_campaign_history_on_the_kept_one() {
        let dir = tempfile::tempdir().unwrap();
        let (core, ids) =
            offline_core_with_contacts(dir.path(), Arc::new(InMemorySecretStore::default()), 2);
        let (keep, merge) = (ids[0], ids[1]);
        let both = insert_campaign(&core, &[keep, merge], None);
        let only_merged = insert_campaign(&core, &[merge], None);
        core.merge_contacts(keep, merge).unwrap();
        let contacts_of = |campaign: i64| -> Vec<i64> {
            core.store()
                .all_campaign_recipients(campaign)
                .unwrap()
                .into_iter()
                .map(|r| r.contact_id)
                .collect()
        };
        assert_eq!(contacts_of(both), vec![keep], "one person, one recipient");
        assert_eq!(contacts_of(only_merged), vec![keep], "the merged one's history moved");
    }

    #[test]
    fn a_send_claimed_before_a_crash_is_never_sent_again() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Arc::new(InMemorySecretStore::default());
        let (core, ids) = offline_core_with_contacts(dir.path(), secrets.clone(), 2);
        let id = insert_campaign(&core, &ids, None);
        let render = |_: &str| Ok(("text".to_owned(), "{}".to_owned()));
        let claimed = core
            .store()
            .claim_campaign_send(id, now_ms(), &crate::new_client_txn_id, &render)
            .unwrap()
            .unwrap();
        // The app dies here, with the request maybe at Meta.
        drop(core);
        let core = open(dir.path(), secrets).unwrap();
        let s = core.store().campaign_summary(id).unwrap();
        assert_eq!(
            (s.totals.failed, s.totals.queued, s.totals.sending),
            (1, 1, 0),
            "{:?}",
            s.totals
        );
        let message = core.store().message(claimed.message_id).unwrap();
        assert_eq!(message.error.as_deref(), Some(crate::store::CAMPAIGN_SEND_LOST));
        // Only the other recipient is ever claimed again.
        let next = core
            .store()
            .claim_campaign_send(id, now_ms(), &crate::new_client_txn_id, &render)
            .unwrap()
            .unwrap();
        assert_ne!(next.recipient_id, claimed.recipient_id);
        assert!(core
            .store()
            .claim_campaign_send(id, now_ms(), &crate::new_client_txn_id, &render)
            .unwrap()
            .is_none());

        // Its status webhook, echoing our transaction id, proves it went out.
        let json = serde_json::json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": "1", "changes": [{ "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": "1", "phone_number_id": "100" },
                "statuses": [{ "id": "wamid.lost", "status": "delivered",
                    "timestamp": (now_ms() / 1000).to_string(), "recipient_id": claimed.wa_id,
                    "biz_opaque_callback_data": claimed.client_txn_id }]
            }}]}]
        });
        core.store()
            .ingest(&parley_meta::webhook::parse_value(&json).unwrap(), None, now_ms())
            .unwrap();
        let s = core.store().campaign_summary(id).unwrap();
        assert_eq!((s.totals.failed, s.totals.delivered), (0, 1), "{:?}", s.totals);
    }
}
