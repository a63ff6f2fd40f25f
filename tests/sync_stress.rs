//! The sync engine under abuse, with the real relay and `parleyctl` binaries:
//! 10,000 webhook events with duplicates, reordering and batching, while the
//! core is killed with SIGKILL mid-sync and the relay is killed and
//! restarted mid-stream. The test plays Meta: it signs each webhook with the
//! app secret and POSTs it to the relay, exactly as Meta would.
//!
//! And the outbox across a kill: a reply queued while Meta is unreachable
//! survives the core being SIGKILLed and reaches the sandbox exactly once.

mod common;

use std::collections::HashMap;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const CUSTOMERS: usize = 100;
const PER_CUSTOMER: usize = 80;
const BASE_TS: i64 = 1_790_000_000;

/// A small deterministic generator, so a failure can be replayed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

fn wa_id(c: usize) -> String {
    format!("1555{:07}", c)
}

fn name(c: usize) -> String {
    format!("Stress Customer {c}")
}

/// One item of a `messages` array, with the sender it belongs to.
struct Item {
    customer: usize,
    message: Value,
}

fn text_item(c: usize, k: usize) -> Item {
    Item {
        customer: c,
        message: json!({
            "from": wa_id(c), "id": format!("wamid.stress.{c}.{k}"),
            "timestamp": (BASE_TS + k as i64 * 60 + c as i64).to_string(),
            "type": "text", "text": { "body": format!("stress c{c} m{k}") }
        }),
    }
}

fn reaction_item(c: usize, k: usize, emoji: &str, delay: i64) -> Item {
    Item {
        customer: c,
        message: json!({
            "from": wa_id(c), "id": format!("wamid.react.{c}.{k}.{delay}"),
            "timestamp": (BASE_TS + 100_000 + k as i64 * 60 + delay).to_string(),
            "type": "reaction",
            "reaction": { "message_id": format!("wamid.stress.{c}.{k}"), "emoji": emoji }
        }),
    }
}

/// Meta's envelope around a batch: big batches are split over two entries,
/// as Meta does when it coalesces deliveries.
fn webhook(items: &[Item]) -> Vec<u8> {
    let value = |part: &[Item]| {
        let mut senders: Vec<usize> = part.iter().map(|i| i.customer).collect();
        senders.sort_unstable();
        senders.dedup();
        json!({ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID },
            "contacts": senders.iter().map(|c| json!({ "profile": { "name": name(*c) }, "wa_id": wa_id(*c) })).collect::<Vec<_>>(),
            "messages": part.iter().map(|i| i.message.clone()).collect::<Vec<_>>(),
        }})
    };
    let entries = if items.len() > 10 {
        let (a, b) = items.split_at(items.len() / 2);
        vec![
            json!({ "id": "200", "changes": [value(a)] }),
            json!({ "id": "200", "changes": [value(b)] }),
        ]
    } else {
        vec![json!({ "id": "200", "changes": [value(items)] })]
    };
    serde_json::to_vec(&json!({ "object": "whatsapp_business_account", "entry": entries })).unwrap()
}

fn post_webhook(http: &reqwest::blocking::Client, relay: &str, body: &[u8]) {
    let signature = parley_meta::signature::sign(APP_SECRET.as_bytes(), body);
    let resp = http
        .post(format!("{relay}/webhooks/meta"))
        .header(parley_meta::signature::SIGNATURE_HEADER, signature)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .expect("the relay answers");
    assert!(resp.status().is_success(), "relay refused a webhook: {}", resp.status());
}

fn start_sync(profile: &std::path::Path) -> Child {
    ctl(profile).arg("sync").stdout(Stdio::null()).spawn().expect("parleyctl sync starts")
}

fn sigkill(child: &mut Child) {
    let _ = child.kill(); // SIGKILL on Unix
    let _ = child.wait();
}

/// Sync until the relay has nothing more for this device.
fn drain(profile: &std::path::Path) {
    eventually(60, "the relay queue to drain", || {
        let report = ctl_json(profile, &["sync", "--once"]);
        (report["events"] == 0).then_some(())
    });
}

