//! The webhook model: Meta's nested payloads normalised into a flat list of
//! [`WebhookEvent`]s.
//!
//! Architecture invariant: **parse, never lose.** One POST can hold many
//! entries, each with many changes (WhatsApp) or messaging items (Instagram),
//! each with many messages and statuses. Every item becomes exactly one event,
//! in the order Meta wrote them. Whatever Parley does not understand — an
//! unknown `field`, an unknown message `type`, an item missing a required
//! part — becomes [`WebhookEvent::Unsupported`] carrying the item's raw JSON
//! and the exact reason, so the core can store it and a later version can
//! re-read it. Only a body that is not a JSON object with an `"object"` field
//! is an error: that is not a webhook at all.
//!
//! Within one WhatsApp change the order is: messages, then statuses, then
//! change-level errors.
//!
//! How Instagram maps (the design leaves it to us):
//! - `message` → [`InboundMessage`]; `from` is always the *customer*, so for
//!   echoes (`is_echo`, the business wrote from another app) it is the
//!   recipient, and `echo` is set.
//! - `message` with `is_deleted` → [`WebhookEvent::Deleted`]. It reuses the
//!   deleted message's `mid`, so it must not go through message dedupe.
//! - `read` → [`StatusUpdate`] with status `"read"` for the read `mid`, the
//!   same shape as a WhatsApp read receipt.
//! - `reaction` → [`InboundMessage`] with [`MessageContent::Reaction`]. Meta
//!   gives the reaction no id of its own, so `provider_id` is derived from the
//!   reacted-to `mid`, the customer and the timestamp: stable across
//!   redeliveries, so dedupe still works.
//! - `postback` → [`InboundMessage`] with [`MessageContent::Postback`].
//! - `referral`, `message_edit`, `standby`, and comment-style `changes` →
//!   [`WebhookEvent::Other`].

mod account;
mod instagram;
mod json;
mod whatsapp;

pub use account::AccountEvent;

use parley_types::ChannelKind;
use serde::Serialize;
use serde_json::Value;

/// Why a body could not be read as a webhook at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the webhook body is not JSON: {0}")]
    NotJson(String),
    #[error("the webhook body is JSON but not an object")]
    NotAnObject,
    #[error("the webhook body has no string \"object\" field")]
    NoObjectField,
}

/// One thing that happened, as far as the inbox is concerned.
///
/// `Message` is much larger than the other variants. It stays unboxed: an
/// event lives only from parse to store, and the core matches on
/// `WebhookEvent::Message(InboundMessage { .. })` directly.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookEvent {
    /// A customer wrote (or, for Instagram echoes, the business wrote
    /// elsewhere).
    Message(InboundMessage),
    /// Progress of a message the business sent (sent, delivered, read,
    /// failed, ...), or an Instagram read receipt.
    Status(StatusUpdate),
    /// The customer unsent one of their messages (Instagram `is_deleted`).
    Deleted(MessageDeleted),
    /// A change Parley recognises but that is not inbox traffic (template
    /// status, account and quality updates, Instagram comments, ...). The raw
    /// change is kept; [`WebhookEvent::account_event`] reads the WhatsApp
    /// account fields into an [`AccountEvent`].
    Other {
        channel: Option<ChannelRef>,
        /// Meta's `field` name, e.g. `message_template_status_update`.
        field: String,
        /// The change object (WhatsApp) or messaging item (Instagram) as received.
        raw: Value,
    },
    /// Something Parley could not type. Kept whole, with the reason.
    Unsupported(Unsupported),
}

/// The business-side channel an event belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ChannelRef {
    pub kind: ChannelKind,
    /// WhatsApp: `metadata.phone_number_id`. Instagram: the professional
    /// account id (`entry[].id`).
    pub id: String,
}

/// Who the customer is. Several ids because Meta is moving from phone
/// numbers to business-scoped user ids (2026): `wa_id` may be missing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Sender {
    /// WhatsApp id (usually the phone number), when Meta shares it.
    pub wa_id: Option<String>,
    /// Business-scoped user id (WhatsApp BSUID; Instagram IGSID).
    pub user_id: Option<String>,
    /// Profile name, when known.
    pub name: Option<String>,
}

