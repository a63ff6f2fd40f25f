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
use parley_meta::routing::ChannelKey;
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

/// What [`route_whole`] reads from a body: its one channel and the customer
/// ids it names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct WholeRoute {
    pub key: ChannelKey,
    pub customer_ids: Vec<String>,
}

/// The webhook hot path: when the body is a single channel's part as
/// received ([`parley_meta::routing::Split::whole`]), its channel and the
/// customer ids it names ([`customer_ids`]), read with borrowed structs that
/// skip everything else, instead of building a `serde_json::Value` tree and
/// walking it. `None` for anything else, or anything unusual (an unknown
/// top-level field, a repeated key, a field of an unexpected type): the
/// caller then takes the general path, `split_by_channel`, which decides the
/// same way; a test checks that both agree.
pub(crate) fn route_whole(body: &[u8]) -> Option<WholeRoute> {
    let root: wire::Root<'_> = serde_json::from_slice(body).ok()?;
    let mut key: Option<ChannelKey> = None;
    let mut ids: Vec<String> = Vec::new();
    let mut add = |id: Option<&str>| {
        if let Some(id) = id {
            if ids.len() < MAX_IDS_PER_PART && !ids.iter().any(|known| known == id) {
                ids.push(id.to_owned());
            }
        }
    };
    let whatsapp = match &*root.object {
        "whatsapp_business_account" => true,
        "instagram" | "page" => false,
        _ => return None,
    };
    for entry in &root.entry {
        let entry_key = if whatsapp {
            // `split_by_channel` splits an entry with several changes.
            let [change] = entry.changes.as_deref()? else { return None };
            let number = change
                .value
                .as_ref()
                .and_then(|v| v.metadata.as_ref())
                .and_then(|m| m.phone_number_id.as_ref())
                .and_then(wire::Id::routing);
            match (number, entry.id.as_ref().and_then(wire::Id::routing)) {
                (Some(n), _) => ChannelKey::WhatsappNumber(n),
                (None, Some(w)) => ChannelKey::WhatsappAccount(w),
                (None, None) => return None,
            }
        } else {
            ChannelKey::Instagram(entry.id.as_ref().and_then(wire::Id::routing)?)
        };
        match &key {
            None => key = Some(entry_key),
            Some(k) if *k == entry_key => {}
            Some(_) => return None,
        }
        for change in entry.changes.iter().flatten() {
            let Some(value) = &change.value else { continue };
            for item in value.contacts.iter().flatten() {
                add(item.wa_id.as_ref().and_then(wire::Id::customer).as_deref());
                add(item.user_id.as_ref().and_then(wire::Id::customer).as_deref());
            }
            for item in value.messages.iter().flatten() {
                add(item.from.as_ref().and_then(wire::Id::customer).as_deref());
                add(item.from_user_id.as_ref().and_then(wire::Id::customer).as_deref());
            }
            for item in value.statuses.iter().flatten() {
                add(item.recipient_id.as_ref().and_then(wire::Id::customer).as_deref());
                add(item.recipient_user_id.as_ref().and_then(wire::Id::customer).as_deref());
            }
        }
        let own = entry.id.as_ref().and_then(wire::Id::customer);
        for item in entry.messaging.iter().flatten() {
            for side in [&item.sender, &item.recipient] {
                let id = side.as_ref().and_then(|s| s.id.as_ref()).and_then(wire::Id::customer);
                if id.is_some() && id != own {
                    add(id.as_deref());
                }
            }
        }
    }
    Some(WholeRoute { key: key?, customer_ids: ids })
}

/// Borrowed views of Meta's webhook shape: only the fields routing and
/// [`customer_ids`] read; strings without escapes are not copied.
mod wire {
    use std::borrow::Cow;
    use std::fmt;

