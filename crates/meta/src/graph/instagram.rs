//! Instagram Messaging sends: `POST /{ig_account_id}/messages` with
//! `{recipient:{id: IGSID}, message:{text | attachment}}`.
//!
//! The rules Meta sets: a business answers within 24 hours of the customer's
//! last message; a *person* may answer up to 7 days later with the
//! `HUMAN_AGENT` tag; automation never uses the tag; businesses cannot start
//! conversations. [`instagram_tag`] applies them before anything is sent.

use super::{path_segment, GraphClient, GraphError, SendAccepted, MAX_INSTAGRAM_TEXT_BYTES};
use serde_json::{json, Value};
use std::time::Duration;

/// The standard messaging window.
pub const INSTAGRAM_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a human agent may still answer, with the `HUMAN_AGENT` tag.
pub const HUMAN_AGENT_WINDOW: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// What an Instagram message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstagramBody {
    Text(String),
    /// A file Meta fetches from a public URL. `kind` is `image`, `video`,
    /// `audio` or `file`.
    Attachment {
        kind: InstagramAttachment,
        url: String,
    },
    /// A heart on one of the customer's messages.
    Like,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstagramAttachment {
    Image,
    Video,
    Audio,
    File,
}

impl InstagramAttachment {
    pub fn as_str(self) -> &'static str {
        match self {
            InstagramAttachment::Image => "image",
            InstagramAttachment::Video => "video",
            InstagramAttachment::Audio => "audio",
            InstagramAttachment::File => "file",
        }
    }
}

/// Whether a reply needs the `HUMAN_AGENT` tag, or may not be sent at all.
/// `since_customer` is the time since the customer's last message;
/// `by_human` is true only for a message a person typed and sent.
pub fn instagram_tag(
    since_customer: Duration,
    by_human: bool,
) -> Result<Option<&'static str>, GraphError> {
    if since_customer < INSTAGRAM_WINDOW {
        Ok(None)
    } else if by_human && since_customer < HUMAN_AGENT_WINDOW {
        Ok(Some("HUMAN_AGENT"))
    } else if by_human {
        Err(GraphError::OutsideWindow(
            "the customer last wrote more than 7 days ago; Instagram allows no reply until they write again".into(),
        ))
    } else {
        Err(GraphError::OutsideWindow(
            "the customer last wrote more than 24 hours ago; only a person may reply now".into(),
        ))
    }
}

/// The request body for an Instagram send (exposed for tests and the sandbox).
pub fn instagram_body(igsid: &str, body: &InstagramBody, tag: Option<&str>) -> Value {
    let message = match body {
        InstagramBody::Text(text) => json!({ "text": text }),
        InstagramBody::Attachment { kind, url } => {
            json!({ "attachment": { "type": kind.as_str(), "payload": { "url": url } } })
        }
        InstagramBody::Like => json!({ "attachment": { "type": "like_heart" } }),
    };
    let mut root = json!({ "recipient": { "id": igsid }, "message": message });
    if let Some(tag) = tag {
        root["messaging_type"] = json!("MESSAGE_TAG");
        root["tag"] = json!(tag);
    }
    root
}

impl GraphClient {
    /// Send to a customer's IGSID, applying the window rules (see
    /// [`instagram_tag`]).
    pub async fn send_instagram(
        &self,
        instagram_account_id: &str,
        igsid: &str,
        body: &InstagramBody,
        since_customer: Duration,
        by_human: bool,
    ) -> Result<SendAccepted, GraphError> {
        match body {
            InstagramBody::Text(text) if text.trim().is_empty() => {
                return Err(GraphError::InvalidInput("the text is empty".into()))
            }
            InstagramBody::Text(text) if text.len() > MAX_INSTAGRAM_TEXT_BYTES => {
                return Err(GraphError::InvalidInput(format!(
                    "the text is {} bytes; Instagram allows {MAX_INSTAGRAM_TEXT_BYTES}",
                    text.len()
                )))
            }
            InstagramBody::Attachment { url, .. } if !url.starts_with("https://") => {
                return Err(GraphError::InvalidInput(
                    "Instagram fetches attachments only from https URLs".into(),
                ))
            }
            _ => {}
        }
        if igsid.trim().is_empty() {
            return Err(GraphError::InvalidInput("it has no recipient".into()));
        }
        let tag = instagram_tag(since_customer, by_human)?;
        let url =
            self.url(&[path_segment("Instagram account id", instagram_account_id)?, "messages"]);
        let answer = self.post_json(&url, &instagram_body(igsid, body, tag)).await?;
        let message_id = answer
            .get("message_id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                GraphError::Decode("the Instagram send answer has no message_id".into())
            })?;
        Ok(SendAccepted { message_id: message_id.to_owned(), wa_id: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_follows_the_windows() {
        let h = Duration::from_secs(3600);
        assert_eq!(instagram_tag(h, false).unwrap(), None);
        assert_eq!(instagram_tag(h, true).unwrap(), None);
        assert_eq!(instagram_tag(h * 30, true).unwrap(), Some("HUMAN_AGENT"));
        assert!(matches!(instagram_tag(h * 30, false), Err(GraphError::OutsideWindow(_))));
        assert!(matches!(instagram_tag(h * 24 * 8, true), Err(GraphError::OutsideWindow(_))));
    }

    #[test]
    fn bodies() {
        let b = instagram_body(
            "61",
            &InstagramBody::Attachment {
                kind: InstagramAttachment::Image,
                url: "https://x/y.png".into(),
            },
            Some("HUMAN_AGENT"),
        );
        assert_eq!(b["message"]["attachment"]["payload"]["url"], "https://x/y.png");
        assert_eq!(b["tag"], "HUMAN_AGENT");
        assert_eq!(b["messaging_type"], "MESSAGE_TAG");
        assert!(instagram_body("61", &InstagramBody::Text("hi".into()), None).get("tag").is_none());
    }
}
