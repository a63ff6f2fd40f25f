//! A large inbox written straight into a profile's encrypted database (the
//! real SQLCipher file, its key in the real keyring) before the app starts:
//! for the end-to-end test of the conversation list's paging and for the UI
//! benchmark (`benches/ui_scale.rs`). Going through `Store::ingest` builds
//! exactly the rows, indexes and full-text entries the sync loop would.
#![allow(dead_code)] // each user takes a different subset

use std::path::Path;
use std::sync::Arc;

use parley_core::{Core, NoNotifier};
use parley_meta::webhook::{ChannelRef, InboundMessage, MessageContent, Sender, WebhookEvent};
use parley_types::ChannelKind;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct InboxSpec {
    pub messages: u64,
    pub conversations: u64,
    /// Messages of one conversation (`LONG_THREAD`), the newest of all, so
    /// it is at the top of the list.
    pub long_thread: u64,
    /// Words placed once each in old messages of the long thread, for
    /// search to find: `needle0`, `needle1`, ...
    pub needles: u64,
}

/// The title of the conversation holding `InboxSpec::long_thread` messages.
pub const LONG_THREAD: &str = "Customer 00000";

/// The title of conversation `c`.
pub fn title(c: u64) -> String {
    format!("Customer {c:05}")
}

/// The word `needle(k)` is written in exactly one message.
pub fn needle(k: u64) -> String {
    format!("needle{k}x")
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A vocabulary with a Zipf-like spread, as in real chats.
fn body(rng: &mut Rng) -> String {
    const COMMON: [&str; 12] = [
        "the", "order", "please", "thanks", "hello", "when", "delivery", "is", "my", "can", "you",
        "today",
    ];
    let words = 4 + rng.next() % 12;
    (0..words)
        .map(|_| {
            let r = rng.next();
            if !r.is_multiple_of(3) {
                COMMON[(r / 3 % COMMON.len() as u64) as usize].to_owned()
            } else {
                format!("w{}", (r / 7) % 20_000)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn message(c: u64, i: u64, at_ms: i64, body: String) -> WebhookEvent {
    WebhookEvent::Message(InboundMessage {
        channel: ChannelRef {
            kind: ChannelKind::Whatsapp,
            id: parley_sandbox::DEFAULT_PHONE_NUMBER_ID.into(),
        },
        provider_id: format!("wamid.generated.{i}"),
        from: Sender { wa_id: Some(format!("1{c:010}")), user_id: None, name: Some(title(c)) },
        timestamp_ms: at_ms,
        content: MessageContent::Text { body },
        context: None,
        echo: false,
        raw: serde_json::Value::Null,
    })
}

/// Fill the profile in `dir` (created if needed). Messages are a second
/// apart and end a minute ago; the long thread's come last. Blocking: run
/// it off the async workers.
pub fn fill_profile(dir: &Path, spec: InboxSpec) {
    assert!(spec.conversations >= 2 && spec.long_thread <= spec.messages);
    let core = Core::open_with_keyring(dir, Arc::new(NoNotifier)).expect("profile opens");
    let store = core.store();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
            as i64;
    let first_ms = now_ms - 60_000 - spec.messages as i64 * 1000;
    let spread = spec.messages - spec.long_thread;
    let mut batch = Vec::with_capacity(500);
    for i in 0..spec.messages {
        let at = first_ms + i as i64 * 1000;
        let event = if i < spread {
            // Every conversation but the long thread gets at least one.
            let c = if i < spec.conversations - 1 {
                1 + i
            } else {
                1 + rng.next() % (spec.conversations - 1)
            };
            message(c, i, at, body(&mut rng))
        } else {
            let k = i - spread;
            // Needles early in the thread, far above its first page.
            let text = if k >= 100 && (k - 100).is_multiple_of(37) && (k - 100) / 37 < spec.needles
            {
                format!("your code is {} keep it", needle((k - 100) / 37))
            } else {
                body(&mut rng)
            };
            message(0, i, at, text)
        };
        batch.push(event);
        if batch.len() == 500 {
            store.ingest(&batch, None, now_ms).expect("generated batch ingests");
            batch.clear();
        }
    }
    store.ingest(&batch, None, now_ms).expect("generated batch ingests");
    store.checkpoint().expect("checkpoint");
}
