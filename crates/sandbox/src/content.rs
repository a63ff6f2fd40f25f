//! What a simulated customer can send, and the exact `messages[]` object
//! (WhatsApp) or `message` object (Instagram) Meta would put in the webhook.
//!
//! Shapes follow Meta's webhook references for each message type; media
//! carry an id (WhatsApp) or a URL (Instagram) that the sandbox really
//! serves, with the true sha256, so the download path can be exercised.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A WhatsApp customer message, as the control API and library take it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CustomerMessage {
    Text {
        text: String,
    },
    Image {
        caption: Option<String>,
    },
    Video {
        caption: Option<String>,
    },
    /// A recorded voice note (`audio.voice: true`).
    Voice,
    /// An audio file.
    Audio,
    Document {
        filename: String,
        caption: Option<String>,
    },
    Sticker {
        animated: bool,
    },
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
    },
    Contacts {
        name: String,
        phone: String,
    },
    /// Answer to an interactive reply-button message.
    ButtonReply {
        id: String,
        title: String,
    },
    /// Answer to an interactive list message.
    ListReply {
        id: String,
        title: String,
        description: Option<String>,
    },
    /// A template quick-reply button press.
    Button {
        text: String,
        payload: String,
    },
    /// `emoji: None` removes the customer's reaction.
    Reaction {
        message_id: String,
        emoji: Option<String>,
    },
    Order {
        catalog_id: String,
        product_retailer_id: String,
        quantity: u32,
        price: f64,
    },
    /// Something WhatsApp cannot show the business (e.g. a poll).
    Unsupported,
    /// A first message from a click-to-WhatsApp ad (text with `referral`).
    FromAd {
        text: String,
        headline: String,
    },
    /// WhatsApp's own notice that the customer changed number.
    ChangedNumber {
        new_wa_id: String,
    },
}

