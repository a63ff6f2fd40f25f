//! Instagram Messaging webhooks: `object: "instagram"`, `entry[].messaging[]`
//! items with `sender`, `recipient`, `timestamp` (Unix ms) and one of
//! `message`, `read`, `reaction`, `postback`, `referral`.
//!
//! With Instagram Login, Meta may instead put the same item shape in
//! `entry[].changes[].value` with `field: "messages"` (and friends); those are
//! read the same way.

use super::json::{as_text, flag, list, text, unix_millis};
use super::{
    entries, unsupported, ChannelRef, InboundMessage, Media, MessageContent, MessageDeleted,
    Referral, ReplyContext, Sender, StatusUpdate, StoryRef, WebhookEvent,
};
use parley_types::ChannelKind;
use serde_json::Value;

/// `changes[].field` values whose `value` is a messaging item.
const MESSAGING_FIELDS: &[&str] = &[
    "messages",
    "message_reactions",
    "messaging_seen",
    "messaging_postbacks",
    "messaging_referral",
];

/// Instagram account fields that are not inbox traffic.
const KNOWN_ACCOUNT_FIELDS: &[&str] = &[
    "comments",
    "live_comments",
    "mentions",
    "story_insights",
    "message_edit",
    "messaging_optins",
    "standby",
];

pub(super) fn parse_root(root: &Value, events: &mut Vec<WebhookEvent>) {
    for entry in entries(root, events) {
        let channel = text(entry, "id").map(|id| ChannelRef { kind: ChannelKind::Instagram, id });
        for key in ["messaging", "standby", "changes"] {
            let items = match list(entry, key) {
                Ok(items) => items,
                Err(reason) => {
                    events.push(unsupported(channel.clone(), "entry", reason, entry.clone()));
                    continue;
                }
            };
            for item in items {
                let Some(channel) = channel.clone() else {
                    events.push(unsupported(None, key, "the entry has no \"id\"", item.clone()));
                    continue;
                };
                events.push(match key {
                    "messaging" => parse_messaging(&channel, item).unwrap_or_else(|reason| {
                        unsupported(Some(channel), "messaging", reason, item.clone())
                    }),
                    // Items for a conversation another app controls: not ours to
                    // answer, but worth keeping.
                    "standby" => WebhookEvent::Other {
                        channel: Some(channel),
                        field: "standby".into(),
                        raw: item.clone(),
                    },
                    _ => parse_change(channel, item),
                });
            }
        }
    }
}

fn parse_change(channel: ChannelRef, change: &Value) -> WebhookEvent {
    let Some(field) = change.get("field").and_then(Value::as_str) else {
        return unsupported(
            Some(channel),
            "changes",
            "the change has no \"field\"",
            change.clone(),
        );
    };
    if MESSAGING_FIELDS.contains(&field) {
        let value = change.get("value").unwrap_or(&Value::Null);
        return parse_messaging(&channel, value)
            .unwrap_or_else(|reason| unsupported(Some(channel), field, reason, change.clone()));
    }
    if KNOWN_ACCOUNT_FIELDS.contains(&field) {
        return WebhookEvent::Other {
            channel: Some(channel),
            field: field.to_owned(),
            raw: change.clone(),
        };
    }
    let reason = format!("Instagram field {field:?} is not one Parley knows");
    unsupported(Some(channel), field, reason, change.clone())
}

fn parse_messaging(channel: &ChannelRef, item: &Value) -> Result<WebhookEvent, String> {
    if !item.is_object() {
        return Err("the messaging item is not an object".into());
    }
    let sender = item.pointer("/sender/id").and_then(as_text);
    let recipient = item.pointer("/recipient/id").and_then(as_text);
    let timestamp_ms = unix_millis(item.get("timestamp"))?;
    let part = |key: &str| item.get(key).filter(|p| p.is_object());
    let customer_of = |echo: bool| {
        // An echo was written by the business, so the customer is the recipient.
        let id = if echo { recipient.clone() } else { sender.clone() };
        id.ok_or_else(|| {
            format!("the item has no {} id", if echo { "recipient" } else { "sender" })
        })
    };
    let customer = |id: String| Sender { wa_id: None, user_id: Some(id), name: None };

    if let Some(msg) = part("message") {
        let mid = text(msg, "mid").ok_or("the message has no \"mid\"")?;
        let echo = flag(msg, "is_echo");
        let from = customer(customer_of(echo)?);
        if flag(msg, "is_deleted") {
            return Ok(WebhookEvent::Deleted(MessageDeleted {
                channel: channel.clone(),
                provider_id: mid,
                from,
                timestamp_ms,
                raw: item.clone(),
            }));
        }
        return Ok(WebhookEvent::Message(InboundMessage {
            channel: channel.clone(),
            provider_id: mid.clone(),
            from,
            timestamp_ms,
            content: message_content(msg).map_err(|e| format!("message {mid}: {e}"))?,
            context: reply_context(msg),
            echo,
            raw: item.clone(),
        }));
    }
    if let Some(read) = part("read") {
        // The customer read a message the business sent.
        let mid = text(read, "mid").ok_or("the read receipt has no \"mid\"")?;
        return Ok(WebhookEvent::Status(StatusUpdate {
            channel: channel.clone(),
            provider_id: mid,
            status: "read".into(),
            timestamp_ms,
            recipient: Some(customer_of(false)?),
            errors: Vec::new(),
            conversation: None,
            pricing: None,
            biz_opaque_callback_data: None,
        }));
    }
    if let Some(reaction) = part("reaction") {
        let mid = text(reaction, "mid").ok_or("the reaction has no \"mid\"")?;
        let who = customer_of(false)?;
        let action = text(reaction, "action").unwrap_or_else(|| "react".into());
        let emoji = if action == "unreact" {
            None
        } else {
            text(reaction, "emoji")
                .or_else(|| text(reaction, "reaction").map(|name| emoji_for(&name)))
        };
        return Ok(WebhookEvent::Message(InboundMessage {
            channel: channel.clone(),
            // Reactions have no id of their own; this one is stable across
            // redeliveries of the same event, so dedupe still holds.
            provider_id: format!("{mid}#{action}:{who}:{timestamp_ms}"),
            from: customer(who),
            timestamp_ms,
            content: MessageContent::Reaction { message_id: mid, emoji },
            context: None,
            echo: false,
            raw: item.clone(),
        }));
    }
    if let Some(postback) = part("postback") {
        let who = customer_of(false)?;
        let provider_id =
            text(postback, "mid").unwrap_or_else(|| format!("postback:{who}:{timestamp_ms}"));
        return Ok(WebhookEvent::Message(InboundMessage {
            channel: channel.clone(),
            provider_id,
            from: customer(who),
            timestamp_ms,
            content: MessageContent::Postback {
                title: text(postback, "title"),
                payload: text(postback, "payload"),
            },
            context: None,
            echo: false,
            raw: item.clone(),
        }));
    }
    for (key, field) in [
        ("referral", "messaging_referral"),
        ("message_edit", "message_edit"),
        ("optin", "messaging_optins"),
    ] {
        if part(key).is_some() {
            return Ok(WebhookEvent::Other {
                channel: Some(channel.clone()),
                field: field.into(),
                raw: item.clone(),
            });
        }
    }
    let keys: Vec<&str> =
        item.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
    Err(format!("a messaging item with keys {keys:?} is not one Parley knows"))
}

