//! Meta-shaped webhook bodies and their signed, retried delivery.

use std::time::Duration;

use serde_json::{json, Value};

use crate::SandboxError;

/// How often a webhook is tried before the sandbox gives up on it. Meta keeps
/// retrying for days; a sandbox only needs to ride out a relay restart or a
/// test receiver that fails on purpose.
pub const MAX_ATTEMPTS: u32 = 5;
/// First pause between tries; it doubles after every failure.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// The business side of every change: which number the event concerns.
#[derive(Debug, Clone)]
pub struct Business {
    pub waba_id: String,
    pub phone_number_id: String,
    pub display_phone_number: String,
}

impl Business {
    /// Wrap one `value` in the envelope Meta uses for the `messages` field.
    pub fn envelope(&self, value: Value) -> Value {
        json!({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": self.waba_id,
                "changes": [{ "field": "messages", "value": value }],
            }],
        })
    }

    pub fn metadata(&self) -> Value {
        json!({
            "display_phone_number": self.display_phone_number,
            "phone_number_id": self.phone_number_id,
        })
    }
}

/// A customer's inbound text (the tests' shorthand).
#[cfg(test)]
pub struct Inbound<'a> {
    pub wamid: &'a str,
    pub wa_id: &'a str,
    pub user_id: &'a str,
    pub name: &'a str,
    pub text: &'a str,
    pub timestamp_s: i64,
    /// The business message this one replies to, if any.
    pub context_id: Option<&'a str>,
}

/// The `messages` webhook for one inbound text. Since the 2026 username
/// rollout Meta sends the BSUID as `contacts[].user_id` and
/// `messages[].from_user_id` next to the phone-number fields.
#[cfg(test)]
pub fn inbound_text(biz: &Business, m: &Inbound<'_>) -> Value {
    let parts = json!({ "type": "text", "text": { "body": m.text } });
    let who = Who { wa_id: m.wa_id, user_id: m.user_id, name: m.name };
    let message = message_object(biz, &who, m.wamid, m.timestamp_s, m.context_id, parts);
    biz.envelope(messages_value(biz, vec![contact(&who)], vec![message]))
}

/// A customer as the webhook names them.
pub struct Who<'a> {
    pub wa_id: &'a str,
    pub user_id: &'a str,
    pub name: &'a str,
}

pub fn contact(who: &Who<'_>) -> Value {
    json!({ "profile": { "name": who.name }, "wa_id": who.wa_id, "user_id": who.user_id })
}

/// One `messages[]` object: identity, id, time, optional quote, and the
/// type-specific `parts` (`{"type": .., <type>: {..}}`).
pub fn message_object(
    biz: &Business,
    who: &Who<'_>,
    wamid: &str,
    timestamp_s: i64,
    context_id: Option<&str>,
    parts: Value,
) -> Value {
    let mut message = json!({
        "from": who.wa_id,
        "from_user_id": who.user_id,
        "id": wamid,
        "timestamp": timestamp_s.to_string(),
    });
    if let (Some(map), Some(parts)) = (message.as_object_mut(), parts.as_object()) {
        map.extend(parts.clone());
    }
    if let Some(id) = context_id {
        message["context"] = json!({ "from": biz.display_phone_number, "id": id });
    }
    message
}

/// The `value` of a `messages` change holding these contacts and messages.
pub fn messages_value(biz: &Business, contacts: Vec<Value>, messages: Vec<Value>) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "metadata": biz.metadata(),
        "contacts": contacts,
        "messages": messages,
    })
}

/// Several webhook bodies merged into one POST: all their entries, in order,
/// the way Meta batches under load.
pub fn batch(bodies: &[Value]) -> Value {
    let object = bodies.first().and_then(|b| b.get("object")).cloned().unwrap_or(Value::Null);
    let entries: Vec<Value> = bodies
        .iter()
        .filter_map(|b| b.get("entry").and_then(Value::as_array))
        .flatten()
        .cloned()
        .collect();
    json!({ "object": object, "entry": entries })
}

/// The outcome of a template review, as the status webhook reports it.
pub struct TemplateReview<'a> {
    pub template_id: &'a str,
    pub name: &'a str,
    pub language: &'a str,
    pub category: &'a str,
    /// `APPROVED`, `REJECTED`, ...
    pub event: &'a str,
    pub reason: Option<&'a str>,
}