impl CustomerMessage {
    /// Meta's `type` for the message.
    pub fn type_name(&self) -> &'static str {
        match self {
            CustomerMessage::Text { .. } | CustomerMessage::FromAd { .. } => "text",
            CustomerMessage::ChangedNumber { .. } => "system",
            CustomerMessage::Image { .. } => "image",
            CustomerMessage::Video { .. } => "video",
            CustomerMessage::Voice | CustomerMessage::Audio => "audio",
            CustomerMessage::Document { .. } => "document",
            CustomerMessage::Sticker { .. } => "sticker",
            CustomerMessage::Location { .. } => "location",
            CustomerMessage::Contacts { .. } => "contacts",
            CustomerMessage::ButtonReply { .. } | CustomerMessage::ListReply { .. } => {
                "interactive"
            }
            CustomerMessage::Button { .. } => "button",
            CustomerMessage::Reaction { .. } => "reaction",
            CustomerMessage::Order { .. } => "order",
            CustomerMessage::Unsupported => "unsupported",
        }
    }

    /// The media this message needs: (MIME type, file name) or none.
    pub fn media_kind(&self) -> Option<(&'static str, &'static str)> {
        match self {
            CustomerMessage::Image { .. } => Some(("image/jpeg", "photo.jpg")),
            CustomerMessage::Video { .. } => Some(("video/mp4", "clip.mp4")),
            CustomerMessage::Voice => Some(("audio/ogg; codecs=opus", "voice.ogg")),
            CustomerMessage::Audio => Some(("audio/mpeg", "song.mp3")),
            CustomerMessage::Document { .. } => Some(("application/pdf", "document.pdf")),
            CustomerMessage::Sticker { .. } => Some(("image/webp", "sticker.webp")),
            _ => None,
        }
    }

    /// Nothing empty may be sent: Meta would never deliver it.
    pub fn validate(&self) -> Result<(), &'static str> {
        match self {
            CustomerMessage::Text { text } if text.trim().is_empty() => {
                Err("text must not be empty")
            }
            CustomerMessage::Reaction { message_id, .. } if message_id.is_empty() => {
                Err("reaction needs a message_id")
            }
            CustomerMessage::Location { latitude, longitude, .. }
                if !(-90.0..=90.0).contains(latitude) || !(-180.0..=180.0).contains(longitude) =>
            {
                Err("location is out of range")
            }
            _ => Ok(()),
        }
    }

    /// The type-specific part of the message object: `{"type": ..., <type>: {...}}`
    /// (plus `errors` for unsupported). `media` is (id, MIME, sha256).
    pub fn to_webhook_parts(&self, media: Option<(&str, &str, &str)>) -> Value {
        let media_obj = |extra: Value| {
            let (id, mime, sha) = media.unwrap_or(("", "", ""));
            let mut m = json!({ "id": id, "mime_type": mime, "sha256": sha });
            if let (Some(map), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
                for (k, v) in extra {
                    if !v.is_null() {
                        map.insert(k.clone(), v.clone());
                    }
                }
            }
            m
        };
        let part = match self {
            CustomerMessage::Text { text } => json!({ "body": text }),
            CustomerMessage::Image { caption } | CustomerMessage::Video { caption } => {
                media_obj(json!({ "caption": caption }))
            }
            CustomerMessage::Voice => media_obj(json!({ "voice": true })),
            CustomerMessage::Audio => media_obj(json!({ "voice": false })),
            CustomerMessage::Document { filename, caption } => {
                media_obj(json!({ "filename": filename, "caption": caption }))
            }
            CustomerMessage::Sticker { animated } => media_obj(json!({ "animated": animated })),
            CustomerMessage::Location { latitude, longitude, name, address } => {
                let mut l = json!({ "latitude": latitude, "longitude": longitude });
                if let Some(n) = name {
                    l["name"] = json!(n);
                }
                if let Some(a) = address {
                    l["address"] = json!(a);
                }
                l
            }
            CustomerMessage::Contacts { name, phone } => {
                let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
                return json!({ "type": "contacts", "contacts": [{
                    "name": { "formatted_name": name, "first_name": name },
                    "phones": [{ "phone": phone, "wa_id": digits, "type": "CELL" }],
                }]});
            }
            CustomerMessage::ButtonReply { id, title } => {
                json!({ "type": "button_reply", "button_reply": { "id": id, "title": title } })
            }
            CustomerMessage::ListReply { id, title, description } => {
                let mut r = json!({ "id": id, "title": title });
                if let Some(d) = description {
                    r["description"] = json!(d);
                }
                json!({ "type": "list_reply", "list_reply": r })
            }
            CustomerMessage::Button { text, payload } => {
                json!({ "text": text, "payload": payload })
            }
            CustomerMessage::Reaction { message_id, emoji } => match emoji {
                Some(e) => json!({ "message_id": message_id, "emoji": e }),
                // Meta omits the emoji when a reaction is removed.
                None => json!({ "message_id": message_id }),
            },
            CustomerMessage::Order { catalog_id, product_retailer_id, quantity, price } => json!({
                "catalog_id": catalog_id,
                "text": "",
                "product_items": [{
                    "product_retailer_id": product_retailer_id,
                    "quantity": quantity.to_string(),
                    "item_price": price.to_string(),
                    "currency": "USD",
                }],
            }),
            CustomerMessage::FromAd { text, headline } => {
                return json!({
                    "type": "text",
                    "text": { "body": text },
                    "referral": {
                        "source_url": "https://fb.me/sandbox-ad",
                        "source_id": "120000000000001",
                        "source_type": "ad",
                        "headline": headline,
                        "body": "Tap to chat with us on WhatsApp",
                        "media_type": "image",
                        "image_url": "https://sandbox.invalid/ad.jpg",
                        "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEkR7JwFF4XvnO2E4Nx0-eM-GABDLOPaOdRMXP7cIM",
                    },
                });
            }
            CustomerMessage::ChangedNumber { new_wa_id } => json!({
                "body": format!("User changed number to {new_wa_id}"),
                "wa_id": new_wa_id,
                "type": "user_changed_number",
            }),
            CustomerMessage::Unsupported => {
                return json!({
                    "type": "unsupported",
                    "errors": [{
                        "code": 131051,
                        "title": "Message type unknown",
                        "message": "Message type unknown",
                        "error_data": { "details": "Message type is currently not supported." },
                    }],
                    "unsupported": { "type": "poll_creation" },
                });
            }
        };
        let name = self.type_name();
        let mut out = json!({ "type": name });
        out[name] = part;
        out
    }
}