impl Sender {
    /// The key a contact is stored under: `wa_id`, else `user_id`.
    pub fn key(&self) -> Option<&str> {
        self.wa_id.as_deref().or(self.user_id.as_deref())
    }
}

/// A message in a customer conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboundMessage {
    pub channel: ChannelRef,
    /// `wamid.…` (WhatsApp) or `mid` (Instagram); the dedupe key.
    pub provider_id: String,
    /// The customer this conversation is with (see the module doc for echoes).
    pub from: Sender,
    pub timestamp_ms: i64,
    pub content: MessageContent,
    pub context: Option<ReplyContext>,
    /// Instagram `is_echo`: the business sent this from another app.
    pub echo: bool,
    /// The message object (WhatsApp) or messaging item (Instagram) as received.
    pub raw: Value,
}

impl InboundMessage {
    /// Meta's name for the message type (`"text"`, `"image"`, ...).
    pub fn kind(&self) -> &str {
        self.content.kind()
    }

    /// One line of plain text for the conversation list and notifications.
    pub fn preview(&self) -> String {
        self.content.preview()
    }

    /// The full text to store and show in the thread (see [`MessageContent::body`]).
    pub fn body(&self) -> String {
        self.content.body()
    }
}

/// A media attachment as the webhook describes it. WhatsApp gives an `id`
/// to fetch through the Graph API; Instagram gives a (short-lived) `url`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Media {
    pub id: Option<String>,
    pub url: Option<String>,
    pub mime_type: Option<String>,
    /// Hex SHA-256 of the file, to verify the download.
    pub sha256: Option<String>,
    pub caption: Option<String>,
}

/// What a message says.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageContent {
    Text {
        body: String,
    },
    Image {
        media: Media,
    },
    Video {
        media: Media,
    },
    Audio {
        media: Media,
        /// Recorded as a voice note (rather than an audio file).
        voice: bool,
    },
    Document {
        media: Media,
        filename: Option<String>,
    },
    Sticker {
        media: Media,
        animated: bool,
    },
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
        url: Option<String>,
    },
    /// Contact cards the customer shared.
    Contacts(Vec<SharedContact>),
    /// The customer answered an interactive message.
    Interactive(InteractiveReply),
    /// The customer pressed a quick-reply button of a template (WhatsApp) or
    /// a quick reply (Instagram).
    Button {
        text: String,
        payload: Option<String>,
    },
    Reaction {
        /// The message reacted to.
        message_id: String,
        /// `None` when the customer removed their reaction.
        emoji: Option<String>,
    },
    Order(Order),
    /// A notice from WhatsApp itself, e.g. the customer changed number.
    System(SystemNotice),
    /// Instagram: the customer tapped an icebreaker or template button.
    Postback {
        title: Option<String>,
        payload: Option<String>,
    },
    /// Instagram: a shared post, reel, story mention or other link-like
    /// attachment. `kind` is Meta's attachment type.
    Shared {
        kind: String,
        url: Option<String>,
        title: Option<String>,
    },
    /// Instagram: several attachments in one message.
    Attachments(Vec<MessageContent>),
    /// The customer wrote, but Meta cannot show what (WhatsApp `unsupported`,
    /// Instagram `is_unsupported`).
    Unsupported {
        /// The underlying type when Meta names it (e.g. `poll_update`).
        type_name: String,
        reason: String,
    },
}

impl MessageContent {
    /// Meta's type name for this content.
    pub fn kind(&self) -> &str {
        match self {
            MessageContent::Text { .. } => "text",
            MessageContent::Image { .. } => "image",
            MessageContent::Video { .. } => "video",
            MessageContent::Audio { .. } => "audio",
            MessageContent::Document { .. } => "document",
            MessageContent::Sticker { .. } => "sticker",
            MessageContent::Location { .. } => "location",
            MessageContent::Contacts(_) => "contacts",
            MessageContent::Interactive(_) => "interactive",
            MessageContent::Button { .. } => "button",
            MessageContent::Reaction { .. } => "reaction",
            MessageContent::Order(_) => "order",
            MessageContent::System(_) => "system",
            MessageContent::Postback { .. } => "postback",
            MessageContent::Shared { kind, .. } => kind,
            MessageContent::Attachments(_) => "attachments",
            MessageContent::Unsupported { .. } => "unsupported",
        }
    }

