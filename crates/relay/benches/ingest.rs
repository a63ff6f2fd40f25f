//! Relay webhook ingest against a bare axum handler, measured in the same
//! run on the same machine (the machines are shared and noisy, so only the
//! ratio means much).
//!
//!     cargo bench -p parley-relay --bench ingest
//!
//! 1. Throughput: a closed loop of concurrent clients POSTing signed WhatsApp
//!    webhooks (about 1 KB) as fast as they are answered. The relay checks the
//!    signature, splits, seals for 3 devices and commits durably
//!    (`synchronous=FULL`, group commit) before each 200. The baseline is an
//!    axum handler that reads the body and answers 200. The two alternate
//!    in rounds, and the figure is the median of the rounds' ratios.
//!    Target: ≥ 30 %.
//! 2. Acknowledgement latency at a fixed 1,000 req/s (open loop: latency
//!    counts from each request's scheduled start, so a stall is not hidden).
//!    Target: p99 < 50 ms.
//! 3. End to end: webhook POST → the event arrives on a device's push stream,
//!    at 100 req/s, p50/p99.
//!
//! Environment knobs: BENCH_ROUNDS (alternating throughput rounds, default
//! 7), BENCH_REQUESTS (requests per side and round, default 4000),
//! BENCH_CONCURRENCY (default 32), BENCH_RATE_SECS (default 5).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::routing::post;
use axum::Router;
use parley_protocol::{DeviceSecretKey, EventPayload, SealedEvent};
use parley_relay::{Config, Limits};
use serde_json::json;
use tokio::sync::Mutex;

/// The relay binary's allocator (see `src/main.rs`), so that the relay is
/// measured as deployed. The bare handler and the client run on it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: &str = "bench-app-secret";
const DEVICES: usize = 3;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A realistic one-message WhatsApp webhook, tagged with `i`.
fn body(i: usize) -> Vec<u8> {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": "111"},
            "contacts": [{"profile": {"name": format!("Customer {}", i % 97)}, "wa_id": format!("1555{:07}", i % 97)}],
            "messages": [{"from": format!("1555{:07}", i % 97), "id": format!("wamid.bench{i}"),
                "timestamp": "1700000000", "type": "text",
                "text": {"body": format!("bench message {i}: {}", "lorem ipsum dolor sit amet ".repeat(20))}}]
        }}]}]})
    .to_string()
    .into_bytes()
}

struct Prepared {
    bodies: Vec<(Bytes, String)>,
}

impl Prepared {
    fn new(n: usize) -> Self {
        let bodies = (0..n)
            .map(|i| {
                let b = body(i);
                let sig = parley_meta::signature::sign(SECRET.as_bytes(), &b);
                (Bytes::from(b), sig)
            })
            .collect();
        Prepared { bodies }
    }

    fn get(&self, i: usize) -> (Bytes, String) {
        self.bodies[i % self.bodies.len()].clone()
    }
}

async fn post_one(http: &reqwest::Client, url: &str, body: Bytes, sig: &str) -> Duration {
    let start = Instant::now();
    let resp = http
        .post(url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sig)
        .body(body)
        .send()
        .await
        .expect("request failed");
    assert_eq!(resp.status(), 200, "non-200 during the benchmark");
    start.elapsed()
}

/// Closed loop: `concurrency` clients, `total` requests. Returns req/s and
/// the latencies.
async fn closed_loop(
    http: &reqwest::Client,
    url: &str,
    data: &Arc<Prepared>,
    total: usize,
    concurrency: usize,
) -> (f64, Vec<Duration>) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (http, url, data, next) = (http.clone(), url.to_owned(), data.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return lat;
                }
                let (b, s) = data.get(i);
                lat.push(post_one(&http, &url, b, &s).await);
            }
        }));
    }
    let mut all = Vec::with_capacity(total);
    for w in workers {
        all.extend(w.await.unwrap());
    }
    (total as f64 / start.elapsed().as_secs_f64(), all)
}

