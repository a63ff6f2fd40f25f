//! Outgoing WhatsApp messages and their exact request bodies for
//! `POST /{version}/{phone_number_id}/messages`.
//!
//! Limits Meta documents are checked here, before any network call, so an
//! agent learns at once that a fourth button or a 5,000-character text will
//! never go through (rather than after a round trip and a cryptic code 100).

use super::GraphError;
use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value};

/// Longest text body Meta accepts, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;
/// Longest media caption, in characters (defined once in `parley-types`).
pub use parley_types::attachment::MAX_CAPTION_CHARS;
/// Most reply buttons in one interactive message.
pub const MAX_BUTTONS: usize = 3;
/// Most rows across all sections of a list message.
pub const MAX_LIST_ROWS: usize = 10;
const MAX_BUTTON_TITLE_CHARS: usize = 20;
const MAX_ROW_TITLE_CHARS: usize = 24;
const MAX_ROW_DESCRIPTION_CHARS: usize = 72;
const MAX_INTERACTIVE_BODY_CHARS: usize = 1024;

/// Who a message goes to. Since 2026 a customer may be known only by their
/// business-scoped user id, which Meta takes in `recipient` instead of `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// A phone number / WhatsApp id, sent as `to`.
    Phone(String),
    /// A business-scoped user id (e.g. `US.13491208655302741918`), sent as
    /// `recipient`.
    UserId(String),
}

impl Recipient {
    /// Tell the two apart by shape: phone numbers are digits with optional
    /// `+`, spaces, dashes and parentheses; a BSUID has a country prefix and
    /// a dot, so anything else is taken as a user id.
    pub fn from_address(address: &str) -> Self {
        let phone_like = !address.is_empty()
            && address.chars().any(|c| c.is_ascii_digit())
            && address.chars().all(|c| c.is_ascii_digit() || "+ -()".contains(c));
        if phone_like {
            Recipient::Phone(address.to_owned())
        } else {
            Recipient::UserId(address.to_owned())
        }
    }

    fn address(&self) -> &str {
        match self {
            Recipient::Phone(a) | Recipient::UserId(a) => a,
        }
    }
}

