//! WhatsApp Cloud API webhooks: `object: "whatsapp_business_account"`,
//! `entry[].changes[]` with a `field` and a `value`.

use super::json::{flag, integer, list, number, text, unix_seconds_to_ms};
use super::{
    entries, unsupported, ChannelRef, ContactPhone, ErrorDetail, InboundMessage, InteractiveReply,
    Media, MessageContent, Order, OrderItem, Referral, ReferredProduct, ReplyContext, Sender,
    SharedContact, StatusUpdate, SystemNotice, WebhookEvent,
};
use parley_types::ChannelKind;
use serde_json::Value;

/// Fields Meta documents for WhatsApp Business Accounts that are not inbox
/// traffic. They become [`WebhookEvent::Other`] until a later issue types
/// them; any field not listed here becomes `Unsupported`.
const KNOWN_ACCOUNT_FIELDS: &[&str] = &[
    "message_template_status_update",
    "message_template_quality_update",
    "message_template_components_update",
    "template_category_update",
    "account_update",
    "account_review_update",
    "account_alerts",
    "phone_number_quality_update",
    "phone_number_name_update",
    "business_capability_update",
    "security",
    "flows",
    "user_preferences",
    "user_id_update",
    "smb_message_echoes",
    "smb_app_state_sync",
    "history",
    "calls",
];

pub(super) fn parse_root(root: &Value, events: &mut Vec<WebhookEvent>) {
    for entry in entries(root, events) {
        match list(entry, "changes") {
            Ok(changes) => changes.iter().for_each(|change| parse_change(change, events)),
            Err(reason) => events.push(unsupported(None, "entry", reason, entry.clone())),
        }
    }
}

fn parse_change(change: &Value, events: &mut Vec<WebhookEvent>) {
    let channel = change
        .pointer("/value/metadata/phone_number_id")
        .and_then(super::json::as_text)
        .map(|id| ChannelRef { kind: ChannelKind::Whatsapp, id });
    let Some(field) = change.get("field").and_then(Value::as_str) else {
        events.push(unsupported(channel, "changes", "the change has no \"field\"", change.clone()));
        return;
    };
    if field == "messages" {
        parse_messages_change(channel, change, events);
    } else if KNOWN_ACCOUNT_FIELDS.contains(&field) {
        events.push(WebhookEvent::Other { channel, field: field.to_owned(), raw: change.clone() });
    } else {
        let reason = format!("WhatsApp field {field:?} is not one Parley knows");
        events.push(unsupported(channel, field, reason, change.clone()));
    }
}

/// A `messages` change: inbound messages, statuses of outbound ones, and
/// errors Meta reports for the number.
fn parse_messages_change(
    channel: Option<ChannelRef>,
    change: &Value,
    events: &mut Vec<WebhookEvent>,
) {
    let value = change.get("value").unwrap_or(&Value::Null);
    let start = events.len();
    // Names are a nicety: a malformed `contacts` list must not cost messages.
    let contacts = list(value, "contacts").unwrap_or(&[]);

    // An item that fails is reported under the list it came from.
    for key in ["messages", "statuses", "errors"] {
        let items = match list(value, key) {
            Ok(items) => items,
            Err(reason) => {
                events.push(unsupported(channel.clone(), "messages", reason, change.clone()));
                continue;
            }
        };
        for item in items {
            let Some(channel) = channel.clone() else {
                let reason = "the change has no value.metadata.phone_number_id";
                events.push(unsupported(None, key, reason, item.clone()));
                continue;
            };
            let parsed = match key {
                "messages" => parse_message(&channel, contacts, item),
                "statuses" => parse_status(&channel, item),
                // Errors about the number as a whole (not about one message):
                // known, not inbox traffic, kept whole.
                _ => Ok(WebhookEvent::Other {
                    channel: Some(channel.clone()),
                    field: "errors".into(),
                    raw: item.clone(),
                }),
            };
            events
                .push(parsed.unwrap_or_else(|reason| {
                    unsupported(Some(channel), key, reason, item.clone())
                }));
        }
    }

    if events.len() == start {
        let reason = "the messages change holds no messages, statuses or errors";
        events.push(unsupported(channel, "messages", reason, change.clone()));
    }
}

