//! Splitting a verified webhook body by the channel it concerns.
//!
//! One POST from Meta may carry entries for several phone numbers (or
//! Instagram accounts), and those may belong to different tenants of the
//! relay. The relay must deliver each tenant only its own part, so this module
//! cuts the body into one sub-webhook per channel, keeping every change.
//!
//! It works on `serde_json::Value` on purpose: routing must not depend on the
//! relay understanding every message type, and must never drop what it does
//! not understand.

use serde_json::{json, Map, Value};

/// What Meta addresses a change to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChannelKey {
    /// `metadata.phone_number_id` of a WhatsApp `messages` change.
    WhatsappNumber(String),
    /// The WhatsApp Business Account id (`entry[].id`), for account-level
    /// changes that carry no phone number (template status, account updates).
    WhatsappAccount(String),
    /// The Instagram professional account id (`entry[].id`).
    Instagram(String),
}

impl ChannelKey {
    /// The identifier alone, as registered for a tenant.
    pub fn id(&self) -> &str {
        match self {
            ChannelKey::WhatsappNumber(id)
            | ChannelKey::WhatsappAccount(id)
            | ChannelKey::Instagram(id) => id,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RoutingError {
    #[error("the webhook body is not JSON: {0}")]
    NotJson(String),
    #[error("the webhook body has no \"object\" field")]
    NoObject,
    #[error("the webhook object {0:?} is not one Parley handles")]
    UnknownObject(String),
}

/// One channel's share of a webhook: a body of the same shape as Meta's,
/// holding only the entries and changes addressed to `key`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelPart {
    pub key: ChannelKey,
    pub body: Value,
}

/// Values are taken as strings even when Meta sends them as numbers, so that
/// exact matching against registered ids works either way.
fn id_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Cut a webhook body into per-channel parts. Changes that name no channel at
/// all are returned in `unroutable` so the caller can count them.
pub fn split_by_channel(body: &[u8]) -> Result<Split, RoutingError> {
    let mut root: Value =
        serde_json::from_slice(body).map_err(|e| RoutingError::NotJson(e.to_string()))?;
    let object =
        root.get("object").and_then(Value::as_str).ok_or(RoutingError::NoObject)?.to_owned();
    // Moved out, not cloned: the parts are built from these values.
    let entries = take_array(&mut root, "entry");
    let mut parts: Vec<(ChannelKey, Vec<Value>)> = Vec::new();
    let mut unroutable = 0usize;
    // Whether the single part, if there is one, is the body as received:
    // only `object` and `entry` at the top, and no entry split or dropped.
    let mut intact = root.as_object().is_some_and(|m| m.len() == 2);
    let mut push = |key: ChannelKey, entry: Value| match parts.iter_mut().find(|(k, _)| *k == key) {
        Some((_, list)) => list.push(entry),
        None => parts.push((key, vec![entry])),
    };
    match object.as_str() {
        "whatsapp_business_account" => {
            for mut entry in entries {
                let waba = id_string(entry.get("id"));
                // Each part gets a copy of the entry without the others'
                // changes (`entry_with`), so the list is moved out first.
                let changes = take_array(&mut entry, "changes");
                intact &= changes.len() == 1;
                for change in changes {
                    let number = id_string(change.pointer("/value/metadata/phone_number_id"));
                    let key = match (number, &waba) {
                        (Some(n), _) => ChannelKey::WhatsappNumber(n),
                        (None, Some(w)) => ChannelKey::WhatsappAccount(w.clone()),
                        (None, None) => {
                            unroutable += 1;
                            continue;
                        }
                    };
                    push(key, entry_with(&entry, "changes", change));
                }
            }
        }
        "instagram" | "page" => {
            for entry in entries {
                match id_string(entry.get("id")) {
                    Some(id) => push(ChannelKey::Instagram(id), entry),
                    None => unroutable += 1,
                }
            }
        }
        other => return Err(RoutingError::UnknownObject(other.to_owned())),
    }
    let whole = intact && unroutable == 0 && parts.len() == 1;
    let parts = parts
        .into_iter()
        .map(|(key, entries)| ChannelPart {
            key,
            body: json!({ "object": object, "entry": entries }),
        })
        .collect();
    Ok(Split { parts, unroutable, whole })
}

/// The result of [`split_by_channel`].
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub parts: Vec<ChannelPart>,
    /// Changes or entries that named no channel id at all.
    pub unroutable: usize,
    /// There is exactly one part and it is the whole body as received (the
    /// same JSON value, up to key order and whitespace): one channel, only
    /// `object` and `entry` at the top, every WhatsApp entry with exactly one
    /// change. The raw bytes may then stand for the part's body.
    pub whole: bool,
}

/// Move the array under `field` out of `value` (leaving `null`); empty if
/// there is none.
fn take_array(value: &mut Value, field: &str) -> Vec<Value> {
    match value.get_mut(field).map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

/// A copy of `entry` whose list field `field` holds only `item`.
fn entry_with(entry: &Value, field: &str, item: Value) -> Value {
    let mut copy: Map<String, Value> = entry.as_object().cloned().unwrap_or_default();
    copy.insert(field.to_owned(), Value::Array(vec![item]));
    Value::Object(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wa_change(pnid: &str, text: &str) -> Value {
        json!({"field":"messages","value":{"messaging_product":"whatsapp",
            "metadata":{"display_phone_number":"15550000000","phone_number_id":pnid},
            "messages":[{"from":"15551234567","id":format!("wamid.{text}"),"timestamp":"1700000000","type":"text","text":{"body":text}}]}})
    }

    #[test]
    fn only_a_single_channel_body_left_as_received_is_whole() {
        let whole = |body: Value| split_by_channel(body.to_string().as_bytes()).unwrap().whole;
        let one = json!({"object":"whatsapp_business_account","entry":[
            {"id":"WABA1","changes":[wa_change("111","a")]},
            {"id":"WABA1","changes":[wa_change("111","b")]}]});
        assert!(whole(one.clone()));
        let split = split_by_channel(one.to_string().as_bytes()).unwrap();
        assert_eq!(split.parts[0].body, one);
        // Two changes in one entry are split into two entries.
        assert!(!whole(json!({"object":"whatsapp_business_account","entry":[
            {"id":"WABA1","changes":[wa_change("111","a"), wa_change("111","b")]}]})));
        // Two channels.
        assert!(!whole(json!({"object":"whatsapp_business_account","entry":[
            {"id":"WABA1","changes":[wa_change("111","a")]},
            {"id":"WABA1","changes":[wa_change("222","b")]}]})));
        // An entry without changes is dropped; an extra top-level field too.
        assert!(!whole(json!({"object":"whatsapp_business_account","entry":[
            {"id":"WABA1","changes":[wa_change("111","a")]}, {"id":"WABA2"}]})));
        assert!(!whole(json!({"object":"whatsapp_business_account","x":1,"entry":[
            {"id":"WABA1","changes":[wa_change("111","a")]}]})));
        // Instagram: whole when every entry is the same account.
        assert!(whole(json!({"object":"instagram","entry":[{"id":"IG1","messaging":[]}]})));
        assert!(!whole(json!({"object":"instagram","entry":[{"id":"IG1"},{"id":"IG2"}]})));
        assert!(!whole(json!({"object":"instagram","entry":[{"id":"IG1"},{"nope":1}]})));
    }

    #[test]
    fn splits_a_batch_across_numbers_and_keeps_every_change() {
        let body = json!({"object":"whatsapp_business_account","entry":[
            {"id":"WABA1","changes":[wa_change("111","a"), wa_change("222","b"), wa_change("111","c")]},
            {"id":"WABA2","changes":[wa_change("333","d")]}
        ]});
        let split = split_by_channel(body.to_string().as_bytes()).unwrap();
        assert_eq!(split.unroutable, 0);
        let keys: Vec<_> = split.parts.iter().map(|p| p.key.clone()).collect();
        assert_eq!(
            keys,
            vec![
                ChannelKey::WhatsappNumber("111".into()),
                ChannelKey::WhatsappNumber("222".into()),
                ChannelKey::WhatsappNumber("333".into())
            ]
        );
        let first = &split.parts[0].body;
        assert_eq!(first["entry"].as_array().unwrap().len(), 2, "both changes for 111 kept");
        assert_eq!(first["entry"][1]["changes"][0]["value"]["messages"][0]["text"]["body"], "c");
        assert!(!split.parts[1].body.to_string().contains("\"a\""), "222 sees nothing of 111");
    }

    #[test]
    fn account_level_changes_route_by_waba() {
        let body = json!({"object":"whatsapp_business_account","entry":[{"id":"WABA9","time":1,"changes":[
            {"field":"message_template_status_update","value":{"event":"APPROVED","message_template_id":1}}]}]});
        let split = split_by_channel(body.to_string().as_bytes()).unwrap();
        assert_eq!(split.parts[0].key, ChannelKey::WhatsappAccount("WABA9".into()));
    }

    #[test]
    fn instagram_routes_by_entry_id_and_numbers_are_strings() {
        let body = json!({"object":"instagram","entry":[{"id":17841400000000000u64,"time":1,"messaging":[]}]});
        let split = split_by_channel(body.to_string().as_bytes()).unwrap();
        assert_eq!(split.parts[0].key, ChannelKey::Instagram("17841400000000000".into()));
    }

    #[test]
    fn bad_bodies_are_clear_errors() {
        assert!(matches!(split_by_channel(b"not json"), Err(RoutingError::NotJson(_))));
        assert_eq!(split_by_channel(b"{}"), Err(RoutingError::NoObject));
        assert_eq!(
            split_by_channel(br#"{"object":"user"}"#),
            Err(RoutingError::UnknownObject("user".into()))
        );
    }

    #[test]
    fn changes_without_any_id_are_counted() {
        let body = json!({"object":"whatsapp_business_account","entry":[{"changes":[{"field":"x","value":{}}]}]});
        let split = split_by_channel(body.to_string().as_bytes()).unwrap();
        assert!(split.parts.is_empty());
        assert_eq!(split.unroutable, 1);
    }
}
