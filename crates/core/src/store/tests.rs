//! Store tests against real SQLCipher files in a temporary directory.

use parley_meta::webhook::{self, WebhookEvent};
use parley_types::{DeliveryStatus, Direction, WINDOW_MILLIS};

use super::*;

const T0: i64 = 1_700_000_000_000;

fn text_webhook(
    wamid: &str,
    from: &str,
    name: &str,
    body: &str,
    ts_secs: i64,
) -> Vec<WebhookEvent> {
    let json = serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "200", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550001111", "phone_number_id": "100" },
            "contacts": [{ "profile": { "name": name }, "wa_id": from }],
            "messages": [{ "from": from, "id": wamid, "timestamp": ts_secs.to_string(),
                           "type": "text", "text": { "body": body } }]
        }}]}]
    });
    webhook::parse_value(&json).unwrap()
}

fn status_webhook(wamid: &str, status: &str, ts_secs: i64) -> Vec<WebhookEvent> {
    let json = serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "200", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550001111", "phone_number_id": "100" },
            "statuses": [{ "id": wamid, "status": status, "timestamp": ts_secs.to_string(),
                           "recipient_id": "15551234567" }]
        }}]}]
    });
    webhook::parse_value(&json).unwrap()
}

fn open_new() -> (tempfile::TempDir, PathBuf, DbKey, Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parley.db");
    let key = DbKey::generate();
    let store = Store::open(&path, &key).unwrap();
    (dir, path, key, store)
}

#[test]
fn reopens_with_the_right_key_and_refuses_a_wrong_one_without_changing_the_file() {
    let (_dir, path, key, store) = open_new();
    store
        .ingest(&text_webhook("wamid.1", "15551234567", "Ana", "hi", 1_700_000_000), Some(1), T0)
        .unwrap();
    store.checkpoint().unwrap();
    drop(store);
    let before = std::fs::read(&path).unwrap();

    let wrong = DbKey::generate();
    let err = Store::open(&path, &wrong).err().expect("a wrong key must not open");
    assert!(matches!(err, OpenError::WrongKeyOrCorrupt { .. }), "{err}");
    assert!(err.to_string().contains("Nothing was changed"));
    assert_eq!(std::fs::read(&path).unwrap(), before, "a failed open must not touch the file");

    let again = Store::open(&path, &key).unwrap();
    assert_eq!(again.list_conversations(10).unwrap().len(), 1);
    assert_eq!(again.relay_cursor().unwrap(), 1);
}

#[test]
fn a_plaintext_sqlite_file_is_refused_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.db");
    let plain = rusqlite::Connection::open(&path).unwrap();
    plain.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);").unwrap();
    drop(plain);
    let before = std::fs::read(&path).unwrap();
    let err = Store::open(&path, &DbKey::generate()).err().unwrap();
    assert!(matches!(err, OpenError::NotEncrypted { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_newer_schema_is_refused() {
    let (_dir, path, key, store) = open_new();
    store.writer().execute_batch("PRAGMA user_version = 999;").unwrap();
    drop(store);
    let err = Store::open(&path, &key).err().unwrap();
    assert!(matches!(err, OpenError::TooNew { found: 999, .. }), "{err}");
}

#[test]
fn ingest_is_idempotent_on_the_provider_id() {
    let (_dir, _path, _key, store) = open_new();
    let events = text_webhook("wamid.dup", "15551234567", "Ana", "only once", 1_700_000_000);
    let first = store.ingest(&events, Some(1), T0).unwrap();
    assert_eq!(first.new_inbound.len(), 1);
    let second = store.ingest(&events, Some(2), T0).unwrap();
    assert!(second.new_inbound.is_empty() && second.messages.is_empty());
    let conversations = store.list_conversations(10).unwrap();
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0].unread, 1);
    assert_eq!(conversations[0].title, "Ana");
    assert_eq!(conversations[0].handle, "15551234567");
    let messages = store.list_messages(conversations[0].id, 10).unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].body, "only once");
    assert_eq!(messages[0].direction, Direction::Inbound);
    assert_eq!(store.relay_cursor().unwrap(), 2);
}

#[test]
fn the_cursor_never_moves_back() {
    let (_dir, _path, _key, store) = open_new();
    store.ingest(&[], Some(10), T0).unwrap();
    store.ingest(&[], Some(4), T0).unwrap();
    assert_eq!(store.relay_cursor().unwrap(), 10);
}