fn parse_message(
    channel: &ChannelRef,
    contacts: &[Value],
    m: &Value,
) -> Result<WebhookEvent, String> {
    if !m.is_object() {
        return Err("the message is not an object".into());
    }
    let id = text(m, "id").ok_or("the message has no \"id\"")?;
    let timestamp_ms =
        unix_seconds_to_ms(m.get("timestamp")).map_err(|e| format!("message {id}: {e}"))?;
    let from = sender(m, contacts);
    if from.key().is_none() {
        return Err(format!(
            "message {id} names no sender: no \"from\", \"from_user_id\" or contact id"
        ));
    }
    let type_name = text(m, "type").ok_or_else(|| format!("message {id} has no \"type\""))?;
    let content = content(&type_name, m).map_err(|e| format!("message {id}: {e}"))?;
    Ok(WebhookEvent::Message(InboundMessage {
        channel: channel.clone(),
        provider_id: id,
        from,
        timestamp_ms,
        content,
        context: context(m),
        echo: false,
        raw: m.clone(),
    }))
}

/// The sender from the message and the change's `contacts[]`. Since 2026 a
/// contact may carry only `user_id` (BSUID) and the message only
/// `from_user_id`, so both ids are matched.
fn sender(m: &Value, contacts: &[Value]) -> Sender {
    let from = text(m, "from");
    let from_user_id = text(m, "from_user_id");
    let agrees = |mine: &Option<String>, theirs: Option<String>| match (mine, theirs) {
        (Some(a), Some(b)) => a == &b,
        _ => true,
    };
    let compatible =
        |c: &&Value| agrees(&from, text(c, "wa_id")) && agrees(&from_user_id, text(c, "user_id"));
    let names_same = |c: &&Value| {
        (from.is_some() && text(c, "wa_id") == from)
            || (from_user_id.is_some() && text(c, "user_id") == from_user_id)
    };
    let contact =
        contacts.iter().find(|c| compatible(c) && names_same(c)).or_else(|| match contacts {
            [only] if compatible(&only) => Some(only),
            _ => None,
        });
    Sender {
        wa_id: from.or_else(|| contact.and_then(|c| text(c, "wa_id"))),
        user_id: from_user_id.or_else(|| contact.and_then(|c| text(c, "user_id"))),
        name: contact.and_then(|c| c.pointer("/profile/name")).and_then(super::json::as_text),
    }
}

