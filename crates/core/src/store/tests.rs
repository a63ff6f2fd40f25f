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

/// The customer writes at `T0`; returns the conversation and the message.
fn customer_message(store: &Store) -> (i64, i64) {
    store
        .ingest(&text_webhook("wamid.in", "15551234567", "Ana", "hello", T0 / 1000), None, T0)
        .unwrap();
    let conversation = store.list_conversations(1).unwrap()[0].id;
    (conversation, store.list_messages(conversation, 10).unwrap()[0].id)
}

/// Queue a reply in a conversation the customer opened at `T0`.
fn conversation_with_reply(store: &Store) -> (i64, i64) {
    store
        .ingest(&text_webhook("wamid.in", "15551234567", "Ana", "hello", T0 / 1000), None, T0)
        .unwrap();
    let conversation = store.list_conversations(1).unwrap()[0].id;
    let reply = store.queue_text(conversation, "reply", "txn-1", None, T0 + 1000).unwrap().unwrap();
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
    let second = store
        .queue_text(conversation, "second", "txn-2", Some("wamid.in"), T0 + 1500)
        .unwrap()
        .unwrap();
    assert_eq!(second.reply_to.as_deref(), Some("wamid.in"));
    let item = store.take_due(T0 + 2000).unwrap().unwrap();
    assert_eq!(item.message_id, first);
    assert_eq!(item.to, "15551234567");
    assert_eq!(item.reply_to, None);
    assert_eq!(item.channel_external_id, "100");
    // The second may not overtake the first, in flight or waiting to retry.
    assert!(store.take_due(T0 + 2000).unwrap().is_none());
    store.finish_send(&item, &SendOutcome::RetryAt { retry_at_ms: T0 + 10_000 }).unwrap();
    assert!(store.take_due(T0 + 5000).unwrap().is_none());
    assert_eq!(store.next_due_at().unwrap(), Some(T0 + 1500));
    let retried = store.take_due(T0 + 10_000).unwrap().unwrap();
    assert_eq!((retried.message_id, retried.attempts), (first, 1));
    store.finish_send(&retried, &SendOutcome::Accepted { provider_id: "wamid.1".into() }).unwrap();
    let next = store.take_due(T0 + 10_000).unwrap().unwrap();
    assert_eq!((next.message_id, next.reply_to.as_deref()), (second.id, Some("wamid.in")));
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
    let refused =
        store.queue_text(conversation, "late", "txn-late", None, T0 + WINDOW_MILLIS).unwrap();
    assert_eq!(refused.unwrap_err(), QueueRefusal::WindowClosed);
    assert_eq!(
        store.queue_text(9999, "x", "txn-x", None, T0).unwrap().unwrap_err(),
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
    store.queue_text(conversation, "reply-canary-99x", "txn-c", None, T0 + 1).unwrap().unwrap();
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

fn reaction_webhook(wamid: &str, target: &str, emoji: &str, ts_secs: i64) -> Vec<WebhookEvent> {
    let json = serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "200", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550001111", "phone_number_id": "100" },
            "contacts": [{ "profile": { "name": "Ana" }, "wa_id": "15551234567" }],
            "messages": [{ "from": "15551234567", "id": wamid, "timestamp": ts_secs.to_string(),
                           "type": "reaction", "reaction": { "message_id": target, "emoji": emoji } }]
        }}]}]
    });
    webhook::parse_value(&json).unwrap()
}

#[test]
fn reactions_attach_to_their_message_whatever_the_order() {
    let (_dir, _path, _key, store) = open_new();
    // The reaction overtakes the message it reacts to.
    store.ingest(&reaction_webhook("wamid.r1", "wamid.m", "👍", 1_700_000_010), None, T0).unwrap();
    store
        .ingest(&text_webhook("wamid.m", "15551234567", "Ana", "parcel?", 1_700_000_000), None, T0)
        .unwrap();
    let conversation = store.list_conversations(1).unwrap()[0].id;
    let messages = store.list_messages(conversation, 10).unwrap();
    assert_eq!(messages.len(), 1, "a reaction is not a message of its own");
    assert_eq!(
        messages[0].reactions,
        vec![parley_types::Reaction { emoji: "👍".into(), by: Direction::Inbound }]
    );
    // An older reaction arriving late loses; a newer one replaces.
    store.ingest(&reaction_webhook("wamid.r0", "wamid.m", "😡", 1_700_000_005), None, T0).unwrap();
    assert_eq!(store.list_messages(conversation, 10).unwrap()[0].reactions[0].emoji, "👍");
    store.ingest(&reaction_webhook("wamid.r2", "wamid.m", "❤️", 1_700_000_020), None, T0).unwrap();
    assert_eq!(store.list_messages(conversation, 10).unwrap()[0].reactions[0].emoji, "❤️");
    // An empty emoji removes it.
    let outcome = store
        .ingest(&reaction_webhook("wamid.r3", "wamid.m", "", 1_700_000_030), None, T0)
        .unwrap();
    assert_eq!(outcome.messages, vec![messages[0].id]);
    assert!(store.list_messages(conversation, 10).unwrap()[0].reactions.is_empty());
}

