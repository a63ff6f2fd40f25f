//! The customer ids a webhook part names, for honouring data-deletion
//! requests without being able to read the sealed events.
//!
//! Only keyed hashes of these ids are stored ([`hash`]), next to the event's
//! tenant and seq. The key is random per relay, so the table alone does not
//! reveal or correlate ids across deployments. Whoever holds the whole
//! database (key included) could test guesses of phone numbers against it;
//! that is the price of being able to find a user's events at all, and the
//! same file holds the app secrets, which are worth far more.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// More ids than this in one part are not recorded: a real change names one
/// or two customers, and a crafted one must not bloat the table.
const MAX_IDS_PER_PART: usize = 32;

/// WhatsApp fields that carry a customer's id, per value list.
const WA_FIELDS: &[(&str, &[&str])] = &[
    ("contacts", &["wa_id", "user_id"]),
    ("messages", &["from", "from_user_id"]),
    ("statuses", &["recipient_id", "recipient_user_id"]),
];

/// HMAC-SHA256 of the trimmed id with the relay's subject key.
pub(crate) fn hash(key: &[u8], id: &str) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(id.trim().as_bytes());
    mac.finalize().into_bytes().into()
}

fn id_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Every customer id named in one channel part (Meta's shape), deduplicated.
pub(crate) fn customer_ids(body: &Value) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    let mut add = |id: Option<String>| {
        if let Some(id) = id {
            if ids.len() < MAX_IDS_PER_PART && !ids.contains(&id) {
                ids.push(id);
            }
        }
    };
    for entry in body.get("entry").and_then(Value::as_array).into_iter().flatten() {
        for change in entry.get("changes").and_then(Value::as_array).into_iter().flatten() {
            let Some(value) = change.get("value") else { continue };
            for (list, fields) in WA_FIELDS {
                for item in value.get(*list).and_then(Value::as_array).into_iter().flatten() {
                    for field in *fields {
                        add(id_of(item.get(*field)));
                    }
                }
            }
        }
        // Instagram: the other party of each messaging item. The business's
        // own account id (entry.id) is not a customer.
        let own = id_of(entry.get("id"));
        for item in entry.get("messaging").and_then(Value::as_array).into_iter().flatten() {
            for side in ["sender", "recipient"] {
                let id = id_of(item.get(side).and_then(|s| s.get("id")));
                if id.is_some() && id != own {
                    add(id);
                }
            }
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whatsapp_ids_from_contacts_messages_and_statuses() {
        let body = json!({"object":"whatsapp_business_account","entry":[{"id":"W","changes":[
            {"field":"messages","value":{"metadata":{"phone_number_id":"111"},
              "contacts":[{"wa_id":"15551234567","user_id":"US.abc"}],
              "messages":[{"from":"15551234567","id":"wamid.1","type":"text","text":{"body":"hi"}}]}},
            {"field":"messages","value":{"metadata":{"phone_number_id":"111"},
              "statuses":[{"id":"wamid.2","status":"read","recipient_id":"15557654321"}]}}
        ]}]});
        assert_eq!(customer_ids(&body), vec!["15551234567", "US.abc", "15557654321"]);
    }

    #[test]
    fn instagram_ids_skip_the_business_account() {
        let body = json!({"object":"instagram","entry":[{"id":"IG1","messaging":[
            {"sender":{"id":"998877"},"recipient":{"id":"IG1"},"message":{"mid":"m","text":"x"}},
            {"sender":{"id":"IG1"},"recipient":{"id":"998877"},"message":{"mid":"n","is_echo":true}}
        ]}]});
        assert_eq!(customer_ids(&body), vec!["998877"]);
    }

    #[test]
    fn hashes_are_keyed_and_trim_insensitive() {
        assert_eq!(hash(b"k", "123"), hash(b"k", " 123 "));
        assert_ne!(hash(b"k", "123"), hash(b"other", "123"));
        assert_ne!(hash(b"k", "123"), hash(b"k", "1234"));
    }
}
