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
    fn envelope(&self, value: Value) -> Value {
        json!({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": self.waba_id,
                "changes": [{ "field": "messages", "value": value }],
            }],
        })
    }

    fn metadata(&self) -> Value {
        json!({
            "display_phone_number": self.display_phone_number,
            "phone_number_id": self.phone_number_id,
        })
    }
}

/// A customer's inbound text.
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
pub fn inbound_text(biz: &Business, m: &Inbound<'_>) -> Value {
    let mut message = json!({
        "from": m.wa_id,
        "from_user_id": m.user_id,
        "id": m.wamid,
        "timestamp": m.timestamp_s.to_string(),
        "type": "text",
        "text": { "body": m.text },
    });
    if let Some(id) = m.context_id {
        message["context"] = json!({ "from": biz.display_phone_number, "id": id });
    }
    biz.envelope(json!({
        "messaging_product": "whatsapp",
        "metadata": biz.metadata(),
        "contacts": [{
            "profile": { "name": m.name },
            "wa_id": m.wa_id,
            "user_id": m.user_id,
        }],
        "messages": [message],
    }))
}

/// The three delivery states the sandbox walks every accepted message through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Sent,
    Delivered,
    Read,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Sent => "sent",
            Status::Delivered => "delivered",
            Status::Read => "read",
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
    if s != Status::Read {
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
        };
        let st =
            |s| status(&biz(), s, &info)["entry"][0]["changes"][0]["value"]["statuses"][0].clone();
        assert_eq!(st(Status::Sent)["conversation"]["expiration_timestamp"], "10");
        assert!(st(Status::Delivered)["conversation"].get("expiration_timestamp").is_none());
        assert_eq!(st(Status::Delivered)["pricing"]["category"], "service");
        assert!(st(Status::Read).get("pricing").is_none());
    }
}