/// Older payloads name the reaction instead of giving the emoji.
fn emoji_for(name: &str) -> String {
    match name {
        "love" => "❤️",
        "like" => "👍",
        "laugh" | "smile" => "😆",
        "wow" => "😮",
        "sad" => "😢",
        "angry" => "😠",
        "dislike" => "👎",
        other => other,
    }
    .to_owned()
}

fn message_content(msg: &Value) -> Result<MessageContent, String> {
    if flag(msg, "is_unsupported") {
        return Ok(MessageContent::Unsupported {
            type_name: "unsupported".into(),
            reason: "Instagram cannot show this message (is_unsupported)".into(),
        });
    }
    let mut parts: Vec<MessageContent> = list(msg, "attachments")?.iter().map(attachment).collect();
    let body = text(msg, "text");
    Ok(match (body, parts.len()) {
        (None, 0) => return Err("it has no text or attachments".into()),
        (Some(body), 0) => match msg.pointer("/quick_reply/payload").and_then(as_text) {
            Some(payload) => MessageContent::Button { text: body, payload: Some(payload) },
            None => MessageContent::Text { body },
        },
        (None, 1) => parts.remove(0),
        (body, _) => {
            // Text beside attachments is kept as its own part, first.
            if let Some(body) = body {
                parts.insert(0, MessageContent::Text { body });
            }
            MessageContent::Attachments(parts)
        }
    })
}

fn attachment(a: &Value) -> MessageContent {
    let kind = text(a, "type").unwrap_or_else(|| "unknown".into());
    let payload = a.get("payload").unwrap_or(&Value::Null);
    let url = text(payload, "url");
    let title = text(payload, "title");
    let media = || Media { url: url.clone(), ..Media::default() };
    match kind.as_str() {
        _ if url.is_none() && title.is_none() => MessageContent::Unsupported {
            reason: format!("the {kind} attachment has no url"),
            type_name: kind,
        },
        "image" | "animated_image" => MessageContent::Image { media: media() },
        "video" => MessageContent::Video { media: media() },
        "audio" => MessageContent::Audio { media: media(), voice: false },
        "file" => MessageContent::Document { media: media(), filename: None },
        "sticker" => MessageContent::Sticker { media: media(), animated: false },
        // share, story_mention, ig_reel, reel, ig_post, template, fallback and
        // whatever comes next: all are a link to something on Instagram.
        _ => MessageContent::Shared { kind, url, title },
    }
}

fn reply_context(msg: &Value) -> Option<ReplyContext> {
    let reply_to = msg.get("reply_to").filter(|r| r.is_object());
    let referral = msg.get("referral").filter(|r| r.is_object()).map(|r| Referral {
        source_type: text(r, "source"),
        source_id: r
            .pointer("/ads_context_data/ad_id")
            .and_then(as_text)
            .or_else(|| text(r, "ad_id")),
        source_url: r.pointer("/ads_context_data/photo_url").and_then(as_text),
        headline: r.pointer("/ads_context_data/ad_title").and_then(as_text),
        body: None,
        ctwa_clid: None,
        ref_param: text(r, "ref"),
        raw: r.clone(),
    });
    if reply_to.is_none() && referral.is_none() {
        return None;
    }
    let story = reply_to
        .and_then(|r| r.get("story"))
        .filter(|s| s.is_object())
        .map(|s| StoryRef { id: text(s, "id"), url: text(s, "url") });
    Some(ReplyContext {
        message_id: reply_to.and_then(|r| text(r, "mid")),
        referral,
        story,
        ..ReplyContext::default()
    })
}