fn instagram_unsend(mid: &str, ts_ms: i64) -> Vec<WebhookEvent> {
    let json = serde_json::json!({
        "object": "instagram",
        "entry": [{ "id": "17841400000000000", "time": ts_ms, "messaging": [{
            "sender": { "id": "9000000000000001" },
            "recipient": { "id": "17841400000000000" },
            "timestamp": ts_ms,
            "message": { "mid": mid, "is_deleted": true }
        }]}]
    });
    webhook::parse_value(&json).unwrap()
}

fn instagram_text(mid: &str, text: &str, ts_ms: i64) -> Vec<WebhookEvent> {
    let json = serde_json::json!({
        "object": "instagram",
        "entry": [{ "id": "17841400000000000", "time": ts_ms, "messaging": [{
            "sender": { "id": "9000000000000001" },
            "recipient": { "id": "17841400000000000" },
            "timestamp": ts_ms,
            "message": { "mid": mid, "text": text }
        }]}]
    });
    webhook::parse_value(&json).unwrap()
}

#[test]
fn an_unsent_message_loses_its_content_even_if_the_unsend_comes_first() {
    let (_dir, _path, _key, store) = open_new();
    let unsend = instagram_unsend("mid.A", T0 + 5);
    assert!(matches!(unsend[0], WebhookEvent::Deleted(_)), "{unsend:?}");
    store.ingest(&unsend, None, T0).unwrap();
    store.ingest(&instagram_text("mid.A", "regret-this-text", T0), None, T0).unwrap();
    store.ingest(&instagram_text("mid.B", "keep-this-text", T0 + 1), None, T0).unwrap();
    let conversation = store.list_conversations(1).unwrap()[0].clone();
    assert_eq!(conversation.channel, parley_types::ChannelKind::Instagram);
    let messages = store.list_messages(conversation.id, 10).unwrap();
    assert!(messages[0].deleted && messages[0].body.is_empty());
    assert!(!messages[1].deleted);
    assert!(store.search("regret", 10).unwrap().is_empty(), "the search index forgot it too");
    assert_eq!(store.search("keep", 10).unwrap().len(), 1);
    // Instagram: a person may reply for 7 days after the customer wrote.
    let six_days = T0 + 6 * WINDOW_MILLIS;
    let reply = store.queue_text(conversation.id, "hi", "txn-ig", None, six_days).unwrap().unwrap();
    let item = store.take_due(six_days).unwrap().unwrap();
    assert_eq!(
        (item.message_id, item.channel_kind.as_str(), item.to.as_str()),
        (reply.id, "instagram", "9000000000000001")
    );
    assert_eq!(item.channel_external_id, "17841400000000000");
    let late =
        store.queue_text(conversation.id, "hi", "txn-ig2", None, T0 + 8 * WINDOW_MILLIS).unwrap();
    assert_eq!(late.unwrap_err(), QueueRefusal::InstagramWindowClosed);
}

#[test]
fn contacts_are_found_by_name() {
    let (_dir, _path, _key, store) = open_new();
    store
        .ingest(
            &text_webhook("wamid.n1", "15550000001", "Ingrid Bergman", "hi", 1_700_000_000),
            None,
            T0,
        )
        .unwrap();
    store
        .ingest(&text_webhook("wamid.n2", "15550000002", "Omar Sy", "hi", 1_700_000_001), None, T0)
        .unwrap();
    let hits = store.search_contacts("ingr", 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].title, "Ingrid Bergman");
}

/// Every earlier schema version upgrades in place, keeping its rows.
#[test]
fn a_database_from_each_earlier_version_upgrades() {
    for from in 1..schema::latest_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("parley.db");
        let key = DbKey::generate();
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(&key.pragma()).unwrap();
            for sql in &schema::MIGRATIONS[..from as usize] {
                conn.execute_batch(sql).unwrap();
            }
            conn.execute_batch(&format!("PRAGMA user_version = {from};")).unwrap();
            conn.execute_batch(
                "INSERT INTO channels (id, kind, external_id) VALUES (1, 'whatsapp', '100');
                 INSERT INTO contacts (id, channel_id, wa_id, name, created_at) VALUES (1, 1, '15551234567', 'Old Timer', 0);
                 INSERT INTO conversations (id, contact_id, last_preview, last_at, unread, last_inbound_at)
                     VALUES (1, 1, 'from v1', 5, 1, 5);
                 INSERT INTO messages (conversation_id, provider_id, direction, kind, body, sent_at)
                     VALUES (1, 'wamid.old', 'inbound', 'text', 'from v1', 5);",
            )
            .unwrap();
        }
        let store = Store::open(&path, &key).unwrap();
        let version: i64 =
            store.reader().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, schema::latest_version());
        assert_eq!(store.list_messages(1, 10).unwrap()[0].body, "from v1");
        assert_eq!(
            store.search_contacts("old", 10).unwrap().len(),
            1,
            "v{from}: names indexed on upgrade"
        );
        store
            .ingest(
                &text_webhook("wamid.new", "15551234567", "Old Timer", "after", 1_700_000_000),
                None,
                T0,
            )
            .unwrap();
        assert_eq!(store.list_messages(1, 10).unwrap().len(), 2);
        // What the later migrations added reads back on an upgraded file.
        let listed = &store.list_conversations(10).unwrap()[0];
        assert_eq!((listed.draft.as_deref(), listed.closed), (None, false), "v{from}");
        let contact = store.contact_details(1).unwrap();
        assert_eq!((contact.notes.as_str(), contact.opted_out.is_none()), ("", true), "v{from}");
        assert!(store.save_draft(1, "kept", T0).unwrap(), "v{from}");
        store.set_closed(1, true, T0).unwrap();
        assert!(store.list_templates().unwrap().is_empty(), "v{from}");
    }
}