/// Queue a reply in a conversation the customer opened at `T0`.
fn conversation_with_reply(store: &Store) -> (i64, i64) {
    store
        .ingest(&text_webhook("wamid.in", "15551234567", "Ana", "hello", T0 / 1000), None, T0)
        .unwrap();
    let conversation = store.list_conversations(1).unwrap()[0].id;
    let reply = store.queue_text(conversation, "reply", "txn-1", T0 + 1000).unwrap().unwrap();
    assert_eq!(reply.status, Some(DeliveryStatus::Sending));
    (conversation, reply.id)
}

#[test]
fn statuses_only_move_forward_whatever_their_order() {
    let (_dir, _path, _key, store) = open_new();
    let (_conversation, reply) = conversation_with_reply(&store);
    let item = store.take_due(T0 + 2000).unwrap().unwrap();
    // "read" overtakes Meta's own 200.
    store.ingest(&status_webhook("wamid.out", "read", 1_700_000_010), None, T0).unwrap();
    store.finish_send(&item, &SendOutcome::Accepted { provider_id: "wamid.out".into() }).unwrap();
    assert_eq!(store.message(reply).unwrap().status, Some(DeliveryStatus::Read));
    store.ingest(&status_webhook("wamid.out", "delivered", 1_700_000_005), None, T0).unwrap();
    store.ingest(&status_webhook("wamid.out", "sent", 1_700_000_001), None, T0).unwrap();
    assert_eq!(store.message(reply).unwrap().status, Some(DeliveryStatus::Read));
    assert!(store.take_due(T0 + 3000).unwrap().is_none(), "an accepted send leaves the outbox");
}

#[test]
fn a_failed_status_carries_words_the_agent_can_act_on() {
    let (_dir, _path, _key, store) = open_new();
    let (_conversation, reply) = conversation_with_reply(&store);
    let item = store.take_due(T0 + 2000).unwrap().unwrap();
    store.finish_send(&item, &SendOutcome::Accepted { provider_id: "wamid.f".into() }).unwrap();
    let json = serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "200", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "1", "phone_number_id": "100" },
            "statuses": [{ "id": "wamid.f", "status": "failed", "timestamp": "1700000009",
                "recipient_id": "15551234567",
                "errors": [{ "code": 131047, "title": "Re-engagement message" }] }]
        }}]}]
    });
    store.ingest(&webhook::parse_value(&json).unwrap(), None, T0).unwrap();
    let message = store.message(reply).unwrap();
    assert_eq!(message.status, Some(DeliveryStatus::Failed));
    assert!(message.error.unwrap().contains("24 hours"));
}

#[test]
fn the_outbox_keeps_order_per_conversation_and_retries_only_when_told() {
    let (_dir, _path, _key, store) = open_new();
    let (conversation, first) = conversation_with_reply(&store);
    let second = store.queue_text(conversation, "second", "txn-2", T0 + 1500).unwrap().unwrap();
    let item = store.take_due(T0 + 2000).unwrap().unwrap();
    assert_eq!(item.message_id, first);
    assert_eq!(item.to, "15551234567");
    assert_eq!(item.channel_external_id, "100");
    // The second may not overtake the first, in flight or waiting to retry.
    assert!(store.take_due(T0 + 2000).unwrap().is_none());
    store.finish_send(&item, &SendOutcome::RetryAt { retry_at_ms: T0 + 10_000 }).unwrap();
    assert!(store.take_due(T0 + 5000).unwrap().is_none());
    assert_eq!(store.next_due_at().unwrap(), Some(T0 + 1500));
    let retried = store.take_due(T0 + 10_000).unwrap().unwrap();
    assert_eq!((retried.message_id, retried.attempts), (first, 1));
    store.finish_send(&retried, &SendOutcome::Accepted { provider_id: "wamid.1".into() }).unwrap();
    assert_eq!(store.take_due(T0 + 10_000).unwrap().unwrap().message_id, second.id);
}

#[test]
fn a_send_interrupted_by_a_crash_is_failed_not_resent() {
    let (_dir, path, key, store) = open_new();
    let (_conversation, reply) = conversation_with_reply(&store);
    let _in_flight = store.take_due(T0 + 2000).unwrap().unwrap();
    drop(store); // the "crash"
    let store = Store::open(&path, &key).unwrap();
    assert_eq!(store.recover_outbox().unwrap(), vec![reply]);
    let message = store.message(reply).unwrap();
    assert_eq!(message.status, Some(DeliveryStatus::Failed));
    assert!(message.error.unwrap().contains("may or may not"));
    assert!(store.take_due(i64::MAX).unwrap().is_none());
}