fn content(type_name: &str, m: &Value) -> Result<MessageContent, String> {
    let part = || {
        m.get(type_name)
            .filter(|p| p.is_object())
            .ok_or_else(|| format!("the {type_name} message has no \"{type_name}\" object"))
    };
    Ok(match type_name {
        "text" => {
            let body =
                part()?.get("body").and_then(Value::as_str).ok_or("the text has no \"body\"")?;
            MessageContent::Text { body: body.to_owned() }
        }
        "image" => MessageContent::Image { media: media(type_name, part()?)? },
        "video" => MessageContent::Video { media: media(type_name, part()?)? },
        "audio" => {
            let p = part()?;
            MessageContent::Audio { media: media(type_name, p)?, voice: flag(p, "voice") }
        }
        "document" => {
            let p = part()?;
            MessageContent::Document { media: media(type_name, p)?, filename: text(p, "filename") }
        }
        "sticker" => {
            let p = part()?;
            MessageContent::Sticker { media: media(type_name, p)?, animated: flag(p, "animated") }
        }
        "location" => {
            let p = part()?;
            MessageContent::Location {
                latitude: number(p, "latitude")
                    .ok_or("the location has no numeric \"latitude\"")?,
                longitude: number(p, "longitude")
                    .ok_or("the location has no numeric \"longitude\"")?,
                name: text(p, "name"),
                address: text(p, "address"),
                url: text(p, "url"),
            }
        }
        "contacts" => {
            let cards = list(m, "contacts")?;
            if cards.is_empty() {
                return Err("the contacts message has no contact cards".into());
            }
            MessageContent::Contacts(cards.iter().map(shared_contact).collect())
        }
        "interactive" => MessageContent::Interactive(interactive(part()?)?),
        "button" => {
            let p = part()?;
            let payload = text(p, "payload");
            let text =
                text(p, "text").or_else(|| payload.clone()).ok_or("the button has no \"text\"")?;
            MessageContent::Button { text, payload }
        }
        "reaction" => {
            let p = part()?;
            MessageContent::Reaction {
                message_id: text(p, "message_id").ok_or("the reaction has no \"message_id\"")?,
                // Meta omits `emoji` when the customer removes a reaction.
                emoji: text(p, "emoji"),
            }
        }
        "order" => {
            let p = part()?;
            MessageContent::Order(Order {
                catalog_id: text(p, "catalog_id"),
                text: text(p, "text"),
                items: list(p, "product_items")?.iter().map(order_item).collect(),
            })
        }
        "system" => {
            let p = part()?;
            MessageContent::System(SystemNotice {
                kind: text(p, "type"),
                body: text(p, "body"),
                new_wa_id: text(p, "wa_id").or_else(|| text(p, "new_wa_id")),
            })
        }
        // `unknown` is the older spelling of `unsupported`.
        "unsupported" | "unknown" => MessageContent::Unsupported {
            type_name: m
                .pointer("/unsupported/type")
                .and_then(super::json::as_text)
                .unwrap_or_else(|| type_name.to_owned()),
            reason: unsupported_reason(m),
        },
        other => return Err(format!("message type {other:?} is not one Parley knows")),
    })
}

/// WhatsApp media always carries an `id` to fetch; without it there is
/// nothing to show, so that is a parse failure.
fn media(type_name: &str, p: &Value) -> Result<Media, String> {
    let media = Media {
        id: text(p, "id"),
        url: text(p, "url"),
        mime_type: text(p, "mime_type"),
        sha256: text(p, "sha256"),
        caption: text(p, "caption"),
    };
    if media.id.is_none() && media.url.is_none() {
        return Err(format!("the {type_name} has no media \"id\""));
    }
    Ok(media)
}

fn shared_contact(card: &Value) -> SharedContact {
    let phones = list(card, "phones").unwrap_or(&[]);
    let emails = list(card, "emails").unwrap_or(&[]);
    SharedContact {
        formatted_name: card.pointer("/name/formatted_name").and_then(super::json::as_text),
        phones: phones
            .iter()
            .map(|p| ContactPhone {
                phone: text(p, "phone"),
                wa_id: text(p, "wa_id"),
                label: text(p, "type"),
            })
            .collect(),
        emails: emails.iter().filter_map(|e| text(e, "email")).collect(),
        organization: card.pointer("/org/company").and_then(super::json::as_text),
        raw: card.clone(),
    }
}

fn interactive(p: &Value) -> Result<InteractiveReply, String> {
    let kind = text(p, "type").ok_or("the interactive reply has no \"type\"")?;
    let reply = |key: &str| {
        p.get(key)
            .filter(|r| r.is_object())
            .ok_or_else(|| format!("the {kind} has no \"{key}\" object"))
    };
    let id_title = |r: &Value| -> Result<(String, String), String> {
        let id = text(r, "id").ok_or_else(|| format!("the {kind} has no \"id\""))?;
        let title = text(r, "title").ok_or_else(|| format!("the {kind} has no \"title\""))?;
        Ok((id, title))
    };
    Ok(match kind.as_str() {
        "button_reply" => {
            let (id, title) = id_title(reply("button_reply")?)?;
            InteractiveReply::ButtonReply { id, title }
        }
        "list_reply" => {
            let r = reply("list_reply")?;
            let (id, title) = id_title(r)?;
            InteractiveReply::ListReply { id, title, description: text(r, "description") }
        }
        "nfm_reply" => {
            let r = reply("nfm_reply")?;
            InteractiveReply::FlowReply {
                name: text(r, "name"),
                body: text(r, "body"),
                response_json: text(r, "response_json"),
            }
        }
        other => return Err(format!("interactive reply type {other:?} is not one Parley knows")),
    })
}