    use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Root<'a> {
        #[serde(borrow)]
        pub object: Cow<'a, str>,
        #[serde(borrow)]
        pub entry: Vec<Entry<'a>>,
    }

    #[derive(Deserialize)]
    pub(super) struct Entry<'a> {
        #[serde(borrow)]
        pub id: Option<Id<'a>>,
        #[serde(borrow)]
        pub changes: Option<Vec<Change<'a>>>,
        #[serde(borrow)]
        pub messaging: Option<Vec<Messaging<'a>>>,
    }

    #[derive(Deserialize)]
    pub(super) struct Change<'a> {
        #[serde(borrow)]
        pub value: Option<ChangeValue<'a>>,
    }

    #[derive(Deserialize)]
    pub(super) struct ChangeValue<'a> {
        #[serde(borrow)]
        pub metadata: Option<Metadata<'a>>,
        #[serde(borrow)]
        pub contacts: Option<Vec<Contact<'a>>>,
        #[serde(borrow)]
        pub messages: Option<Vec<Message<'a>>>,
        #[serde(borrow)]
        pub statuses: Option<Vec<Status<'a>>>,
    }

    #[derive(Deserialize)]
    pub(super) struct Metadata<'a> {
        #[serde(borrow)]
        pub phone_number_id: Option<Id<'a>>,
    }

    #[derive(Deserialize)]
    pub(super) struct Contact<'a> {
        #[serde(borrow)]
        pub wa_id: Option<Id<'a>>,
        #[serde(borrow)]
        pub user_id: Option<Id<'a>>,
    }

    #[derive(Deserialize)]
    pub(super) struct Message<'a> {
        #[serde(borrow)]
        pub from: Option<Id<'a>>,
        #[serde(borrow)]
        pub from_user_id: Option<Id<'a>>,
    }

    #[derive(Deserialize)]
    pub(super) struct Status<'a> {
        #[serde(borrow)]
        pub recipient_id: Option<Id<'a>>,
        #[serde(borrow)]
        pub recipient_user_id: Option<Id<'a>>,
    }

    #[derive(Deserialize)]
    pub(super) struct Messaging<'a> {
        #[serde(borrow)]
        pub sender: Option<Party<'a>>,
        #[serde(borrow)]
        pub recipient: Option<Party<'a>>,
    }

    #[derive(Deserialize)]
    pub(super) struct Party<'a> {
        #[serde(borrow)]
        pub id: Option<Id<'a>>,
    }

    /// An id field as Meta may send it: a string, a number, or something
    /// else (which names nothing).
    pub(super) enum Id<'a> {
        Str(Cow<'a, str>),
        Number(serde_json::Number),
        Other,
    }

    impl Id<'_> {
        /// As `parley_meta::routing` reads a channel id: a non-empty string
        /// as is, a number as written.
        pub fn routing(&self) -> Option<String> {
            match self {
                Id::Str(s) if !s.is_empty() => Some(s.to_string()),
                Id::Number(n) => Some(n.to_string()),
                _ => None,
            }
        }

        /// As [`super::customer_ids`] reads a customer id: trimmed, non-empty.
        pub fn customer(&self) -> Option<Cow<'_, str>> {
            match self {
                Id::Str(s) if !s.trim().is_empty() => Some(Cow::Borrowed(s.trim())),
                Id::Number(n) => Some(Cow::Owned(n.to_string())),
                _ => None,
            }
        }
    }

    impl<'de: 'a, 'a> Deserialize<'de> for Id<'a> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct IdVisitor;
            impl<'de> Visitor<'de> for IdVisitor {
                type Value = Id<'de>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an id")
                }
                fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Id<'de>, E> {
                    Ok(Id::Str(Cow::Borrowed(v)))
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Id<'de>, E> {
                    Ok(Id::Str(Cow::Owned(v.to_owned())))
                }
                fn visit_string<E: de::Error>(self, v: String) -> Result<Id<'de>, E> {
                    Ok(Id::Str(Cow::Owned(v)))
                }
                fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id<'de>, E> {
                    Ok(Id::Number(v.into()))
                }
                fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id<'de>, E> {
                    Ok(Id::Number(v.into()))
                }
                fn visit_f64<E: de::Error>(self, v: f64) -> Result<Id<'de>, E> {
                    Ok(serde_json::Number::from_f64(v).map_or(Id::Other, Id::Number))
                }
                fn visit_bool<E: de::Error>(self, _: bool) -> Result<Id<'de>, E> {
                    Ok(Id::Other)
                }
                fn visit_unit<E: de::Error>(self) -> Result<Id<'de>, E> {
                    Ok(Id::Other)
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Id<'de>, A::Error> {
                    while seq.next_element::<IgnoredAny>()?.is_some() {}
                    Ok(Id::Other)
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Id<'de>, A::Error> {
                    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                    Ok(Id::Other)
                }
            }
            d.deserialize_any(IdVisitor)
        }
    }
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

    /// The fast path answers only when the general one (split, then
    /// `customer_ids` on the part) finds a whole body, and then answers
    /// exactly the same.
    fn agree(body: &str, fast: bool) {
        let general = parley_meta::routing::split_by_channel(body.as_bytes())
            .ok()
            .filter(|s| s.whole)
            .map(|s| WholeRoute {
                key: s.parts[0].key.clone(),
                customer_ids: customer_ids(&s.parts[0].body),
            });
        let route = route_whole(body.as_bytes());
        assert_eq!(route.is_some(), fast, "fast path taken or not: {body}");
        if route.is_some() {
            assert_eq!(route, general, "{body}");
        }
    }

    #[test]
    fn the_borrowed_fast_path_agrees_with_split_and_customer_ids() {
        let wa = |value: &str| {
            format!(
                r#"{{"object":"whatsapp_business_account","entry":[{{"id":"W1","changes":[{{"field":"messages","value":{value}}}]}}]}}"#
            )
        };
        let message = r#"{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1555","phone_number_id":"111"},
            "contacts":[{"profile":{"name":"A \"q\" \u00e9"},"wa_id":"15551234567","user_id":"US.abc"}],
            "messages":[{"from":"15551234567","id":"wamid.1","timestamp":"1","type":"text","text":{"body":"hi"}}]}"#;
        agree(&wa(message), true);
        agree(
            &wa(
                r#"{"metadata":{"phone_number_id":111},"statuses":[{"id":"w","status":"read","recipient_id":" 1555 ","recipient_user_id":""}]}"#,
            ),
            true,
        );
        agree(
            &wa(
                r#"{"metadata":{"phone_number_id":"1\u0031"},"contacts":[{"wa_id":15551234567,"user_id":null},{"wa_id":1.5},{"wa_id":{"x":1}},{"wa_id":[1]}]}"#,
            ),
            true,
        );
        agree(&wa(r#"{"metadata":{"phone_number_id":""},"messages":[{"from":"  "}]}"#), true);
        agree(&wa(r#"{"event":"APPROVED","message_template_id":1}"#), true);
        agree(&wa("null"), true);
        // Both changes in one entry: split, so not whole.
        agree(
            r#"{"object":"whatsapp_business_account","entry":[{"id":"W1","changes":[
                {"value":{"metadata":{"phone_number_id":"111"}}},{"value":{"metadata":{"phone_number_id":"111"}}}]}]}"#,
            false,
        );
        // Two entries for one number: whole; for two numbers: not.
        agree(
            r#"{"object":"whatsapp_business_account","entry":[
                {"id":"W1","changes":[{"value":{"metadata":{"phone_number_id":"111"},"messages":[{"from":"1"}]}}]},
                {"id":"W1","changes":[{"value":{"metadata":{"phone_number_id":"111"},"messages":[{"from":"2"}]}}]}]}"#,
            true,
        );
        agree(
            r#"{"object":"whatsapp_business_account","entry":[
                {"id":"W1","changes":[{"value":{"metadata":{"phone_number_id":"111"}}}]},
                {"id":"W1","changes":[{"value":{"metadata":{"phone_number_id":"222"}}}]}]}"#,
            false,
        );
        // Extra top-level field, unknown object, no entries, no changes,
        // nothing to route by, not JSON.
        agree(
            r#"{"object":"whatsapp_business_account","x":1,"entry":[{"id":"W1","changes":[{"value":null}]}]}"#,
            false,
        );
        agree(r#"{"object":"user","entry":[{"id":"1","changes":[]}]}"#, false);
        agree(r#"{"object":"whatsapp_business_account","entry":[]}"#, false);
        agree(r#"{"object":"whatsapp_business_account","entry":[{"id":"W1"}]}"#, false);
        agree(
            r#"{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{}}]}]}"#,
            false,
        );
        agree("not json", false);
        // A repeated key: the general path decides.
        agree(r#"{"object":"instagram","object":"instagram","entry":[{"id":"IG1"}]}"#, false);
        // Instagram and page: the other party of each messaging item.
        agree(
            r#"{"object":"instagram","entry":[{"id":"IG1","time":1,"messaging":[
                {"sender":{"id":"998877"},"recipient":{"id":"IG1"},"message":{"mid":"m","text":"x"}},
                {"sender":{"id":"IG1"},"recipient":{"id":998877}},
                {"sender":{"id":"IG1"},"recipient":{"id":"5"}},
                {"sender":null},{"read":{"mid":"m"}}]}]}"#,
            true,
        );
        agree(
            r#"{"object":"page","entry":[{"id":17841400000000000,"messaging":[{"sender":{"id":"1"}}]}]}"#,
            true,
        );
        agree(r#"{"object":"instagram","entry":[{"id":"IG1"},{"id":"IG2"}]}"#, false);
        agree(r#"{"object":"instagram","entry":[{"id":"IG1"},{"nope":1}]}"#, false);
    }

    #[test]
    fn hashes_are_keyed_and_trim_insensitive() {
        assert_eq!(hash(b"k", "123"), hash(b"k", " 123 "));
        assert_ne!(hash(b"k", "123"), hash(b"other", "123"));
        assert_ne!(hash(b"k", "123"), hash(b"k", "1234"));
    }
}