    /// One line of plain text describing this content, for lists and
    /// notifications: whitespace collapsed, cut at 160 characters.
    pub fn preview(&self) -> String {
        one_line(&self.body())
    }

    /// The whole text of this content, line breaks kept: the text body or
    /// caption, else a short description of what it is.
    pub fn body(&self) -> String {
        match self {
            MessageContent::Text { body } => body.clone(),
            MessageContent::Image { media } => caption_or(media, "📷 Photo"),
            MessageContent::Video { media } => caption_or(media, "🎥 Video"),
            MessageContent::Audio { voice: true, .. } => "🎤 Voice message".into(),
            MessageContent::Audio { .. } => "🎵 Audio".into(),
            MessageContent::Document { media, filename } => match (&media.caption, filename) {
                (Some(caption), _) if !caption.trim().is_empty() => caption.clone(),
                (_, Some(name)) => format!("📄 {name}"),
                _ => "📄 Document".into(),
            },
            MessageContent::Sticker { .. } => "🏷️ Sticker".into(),
            MessageContent::Location { name, address, .. } => {
                match name.as_ref().or(address.as_ref()) {
                    Some(place) => format!("📍 {place}"),
                    None => "📍 Location".into(),
                }
            }
            MessageContent::Contacts(cards) => match cards.as_slice() {
                [one] => match &one.formatted_name {
                    Some(name) => format!("👤 {name}"),
                    None => "👤 Contact".into(),
                },
                many => format!("👤 {} contacts", many.len()),
            },
            MessageContent::Interactive(reply) => reply.title().unwrap_or("Replied").to_owned(),
            MessageContent::Button { text, .. } => text.clone(),
            MessageContent::Reaction { emoji: Some(e), .. } => format!("Reacted {e} to a message"),
            MessageContent::Reaction { emoji: None, .. } => "Removed a reaction".into(),
            MessageContent::Order(order) => match order.items.len() {
                1 => "🛒 Order (1 item)".into(),
                n => format!("🛒 Order ({n} items)"),
            },
            MessageContent::System(notice) => {
                notice.body.clone().unwrap_or_else(|| "WhatsApp notice".into())
            }
            MessageContent::Postback { title, payload } => title
                .clone()
                .or_else(|| payload.clone())
                .unwrap_or_else(|| "Tapped a button".into()),
            MessageContent::Shared { kind, title, .. } => match (kind.as_str(), title) {
                (_, Some(title)) => format!("🔗 {title}"),
                ("story_mention", None) => "🔗 Mentioned you in a story".into(),
                ("ig_reel" | "reel", None) => "🔗 Shared a reel".into(),
                _ => "🔗 Shared a post".into(),
            },
            MessageContent::Attachments(parts) => format!("📎 {} attachments", parts.len()),
            MessageContent::Unsupported { .. } => "⚠️ Unsupported message".into(),
        }
    }
}

fn caption_or(media: &Media, fallback: &str) -> String {
    match &media.caption {
        Some(caption) if !caption.trim().is_empty() => caption.clone(),
        _ => fallback.to_owned(),
    }
}

