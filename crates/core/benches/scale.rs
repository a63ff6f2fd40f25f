//! Read latency on a large inbox: 1,000,000 messages in 50,000
//! conversations (design.md §5), each figure also as a ratio against a
//! primary-key lookup of one message on the same database in the same run.
//!
//!     cargo bench -p parley-core --bench scale
//!
//! `PARLEY_BENCH_MESSAGES` overrides the size (for a quick look). Targets:
//! conversation-list page < 5 ms, thread page < 5 ms, search p95 < 50 ms.

use std::time::{Duration, Instant};

use parley_core::{DbKey, Store};
use parley_meta::webhook::{ChannelRef, InboundMessage, MessageContent, Sender, WebhookEvent};
use parley_types::ChannelKind;

const CONVERSATIONS: u64 = 50_000;
const PAGE: usize = 50;
const SAMPLES: usize = 300;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A vocabulary with a Zipf-like spread: a few words are everywhere, most
/// are rare, as in real chats.
fn word(rng: &mut Rng) -> String {
    const COMMON: [&str; 12] = [
        "the", "order", "please", "thanks", "hello", "when", "delivery", "is", "my", "can", "you",
        "today",
    ];
    let r = rng.next();
    if !r.is_multiple_of(3) {
        COMMON[(r / 3 % COMMON.len() as u64) as usize].to_owned()
    } else {
        format!("w{}", (r / 7) % 20_000)
    }
}

fn event(rng: &mut Rng, i: u64) -> WebhookEvent {
    let c = rng.next() % CONVERSATIONS;
    let words = 4 + rng.next() % 12;
    let body = (0..words).map(|_| word(rng)).collect::<Vec<_>>().join(" ");
    WebhookEvent::Message(InboundMessage {
        channel: ChannelRef { kind: ChannelKind::Whatsapp, id: "100".into() },
        provider_id: format!("wamid.scale.{i}"),
        from: Sender {
            wa_id: Some(format!("1{:010}", c)),
            user_id: None,
            name: Some(format!("Customer {c}")),
        },
        timestamp_ms: 1_700_000_000_000 + i as i64 * 1000,
        content: MessageContent::Text { body },
        context: None,
        echo: false,
        raw: serde_json::Value::Null,
    })
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

fn measure(mut f: impl FnMut(usize)) -> (Duration, Duration) {
    let mut samples: Vec<Duration> = (0..SAMPLES)
        .map(|i| {
            let start = Instant::now();
            f(i);
            start.elapsed()
        })
        .collect();
    (percentile(&mut samples, 0.5), percentile(&mut samples, 0.95))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let total: u64 = std::env::var("PARLEY_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("parley.db"), &DbKey::generate()).unwrap();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let start = Instant::now();
    let mut i = 0;
    while i < total {
        let batch: Vec<_> = (i..(i + 500).min(total)).map(|n| event(&mut rng, n)).collect();
        store.ingest(&batch, None, 0).unwrap();
        i += 500;
    }
    store.checkpoint().unwrap();
    let generated = start.elapsed();
    let conversations = store.list_conversations(usize::MAX).unwrap();
    println!(
        "generated {total} messages in {} conversations in {:.0} s ({:.0} msg/s)",
        conversations.len(),
        generated.as_secs_f64(),
        total as f64 / generated.as_secs_f64()
    );

    let (base50, base95) = measure(|n| {
        store.message(1 + (n as i64 * 7919) % total as i64).unwrap();
    });
    let (list50, list95) = measure(|_| {
        assert_eq!(store.list_conversations(PAGE).unwrap().len(), PAGE);
    });
    let (thread50, thread95) = measure(|n| {
        let c = &conversations[(n * 7919) % conversations.len()];
        store.list_messages(c.id, PAGE).unwrap();
    });
    let queries =
        ["order", "delivery today", "w123", "w19999 please", "thanks hello", "zzznothing"];
    let (search50, search95) = measure(|n| {
        store.search(queries[n % queries.len()], PAGE).unwrap();
    });
    println!(
        "latency over {SAMPLES} runs each: p50 / p95, and p50 as a multiple of the baseline p50"
    );
    println!(
        "  baseline: one message by primary key  {:>7.3} / {:>7.3} ms",
        ms(base50),
        ms(base95)
    );
    let row = |what: &str, p50: Duration, p95: Duration, target: &str| {
        println!(
            "  {what:<38} {:>7.3} / {:>7.3} ms  {:>6.1}x  ({target})",
            ms(p50),
            ms(p95),
            p50.as_secs_f64() / base50.as_secs_f64()
        );
    };
    row("conversation list page (50)", list50, list95, "target < 5 ms");
    row("thread page (50 messages)", thread50, thread95, "target < 5 ms");
    row("full-text search (50 hits)", search50, search95, "target p95 < 50 ms");

    // Export in bounded memory: the peak resident size while exporting,
    // against the size of what was exported.
    let reset_peak = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let rss_before = status_kb("VmRSS:");
    let out = dir.path().join("export");
    let start = Instant::now();
    let report = store.export(&out, None).unwrap();
    let took = start.elapsed();
    let written: u64 = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    let peak = status_kb("VmHWM:");
    println!(
        "export: {} messages, {:.0} MB written in {:.1} s; peak RSS {} MB{} (RSS before: {} MB), {:.3}x the bytes written",
        report.messages,
        written as f64 / 1e6,
        took.as_secs_f64(),
        peak / 1024,
        if reset_peak { " during the export" } else { " since start (peak reset unavailable)" },
        rss_before / 1024,
        (peak * 1024) as f64 / written as f64
    );
}

/// A field of /proc/self/status, in kB.
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}