#[test]
fn a_lost_send_is_recognised_by_its_transaction_id_in_the_status() {
    let (_dir, path, key, store) = open_new();
    let (_conversation, reply) = conversation_with_reply(&store);
    let item = store.take_due(T0 + 2000).unwrap().unwrap();
    drop(store); // crash while Meta was answering
    let store = Store::open(&path, &key).unwrap();
    store.recover_outbox().unwrap();
    assert_eq!(store.message(reply).unwrap().status, Some(DeliveryStatus::Failed));
    let json = serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "200", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "1", "phone_number_id": "100" },
            "statuses": [{ "id": "wamid.lost", "status": "delivered", "timestamp": "1700000009",
                "recipient_id": "15551234567", "biz_opaque_callback_data": item.client_txn_id }]
        }}]}]
    });
    let outcome = store.ingest(&webhook::parse_value(&json).unwrap(), None, T0).unwrap();
    assert_eq!(outcome.messages, vec![reply]);
    let message = store.message(reply).unwrap();
    assert_eq!(message.status, Some(DeliveryStatus::Delivered));
    assert_eq!(message.provider_id.as_deref(), Some("wamid.lost"));
    assert_eq!(message.error, None);
}

#[test]
fn a_failed_message_can_be_retried_or_deleted_and_nothing_else_can() {
    let (_dir, _path, _key, store) = open_new();
    let (conversation, reply) = conversation_with_reply(&store);
    assert_eq!(
        store.retry_failed(reply, "txn-r", T0).unwrap().unwrap_err(),
        QueueRefusal::NotRetryable
    );
    let item = store.take_due(T0 + 2000).unwrap().unwrap();
    store.finish_send(&item, &SendOutcome::Failed { error: "Meta refused".into() }).unwrap();

    let retried = store.retry_failed(reply, "txn-r2", T0 + 3000).unwrap().unwrap();
    assert_eq!((retried.status, retried.error.clone()), (Some(DeliveryStatus::Sending), None));
    let again = store.take_due(T0 + 3000).unwrap().unwrap();
    assert_eq!((again.message_id, again.client_txn_id.as_str()), (reply, "txn-r2"));
    store.finish_send(&again, &SendOutcome::Failed { error: "still no".into() }).unwrap();

    let inbound = store.list_messages(conversation, 10).unwrap()[0].id;
    assert_eq!(store.delete_failed(inbound).unwrap().unwrap_err(), QueueRefusal::NotRetryable);
    assert_eq!(store.delete_failed(reply).unwrap().unwrap(), conversation);
    assert_eq!(store.list_messages(conversation, 10).unwrap().len(), 1);
}

#[test]
fn a_late_lost_answer_does_not_undo_a_status_that_proved_the_send() {
    let (_dir, _path, _key, store) = open_new();
    let (_conversation, reply) = conversation_with_reply(&store);
    let item = store.take_due(T0 + 2000).unwrap().unwrap();
    let json = serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "200", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "1", "phone_number_id": "100" },
            "statuses": [{ "id": "wamid.early", "status": "sent", "timestamp": "1700000009",
                "recipient_id": "15551234567", "biz_opaque_callback_data": item.client_txn_id }]
        }}]}]
    });
    store.ingest(&webhook::parse_value(&json).unwrap(), None, T0).unwrap();
    store.finish_send(&item, &SendOutcome::Failed { error: "no answer".into() }).unwrap();
    let message = store.message(reply).unwrap();
    assert_eq!(message.status, Some(DeliveryStatus::Sent));
    assert_eq!(message.error, None);
}