/// `message_template_status_update` for one template.
pub fn template_status(waba_id: &str, r: &TemplateReview<'_>, time_s: i64) -> Value {
    // Meta sends the template id as a number.
    let id = r.template_id.parse::<u64>().map(Value::from).unwrap_or_else(|_| json!(r.template_id));
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": waba_id,
            "time": time_s,
            "changes": [{
                "field": "message_template_status_update",
                "value": {
                    "event": r.event,
                    "message_template_id": id,
                    "message_template_name": r.name,
                    "message_template_language": r.language,
                    "message_template_category": r.category,
                    "reason": r.reason.unwrap_or("NONE"),
                },
            }],
        }],
    })
}

/// `message_template_quality_update` for one template (Meta's scores:
/// `GREEN`, `YELLOW`, `RED`, `UNKNOWN`).
pub fn template_quality(
    waba_id: &str,
    template_id: &str,
    name: &str,
    language: &str,
    previous: &str,
    new: &str,
    time_s: i64,
) -> Value {
    let id = template_id.parse::<u64>().map(Value::from).unwrap_or_else(|_| json!(template_id));
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": waba_id,
            "time": time_s,
            "changes": [{
                "field": "message_template_quality_update",
                "value": {
                    "previous_quality_score": previous,
                    "new_quality_score": new,
                    "message_template_id": id,
                    "message_template_name": name,
                    "message_template_language": language,
                },
            }],
        }],
    })
}

/// An Instagram webhook: `object: "instagram"`, one entry for the account
/// with these `messaging[]` items.
pub fn instagram(ig_account_id: &str, time_ms: i64, items: Vec<Value>) -> Value {
    json!({
        "object": "instagram",
        "entry": [{ "id": ig_account_id, "time": time_ms, "messaging": items }],
    })
}

/// One Instagram messaging item; `parts` is `{"message": ..}`, `{"read": ..}`, ...
pub fn instagram_item(sender: &str, recipient: &str, timestamp_ms: i64, parts: Value) -> Value {
    let mut item = json!({
        "sender": { "id": sender },
        "recipient": { "id": recipient },
        "timestamp": timestamp_ms,
    });
    if let (Some(map), Some(parts)) = (item.as_object_mut(), parts.as_object()) {
        map.extend(parts.clone());
    }
    item
}

/// The three delivery states the sandbox walks every accepted message through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Sent,
    Delivered,
    Read,
    /// A voice message was played.
    Played,
    /// Undeliverable after acceptance; carries `errors[]`.
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Sent => "sent",
            Status::Delivered => "delivered",
            Status::Read => "read",
            Status::Played => "played",
            Status::Failed => "failed",
        }
    }
}

/// What a status webhook needs to know about the message it reports on.
pub struct StatusInfo<'a> {
    pub wamid: &'a str,
    pub wa_id: &'a str,
    pub user_id: &'a str,
    pub timestamp_s: i64,
    pub conversation_id: &'a str,
    pub conversation_expires_s: i64,
    /// Templates are billed; replies inside the service window are free.
    pub is_template: bool,
    /// The send's `biz_opaque_callback_data`, which Meta echoes in every
    /// status of the message.
    pub callback_data: Option<&'a str>,
}