fn order_item(item: &Value) -> OrderItem {
    OrderItem {
        product_retailer_id: text(item, "product_retailer_id"),
        quantity: integer(item, "quantity"),
        item_price: number(item, "item_price"),
        currency: text(item, "currency"),
    }
}

/// Meta explains an unsupported message in its `errors`; keep the first
/// explanation, in words.
fn unsupported_reason(m: &Value) -> String {
    let first = list(m, "errors").ok().and_then(|e| e.first()).map(error_detail);
    match first {
        Some(e) => {
            let words =
                e.details.or(e.title).or(e.message).unwrap_or_else(|| "no explanation".into());
            format!("Meta cannot show this message (error {}): {words}", e.code)
        }
        None => "Meta cannot show this message".into(),
    }
}

fn context(m: &Value) -> Option<ReplyContext> {
    let ctx = m.get("context").filter(|c| c.is_object());
    let referral = m.get("referral").filter(|r| r.is_object()).map(referral);
    if ctx.is_none() && referral.is_none() {
        return None;
    }
    let null = Value::Null;
    let ctx = ctx.unwrap_or(&null);
    let referred_product =
        ctx.get("referred_product").filter(|r| r.is_object()).map(|r| ReferredProduct {
            catalog_id: text(r, "catalog_id"),
            product_retailer_id: text(r, "product_retailer_id"),
        });
    Some(ReplyContext {
        message_id: text(ctx, "id"),
        from: text(ctx, "from"),
        forwarded: flag(ctx, "forwarded"),
        frequently_forwarded: flag(ctx, "frequently_forwarded"),
        referral,
        referred_product,
        story: None,
    })
}

fn referral(r: &Value) -> Referral {
    Referral {
        source_type: text(r, "source_type"),
        source_id: text(r, "source_id"),
        source_url: text(r, "source_url"),
        headline: text(r, "headline"),
        body: text(r, "body"),
        ctwa_clid: text(r, "ctwa_clid"),
        ref_param: None,
        raw: r.clone(),
    }
}

fn parse_status(channel: &ChannelRef, s: &Value) -> Result<WebhookEvent, String> {
    if !s.is_object() {
        return Err("the status is not an object".into());
    }
    let id = text(s, "id").ok_or("the status has no message \"id\"")?;
    let status =
        text(s, "status").ok_or_else(|| format!("the status for {id} has no \"status\""))?;
    let timestamp_ms = unix_seconds_to_ms(s.get("timestamp"))
        .map_err(|e| format!("status {status} for {id}: {e}"))?;
    let present = |key: &str| s.get(key).filter(|v| !v.is_null()).cloned();
    Ok(WebhookEvent::Status(StatusUpdate {
        channel: channel.clone(),
        provider_id: id,
        status,
        timestamp_ms,
        recipient: text(s, "recipient_id").or_else(|| text(s, "recipient_user_id")),
        errors: list(s, "errors").unwrap_or(&[]).iter().map(error_detail).collect(),
        conversation: present("conversation"),
        pricing: present("pricing"),
        biz_opaque_callback_data: text(s, "biz_opaque_callback_data"),
    }))
}

fn error_detail(e: &Value) -> ErrorDetail {
    ErrorDetail {
        code: integer(e, "code").unwrap_or(0),
        title: text(e, "title"),
        message: text(e, "message"),
        details: e.pointer("/error_data/details").and_then(super::json::as_text),
    }
}