#[test]
fn a_media_message_waits_for_its_file_which_is_kept_encrypted() {
    let (dir, _path, _key, store) = open_new();
    let json = serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "200", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "1", "phone_number_id": "100" },
            "contacts": [{ "profile": { "name": "Ana" }, "wa_id": "15551234567" }],
            "messages": [{ "from": "15551234567", "id": "wamid.img", "timestamp": "1700000000",
                "type": "image", "image": { "id": "9001", "mime_type": "image/jpeg",
                "sha256": "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=", "caption": "my receipt" } }]
        }}]}]
    });
    let outcome = store.ingest(&webhook::parse_value(&json).unwrap(), None, T0).unwrap();
    assert_eq!(outcome.new_media.len(), 1);
    let id = outcome.new_media[0];
    let message = store.message(id).unwrap();
    assert_eq!(message.body, "my receipt");
    let media = message.media.unwrap();
    assert_eq!(
        (media.state, media.mime_type.as_deref()),
        (parley_types::MediaState::Pending, Some("image/jpeg"))
    );
    let jobs = store.pending_media(0, 10).unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].media_id.as_deref(), Some("9001"));
    assert!(store.pending_media(id, 10).unwrap().is_empty());

    let file = b"hello"; // matches the base64 checksum above
    assert!(sha256_matches(file, jobs[0].expected_sha256.as_deref().unwrap()));
    let marker = b"JPEG-PLAINTEXT-MARKER-0042";
    let bytes = [&file[..], &marker[..]].concat();
    store.store_media(id, &bytes, None).unwrap();
    let media = store.message(id).unwrap().media.unwrap();
    assert_eq!(
        (media.state, media.size),
        (parley_types::MediaState::Stored, Some(bytes.len() as u64))
    );
    assert_eq!(store.media_bytes(id).unwrap().1, bytes);
    store.checkpoint().unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let on_disk = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !on_disk.windows(marker.len()).any(|w| w == marker),
            "media bytes on disk in clear"
        );
    }

    // A late failure report cannot spoil a stored file.
    store.media_failed(id, "too big", false).unwrap();
    assert_eq!(store.message(id).unwrap().media.unwrap().state, parley_types::MediaState::Stored);
}

/// SQLite reports a full disk and a reached `max_page_count` the same way
/// (SQLITE_FULL), which lets a test fill the "disk" exactly.
#[test]
fn a_full_disk_fails_the_write_cleanly_and_keeps_everything_before() {
    let (_dir, _path, _key, store) = open_new();
    store
        .ingest(
            &text_webhook("wamid.before", "15551234567", "Ana", "kept", 1_700_000_000),
            Some(1),
            T0,
        )
        .unwrap();
    let pages: i64 = store.writer().query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
    store.writer().execute_batch(&format!("PRAGMA max_page_count = {pages};")).unwrap();
    let big: Vec<WebhookEvent> = (0..200)
        .flat_map(|i| {
            text_webhook(
                &format!("wamid.full{i}"),
                "15551234567",
                "Ana",
                &"x".repeat(2000),
                1_700_000_100 + i,
            )
        })
        .collect();
    let err = store.ingest(&big, Some(2), T0).unwrap_err();
    assert!(matches!(err, StoreError::DiskFull), "{err:?}");
    assert!(err.to_string().contains("nothing saved earlier was lost"));
    // Nothing of the failed batch, everything from before, cursor unmoved.
    let conversation = store.list_conversations(1).unwrap()[0].id;
    assert_eq!(store.list_messages(conversation, 500).unwrap().len(), 1);
    assert_eq!(store.relay_cursor().unwrap(), 1);
    // Space again: the same batch goes in whole.
    store.writer().execute_batch("PRAGMA max_page_count = 1073741823;").unwrap();
    store.ingest(&big, Some(2), T0).unwrap();
    assert_eq!(store.list_messages(conversation, 500).unwrap().len(), 201);
    assert_eq!(store.relay_cursor().unwrap(), 2);
}

#[test]
fn older_pages_continue_exactly_where_the_first_page_began() {
    let (_dir, _path, _key, store) = open_new();
    for i in 0..25 {
        store
            .ingest(
                &text_webhook(
                    &format!("wamid.p{i}"),
                    "15551234567",
                    "Ana",
                    &format!("m{i}"),
                    1_700_000_000 + i,
                ),
                None,
                T0,
            )
            .unwrap();
    }
    let conversation = store.list_conversations(1).unwrap()[0].id;
    let newest = store.list_messages(conversation, 10).unwrap();
    assert_eq!(newest.first().unwrap().body, "m15");
    let older = store.list_messages_before(conversation, newest[0].id, 10).unwrap();
    let bodies: Vec<_> = older.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["m5", "m6", "m7", "m8", "m9", "m10", "m11", "m12", "m13", "m14"]);
    let oldest = store.list_messages_before(conversation, older[0].id, 10).unwrap();
    assert_eq!(oldest.len(), 5);
    assert!(store.list_messages_before(conversation, oldest[0].id, 10).unwrap().is_empty());
}

fn our_reaction(store: &Store, message: i64) -> Option<String> {
    store
        .message(message)
        .unwrap()
        .reactions
        .into_iter()
        .find(|r| r.by == Direction::Outbound)
        .map(|r| r.emoji)
}