/// The `statuses` webhook for one state change. Meta attaches `conversation`
/// and `pricing` to `sent` and to one of `delivered`/`read`; the sandbox picks
/// `delivered`, and only `sent` carries the conversation's expiry.
pub fn status(biz: &Business, s: Status, info: &StatusInfo<'_>) -> Value {
    let mut st = json!({
        "id": info.wamid,
        "status": s.as_str(),
        "timestamp": info.timestamp_s.to_string(),
        "recipient_id": info.wa_id,
        "recipient_user_id": info.user_id,
    });
    if let Some(data) = info.callback_data {
        st["biz_opaque_callback_data"] = json!(data);
    }
    if s == Status::Failed {
        // Meta's failed statuses explain themselves and carry no pricing.
        st["errors"] = json!([{
            "code": 131026,
            "title": "Message undeliverable",
            "message": "Message undeliverable",
            "error_data": { "details": "Message Undeliverable." },
        }]);
    } else if !matches!(s, Status::Read | Status::Played) {
        let (category, pricing_type, billable) = if info.is_template {
            ("utility", "regular", true)
        } else {
            ("service", "free_customer_service", false)
        };
        let mut conversation =
            json!({ "id": info.conversation_id, "origin": { "type": category } });
        if s == Status::Sent {
            conversation["expiration_timestamp"] = json!(info.conversation_expires_s.to_string());
        }
        st["conversation"] = conversation;
        st["pricing"] = json!({
            "billable": billable,
            "pricing_model": "PMP",
            "type": pricing_type,
            "category": category,
        });
    }
    biz.envelope(json!({
        "messaging_product": "whatsapp",
        "metadata": biz.metadata(),
        "statuses": [st],
    }))
}

/// POST `body` to `url`, signed over exactly these bytes, until the receiver
/// answers 200 or [`MAX_ATTEMPTS`] tries have failed. Like Meta, anything but
/// 200 counts as a failure, including other 2xx codes.
pub async fn deliver(
    http: &reqwest::Client,
    url: &str,
    app_secret: &str,
    body: Vec<u8>,
) -> Result<(), SandboxError> {
    let signature = parley_meta::signature::sign(app_secret.as_bytes(), &body);
    let mut backoff = FIRST_BACKOFF;
    let mut last = String::new();
    for attempt in 1..=MAX_ATTEMPTS {
        let sent = http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(parley_meta::signature::SIGNATURE_HEADER, &signature)
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status() == reqwest::StatusCode::OK => {
                tracing::debug!(attempt, "webhook delivered");
                return Ok(());
            }
            Ok(resp) => last = format!("HTTP {}", resp.status().as_u16()),
            // Without the URL: it may carry a tenant token in its query.
            Err(e) => last = e.without_url().to_string(),
        }
        tracing::warn!(attempt, max = MAX_ATTEMPTS, error = %last, "webhook delivery failed");
        if attempt < MAX_ATTEMPTS {
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
    Err(SandboxError::WebhookDelivery { attempts: MAX_ATTEMPTS, last })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn biz() -> Business {
        Business {
            waba_id: "W".into(),
            phone_number_id: "P".into(),
            display_phone_number: "15550000000".into(),
        }
    }

    #[test]
    fn inbound_reply_carries_context_and_identity() {
        let v = inbound_text(
            &biz(),
            &Inbound {
                wamid: "wamid.X",
                wa_id: "15551234567",
                user_id: "US.1",
                name: "Ana",
                text: "hi",
                timestamp_s: 1_700_000_000,
                context_id: Some("wamid.B"),
            },
        );
        let value = &v["entry"][0]["changes"][0]["value"];
        assert_eq!(v["entry"][0]["changes"][0]["field"], "messages");
        assert_eq!(value["metadata"]["phone_number_id"], "P");
        assert_eq!(value["contacts"][0]["user_id"], "US.1");
        assert_eq!(value["messages"][0]["timestamp"], "1700000000");
        assert_eq!(value["messages"][0]["context"]["id"], "wamid.B");
        assert_eq!(value["messages"][0]["context"]["from"], "15550000000");
    }

    #[test]
    fn read_status_has_no_pricing_and_only_sent_has_expiry() {
        let info = StatusInfo {
            wamid: "wamid.X",
            wa_id: "1",
            user_id: "US.1",
            timestamp_s: 5,
            conversation_id: "c",
            conversation_expires_s: 10,
            is_template: false,
            callback_data: Some("txn-1"),
        };
        let st =
            |s| status(&biz(), s, &info)["entry"][0]["changes"][0]["value"]["statuses"][0].clone();
        assert_eq!(st(Status::Read)["biz_opaque_callback_data"], "txn-1");
        assert_eq!(st(Status::Sent)["conversation"]["expiration_timestamp"], "10");
        assert!(st(Status::Delivered)["conversation"].get("expiration_timestamp").is_none());
        assert_eq!(st(Status::Delivered)["pricing"]["category"], "service");
        assert!(st(Status::Read).get("pricing").is_none());
    }
}