#[test]
fn replies_are_refused_once_the_window_closed() {
    let (_dir, _path, _key, store) = open_new();
    store
        .ingest(&text_webhook("wamid.old", "15551234567", "Ana", "hello", T0 / 1000), None, T0)
        .unwrap();
    let conversation = store.list_conversations(1).unwrap()[0].id;
    let refused = store.queue_text(conversation, "late", "txn-late", T0 + WINDOW_MILLIS).unwrap();
    assert_eq!(refused.unwrap_err(), QueueRefusal::WindowClosed);
    assert_eq!(
        store.queue_text(9999, "x", "txn-x", T0).unwrap().unwrap_err(),
        QueueRefusal::NoConversation
    );
    assert_eq!(store.list_messages(conversation, 10).unwrap().len(), 1, "nothing was queued");
}

#[test]
fn unread_clears_and_the_newest_inbound_id_is_returned_for_the_read_receipt() {
    let (_dir, _path, _key, store) = open_new();
    store
        .ingest(&text_webhook("wamid.a", "15551234567", "Ana", "one", 1_700_000_000), None, T0)
        .unwrap();
    store
        .ingest(&text_webhook("wamid.b", "15551234567", "Ana", "two", 1_700_000_005), None, T0)
        .unwrap();
    let conversation = store.list_conversations(1).unwrap()[0].clone();
    assert_eq!(conversation.unread, 2);
    assert_eq!(conversation.last_preview, "two");
    assert_eq!(store.mark_read(conversation.id).unwrap().as_deref(), Some("wamid.b"));
    assert_eq!(store.conversation(conversation.id).unwrap().unread, 0);
    assert!(matches!(store.mark_read(424242), Err(StoreError::NotFound)));
}

#[test]
fn an_older_message_arriving_late_does_not_replace_the_preview() {
    let (_dir, _path, _key, store) = open_new();
    store
        .ingest(&text_webhook("wamid.new", "15551234567", "Ana", "newer", 1_700_000_100), None, T0)
        .unwrap();
    store
        .ingest(&text_webhook("wamid.old", "15551234567", "Ana", "older", 1_700_000_000), None, T0)
        .unwrap();
    let conversation = store.list_conversations(1).unwrap()[0].clone();
    assert_eq!(conversation.last_preview, "newer");
    let bodies: Vec<_> =
        store.list_messages(conversation.id, 10).unwrap().into_iter().map(|m| m.body).collect();
    assert_eq!(bodies, ["older", "newer"]);
}

#[test]
fn unknown_events_are_kept_not_dropped() {
    let (_dir, _path, _key, store) = open_new();
    let json = serde_json::json!({ "object": "page", "entry": [] });
    let events = webhook::parse_value(&json).unwrap();
    assert!(!events.is_empty());
    store.ingest(&events, None, T0).unwrap();
    store.ingest(&events, None, T0 + 1).unwrap(); // Meta retries: kept once
    let kept: i64 = store
        .reader()
        .query_row("SELECT count(*) FROM unhandled_events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept as usize, events.len());
}

#[test]
fn search_finds_words_and_treats_input_as_text() {
    let (_dir, _path, _key, store) = open_new();
    store
        .ingest(
            &text_webhook("wamid.s", "15551234567", "Ana", "where is my parcel", 1_700_000_000),
            None,
            T0,
        )
        .unwrap();
    assert_eq!(store.search("parcel", 10).unwrap().len(), 1);
    assert!(store.search("\"unbalanced OR (", 10).unwrap().is_empty());
    assert!(store.search("   ", 10).unwrap().is_empty());
}

/// The promise behind SQLCipher: no message text in the file or its WAL.
#[test]
fn no_plaintext_reaches_the_database_files() {
    let (dir, path, _key, store) = open_new();
    let canary = "canary-PLAINTEXT-7d41";
    store
        .ingest(
            &text_webhook("wamid.c", "15559876543", "Zebulon-Quist", canary, 1_700_000_000),
            None,
            T0,
        )
        .unwrap();
    let conversation = store.list_conversations(1).unwrap()[0].id;
    store.queue_text(conversation, "reply-canary-99x", "txn-c", T0 + 1).unwrap().unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for needle in [canary, "reply-canary-99x", "15559876543", "Zebulon-Quist"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} found in plaintext on disk"
            );
        }
    }
    assert!(path.exists());
}

#[test]
fn long_multiline_messages_are_stored_whole() {
    let (_dir, _path, _key, store) = open_new();
    let body = format!("first line\n\nsecond line {}", "x".repeat(500));
    store
        .ingest(&text_webhook("wamid.long", "15551234567", "Ana", &body, 1_700_000_000), None, T0)
        .unwrap();
    let conversation = store.list_conversations(1).unwrap()[0].clone();
    assert_eq!(store.list_messages(conversation.id, 1).unwrap()[0].body, body);
    assert!(conversation.last_preview.chars().count() <= 160);
    assert!(!conversation.last_preview.contains('\n'));
}