#[test]
fn a_reaction_shows_at_once_goes_through_the_outbox_and_can_be_removed() {
    let (_dir, _path, _key, store) = open_new();
    let (conversation, target) = customer_message(&store);

    assert_eq!(store.queue_reaction(target, "👍", T0 + 1000).unwrap(), Ok(conversation));
    assert_eq!(our_reaction(&store, target).as_deref(), Some("👍"));
    assert_eq!(store.list_messages(conversation, 10).unwrap().len(), 1, "not a message");
    let item = store.take_due(T0 + 1000).unwrap().unwrap();
    assert_eq!(item.message_id, target);
    assert_eq!(item.kind, "reaction");
    assert_eq!(item.to, "15551234567");
    let reaction = item.reaction.clone().unwrap();
    assert_eq!((reaction.target.as_str(), reaction.emoji.as_str()), ("wamid.in", "👍"));
    assert_eq!(reaction.previous, None);
    assert!(!format!("{item:?}").contains('👍'), "Debug leaves the emoji out");
    store.finish_send(&item, &SendOutcome::Accepted { provider_id: "wamid.r".into() }).unwrap();
    assert!(store.take_due(i64::MAX).unwrap().is_none());
    assert_eq!(our_reaction(&store, target).as_deref(), Some("👍"));

    // Asking for what is shown queues nothing; an empty emoji removes it.
    store.queue_reaction(target, "👍", T0 + 2000).unwrap().unwrap();
    assert!(store.take_due(i64::MAX).unwrap().is_none());
    store.queue_reaction(target, "", T0 + 3000).unwrap().unwrap();
    assert_eq!(our_reaction(&store, target), None);
    let removal = store.take_due(T0 + 3000).unwrap().unwrap();
    assert_eq!(removal.reaction.as_ref().unwrap().emoji, "");
    assert_eq!(removal.reaction.as_ref().unwrap().previous.as_deref(), Some("👍"));

    // The customer's own reaction is kept apart from ours.
    store.ingest(&reaction_webhook("wamid.cr", "wamid.in", "😂", T0 / 1000 + 5), None, T0).unwrap();
    let reactions = store.message(target).unwrap().reactions;
    assert_eq!(
        reactions,
        vec![parley_types::Reaction { emoji: "😂".into(), by: Direction::Inbound }]
    );
}

#[test]
fn a_refused_reaction_brings_the_previous_one_back() {
    let (_dir, path, key, store) = open_new();
    let (_, target) = customer_message(&store);
    store.queue_reaction(target, "👍", T0 + 1000).unwrap().unwrap();
    let first = store.take_due(T0 + 1000).unwrap().unwrap();
    store.finish_send(&first, &SendOutcome::Accepted { provider_id: "wamid.r1".into() }).unwrap();

    store.queue_reaction(target, "❤️", T0 + 2000).unwrap().unwrap();
    let item = store.take_due(T0 + 2000).unwrap().unwrap();
    // A retryable refusal keeps it queued and shown.
    store.finish_send(&item, &SendOutcome::RetryAt { retry_at_ms: T0 + 5000 }).unwrap();
    assert_eq!(our_reaction(&store, target).as_deref(), Some("❤️"));
    let item = store.take_due(T0 + 5000).unwrap().unwrap();
    assert_eq!(item.attempts, 1);
    store.finish_send(&item, &SendOutcome::Failed { error: "no".into() }).unwrap();
    assert_eq!(our_reaction(&store, target).as_deref(), Some("👍"));
    assert!(store.take_due(i64::MAX).unwrap().is_none());

    // In flight when the app died: it may or may not have gone out, so it
    // is not resent, and the last reaction known to be sent shows.
    store.queue_reaction(target, "🙏", T0 + 6000).unwrap().unwrap();
    let _in_flight = store.take_due(T0 + 6000).unwrap().unwrap();
    drop(store);
    let store = Store::open(&path, &key).unwrap();
    assert_eq!(store.recover_outbox().unwrap(), vec![target]);
    assert_eq!(our_reaction(&store, target).as_deref(), Some("👍"));
    assert!(store.take_due(i64::MAX).unwrap().is_none());
}

#[test]
fn reactions_follow_meta_rules_before_they_are_queued() {
    let (_dir, _path, _key, store) = open_new();
    let (conversation, reply) = conversation_with_reply(&store);
    let inbound = store.list_messages(conversation, 10).unwrap()[0].id;
    // Only a customer's message that arrived.
    assert_eq!(
        store.queue_reaction(reply, "👍", T0 + 2000).unwrap(),
        Err(QueueRefusal::NotReactable)
    );
    assert_eq!(store.queue_reaction(9999, "👍", T0 + 2000).unwrap(), Err(QueueRefusal::NoMessage));
    // Only inside the customer-service window.
    assert_eq!(
        store.queue_reaction(inbound, "👍", T0 + WINDOW_MILLIS + 1).unwrap(),
        Err(QueueRefusal::WindowClosed)
    );
    // Never to a message older than 30 days, even if the customer wrote since.
    store
        .ingest(
            &text_webhook(
                "wamid.new",
                "15551234567",
                "Ana",
                "again",
                (T0 + REACTION_MAX_AGE_MILLIS) / 1000,
            ),
            None,
            T0,
        )
        .unwrap();
    assert_eq!(
        store.queue_reaction(inbound, "👍", T0 + REACTION_MAX_AGE_MILLIS + 10).unwrap(),
        Err(QueueRefusal::ReactionTooOld)
    );
    // Nothing was queued or shown by the refusals (the reply is still first).
    assert_eq!(store.take_due(i64::MAX).unwrap().unwrap().message_id, reply);
    assert_eq!(our_reaction(&store, inbound), None);
}

