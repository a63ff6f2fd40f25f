//! `webhook::parse` runs on whatever reaches the relay's public endpoint
//! (after the signature check, but a signed body can still be odd). It must
//! never panic, and it must answer `Ok` for anything shaped like a webhook.

use crate::{fixture_bytes, fixture_names};
use parley_meta::webhook::{parse, parse_value, WebhookEvent};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Cases per property: small by default so `cargo test` stays fast; CI's
/// longer fuzz run sets `PARLEY_FUZZ_CASES` (e.g. 20000, still under a minute).
fn cases(default: u32) -> u32 {
    std::env::var("PARLEY_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Keys Meta uses, so random objects often hit real code paths.
const KEYS: &[&str] = &[
    "object",
    "entry",
    "id",
    "time",
    "changes",
    "field",
    "value",
    "metadata",
    "phone_number_id",
    "contacts",
    "wa_id",
    "user_id",
    "profile",
    "name",
    "messages",
    "statuses",
    "errors",
    "from",
    "from_user_id",
    "timestamp",
    "type",
    "text",
    "body",
    "image",
    "audio",
    "document",
    "sticker",
    "location",
    "latitude",
    "longitude",
    "interactive",
    "button_reply",
    "list_reply",
    "title",
    "button",
    "payload",
    "reaction",
    "emoji",
    "message_id",
    "order",
    "product_items",
    "system",
    "unsupported",
    "context",
    "referral",
    "status",
    "recipient_id",
    "code",
    "messaging",
    "sender",
    "recipient",
    "message",
    "mid",
    "attachments",
    "url",
    "is_echo",
    "is_deleted",
    "read",
    "postback",
    "reply_to",
    "story",
    "action",
];

const WORDS: &[&str] = &[
    "whatsapp_business_account",
    "instagram",
    "messages",
    "text",
    "image",
    "reaction",
    "interactive",
    "button_reply",
    "list_reply",
    "nfm_reply",
    "order",
    "system",
    "unsupported",
    "unknown",
    "failed",
    "read",
    "unreact",
    "1750000000",
    "-1",
    "99999999999999999999",
    "",
    "wamid.X",
    "true",
];

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(WORDS).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|pairs| {
                Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

/// Every JSON pointer inside `v`, so a mutation can hit any depth.
fn pointers(v: &Value, here: String, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let p = format!("{here}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let p = format!("{here}/{i}");
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        _ => {}
    }
}

/// Touch every accessor the core will call, so they are covered too.
fn exercise(events: &[WebhookEvent]) {
    for event in events {
        if let WebhookEvent::Message(m) = event {
            let _ = (m.kind(), m.preview(), m.from.key());
        }
    }
    serde_json::to_string(events).expect("events always serialise");
}

fn fixtures() -> Vec<Value> {
    fixture_names().iter().map(|n| serde_json::from_slice(&fixture_bytes(n)).unwrap()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(300), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(events) = parse(&bytes) {
            exercise(&events);
        }
    }

    #[test]
    fn arbitrary_json(value in arb_json()) {
        if let Ok(events) = parse_value(&value) {
            exercise(&events);
        }
        // And through the byte path, as the relay would call it.
        let _ = parse(value.to_string().as_bytes());
    }

    #[test]
    fn arbitrary_webhook_envelopes(object in prop::sample::select(&["whatsapp_business_account", "instagram", "page"][..]), entry in arb_json()) {
        let root = serde_json::json!({ "object": object, "entry": entry });
        let events = parse_value(&root).expect("a root with \"object\" is always Ok");
        exercise(&events);
    }

    #[test]
    fn mutated_fixtures(which in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), replacement in arb_json(), delete in any::<bool>()) {
        let all = fixtures();
        let mut root = all[which.index(all.len())].clone();
        let mut paths = Vec::new();
        pointers(&root, String::new(), &mut paths);
        let path = &paths[at.index(paths.len())];
        let (parent, key) = path.rsplit_once('/').expect("pointers start with /");
        if delete {
            match root.pointer_mut(parent) {
                Some(Value::Object(map)) => { map.remove(&key.replace("~1", "/").replace("~0", "~")); }
                Some(Value::Array(items)) => { if let Ok(i) = key.parse::<usize>() { if i < items.len() { items.remove(i); } } }
                _ => {}
            }
        } else if let Some(slot) = root.pointer_mut(path) {
            *slot = replacement;
        }
        match parse_value(&root) {
            Ok(events) => exercise(&events),
            // Only mutating the envelope itself may turn it into a non-webhook.
            Err(_) => prop_assert!(path == "/object" || root.get("object").is_none_or(|o| !o.is_string()), "{path}"),
        }
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse(deep.as_bytes()).is_err());
    let mut nested = Value::Null;
    for _ in 0..64 {
        let mut map = Map::new();
        map.insert("entry".into(), nested);
        map.insert("object".into(), Value::from("whatsapp_business_account"));
        nested = Value::Object(map);
    }
    exercise(&parse_value(&nested).unwrap());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    /// The relay runs `verify` on every unauthenticated POST: any header and
    /// body must yield an answer, never a panic, and only the right MAC passes.
    #[test]
    fn signature_check_never_panics_and_only_the_right_mac_passes(
        secret in prop::collection::vec(any::<u8>(), 0..80),
        body in prop::collection::vec(any::<u8>(), 0..512),
        header in prop::option::of(".{0,90}"),
        flip in any::<prop::sample::Index>(),
    ) {
        use parley_meta::signature::{sign, verify};
        let _ = verify(&secret, &body, header.as_deref());
        let good = sign(&secret, &body);
        prop_assert!(verify(&secret, &body, Some(&good)).is_ok());
        // Change one hex digit of the MAC: always refused.
        let mut bad: Vec<char> = good.chars().collect();
        let at = 7 + flip.index(64);
        bad[at] = if bad[at] == '0' { '1' } else { '0' };
        let bad: String = bad.into_iter().collect();
        prop_assert!(verify(&secret, &body, Some(&bad)).is_err());
        if !body.is_empty() {
            let mut other = body.clone();
            other[0] ^= 1;
            prop_assert!(verify(&secret, &other, Some(&good)).is_err());
        }
    }
}