/// Previews are shown in single-line list rows, so newlines and runs of
/// spaces collapse, and very long text is cut (on a char boundary).
fn one_line(text: &str) -> String {
    const MAX_CHARS: usize = 160;
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= MAX_CHARS {
        return collapsed;
    }
    let mut cut: String = collapsed.chars().take(MAX_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// A contact card from a `contacts` message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SharedContact {
    pub formatted_name: Option<String>,
    pub phones: Vec<ContactPhone>,
    pub emails: Vec<String>,
    pub organization: Option<String>,
    /// The card as received (addresses, birthday, urls, ...).
    pub raw: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactPhone {
    pub phone: Option<String>,
    /// Present when the number is on WhatsApp.
    pub wa_id: Option<String>,
    /// `HOME`, `WORK`, `CELL`, ... as Meta spells it.
    pub label: Option<String>,
}

/// The customer's answer to an interactive message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InteractiveReply {
    ButtonReply {
        id: String,
        title: String,
    },
    ListReply {
        id: String,
        title: String,
        description: Option<String>,
    },
    /// A WhatsApp Flow completed (`nfm_reply`); `response_json` is Meta's
    /// JSON string, left unparsed.
    FlowReply {
        name: Option<String>,
        body: Option<String>,
        response_json: Option<String>,
    },
}

impl InteractiveReply {
    fn title(&self) -> Option<&str> {
        match self {
            InteractiveReply::ButtonReply { title, .. }
            | InteractiveReply::ListReply { title, .. } => Some(title),
            InteractiveReply::FlowReply { body, .. } => body.as_deref(),
        }
    }
}

/// A cart the customer sent from the business's catalog.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Order {
    pub catalog_id: Option<String>,
    /// The customer's note with the order.
    pub text: Option<String>,
    pub items: Vec<OrderItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderItem {
    pub product_retailer_id: Option<String>,
    pub quantity: Option<i64>,
    pub item_price: Option<f64>,
    pub currency: Option<String>,
}

/// A notice WhatsApp itself sends about the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SystemNotice {
    /// Meta's `system.type`, e.g. `user_changed_number`.
    pub kind: Option<String>,
    pub body: Option<String>,
    /// The customer's new WhatsApp id after a number change.
    pub new_wa_id: Option<String>,
}

/// What a message replies to or came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReplyContext {
    /// The message quoted (WhatsApp `context.id`, Instagram `reply_to.mid`).
    pub message_id: Option<String>,
    /// Who wrote the quoted message (WhatsApp `context.from`).
    pub from: Option<String>,
    pub forwarded: bool,
    pub frequently_forwarded: bool,
    /// The ad or link that started the conversation.
    pub referral: Option<Referral>,
    /// WhatsApp: the customer asked about this catalog product.
    pub referred_product: Option<ReferredProduct>,
    /// Instagram: the customer replied to one of the business's stories.
    pub story: Option<StoryRef>,
}

/// A click-to-WhatsApp ad, or an Instagram ig.me / ad referral.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Referral {
    /// WhatsApp `source_type` (`ad`, `post`) or Instagram `source`.
    pub source_type: Option<String>,
    pub source_id: Option<String>,
    pub source_url: Option<String>,
    pub headline: Option<String>,
    pub body: Option<String>,
    /// Click-to-WhatsApp click id.
    pub ctwa_clid: Option<String>,
    /// Instagram `ref` parameter of an ig.me link.
    pub ref_param: Option<String>,
    /// The referral object as received.
    pub raw: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReferredProduct {
    pub catalog_id: Option<String>,
    pub product_retailer_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoryRef {
    pub id: Option<String>,
    pub url: Option<String>,
}

/// Progress of an outbound message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusUpdate {
    pub channel: ChannelRef,
    /// The id Meta gave the message when it accepted it.
    pub provider_id: String,
    /// As Meta spells it: `sent`, `delivered`, `read`, `played`, `failed`, ...
    pub status: String,
    pub timestamp_ms: i64,
    /// The customer: `recipient_id`, else `recipient_user_id` (BSUID).
    pub recipient: Option<String>,
    pub errors: Vec<ErrorDetail>,
    pub conversation: Option<Value>,
    pub pricing: Option<Value>,
    pub biz_opaque_callback_data: Option<String>,
}

/// One entry of a webhook `errors` array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorDetail {
    /// Meta's error code; 0 when Meta sent none.
    pub code: i64,
    pub title: Option<String>,
    pub message: Option<String>,
    /// `error_data.details`.
    pub details: Option<String>,
}