#[test]
fn reactions_on_instagram_are_refused_with_words() {
    let (_dir, _path, _key, store) = open_new();
    store.ingest(&instagram_text("mid.A", "hi", T0), None, T0).unwrap();
    let conversation = store.list_conversations(1).unwrap()[0].id;
    let message = store.list_messages(conversation, 10).unwrap()[0].id;
    let refusal = store.queue_reaction(message, "👍", T0 + 1000).unwrap().unwrap_err();
    assert_eq!(refusal, QueueRefusal::ReactionsNotSupported);
    assert!(refusal.to_string().contains("Reply with a message instead"));
}

#[test]
fn forwarded_messages_are_marked() {
    let (_dir, _path, _key, store) = open_new();
    for (wamid, context) in [
        ("wamid.f1", serde_json::json!({ "forwarded": true })),
        ("wamid.f2", serde_json::json!({ "frequently_forwarded": true })),
    ] {
        let json = serde_json::json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": "200", "changes": [{ "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": "15550001111", "phone_number_id": "100" },
                "contacts": [{ "profile": { "name": "Ana" }, "wa_id": "15551234567" }],
                "messages": [{ "from": "15551234567", "id": wamid, "timestamp": "1700000000",
                               "type": "text", "text": { "body": "fwd" }, "context": context }]
            }}]}]
        });
        store.ingest(&webhook::parse_value(&json).unwrap(), None, T0).unwrap();
    }
    store
        .ingest(&text_webhook("wamid.p", "15551234567", "Ana", "plain", 1_700_000_001), None, T0)
        .unwrap();
    let conversation = store.list_conversations(1).unwrap()[0].id;
    let forwarded: Vec<_> =
        store.list_messages(conversation, 10).unwrap().into_iter().map(|m| m.forwarded).collect();
    use parley_types::Forwarded;
    assert_eq!(forwarded, vec![Forwarded::Once, Forwarded::Many, Forwarded::No]);
}

#[test]
fn locations_carry_their_coordinates() {
    let (_dir, _path, _key, store) = open_new();
    let json = serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "200", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550001111", "phone_number_id": "100" },
            "contacts": [{ "profile": { "name": "Ana" }, "wa_id": "15551234567" }],
            "messages": [{ "from": "15551234567", "id": "wamid.loc", "timestamp": "1700000000",
                           "type": "location",
                           "location": { "latitude": -23.5614, "longitude": -46.6559, "name": "Loja" } }]
        }}]}]
    });
    store.ingest(&webhook::parse_value(&json).unwrap(), None, T0).unwrap();
    store
        .ingest(&text_webhook("wamid.t", "15551234567", "Ana", "plain", 1_700_000_001), None, T0)
        .unwrap();
    let conversation = store.list_conversations(1).unwrap()[0].id;
    let messages = store.list_messages(conversation, 10).unwrap();
    assert_eq!(
        messages[0].location,
        Some(parley_types::GeoPoint { latitude: -23.5614, longitude: -46.6559 })
    );
    assert_eq!(messages[1].location, None);
}

fn failed_status_webhook(wamid: &str, code: i64, ts_secs: i64) -> Vec<WebhookEvent> {
    let json = serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "200", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550001111", "phone_number_id": "100" },
            "statuses": [{ "id": wamid, "status": "failed", "timestamp": ts_secs.to_string(),
                           "recipient_id": "15551234567",
                           "errors": [{ "code": code, "title": "Parameter value is not valid" }] }]
        }}]}]
    });
    webhook::parse_value(&json).unwrap()
}