/// Open loop at `rate` req/s for `secs`: latency from the scheduled start.
async fn open_loop(
    http: &reqwest::Client,
    url: &str,
    data: &Arc<Prepared>,
    rate: u64,
    secs: u64,
) -> Vec<Duration> {
    let total = (rate * secs) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let origin = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let scheduled = origin + interval * i as u32;
        tokio::time::sleep_until(scheduled).await;
        let (http, url, data) = (http.clone(), url.to_owned(), data.clone());
        tasks.push(tokio::spawn(async move {
            let (b, s) = data.get(i);
            post_one(&http, &url, b, &s).await;
            scheduled.elapsed()
        }));
    }
    let mut out = Vec::with_capacity(total);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// The median, sorting `values` (so afterwards the first is the lowest).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn summary(mut lat: Vec<Duration>) -> (Duration, Duration) {
    lat.sort();
    (pct(&lat, 0.50), pct(&lat, 0.99))
}

async fn bare_axum() -> String {
    let app = Router::new().route("/webhooks/meta", post(|_body: Bytes| async { "" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // The same socket options as the relay's listener (Nagle off), so the
    // two differ only in what the handler does.
    let listener = parley_relay::tls::NoDelayListener(listener);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/webhooks/meta")
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run());
}

async fn run() {
    let total = env_usize("BENCH_REQUESTS", 4000);
    let rounds = env_usize("BENCH_ROUNDS", 7).max(1);
    let concurrency = env_usize("BENCH_CONCURRENCY", 32);
    let rate_secs = env_usize("BENCH_RATE_SECS", 5) as u64;
    let data = Arc::new(Prepared::new(1000));

    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path().join("relay.db"), "127.0.0.1:0".parse().unwrap());
    config.limits = Limits::OFF;
    let relay = parley_relay::spawn(config).await.unwrap();
    let store = relay.store().clone();
    let (tenant, tokens, keys) = tokio::task::spawn_blocking(move || {
        let t = store.create_tenant("bench", SECRET, "v").unwrap();
        store
            .add_channel(&t, &parley_meta::routing::ChannelKey::WhatsappNumber("111".into()))
            .unwrap();
        let mut tokens = Vec::new();
        let mut keys = Vec::new();
        for _ in 0..DEVICES {
            let sk = DeviceSecretKey::generate();
            let code = store.issue_enrollment_code(&t, Duration::from_secs(60)).unwrap();
            tokens.push(store.enroll(&code, "bench", &sk.public_key().to_base64()).unwrap().token);
            keys.push(sk);
        }
        (t, tokens, keys)
    })
    .await
    .unwrap();
    let _ = tenant;
    let relay_url = format!("{}/webhooks/meta", relay.url());
    let bare_url = bare_axum().await;
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();

    // Warm both (connections, page cache, allocator).
    closed_loop(&http, &bare_url, &data, 500, concurrency).await;
    closed_loop(&http, &relay_url, &data, 500, concurrency).await;

    println!(
        "relay ingest benchmark: {rounds} rounds of {total} requests per side, \
         {concurrency} concurrent clients, {DEVICES} devices"
    );
    // Alternating rounds, each with its own ratio: a neighbour's burst on
    // this shared machine then skews one round, not the whole figure.
    let (mut bare_lat, mut relay_lat) = (Vec::new(), Vec::new());
    let (mut bare_all, mut relay_all, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let (bare_rps, lat) = closed_loop(&http, &bare_url, &data, total, concurrency).await;
        bare_lat.extend(lat);
        let (relay_rps, lat) = closed_loop(&http, &relay_url, &data, total, concurrency).await;
        relay_lat.extend(lat);
        let ratio = relay_rps / bare_rps * 100.0;
        println!("round {round}: bare {bare_rps:.0} req/s, relay {relay_rps:.0} req/s, ratio {ratio:.1} %");
        bare_all.push(bare_rps);
        relay_all.push(relay_rps);
        ratios.push(ratio);
    }
    let (bp50, bp99) = summary(bare_lat);
    let (rp50, rp99) = summary(relay_lat);
    println!(
        "| bare axum handler | {:.0} req/s | p50 {} | p99 {} |",
        median(&mut bare_all),
        ms(bp50),
        ms(bp99)
    );
    println!(
        "| relay (verify, split, seal x{DEVICES}, fsync'd group commit) | {:.0} req/s | p50 {} | p99 {} |",
        median(&mut relay_all),
        ms(rp50),
        ms(rp99)
    );
    println!(
        "throughput ratio relay / bare = {:.1} % (median of {rounds} rounds; lowest {:.1} %, highest {:.1} %)",
        median(&mut ratios),
        ratios[0],
        ratios[ratios.len() - 1]
    );

    // Drain the queue so the fixed-rate run starts from a comparable state.
    for token in &tokens {
        drain(&http, &relay.url(), token).await;
    }

    let bare_fixed = summary(open_loop(&http, &bare_url, &data, 1000, rate_secs).await);
    let relay_fixed = summary(open_loop(&http, &relay_url, &data, 1000, rate_secs).await);
    println!(
        "at 1,000 req/s for {rate_secs} s: bare p50 {} p99 {} | relay p50 {} p99 {}",
        ms(bare_fixed.0),
        ms(bare_fixed.1),
        ms(relay_fixed.0),
        ms(relay_fixed.1)
    );
    for token in &tokens {
        drain(&http, &relay.url(), token).await;
    }

    // End to end: POST → the event on device 0's push stream.
    let (p50, p99, n) = end_to_end(&http, &relay.url(), &tokens[0], &keys[0], 100, 3).await;
    println!(
        "webhook POST → device stream receipt at 100 req/s ({n} events): p50 {} p99 {}",
        ms(p50),
        ms(p99)
    );
    relay.shutdown().await;
}

/// Ack everything queued for a device.
async fn drain(http: &reqwest::Client, base: &str, token: &str) {
    loop {
        let events: parley_protocol::EventsResponse = http
            .get(format!("{base}/v1/events?after=0&limit=500"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let Some(last) = events.events.last() else { return };
        http.post(format!("{base}/v1/events/ack"))
            .bearer_auth(token)
            .json(&json!({"up_to": last.seq}))
            .send()
            .await
            .unwrap();
    }
}

async fn end_to_end(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    key: &DeviceSecretKey,
    rate: u64,
    secs: u64,
) -> (Duration, Duration, usize) {
    let total = (rate * secs) as usize;
    let sent_at: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; total]));
    let mut resp = http.get(format!("{base}/v1/stream")).bearer_auth(token).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let offset = 1_000_000; // message ids distinct from the earlier runs
    let reader = {
        let sent_at = sent_at.clone();
        let key = DeviceSecretKey::from_bytes(key.to_bytes().as_slice()).unwrap();
        tokio::spawn(async move {
            let mut delays = Vec::with_capacity(total);
            let mut buf = String::new();
            while delays.len() < total {
                let Ok(Some(chunk)) = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
                    .await
                    .unwrap_or(Ok(None))
                else {
                    break;
                };
                let now = Instant::now();
                buf.push_str(std::str::from_utf8(&chunk).unwrap());
                while let Some(end) = buf.find("\n\n") {
                    let block: String = buf.drain(..end + 2).collect();
                    let Some(data) = block.lines().find_map(|l| l.strip_prefix("data:")) else {
                        continue;
                    };
                    let event: SealedEvent = serde_json::from_str(data.trim()).unwrap();
                    let EventPayload::MetaWebhook { body } =
                        key.open_payload(&event.sealed).unwrap()
                    else {
                        continue;
                    };
                    let id = body["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
                        .as_str()
                        .unwrap_or_default()
                        .trim_start_matches("wamid.bench")
                        .parse::<usize>()
                        .unwrap_or(0);
                    if let Some(i) = id.checked_sub(offset) {
                        if let Some(Some(t)) = sent_at.lock().await.get(i) {
                            delays.push(now.duration_since(*t));
                        }
                    }
                }
            }
            delays
        })
    };
    // Let the stream deliver its backlog (none: drained) and settle.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let origin = tokio::time::Instant::now();
    let url = format!("{base}/webhooks/meta");
    let mut posts = Vec::new();
    for i in 0..total {
        tokio::time::sleep_until(origin + interval * i as u32).await;
        let b = body(offset + i);
        let sig = parley_meta::signature::sign(SECRET.as_bytes(), &b);
        let (http, url, sent_at) = (http.clone(), url.clone(), sent_at.clone());
        posts.push(tokio::spawn(async move {
            sent_at.lock().await[i] = Some(Instant::now());
            post_one(&http, &url, Bytes::from(b), &sig).await;
        }));
    }
    for p in posts {
        p.await.unwrap();
    }
    let delays = reader.await.unwrap();
    let n = delays.len();
    let (p50, p99) = summary(delays);
    (p50, p99, n)
}