/// The customer unsent a message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageDeleted {
    pub channel: ChannelRef,
    /// The id of the message that was removed.
    pub provider_id: String,
    pub from: Sender,
    pub timestamp_ms: i64,
    pub raw: Value,
}

/// An item Parley could not type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unsupported {
    pub channel: Option<ChannelRef>,
    /// Meta's `field` (`messages`, `messaging`, an unknown field's name), the
    /// list a failing item came from (`statuses`, `errors`), or `object` /
    /// `entry` when the envelope itself was odd.
    pub field: String,
    /// Exactly what was missing or unknown.
    pub reason: String,
    pub raw: Value,
}

/// Parse a raw webhook body. Errors only when the body is not a JSON object
/// with an `"object"` field; everything else yields events.
pub fn parse(body: &[u8]) -> Result<Vec<WebhookEvent>, WebhookError> {
    let root: Value =
        serde_json::from_slice(body).map_err(|e| WebhookError::NotJson(e.to_string()))?;
    parse_value(&root)
}

/// [`parse`] for a body that is already JSON.
pub fn parse_value(root: &Value) -> Result<Vec<WebhookEvent>, WebhookError> {
    let map = root.as_object().ok_or(WebhookError::NotAnObject)?;
    let object = map.get("object").and_then(Value::as_str).ok_or(WebhookError::NoObjectField)?;
    let mut events = Vec::new();
    match object {
        "whatsapp_business_account" => whatsapp::parse_root(root, &mut events),
        "instagram" => instagram::parse_root(root, &mut events),
        other => events.push(WebhookEvent::Unsupported(Unsupported {
            channel: None,
            field: "object".into(),
            reason: format!("webhook object {other:?} is not one Parley handles"),
            raw: root.clone(),
        })),
    }
    Ok(events)
}

/// The entries of a root, or an `Unsupported` saying why there are none.
/// A missing `entry` is an empty webhook, not an error.
fn entries<'a>(root: &'a Value, events: &mut Vec<WebhookEvent>) -> &'a [Value] {
    match root.get("entry") {
        None | Some(Value::Null) => &[],
        Some(Value::Array(list)) => list,
        Some(_) => {
            events.push(unsupported(None, "entry", "\"entry\" is not a list", root.clone()));
            &[]
        }
    }
}

fn unsupported(
    channel: Option<ChannelRef>,
    field: &str,
    reason: impl Into<String>,
    raw: Value,
) -> WebhookEvent {
    WebhookEvent::Unsupported(Unsupported {
        channel,
        field: field.to_owned(),
        reason: reason.into(),
        raw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_are_one_line_and_bounded() {
        let long = "word ".repeat(100);
        let text = MessageContent::Text { body: format!("hello\n\n  there {long}") };
        let preview = text.preview();
        assert!(preview.starts_with("hello there word"));
        assert!(!preview.contains('\n'));
        assert_eq!(preview.chars().count(), 160);
        assert!(preview.ends_with('…'));
    }

    #[test]
    fn sender_key_prefers_wa_id() {
        let both = Sender { wa_id: Some("1555".into()), user_id: Some("US.1".into()), name: None };
        assert_eq!(both.key(), Some("1555"));
        let bsuid_only = Sender { wa_id: None, user_id: Some("US.1".into()), name: None };
        assert_eq!(bsuid_only.key(), Some("US.1"));
        assert_eq!(Sender::default().key(), None);
    }

    #[test]
    fn envelope_errors() {
        assert!(matches!(parse(b"nope"), Err(WebhookError::NotJson(_))));
        assert_eq!(parse(b"[1]"), Err(WebhookError::NotAnObject));
        assert_eq!(parse(b"{}"), Err(WebhookError::NoObjectField));
        assert_eq!(parse(br#"{"object":7}"#), Err(WebhookError::NoObjectField));
    }

    #[test]
    fn unknown_object_is_kept() {
        let events = parse(br#"{"object":"page","entry":[]}"#).unwrap();
        match &events[..] {
            [WebhookEvent::Unsupported(u)] => {
                assert_eq!(u.field, "object");
                assert!(u.reason.contains("\"page\""));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