/// An Instagram customer message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum IgCustomerMessage {
    Text {
        text: String,
    },
    Image,
    Video,
    Audio,
    /// A reply to one of the business's stories.
    StoryReply {
        text: String,
    },
    /// A quick-reply tap.
    QuickReply {
        text: String,
        payload: String,
    },
    /// `emoji: None` is an unreact.
    Reaction {
        mid: String,
        emoji: Option<String>,
    },
    /// The customer unsent one of their messages.
    Delete {
        mid: String,
    },
    /// Something Instagram cannot show the business.
    Unsupported,
}

impl IgCustomerMessage {
    pub fn media_kind(&self) -> Option<(&'static str, &'static str)> {
        match self {
            IgCustomerMessage::Image => Some(("image/jpeg", "image")),
            IgCustomerMessage::Video => Some(("video/mp4", "video")),
            IgCustomerMessage::Audio => Some(("audio/mp4", "audio")),
            _ => None,
        }
    }

    /// The messaging item's event part: `{"message": {...}}` or `{"reaction": {...}}`.
    /// `media_url` is the attachment URL for media kinds.
    pub fn to_item_parts(&self, mid: &str, media_url: Option<&str>, story_url: &str) -> Value {
        match self {
            IgCustomerMessage::Text { text } => json!({ "message": { "mid": mid, "text": text } }),
            IgCustomerMessage::Image | IgCustomerMessage::Video | IgCustomerMessage::Audio => {
                let kind = self.media_kind().map_or("image", |(_, k)| k);
                json!({ "message": { "mid": mid, "attachments": [
                    { "type": kind, "payload": { "url": media_url.unwrap_or_default() } }
                ]}})
            }
            IgCustomerMessage::StoryReply { text } => json!({ "message": {
                "mid": mid, "text": text,
                "reply_to": { "story": { "url": story_url, "id": "18000000000000001" } },
            }}),
            IgCustomerMessage::QuickReply { text, payload } => json!({ "message": {
                "mid": mid, "text": text, "quick_reply": { "payload": payload },
            }}),
            IgCustomerMessage::Reaction { mid: target, emoji } => match emoji {
                Some(e) => json!({ "reaction": {
                    "mid": target, "action": "react", "reaction": "other", "emoji": e,
                }}),
                None => json!({ "reaction": { "mid": target, "action": "unreact" } }),
            },
            IgCustomerMessage::Delete { mid: target } => {
                json!({ "message": { "mid": target, "is_deleted": true } })
            }
            IgCustomerMessage::Unsupported => {
                json!({ "message": { "mid": mid, "is_unsupported": true } })
            }
        }
    }
}

/// A few bytes that start like a real file of that type, unique per id so
/// every download has its own sha256.
pub fn synthetic_file(mime: &str, id: &str) -> Vec<u8> {
    let magic: &[u8] = match mime.split(';').next().unwrap_or("") {
        "image/jpeg" => &[0xFF, 0xD8, 0xFF, 0xE0],
        "image/webp" => b"RIFF\0\0\0\0WEBP",
        "video/mp4" | "audio/mp4" => b"\0\0\0\x18ftypmp42",
        "audio/ogg" => b"OggS",
        "audio/mpeg" => b"ID3",
        "application/pdf" => b"%PDF-1.7\n",
        _ => b"",
    };
    let mut bytes = magic.to_vec();
    bytes.extend_from_slice(format!("parley sandbox media {id}\n").as_bytes());
    bytes.extend(std::iter::repeat_n(0u8, 256));
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_have_metas_shape() {
        let img = CustomerMessage::Image { caption: Some("c".into()) }.to_webhook_parts(Some((
            "9",
            "image/jpeg",
            "ab",
        )));
        assert_eq!(
            img,
            json!({"type":"image","image":{"id":"9","mime_type":"image/jpeg","sha256":"ab","caption":"c"}})
        );
        let unreact = CustomerMessage::Reaction { message_id: "wamid.X".into(), emoji: None }
            .to_webhook_parts(None);
        assert_eq!(unreact, json!({"type":"reaction","reaction":{"message_id":"wamid.X"}}));
        let list =
            CustomerMessage::ListReply { id: "r1".into(), title: "T".into(), description: None }
                .to_webhook_parts(None);
        assert_eq!(list["interactive"]["type"], "list_reply");
        let control: CustomerMessage = serde_json::from_value(json!({"type":"voice"})).unwrap();
        assert_eq!(control, CustomerMessage::Voice);
    }
}
