//! Store benchmarks, each reported as a ratio against a baseline measured in
//! the same run (the machines are shared and noisy).
//!
//!     cargo bench -p parley-core --bench store
//!
//! 1. Ingest: `Store::ingest` of WhatsApp text webhooks (SQLCipher, dedupe,
//!    FTS, status bookkeeping, cursor) against raw inserts of the same rows
//!    into a plain SQLite file. Target (design.md §5): ≥ 50 %.
//! 2. Open: `Store::open` of an existing database with a raw key against
//!    opening the same-sized plain SQLite file. Target: < 50 ms, no PBKDF2.

use std::time::{Duration, Instant};

use parley_core::{DbKey, Store};
use parley_meta::webhook::{self, WebhookEvent};

const MESSAGES: usize = 20_000;
const BATCH: usize = 100;
const ROUNDS: usize = 3;

fn webhook_batch(start: usize) -> Vec<WebhookEvent> {
    let mut events = Vec::with_capacity(BATCH);
    for i in start..start + BATCH {
        let json = serde_json::json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": "200", "changes": [{ "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": "15550001111", "phone_number_id": "100" },
                "contacts": [{ "profile": { "name": format!("Customer {}", i % 500) }, "wa_id": format!("1555{:07}", i % 500) }],
                "messages": [{ "from": format!("1555{:07}", i % 500), "id": format!("wamid.bench{i}"),
                               "timestamp": (1_700_000_000 + i).to_string(), "type": "text",
                               "text": { "body": format!("message number {i}: where is my order, please?") } }]
            }}]}]
        });
        events.extend(webhook::parse_value(&json).unwrap());
    }
    events
}

fn core_ingest(batches: &[Vec<WebhookEvent>]) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("parley.db"), &DbKey::generate()).unwrap();
    let start = Instant::now();
    for (i, batch) in batches.iter().enumerate() {
        store.ingest(batch, Some(i as u64 + 1), 0).unwrap();
    }
    start.elapsed()
}

/// The same rows, as plain inserts into an unencrypted file with no index,
/// no FTS and no dedupe: the floor the core is measured against.
fn plain_inserts(batches: &[Vec<WebhookEvent>]) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("plain.db")).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE messages (id INTEGER PRIMARY KEY, provider_id TEXT, sender TEXT, body TEXT, sent_at INTEGER, raw TEXT);",
    )
    .unwrap();
    let start = Instant::now();
    let mut conn = conn;
    for batch in batches {
        let tx = conn.transaction().unwrap();
        {
            let mut stmt = tx
                .prepare_cached("INSERT INTO messages (provider_id, sender, body, sent_at, raw) VALUES (?1, ?2, ?3, ?4, ?5)")
                .unwrap();
            for event in batch {
                if let WebhookEvent::Message(m) = event {
                    let raw = serde_json::to_string(&m.raw).unwrap();
                    stmt.execute(rusqlite::params![
                        m.provider_id,
                        m.from.wa_id,
                        m.preview(),
                        m.timestamp_ms,
                        raw
                    ])
                    .unwrap();
                }
            }
        }
        tx.commit().unwrap();
    }
    start.elapsed()
}

/// The same rows as raw INSERTs into a plain (unencrypted) SQLite file
/// with Parley's own schema: its indexes and full-text triggers fire, but
/// there is no encryption, no dedupe lookup, no contact or conversation
/// resolution and no derived state. This isolates what the core adds.
fn plain_same_schema_inserts(batches: &[Vec<WebhookEvent>]) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = rusqlite::Connection::open(dir.path().join("plain.db")).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;",
    )
    .unwrap();
    for sql in parley_core::store::schema::MIGRATIONS {
        conn.execute_batch(sql).unwrap();
    }
    conn.execute_batch(
        "INSERT INTO channels (id, kind, external_id) VALUES (1, 'whatsapp', '100');
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 499)
         INSERT INTO contacts (id, channel_id, wa_id, name, created_at)
             SELECT i + 1, 1, printf('1555%07d', i), 'Customer ' || i, 0 FROM n;
         INSERT INTO conversations (id, contact_id) SELECT id, id FROM contacts;",
    )
    .unwrap();
    let start = Instant::now();
    for batch in batches {
        let tx = conn.transaction().unwrap();
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO messages (conversation_id, provider_id, direction, kind, body, raw, sent_at)
                     VALUES (?1, ?2, 'inbound', 'text', ?3, ?4, ?5)",
                )
                .unwrap();
            for event in batch {
                if let WebhookEvent::Message(m) = event {
                    let customer: i64 = m.from.wa_id.as_deref().unwrap()[4..].parse().unwrap();
                    let raw = serde_json::to_string(&m.raw).unwrap();
                    stmt.execute(rusqlite::params![
                        customer + 1,
                        m.provider_id,
                        m.body(),
                        raw,
                        m.timestamp_ms
                    ])
                    .unwrap();
                }
            }
        }
        tx.commit().unwrap();
    }
    start.elapsed()
}

fn best_of(mut f: impl FnMut() -> Duration) -> Duration {
    (0..ROUNDS).map(|_| f()).min().unwrap()
}

fn main() {
    let batches: Vec<_> = (0..MESSAGES / BATCH).map(|b| webhook_batch(b * BATCH)).collect();

    let plain = best_of(|| plain_inserts(&batches));
    let same_schema = best_of(|| plain_same_schema_inserts(&batches));
    let core = best_of(|| core_ingest(&batches));
    let rate = |d: Duration| MESSAGES as f64 / d.as_secs_f64();
    println!("ingest: {MESSAGES} messages in batches of {BATCH}, best of {ROUNDS}");
    println!("  baseline plain SQLite inserts: {:>9.0} msg/s", rate(plain));
    println!("  core ingest (SQLCipher+FTS):   {:>9.0} msg/s", rate(core));
    println!(
        "  ratio core/baseline:           {:>8.1} %  (target >= 50 %)",
        100.0 * rate(core) / rate(plain)
    );
    println!(
        "  baseline 2, plain SQLite with Parley's schema (indexes, FTS): {:>9.0} msg/s",
        rate(same_schema)
    );
    println!(
        "  ratio core/baseline 2:         {:>8.1} %  (what encryption, dedupe and derived state cost)",
        100.0 * rate(core) / rate(same_schema)
    );

    // Open an existing database of MESSAGES messages.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parley.db");
    let key = DbKey::generate();
    {
        let store = Store::open(&path, &key).unwrap();
        for batch in &batches {
            store.ingest(batch, None, 0).unwrap();
        }
        store.checkpoint().unwrap();
    }
    let plain_path = dir.path().join("plain.db");
    {
        let conn = rusqlite::Connection::open(&plain_path).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);").unwrap();
    }
    let open_core = best_of(|| {
        let start = Instant::now();
        let store = Store::open(&path, &key).unwrap();
        let elapsed = start.elapsed();
        drop(store);
        elapsed
    });
    let open_plain = best_of(|| {
        let start = Instant::now();
        let conn = rusqlite::Connection::open(&plain_path).unwrap();
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)).unwrap();
        let elapsed = start.elapsed();
        drop(conn);
        elapsed
    });
    println!("open: existing database of {MESSAGES} messages, best of {ROUNDS}");
    println!("  baseline plain SQLite open: {:>8.2} ms", open_plain.as_secs_f64() * 1e3);
    println!(
        "  Store::open (raw key):      {:>8.2} ms  (target < 50 ms)",
        open_core.as_secs_f64() * 1e3
    );
    println!(
        "  ratio core/baseline:        {:>8.1} x",
        open_core.as_secs_f64() / open_plain.as_secs_f64()
    );
}