/// Media already uploaded (`id`) or fetched by Meta from a public URL (`link`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaSource {
    Id(String),
    Link(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyButton {
    /// Comes back in the customer's `button_reply.id`.
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSection {
    pub title: Option<String>,
    pub rows: Vec<ListRow>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRow {
    /// Comes back in the customer's `list_reply.id`.
    pub id: String,
    pub title: String,
    pub description: Option<String>,
}

/// What a message says.
#[derive(Debug, Clone, PartialEq)]
pub enum OutgoingBody {
    Text {
        body: String,
        /// Ask WhatsApp to render a preview of the first link.
        preview_url: bool,
    },
    Image {
        media: MediaSource,
        caption: Option<String>,
    },
    Video {
        media: MediaSource,
        caption: Option<String>,
    },
    Audio {
        media: MediaSource,
    },
    Document {
        media: MediaSource,
        caption: Option<String>,
        filename: Option<String>,
    },
    Sticker {
        media: MediaSource,
    },
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
    },
    /// Contact cards in Meta's own shape (`name`, `phones`, `emails`, ...).
    Contacts {
        contacts: Vec<Value>,
    },
    /// `emoji: None` removes the business's reaction.
    Reaction {
        message_id: String,
        emoji: Option<String>,
    },
    Buttons {
        header: Option<String>,
        body: String,
        footer: Option<String>,
        buttons: Vec<ReplyButton>,
    },
    List {
        header: Option<String>,
        body: String,
        footer: Option<String>,
        /// The label of the button that opens the list.
        button: String,
        sections: Vec<ListSection>,
    },
    /// An approved template; `components` are Meta's component objects
    /// (header/body/button parameters), passed through as given.
    Template {
        name: String,
        language: String,
        components: Vec<Value>,
    },
}

impl OutgoingBody {
    /// Meta's `type` for this body.
    pub fn type_name(&self) -> &'static str {
        match self {
            OutgoingBody::Text { .. } => "text",
            OutgoingBody::Image { .. } => "image",
            OutgoingBody::Video { .. } => "video",
            OutgoingBody::Audio { .. } => "audio",
            OutgoingBody::Document { .. } => "document",
            OutgoingBody::Sticker { .. } => "sticker",
            OutgoingBody::Location { .. } => "location",
            OutgoingBody::Contacts { .. } => "contacts",
            OutgoingBody::Reaction { .. } => "reaction",
            OutgoingBody::Buttons { .. } | OutgoingBody::List { .. } => "interactive",
            OutgoingBody::Template { .. } => "template",
        }
    }
}

/// A message to send with [`super::GraphClient::send`].
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMessage {
    pub to: Recipient,
    pub body: OutgoingBody,
    /// Quote this earlier message (`context.message_id`).
    pub reply_to: Option<String>,
    /// Echoed back in this message's status webhooks.
    pub biz_opaque_callback_data: Option<String>,
}

impl OutgoingMessage {
    pub fn new(to: Recipient, body: OutgoingBody) -> Self {
        OutgoingMessage { to, body, reply_to: None, biz_opaque_callback_data: None }
    }

    /// A text message. A link preview is requested when the text has a URL,
    /// which is what a person typing in WhatsApp would see.
    pub fn text(to: &str, body: &str) -> Self {
        let preview_url = body.contains("https://") || body.contains("http://");
        Self::new(
            Recipient::from_address(to),
            OutgoingBody::Text { body: body.to_owned(), preview_url },
        )
    }

    /// Quote `message_id` in the reply.
    pub fn replying_to(mut self, message_id: impl Into<String>) -> Self {
        self.reply_to = Some(message_id.into());
        self
    }

    /// Check Meta's documented limits.
    pub fn validate(&self) -> Result<(), GraphError> {
        if self.to.address().trim().is_empty() {
            return invalid("it has no recipient");
        }
        if matches!(&self.reply_to, Some(id) if id.trim().is_empty()) {
            return invalid("the quoted message id is empty");
        }
        match &self.body {
            OutgoingBody::Text { body, .. } => {
                non_empty("the text", body)?;
                at_most("the text", body, MAX_TEXT_CHARS)
            }
            OutgoingBody::Image { media, caption } | OutgoingBody::Video { media, caption } => {
                check_media(media)?;
                check_caption(caption)
            }
            OutgoingBody::Document { media, caption, .. } => {
                check_media(media)?;
                check_caption(caption)
            }
            OutgoingBody::Audio { media } | OutgoingBody::Sticker { media } => check_media(media),
            OutgoingBody::Location { latitude, longitude, .. } => {
                if !(-90.0..=90.0).contains(latitude) || !(-180.0..=180.0).contains(longitude) {
                    return invalid("the location is not a valid latitude and longitude");
                }
                Ok(())
            }
            OutgoingBody::Contacts { contacts } if contacts.is_empty() => {
                invalid("it has no contact cards")
            }
            OutgoingBody::Contacts { .. } => Ok(()),
            OutgoingBody::Reaction { message_id, .. } => {
                non_empty("the reacted-to message id", message_id)
            }
            OutgoingBody::Buttons { body, buttons, .. } => {
                non_empty("the message body", body)?;
                at_most("the message body", body, MAX_INTERACTIVE_BODY_CHARS)?;
                if buttons.is_empty() || buttons.len() > MAX_BUTTONS {
                    return invalid(&format!(
                        "it has {} buttons; WhatsApp allows 1 to {MAX_BUTTONS}",
                        buttons.len()
                    ));
                }
                for b in buttons {
                    non_empty("a button id", &b.id)?;
                    non_empty("a button title", &b.title)?;
                    at_most(
                        &format!("button title {:?}", b.title),
                        &b.title,
                        MAX_BUTTON_TITLE_CHARS,
                    )?;
                }
                Ok(())
            }
            OutgoingBody::List { body, button, sections, .. } => {
                non_empty("the message body", body)?;
                at_most("the message body", body, MAX_TEXT_CHARS)?;
                non_empty("the list button label", button)?;
                at_most("the list button label", button, MAX_BUTTON_TITLE_CHARS)?;
                let rows: Vec<&ListRow> = sections.iter().flat_map(|s| &s.rows).collect();
                if rows.is_empty() || rows.len() > MAX_LIST_ROWS {
                    return invalid(&format!(
                        "the list has {} rows; WhatsApp allows 1 to {MAX_LIST_ROWS}",
                        rows.len()
                    ));
                }
                for row in rows {
                    non_empty("a list row id", &row.id)?;
                    non_empty("a list row title", &row.title)?;
                    at_most(
                        &format!("list row title {:?}", row.title),
                        &row.title,
                        MAX_ROW_TITLE_CHARS,
                    )?;
                    if let Some(d) = &row.description {
                        at_most("a list row description", d, MAX_ROW_DESCRIPTION_CHARS)?;
                    }
                }
                Ok(())
            }
            OutgoingBody::Template { name, language, .. } => {
                non_empty("the template name", name)?;
                non_empty("the template language", language)
            }
        }
    }

    /// The JSON body Meta expects.
    pub fn to_json(&self) -> Value {
        let mut root = Map::new();
        root.insert("messaging_product".into(), json!("whatsapp"));
        root.insert("recipient_type".into(), json!("individual"));
        match &self.to {
            Recipient::Phone(phone) => root.insert("to".into(), json!(phone)),
            Recipient::UserId(id) => root.insert("recipient".into(), json!(id)),
        };
        // Reactions point at their message themselves; a context on top
        // would be a second, conflicting reference.
        if let (Some(id), false) =
            (&self.reply_to, matches!(self.body, OutgoingBody::Reaction { .. }))
        {
            root.insert("context".into(), json!({ "message_id": id }));
        }
        if let Some(data) = &self.biz_opaque_callback_data {
            root.insert("biz_opaque_callback_data".into(), json!(data));
        }
        let type_name = self.body.type_name();
        root.insert("type".into(), json!(type_name));
        root.insert(type_name.into(), body_json(&self.body));
        Value::Object(root)
    }
}

impl Serialize for OutgoingMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

fn body_json(body: &OutgoingBody) -> Value {
    match body {
        OutgoingBody::Text { body, preview_url } => {
            json!({ "preview_url": preview_url, "body": body })
        }
        OutgoingBody::Image { media, caption } | OutgoingBody::Video { media, caption } => {
            with(media_json(media), [("caption", caption.as_deref())])
        }
        OutgoingBody::Document { media, caption, filename } => with(
            media_json(media),
            [("caption", caption.as_deref()), ("filename", filename.as_deref())],
        ),
        OutgoingBody::Audio { media } | OutgoingBody::Sticker { media } => media_json(media),
        OutgoingBody::Location { latitude, longitude, name, address } => with(
            json!({ "latitude": latitude, "longitude": longitude }),
            [("name", name.as_deref()), ("address", address.as_deref())],
        ),
        OutgoingBody::Contacts { contacts } => Value::Array(contacts.clone()),
        OutgoingBody::Reaction { message_id, emoji } => {
            // Meta removes a reaction when the emoji is empty.
            json!({ "message_id": message_id, "emoji": emoji.as_deref().unwrap_or("") })
        }
        OutgoingBody::Buttons { header, body, footer, buttons } => {
            let buttons: Vec<Value> = buttons
                .iter()
                .map(|b| json!({ "type": "reply", "reply": { "id": b.id, "title": b.title } }))
                .collect();
            interactive("button", header, body, footer, json!({ "buttons": buttons }))
        }
        OutgoingBody::List { header, body, footer, button, sections } => {
            let sections: Vec<Value> = sections
                .iter()
                .map(|s| {
                    let rows: Vec<Value> = s
                        .rows
                        .iter()
                        .map(|r| {
                            with(
                                json!({ "id": r.id, "title": r.title }),
                                [("description", r.description.as_deref())],
                            )
                        })
                        .collect();
                    with(json!({ "rows": rows }), [("title", s.title.as_deref())])
                })
                .collect();
            interactive(
                "list",
                header,
                body,
                footer,
                json!({ "button": button, "sections": sections }),
            )
        }
        OutgoingBody::Template { name, language, components } => {
            let mut template = json!({ "name": name, "language": { "code": language } });
            if !components.is_empty() {
                template["components"] = Value::Array(components.clone());
            }
            template
        }
    }
}

fn interactive(
    kind: &str,
    header: &Option<String>,
    body: &str,
    footer: &Option<String>,
    action: Value,
) -> Value {
    let mut v = json!({ "type": kind, "body": { "text": body }, "action": action });
    if let Some(h) = header {
        v["header"] = json!({ "type": "text", "text": h });
    }
    if let Some(f) = footer {
        v["footer"] = json!({ "text": f });
    }
    v
}

fn media_json(media: &MediaSource) -> Value {
    match media {
        MediaSource::Id(id) => json!({ "id": id }),
        MediaSource::Link(link) => json!({ "link": link }),
    }
}

/// `base` plus the optional fields that are set; Meta rejects some `null`s.
fn with<const N: usize>(mut base: Value, optional: [(&str, Option<&str>); N]) -> Value {
    for (key, value) in optional {
        if let (Some(value), Some(map)) = (value, base.as_object_mut()) {
            map.insert(key.to_owned(), json!(value));
        }
    }
    base
}

fn invalid(why: &str) -> Result<(), GraphError> {
    Err(GraphError::InvalidInput(why.to_owned()))
}

fn non_empty(what: &str, s: &str) -> Result<(), GraphError> {
    if s.trim().is_empty() {
        return invalid(&format!("{what} is empty"));
    }
    Ok(())
}

fn at_most(what: &str, s: &str, max: usize) -> Result<(), GraphError> {
    let n = s.chars().count();
    if n > max {
        return invalid(&format!("{what} is {n} characters; the limit is {max}"));
    }
    Ok(())
}

fn check_media(media: &MediaSource) -> Result<(), GraphError> {
    match media {
        MediaSource::Id(id) => non_empty("the media id", id),
        MediaSource::Link(link) if link.starts_with("https://") || link.starts_with("http://") => {
            Ok(())
        }
        MediaSource::Link(_) => invalid("the media link is not an http(s) URL"),
    }
}

fn check_caption(caption: &Option<String>) -> Result<(), GraphError> {
    match caption {
        Some(c) => at_most("the caption", c, MAX_CAPTION_CHARS),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_by_shape() {
        assert_eq!(
            Recipient::from_address("+1 (555) 123-4567"),
            Recipient::Phone("+1 (555) 123-4567".into())
        );
        assert_eq!(Recipient::from_address("15551234567"), Recipient::Phone("15551234567".into()));
        assert_eq!(
            Recipient::from_address("US.13491208655302741918"),
            Recipient::UserId("US.13491208655302741918".into())
        );
    }

    #[test]
    fn bsuid_goes_in_recipient() {
        let body = OutgoingMessage::text("US.1", "hi").to_json();
        assert_eq!(body["recipient"], "US.1");
        assert!(body.get("to").is_none());
    }

    #[test]
    fn limits() {
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        assert!(OutgoingMessage::text("1555", &long).validate().is_err());
        assert!(OutgoingMessage::text("1555", &"é".repeat(MAX_TEXT_CHARS)).validate().is_ok());
        assert!(OutgoingMessage::text("1555", "  ").validate().is_err());
        let four: Vec<ReplyButton> =
            (0..4).map(|i| ReplyButton { id: format!("b{i}"), title: format!("B{i}") }).collect();
        let msg = OutgoingMessage::new(
            Recipient::Phone("1555".into()),
            OutgoingBody::Buttons {
                header: None,
                body: "pick".into(),
                footer: None,
                buttons: four,
            },
        );
        let err = msg.validate().unwrap_err();
        assert!(err.user_message().contains("4 buttons"), "{}", err.user_message());
    }

    #[test]
    fn reaction_removal_sends_empty_emoji_and_no_context() {
        let msg = OutgoingMessage::new(
            Recipient::Phone("1555".into()),
            OutgoingBody::Reaction { message_id: "wamid.A".into(), emoji: None },
        )
        .replying_to("wamid.A");
        let body = msg.to_json();
        assert_eq!(body["reaction"], json!({"message_id":"wamid.A","emoji":""}));
        assert!(body.get("context").is_none());
    }
}