#[test]
fn a_reaction_meta_reports_failed_later_is_taken_back() {
    let (_dir, _path, _key, store) = open_new();
    let (conversation, target) = customer_message(&store);
    store.queue_reaction(target, "👍", T0 + 1000).unwrap().unwrap();
    let item = store.take_due(T0 + 1000).unwrap().unwrap();
    store.finish_send(&item, &SendOutcome::Accepted { provider_id: "wamid.r1".into() }).unwrap();

    // `sent` concerns the reaction: no message changes, nothing waits.
    let out = store.ingest(&status_webhook("wamid.r1", "sent", T0 / 1000 + 2), None, T0).unwrap();
    assert!(out.messages.is_empty() && out.failed_reactions.is_empty());
    assert_eq!(our_reaction(&store, target).as_deref(), Some("👍"));
    let waiting: i64 = store
        .reader()
        .query_row("SELECT count(*) FROM status_events WHERE provider_id = 'wamid.r1'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(waiting, 0);

    // `failed` (131009) puts the previous reaction (none) back, with words.
    let out =
        store.ingest(&failed_status_webhook("wamid.r1", 131009, T0 / 1000 + 3), None, T0).unwrap();
    assert_eq!(our_reaction(&store, target), None);
    assert_eq!(out.messages, vec![target]);
    assert_eq!(out.failed_reactions.len(), 1);
    let (c, m, words) = &out.failed_reactions[0];
    assert_eq!((*c, *m), (conversation, target));
    assert!(words.starts_with("Your reaction was not delivered."), "{words}");

    // A failure that overtakes Meta's 200 counts too.
    store.queue_reaction(target, "❤️", T0 + 4000).unwrap().unwrap();
    let item = store.take_due(T0 + 4000).unwrap().unwrap();
    store.ingest(&failed_status_webhook("wamid.r2", 131009, T0 / 1000 + 5), None, T0).unwrap();
    store.finish_send(&item, &SendOutcome::Accepted { provider_id: "wamid.r2".into() }).unwrap();
    assert_eq!(our_reaction(&store, target), None);
}

#[test]
fn a_draft_is_kept_listed_replaced_cleared_and_erased_with_its_conversation() {
    let (_dir, path, key, store) = open_new();
    let (conversation, _) = customer_message(&store);
    assert_eq!(store.conversation(conversation).unwrap().draft, None);
    assert!(store.save_draft(conversation, "Your order ships to", 1).unwrap());
    assert!(store.save_draft(conversation, "Your order ships tomorrow", 2).unwrap());
    assert_eq!(
        store.list_conversations(10).unwrap()[0].draft.as_deref(),
        Some("Your order ships tomorrow"),
        "the latest text, shown in the list"
    );
    drop(store);
    let store = Store::open(&path, &key).unwrap();
    assert_eq!(
        store.conversation(conversation).unwrap().draft.as_deref(),
        Some("Your order ships tomorrow"),
        "kept across a restart"
    );
    assert!(store.save_draft(conversation, "  \n", 3).unwrap());
    assert_eq!(store.conversation(conversation).unwrap().draft, None, "blank removes it");
    assert!(!store.save_draft(9_999, "nowhere", 4).unwrap(), "no conversation, nothing kept");

    store.save_draft(conversation, "about to be erased", 5).unwrap();
    store.delete_conversation_data(conversation).unwrap();
    let left: i64 =
        store.reader().query_row("SELECT count(*) FROM drafts", [], |r| r.get(0)).unwrap();
    assert_eq!(left, 0, "erasing the customer erases the draft");
}

#[test]
fn the_conversation_list_pages_by_keyset_without_gaps_or_repeats() {
    let (_dir, _path, _key, store) = open_new();
    // Seven conversations, two of them at the same instant (the tie is
    // broken by id, as the list orders).
    for (i, at) in [10, 20, 30, 30, 40, 50, 60].iter().enumerate() {
        let wa_id = format!("1555123400{i}");
        let hook = text_webhook(&format!("wamid.page.{i}"), &wa_id, "Ana", "hi", *at);
        store.ingest(&hook, None, at * 1000).unwrap();
    }
    let first = store.list_conversations(3).unwrap();
    let mut seen: Vec<i64> = first.iter().map(|c| c.id).collect();
    let mut last = first.last().unwrap().clone();
    loop {
        let page = store.list_conversations_before(last.last_at, last.id, 3).unwrap();
        if page.is_empty() {
            break;
        }
        seen.extend(page.iter().map(|c| c.id));
        last = page.last().unwrap().clone();
    }
    let all: Vec<i64> = store.list_conversations(100).unwrap().iter().map(|c| c.id).collect();
    assert_eq!(seen, all, "the pages put together are the whole list, in order");
    assert_eq!(all.len(), 7);
}

#[test]
fn a_closed_conversation_reopens_when_the_customer_writes_again() {
    let (_dir, _path, _key, store) = open_new();
    let (conversation, _) = customer_message(&store);
    store.set_closed(conversation, true, T0 + 10).unwrap();
    assert!(store.conversation(conversation).unwrap().closed);
    let later = T0 / 1000 + 60;
    store
        .ingest(
            &text_webhook("wamid.in.2", "15551234567", "Ana", "one more thing", later),
            None,
            T0,
        )
        .unwrap();
    assert!(!store.conversation(conversation).unwrap().closed, "the customer reopened it");
    store.set_closed(conversation, true, T0 + 30).unwrap();
    store.set_closed(conversation, false, T0 + 40).unwrap();
    assert!(!store.conversation(conversation).unwrap().closed, "the agent reopened it");
    assert!(matches!(store.set_closed(9_999, true, T0), Err(StoreError::NotFound)));
}

#[test]
fn contact_notes_labels_and_opt_out_are_kept_and_erased_with_the_customer() {
    use parley_types::contact::{ContactUpdate, OptOutSource};
    let (_dir, _path, _key, store) = open_new();
    let (conversation, _) = customer_message(&store);
    let details = store.contact_details(conversation).unwrap();
    assert_eq!((details.name.as_deref(), details.handle.as_str()), (Some("Ana"), "15551234567"));
    assert_eq!((details.messages_from_customer, details.messages_to_customer), (1, 0));
    assert!(details.opted_out.is_none() && details.labels.is_empty() && details.notes.is_empty());

    let update = ContactUpdate {
        conversation_id: conversation,
        notes: "Prefers mornings".into(),
        labels: vec![" vip ".into(), "VIP".into(), "wholesale".into()],
        opted_out: Some(true),
    };
    store.update_contact(&update, T0 + 5).unwrap();
    let d = store.contact_details(conversation).unwrap();
    assert_eq!(d.notes, "Prefers mornings");
    assert_eq!(d.labels, vec!["vip", "wholesale"], "cleaned, one per name whatever the case");
    let opt = d.opted_out.unwrap();
    assert_eq!((opt.at, opt.by), (T0 + 5, OptOutSource::Agent));
    // Saving again keeps when and by whom; a START from the customer does not
    // undo the agent's opt-out.
    store.update_contact(&update, T0 + 9).unwrap();
    let later = T0 / 1000 + 60;
    store
        .ingest(&text_webhook("wamid.start", "15551234567", "Ana", "START", later), None, T0)
        .unwrap();
    assert_eq!(store.contact_details(conversation).unwrap().opted_out.unwrap().at, T0 + 5);

    let too_long = ContactUpdate { notes: "n".repeat(4_001), ..update.clone() };
    assert!(store.update_contact(&too_long, T0).is_err(), "the same limits as the UI");

    store.delete_conversation_data(conversation).unwrap();
    let left: i64 =
        store.reader().query_row("SELECT count(*) FROM contact_labels", [], |r| r.get(0)).unwrap();
    assert_eq!(left, 0, "labels go with the customer");
}

#[test]
fn a_customer_writing_stop_opts_out_and_start_opts_back_in() {
    use parley_types::contact::OptOutSource;
    let (_dir, _path, _key, store) = open_new();
    let (conversation, _) = customer_message(&store);
    let at = |s: i64| T0 / 1000 + s;
    store
        .ingest(&text_webhook("wamid.s1", "15551234567", "Ana", "don't stop", at(10)), None, T0)
        .unwrap();
    assert!(store.contact_details(conversation).unwrap().opted_out.is_none(), "not a bare keyword");
    store
        .ingest(&text_webhook("wamid.s2", "15551234567", "Ana", " Stop! ", at(20)), None, T0)
        .unwrap();
    let opt = store.contact_details(conversation).unwrap().opted_out.unwrap();
    assert_eq!((opt.at, opt.by), (at(20) * 1000, OptOutSource::Keyword));
    store
        .ingest(&text_webhook("wamid.s3", "15551234567", "Ana", "start", at(30)), None, T0)
        .unwrap();
    assert!(store.contact_details(conversation).unwrap().opted_out.is_none(), "opted back in");
    // A STOP sent before that START but delivered after it changes nothing.
    store
        .ingest(&text_webhook("wamid.s4", "15551234567", "Ana", "STOP", at(25)), None, T0)
        .unwrap();
    assert!(store.contact_details(conversation).unwrap().opted_out.is_none(), "older keyword");
    // Saving notes without touching the opt-out keeps a STOP that arrived
    // meanwhile.
    store
        .ingest(&text_webhook("wamid.s5", "15551234567", "Ana", "stop", at(40)), None, T0)
        .unwrap();
    let notes_only = parley_types::contact::ContactUpdate {
        conversation_id: conversation,
        notes: "called back".into(),
        labels: vec![],
        opted_out: None,
    };
    store.update_contact(&notes_only, T0).unwrap();
    assert!(store.contact_details(conversation).unwrap().opted_out.is_some(), "STOP kept");
    assert!(store.opted_out(conversation).unwrap());
}

#[test]
fn a_thread_opens_around_a_far_message_and_pages_newer_from_there() {
    let (_dir, _path, _key, store) = open_new();
    let events: Vec<_> = (0..200)
        .flat_map(|i| {
            text_webhook(
                &format!("wamid.far.{i}"),
                "15551234567",
                "Ana",
                &format!("m{i}"),
                T0 / 1000 + i,
            )
        })
        .collect();
    store.ingest(&events, None, T0).unwrap();
    let conversation = store.list_conversations(1).unwrap()[0].id;
    let all = store.list_messages(conversation, 200).unwrap();
    let target = all[20].id;
    let around = store.list_messages_around(conversation, target, 5, 10).unwrap();
    let bodies: Vec<&str> = around.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies.first(), Some(&"m15"), "five older ones");
    assert_eq!(bodies.last(), Some(&"m30"), "the target and ten newer ones");
    assert_eq!(around.len(), 16);
    let newer = store.list_messages_after(conversation, around.last().unwrap().id, 50).unwrap();
    assert_eq!(newer.first().map(|m| m.body.as_str()), Some("m31"), "no gap, no repeat");
    assert_eq!(newer.len(), 50);
    let tail = store.list_messages_after(conversation, all[195].id, 50).unwrap();
    assert_eq!(tail.len(), 4, "a short page at the newest end");
    assert!(
        matches!(
            store.list_messages_around(conversation + 1, target, 5, 10),
            Err(StoreError::NotFound)
        ),
        "a message of another conversation is not found"
    );
}