#[test]
fn ten_thousand_events_with_kills_and_restarts_end_exactly_right() {
    require_session();
    let dir = tempfile::tempdir().unwrap();
    let relay_db = dir.path().join("relay.db");
    let profile = dir.path().join("profile");
    let mut relay = relay_with_enrolled_profile(&relay_db, &profile);
    let http = reqwest::blocking::Client::new();
    let mut rng = XorShift(0x5eed_cafe_f00d_d00d);

    // 8,000 messages, 1,000 reactions and 500 reaction removals, shuffled.
    let mut items = Vec::new();
    for c in 0..CUSTOMERS {
        for k in 0..PER_CUSTOMER {
            items.push(text_item(c, k));
            if k % 8 == 0 {
                items.push(reaction_item(c, k, "👍", 0));
                if k % 16 == 0 {
                    items.push(reaction_item(c, k, "", 30)); // removed later
                }
            }
        }
    }
    rng.shuffle(&mut items);
    let mut bodies = Vec::new();
    let mut rest = &items[..];
    while !rest.is_empty() {
        let n = (1 + rng.below(40)).min(rest.len());
        bodies.push(webhook(&rest[..n]));
        rest = &rest[n..];
    }
    // Meta redelivers: 500 events' worth of whole webhooks, sent again later.
    let mut events = items.len();
    let mut duplicates = Vec::new();
    while events < 10_000 {
        let body = bodies[rng.below(bodies.len())].clone();
        events += serde_json::from_slice::<Value>(&body).unwrap()["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["changes"][0]["value"]["messages"].as_array().unwrap().len())
            .sum::<usize>();
        duplicates.push(body);
    }
    bodies.extend(duplicates);
    let total = bodies.len();

    let mut sync = start_sync(&profile);
    for (i, body) in bodies.iter().enumerate() {
        post_webhook(&http, &relay.url, body);
        if i == total / 3 {
            // The core dies mid-sync, without a chance to clean up.
            std::thread::sleep(Duration::from_millis(300));
            sigkill(&mut sync);
            sync = start_sync(&profile);
        }
        if i == 2 * total / 3 {
            // The relay dies mid-stream and comes back on the same address.
            let listen = relay.url.trim_start_matches("http://").to_owned();
            sigkill(&mut relay.child);
            relay = start_relay(&relay_db, &listen);
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    sigkill(&mut sync);
    drain(&profile);

    let conversations = ctl_json(&profile, &["conversations"]);
    let conversations = conversations.as_array().unwrap();
    assert_eq!(conversations.len(), CUSTOMERS);
    let mut seen = HashMap::new();
    for conversation in conversations {
        let handle = conversation["handle"].as_str().unwrap().to_owned();
        let c: usize = handle[4..].parse().unwrap();
        assert_eq!(conversation["title"], name(c).as_str());
        assert_eq!(conversation["unread"], PER_CUSTOMER, "unread of {handle}");
        assert_eq!(conversation["last_preview"], format!("stress c{c} m{}", PER_CUSTOMER - 1));
        let messages =
            ctl_json(&profile, &["messages", "--conversation", &conversation["id"].to_string()]);
        let messages = messages.as_array().unwrap();
        let bodies: Vec<String> =
            messages.iter().map(|m| m["body"].as_str().unwrap().to_owned()).collect();
        let expected: Vec<String> =
            (0..PER_CUSTOMER).map(|k| format!("stress c{c} m{k}")).collect();
        assert_eq!(bodies, expected, "messages of {handle}: exactly once each, in order");
        for (k, message) in messages.iter().enumerate() {
            let reactions = message["reactions"].as_array().unwrap();
            let want = k % 8 == 0 && k % 16 != 0;
            assert_eq!(reactions.len(), usize::from(want), "reactions on c{c} m{k}: {reactions:?}");
        }
        seen.insert(c, ());
    }
    assert_eq!(seen.len(), CUSTOMERS);
}

#[test]
fn a_reply_queued_while_meta_is_down_survives_a_kill_and_is_sent_exactly_once() {
    require_session();
    let dir = tempfile::tempdir().unwrap();
    let relay_db = dir.path().join("relay.db");
    let profile = dir.path().join("profile");
    let relay = relay_with_enrolled_profile(&relay_db, &profile);
    let start_sandbox = |listen: &str| start_sandbox(&relay.url, listen, 50, None);
    let mut sandbox = start_sandbox("127.0.0.1:0");
    let listen = sandbox.url.trim_start_matches("http://").to_owned();
    run(ctl(&profile)
        .args(["configure-graph", "--base-url", &sandbox.url, "--phone-number-id", PHONE_NUMBER_ID])
        .env("PARLEY_ACCESS_TOKEN", ACCESS_TOKEN));
    let http = reqwest::blocking::Client::new();
    let customer_writes = |sandbox: &Running, text: &str| {
        let resp = http
            .post(format!("{}/_sandbox/customers/{CUSTOMER}/messages", sandbox.url))
            .json(&json!({ "text": text, "name": "Outbox Customer" }))
            .send()
            .unwrap();
        assert!(resp.status().is_success());
    };
    customer_writes(&sandbox, "are you there?");
    let id = eventually(30, "the conversation", || {
        ctl_json(&profile, &["sync", "--once"]);
        ctl_json(&profile, &["conversations"]).as_array()?.first()?["id"].as_i64()
    });

    // Meta becomes unreachable; the reply waits in the outbox.
    sigkill(&mut sandbox.child);
    let reply = "queued while Meta was down";
    let queued = ctl_json(&profile, &["send", "--conversation", &id.to_string(), "--text", reply]);
    assert_eq!(queued["status"], "sending", "{queued}");

    // The core retries on its own, and is killed while doing so.
    let mut sync = start_sync(&profile);
    std::thread::sleep(Duration::from_millis(1500));
    sigkill(&mut sync);

    // Meta is back (a fresh sandbox on the same address; the customer's
    // window reopens when they write again).
    sandbox = start_sandbox(&listen);
    customer_writes(&sandbox, "hello again");
    let mut sync = start_sync(&profile);
    eventually(60, "the reply to reach the sandbox", || {
        let sent: Vec<Value> =
            http.get(format!("{}/_sandbox/sent", sandbox.url)).send().ok()?.json().ok()?;
        (!sent.is_empty()).then_some(sent)
    });
    std::thread::sleep(Duration::from_millis(1500)); // time for a wrong second send
    sigkill(&mut sync);
    let sent: Vec<Value> =
        http.get(format!("{}/_sandbox/sent", sandbox.url)).send().unwrap().json().unwrap();
    assert_eq!(sent.len(), 1, "sent exactly once: {sent:?}");
    assert_eq!(sent[0]["text"], reply);
    drain(&profile);
    let messages = ctl_json(&profile, &["messages", "--conversation", &id.to_string()]);
    let ours =
        messages.as_array().unwrap().iter().find(|m| m["direction"] == "outbound").unwrap().clone();
    assert_eq!(ours["provider_id"], sent[0]["id"]);
    assert!(
        ["accepted", "sent", "delivered", "read"].contains(&ours["status"].as_str().unwrap()),
        "{ours}"
    );
}
