use crate::{events, fixture_names};
use parley_meta::webhook::{
    InboundMessage, InteractiveReply, MessageContent, StatusUpdate, Unsupported, WebhookEvent,
};
use parley_types::ChannelKind;

const PNID: &str = "100000000000001";
const CUSTOMER: &str = "15557654321";
const IGID: &str = "17841400000000001";
const IGSID: &str = "6100000000000001";

fn messages(events: &[WebhookEvent]) -> Vec<&InboundMessage> {
    events
        .iter()
        .filter_map(|e| match e {
            WebhookEvent::Message(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn only_message(name: &str) -> InboundMessage {
    match events(name).as_slice() {
        [WebhookEvent::Message(m)] => m.clone(),
        other => panic!("{name}: expected one message, got {other:#?}"),
    }
}

fn only_status(name: &str) -> StatusUpdate {
    match events(name).as_slice() {
        [WebhookEvent::Status(s)] => s.clone(),
        other => panic!("{name}: expected one status, got {other:#?}"),
    }
}

fn unsupported(events: &[WebhookEvent]) -> Vec<&Unsupported> {
    events
        .iter()
        .filter_map(|e| match e {
            WebhookEvent::Unsupported(u) => Some(u),
            _ => None,
        })
        .collect()
}

/// Fixtures that exist to exercise the unsupported paths.
const DELIBERATELY_ODD: &[&str] = &["wa_unknown.json", "ig_events.json"];

#[test]
fn every_documented_fixture_parses_without_unsupported_items() {
    for name in fixture_names() {
        let events = events(&name);
        assert!(!events.is_empty(), "{name} produced no events");
        if !DELIBERATELY_ODD.contains(&name.as_str()) {
            assert!(unsupported(&events).is_empty(), "{name}: {:#?}", unsupported(&events));
        }
    }
}

#[test]
fn whatsapp_text_with_sender_from_contacts() {
    let m = only_message("wa_text.json");
    assert_eq!(m.channel.kind, ChannelKind::Whatsapp);
    assert_eq!(m.channel.id, PNID);
    assert_eq!(m.provider_id, "wamid.TEST1");
    assert_eq!(m.from.wa_id.as_deref(), Some(CUSTOMER));
    assert_eq!(m.from.name.as_deref(), Some("Ana Souza"));
    assert_eq!(m.from.key(), Some(CUSTOMER));
    assert_eq!(m.timestamp_ms, 1_750_000_001_000);
    assert_eq!(
        m.content,
        MessageContent::Text { body: "Hi! Is the blue jacket still available?".into() }
    );
    assert_eq!(m.kind(), "text");
    assert_eq!(m.preview(), "Hi! Is the blue jacket still available?");
    assert_eq!(m.context, None);
    assert!(!m.echo);
    assert_eq!(m.raw["id"], "wamid.TEST1", "raw is the message object");
}

#[test]
fn whatsapp_reply_context() {
    let m = only_message("wa_text_reply.json");
    let ctx = m.context.expect("context");
    assert_eq!(ctx.message_id.as_deref(), Some("wamid.OURS1"));
    assert_eq!(ctx.from.as_deref(), Some("15550001111"));
    assert!(ctx.forwarded);
    assert!(!ctx.frequently_forwarded);
}

#[test]
fn whatsapp_media_types() {
    let image = only_message("wa_image.json");
    let MessageContent::Image { media } = &image.content else { panic!("{:?}", image.content) };
    assert_eq!(media.id.as_deref(), Some("900000000000003"));
    assert_eq!(media.mime_type.as_deref(), Some("image/jpeg"));
    assert_eq!(media.sha256.as_deref().map(str::len), Some(64));
    assert_eq!(image.preview(), "The stain I mentioned");

    let video = only_message("wa_video.json");
    assert_eq!(video.kind(), "video");
    assert_eq!(video.preview(), "🎥 Video");

    let audio = only_message("wa_audio.json");
    let MessageContent::Audio { media, voice } = &audio.content else {
        panic!("{:?}", audio.content)
    };
    assert!(voice);
    assert_eq!(media.mime_type.as_deref(), Some("audio/ogg; codecs=opus"));
    assert_eq!(audio.preview(), "🎤 Voice message");

    let doc = only_message("wa_document.json");
    let MessageContent::Document { filename, media } = &doc.content else {
        panic!("{:?}", doc.content)
    };
    assert_eq!(filename.as_deref(), Some("invoice-2025-05.pdf"));
    assert_eq!(media.caption.as_deref(), Some("Invoice for May"));

    let sticker = only_message("wa_sticker.json");
    assert!(matches!(sticker.content, MessageContent::Sticker { animated: false, .. }));
    assert_eq!(sticker.kind(), "sticker");
}

#[test]
fn whatsapp_location() {
    let m = only_message("wa_location.json");
    let MessageContent::Location { latitude, longitude, name, address, url } = &m.content else {
        panic!("{:?}", m.content)
    };
    assert_eq!((*latitude, *longitude), (-23.5614, -46.6559));
    assert_eq!(name.as_deref(), Some("Loja Paulista"));
    assert_eq!(address.as_deref(), Some("Av. Paulista, 1000"));
    assert_eq!(url.as_deref(), Some("https://example.com/loja"));
    assert_eq!(m.preview(), "📍 Loja Paulista");
}

#[test]
fn whatsapp_contacts() {
    let m = only_message("wa_contacts.json");
    let MessageContent::Contacts(cards) = &m.content else { panic!("{:?}", m.content) };
    let [card] = cards.as_slice() else { panic!("{cards:?}") };
    assert_eq!(card.formatted_name.as_deref(), Some("Rui Costa"));
    assert_eq!(card.phones.len(), 2);
    assert_eq!(card.phones[0].wa_id.as_deref(), Some("351912345678"));
    assert_eq!(card.phones[1].label.as_deref(), Some("WORK"));
    assert_eq!(card.emails, vec!["rui@example.com".to_owned()]);
    assert_eq!(card.organization.as_deref(), Some("Costa Lda"));
    assert_eq!(card.raw["birthday"], "1990-04-12", "the rest of the card is kept");
    assert_eq!(m.preview(), "👤 Rui Costa");
}

#[test]
fn whatsapp_interactive_replies() {
    let events = events("wa_interactive.json");
    let ms = messages(&events);
    assert_eq!(ms.len(), 3);
    assert_eq!(
        ms[0].content,
        MessageContent::Interactive(InteractiveReply::ButtonReply {
            id: "confirm-yes".into(),
            title: "Yes, confirm".into()
        })
    );
    assert_eq!(ms[0].context.as_ref().and_then(|c| c.message_id.as_deref()), Some("wamid.OURS2"));
    assert_eq!(
        ms[1].content,
        MessageContent::Interactive(InteractiveReply::ListReply {
            id: "slot-14".into(),
            title: "Tue 14:00".into(),
            description: Some("Downtown store".into())
        })
    );
    assert_eq!(ms[1].preview(), "Tue 14:00");
    let MessageContent::Interactive(InteractiveReply::FlowReply { response_json, .. }) =
        &ms[2].content
    else {
        panic!("{:?}", ms[2].content)
    };
    assert_eq!(response_json.as_deref(), Some(r#"{"size":"M"}"#));
    assert!(ms.iter().all(|m| m.kind() == "interactive"));
}

#[test]
fn whatsapp_template_button() {
    let m = only_message("wa_button.json");
    assert_eq!(
        m.content,
        MessageContent::Button {
            text: "Stop promotions".into(),
            payload: Some("STOP_PROMOS".into())
        }
    );
    assert_eq!(m.context.and_then(|c| c.message_id).as_deref(), Some("wamid.TEMPLATE1"));
}

#[test]
fn whatsapp_reaction_and_its_removal() {
    let events = events("wa_reaction.json");
    let ms = messages(&events);
    assert_eq!(
        ms[0].content,
        MessageContent::Reaction { message_id: "wamid.OURS4".into(), emoji: Some("👍".into()) }
    );
    assert_eq!(ms[0].preview(), "Reacted 👍 to a message");
    assert_eq!(
        ms[1].content,
        MessageContent::Reaction { message_id: "wamid.OURS4".into(), emoji: None }
    );
    assert_eq!(ms[1].preview(), "Removed a reaction");
}

#[test]
fn whatsapp_order_accepts_numbers_and_strings() {
    let m = only_message("wa_order.json");
    let MessageContent::Order(order) = &m.content else { panic!("{:?}", m.content) };
    assert_eq!(order.catalog_id.as_deref(), Some("700000000000001"));
    assert_eq!(order.text.as_deref(), Some("Gift wrap please"));
    assert_eq!(order.items.len(), 2);
    assert_eq!(order.items[0].quantity, Some(1));
    assert_eq!(order.items[0].item_price, Some(89.9));
    assert_eq!(order.items[1].quantity, Some(2));
    assert_eq!(order.items[1].item_price, Some(15.5));
    assert_eq!(m.preview(), "🛒 Order (2 items)");
}

#[test]
fn whatsapp_system_message_without_contacts() {
    let m = only_message("wa_system.json");
    assert_eq!(m.from.wa_id.as_deref(), Some(CUSTOMER));
    assert_eq!(m.from.name, None);
    let MessageContent::System(notice) = &m.content else { panic!("{:?}", m.content) };
    assert_eq!(notice.kind.as_deref(), Some("user_changed_number"));
    assert_eq!(notice.new_wa_id.as_deref(), Some("15559990000"));
    assert!(m.preview().starts_with("User Ana Souza changed"));
}

#[test]
fn whatsapp_unsupported_type_is_still_a_message() {
    let m = only_message("wa_unsupported.json");
    let MessageContent::Unsupported { type_name, reason } = &m.content else {
        panic!("{:?}", m.content)
    };
    assert_eq!(type_name, "poll_update");
    assert!(reason.contains("131051"), "{reason}");
    assert!(reason.contains("currently not supported"), "{reason}");
    assert_eq!(m.kind(), "unsupported");
}

#[test]
fn whatsapp_ad_referral_and_referred_product() {
    let m = only_message("wa_referral.json");
    let ctx = m.context.expect("referral context");
    assert_eq!(ctx.message_id, None);
    let referral = ctx.referral.expect("referral");
    assert_eq!(referral.source_type.as_deref(), Some("ad"));
    assert_eq!(referral.headline.as_deref(), Some("Winter sale"));
    assert_eq!(referral.ctwa_clid.as_deref(), Some("ARAkLkA8rmlFeiCktEJQ"));
    assert_eq!(referral.raw["image_url"], "https://example.com/ad.jpg");

    let m = only_message("wa_product_question.json");
    let product = m.context.and_then(|c| c.referred_product).expect("product");
    assert_eq!(product.product_retailer_id.as_deref(), Some("SKU-JACKET-M"));
}

#[test]
fn whatsapp_change_level_errors_are_kept() {
    match events("wa_errors.json").as_slice() {
        [WebhookEvent::Other { channel, field, raw }] => {
            assert_eq!(channel.as_ref().map(|c| c.id.as_str()), Some(PNID));
            assert_eq!(field, "errors");
            assert_eq!(raw["code"], 131000);
        }
        other => panic!("{other:#?}"),
    }
}

#[test]
fn whatsapp_status_with_conversation_and_pricing() {
    let s = only_status("wa_status_sent.json");
    assert_eq!(s.channel.id, PNID);
    assert_eq!(s.provider_id, "wamid.OURS5");
    assert_eq!(s.status, "sent");
    assert_eq!(s.timestamp_ms, 1_750_000_100_000);
    assert_eq!(s.recipient.as_deref(), Some(CUSTOMER));
    assert_eq!(s.biz_opaque_callback_data.as_deref(), Some("outbox:42"));
    assert_eq!(s.conversation.as_ref().unwrap()["origin"]["type"], "service");
    assert_eq!(s.pricing.as_ref().unwrap()["pricing_model"], "PMP");
    assert!(s.errors.is_empty());
}

#[test]
fn whatsapp_statuses_keep_meta_spelling_and_order() {
    let events = events("wa_status_delivered_read.json");
    let statuses: Vec<&str> = events
        .iter()
        .map(|e| match e {
            WebhookEvent::Status(s) => s.status.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(statuses, ["delivered", "read", "played"]);
}

#[test]
fn whatsapp_failed_status_carries_errors() {
    let s = only_status("wa_status_failed.json");
    assert_eq!(s.status, "failed");
    let [e] = s.errors.as_slice() else { panic!("{:?}", s.errors) };
    assert_eq!(e.code, 131047);
    assert_eq!(e.title.as_deref(), Some("Re-engagement message"));
    assert!(e.details.as_deref().unwrap().contains("24 hours"));
}

#[test]
fn whatsapp_message_with_only_a_user_id() {
    let m = only_message("wa_user_id_only.json");
    assert_eq!(m.from.wa_id, None);
    assert_eq!(m.from.user_id.as_deref(), Some("US.13491208655302741918"));
    assert_eq!(m.from.key(), Some("US.13491208655302741918"));
    assert_eq!(m.from.name.as_deref(), Some("Kai"));
}

#[test]
fn batch_counts_every_item_in_order() {
    let events = events("wa_batch.json");
    // entry 1: 3 messages + 2 statuses + 1 template update; entry 2: 1 message
    // + 1 status, then 1 message.
    assert_eq!(events.len(), 9, "{events:#?}");
    let summary: Vec<String> = events
        .iter()
        .map(|e| match e {
            WebhookEvent::Message(m) => format!("msg {} {}", m.channel.id, m.provider_id),
            WebhookEvent::Status(s) => format!("status {} {}", s.provider_id, s.status),
            WebhookEvent::Other { field, .. } => format!("other {field}"),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "msg 100000000000001 wamid.TEST30",
            "msg 100000000000001 wamid.TEST31",
            "msg 100000000000001 wamid.TEST32",
            "status wamid.OURS7 sent",
            "status wamid.OURS7 delivered",
            "other message_template_status_update",
            "msg 100000000000002 wamid.TEST50",
            "status wamid.OURS9 read",
            "msg 100000000000002 wamid.TEST51",
        ]
    );
    // Each message is matched to its own contact.
    let ms = messages(&events);
    assert_eq!(ms[0].from.name.as_deref(), Some("Ana Souza"));
    assert_eq!(ms[1].from.name.as_deref(), Some("Bo"));
    assert_eq!(ms[1].from.wa_id.as_deref(), Some("15551112222"));
}

#[test]
fn account_fields_become_other_events() {
    let events = events("wa_account_fields.json");
    let fields: Vec<&str> = events
        .iter()
        .map(|e| match e {
            WebhookEvent::Other { channel: None, field, .. } => field.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        fields,
        [
            "message_template_status_update",
            "message_template_quality_update",
            "template_category_update",
            "account_update",
            "phone_number_quality_update"
        ]
    );
    let WebhookEvent::Other { raw, .. } = &events[0] else { unreachable!() };
    assert_eq!(raw["value"]["event"], "REJECTED", "raw is the change as received");
}

#[test]
fn unknown_and_broken_items_are_unsupported_with_exact_reasons() {
    let events = events("wa_unknown.json");
    assert_eq!(events.len(), 5, "{events:#?}");
    let odd = unsupported(&events);
    assert_eq!(odd.len(), 4);
    assert_eq!(odd[0].field, "brand_new_field");
    assert_eq!(odd[0].reason, "WhatsApp field \"brand_new_field\" is not one Parley knows");
    assert_eq!(odd[0].raw["value"]["something"], 1);
    assert_eq!(odd[1].field, "messages");
    assert_eq!(
        odd[1].reason,
        "message wamid.TEST60: message type \"hologram\" is not one Parley knows"
    );
    assert_eq!(odd[1].raw["hologram"]["frames"], 3, "raw is the message as received");
    assert_eq!(odd[1].channel.as_ref().map(|c| c.id.as_str()), Some(PNID));
    assert_eq!(odd[2].reason, "message wamid.TEST61: timestamp \"yesterday\" is not Unix seconds");
    assert_eq!(odd[3].reason, "message wamid.TEST62: the image has no media \"id\"");
    // The good message after the bad ones still arrives.
    assert!(matches!(&events[4], WebhookEvent::Message(m) if m.provider_id == "wamid.TEST63"));
}

#[test]
fn instagram_text() {
    let m = only_message("ig_text.json");
    assert_eq!(m.channel.kind, ChannelKind::Instagram);
    assert_eq!(m.channel.id, IGID);
    assert_eq!(m.provider_id, "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx");
    assert_eq!(m.from.user_id.as_deref(), Some(IGSID));
    assert_eq!(m.from.wa_id, None);
    assert_eq!(m.from.key(), Some(IGSID));
    assert_eq!(m.timestamp_ms, 1_750_000_500_000, "Instagram timestamps are already ms");
    assert_eq!(m.content, MessageContent::Text { body: "Oi! Vocês entregam em Recife?".into() });
    assert!(!m.echo);
}

#[test]
fn instagram_attachments() {
    let events = events("ig_attachment.json");
    let ms = messages(&events);
    assert_eq!(ms.len(), 3);
    let MessageContent::Image { media } = &ms[0].content else { panic!("{:?}", ms[0].content) };
    assert!(media.url.as_deref().unwrap().starts_with("https://lookaside.fbsbx.com/"));
    assert_eq!(media.id, None);
    assert_eq!(ms[0].preview(), "📷 Photo");
    assert_eq!(
        ms[1].content,
        MessageContent::Shared {
            kind: "share".into(),
            url: Some("https://www.instagram.com/p/ABC123/".into()),
            title: None
        }
    );
    assert_eq!(ms[1].kind(), "share");
    let MessageContent::Attachments(parts) = &ms[2].content else { panic!("{:?}", ms[2].content) };
    assert_eq!(parts.iter().map(MessageContent::kind).collect::<Vec<_>>(), ["image", "video"]);
    assert_eq!(ms[2].preview(), "📎 2 attachments");
}

#[test]
fn instagram_echo_belongs_to_the_customer() {
    let m = only_message("ig_echo.json");
    assert!(m.echo);
    assert_eq!(m.from.user_id.as_deref(), Some(IGSID), "the customer is the recipient of an echo");
    assert_eq!(m.provider_id, "ig.mid.ECHO1");
}

#[test]
fn instagram_read_reaction_postback_referral_deleted() {
    let events = events("ig_events.json");
    assert_eq!(events.len(), 10, "{events:#?}");
    let WebhookEvent::Status(read) = &events[0] else { panic!("{:?}", events[0]) };
    assert_eq!((read.provider_id.as_str(), read.status.as_str()), ("ig.mid.ECHO1", "read"));
    assert_eq!(read.recipient.as_deref(), Some(IGSID));

    let WebhookEvent::Message(react) = &events[1] else { panic!("{:?}", events[1]) };
    assert_eq!(
        react.content,
        MessageContent::Reaction {
            message_id: "ig.mid.ECHO1".into(), emoji: Some("❤️".into())
        }
    );
    let WebhookEvent::Message(unreact) = &events[2] else { panic!("{:?}", events[2]) };
    assert_eq!(
        unreact.content,
        MessageContent::Reaction { message_id: "ig.mid.ECHO1".into(), emoji: None }
    );
    assert_ne!(react.provider_id, unreact.provider_id, "derived ids differ per reaction event");
    let again = crate::events("ig_events.json");
    let WebhookEvent::Message(react_again) = &again[1] else { unreachable!() };
    assert_eq!(
        react.provider_id, react_again.provider_id,
        "derived ids are stable across redelivery"
    );

    let WebhookEvent::Message(postback) = &events[3] else { panic!("{:?}", events[3]) };
    assert_eq!(postback.provider_id, "ig.mid.PB1");
    assert_eq!(
        postback.content,
        MessageContent::Postback {
            title: Some("Track my order".into()),
            payload: Some("TRACK_ORDER".into())
        }
    );

    assert!(
        matches!(&events[4], WebhookEvent::Other { field, .. } if field == "messaging_referral")
    );

    let WebhookEvent::Deleted(deleted) = &events[5] else { panic!("{:?}", events[5]) };
    assert_eq!(deleted.provider_id, "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx");
    assert_eq!(deleted.from.user_id.as_deref(), Some(IGSID));

    let WebhookEvent::Message(unsup) = &events[6] else { panic!("{:?}", events[6]) };
    assert!(matches!(&unsup.content, MessageContent::Unsupported { .. }));

    let WebhookEvent::Message(story_reply) = &events[7] else { panic!("{:?}", events[7]) };
    let story = story_reply.context.as_ref().and_then(|c| c.story.as_ref()).expect("story");
    assert_eq!(story.id.as_deref(), Some("18000000000000001"));

    let WebhookEvent::Message(reply) = &events[8] else { panic!("{:?}", events[8]) };
    assert_eq!(reply.context.as_ref().and_then(|c| c.message_id.as_deref()), Some("ig.mid.ECHO1"));

    let WebhookEvent::Unsupported(odd) = &events[9] else { panic!("{:?}", events[9]) };
    assert_eq!(odd.field, "messaging");
    assert!(odd.reason.contains("pass_thread_control"), "{}", odd.reason);
}

#[test]
fn events_serialise_for_the_relay_and_the_ui() {
    let events = events("wa_text.json");
    let json = serde_json::to_value(&events).unwrap();
    assert_eq!(json[0]["message"]["provider_id"], "wamid.TEST1");
    assert_eq!(json[0]["message"]["channel"]["kind"], "whatsapp");
    assert_eq!(
        json[0]["message"]["content"]["text"]["body"],
        "Hi! Is the blue jacket still available?"
    );
}

#[test]
fn whatsapp_frequently_forwarded_and_animated_sticker_in_one_change() {
    let events = events("wa_forwarded_animated.json");
    let msgs = messages(&events);
    assert_eq!(msgs.len(), 2, "both messages of the change are kept");
    let ctx = msgs[0].context.as_ref().expect("context");
    assert!(ctx.forwarded && ctx.frequently_forwarded);
    assert_eq!(ctx.message_id, None, "a forward quotes nothing");
    assert!(matches!(msgs[1].content, MessageContent::Sticker { animated: true, .. }));
    assert_eq!(msgs[1].from.user_id.as_deref(), Some("US.1000000000000000001"));
}

#[test]
fn account_fields_are_typed_on_demand() {
    use parley_meta::webhook::AccountEvent;
    let typed: Vec<AccountEvent> =
        events("wa_account_quality_batch.json").iter().filter_map(|e| e.account_event()).collect();
    assert_eq!(typed.len(), 4, "two entries with two changes each: {typed:#?}");
    assert_eq!(
        typed[0],
        AccountEvent::PhoneNumberQuality {
            display_phone_number: Some("15550001111".into()),
            event: Some("FLAGGED".into()),
            current_limit: Some("TIER_2K".into()),
            old_limit: None,
            max_daily_conversations: Some("TIER_2K".into()),
        }
    );
    assert!(
        matches!(&typed[1], AccountEvent::PhoneNumberQuality { old_limit: Some(o), .. } if o == "TIER_2K")
    );
    assert_eq!(
        typed[2],
        AccountEvent::TemplateStatus {
            template_id: Some("223399".into()),
            name: Some("order_ready".into()),
            language: Some("en_US".into()),
            event: Some("APPROVED".into()),
            reason: None,
            category: Some("UTILITY".into()),
        }
    );
    assert!(
        matches!(&typed[3], AccountEvent::AccountUpdate { event: Some(e), .. } if e == "ACCOUNT_VIOLATION")
    );

    // The older fixture: every documented field reads into its typed form.
    let older: Vec<AccountEvent> =
        events("wa_account_fields.json").iter().filter_map(|e| e.account_event()).collect();
    assert_eq!(older.len(), 5);
    assert!(
        matches!(&older[0], AccountEvent::TemplateStatus { reason: Some(r), .. } if r == "INVALID_FORMAT")
    );
    assert!(
        matches!(&older[1], AccountEvent::TemplateQuality { new_score: Some(s), .. } if s == "YELLOW")
    );
    assert!(
        matches!(&older[2], AccountEvent::TemplateCategory { new_category: Some(c), .. } if c == "MARKETING")
    );
}

#[test]
fn instagram_batch_keeps_every_entry_and_item_in_order() {
    let events = events("ig_batch.json");
    assert_eq!(events.len(), 4, "{events:#?}");
    let WebhookEvent::Message(first) = &events[0] else { panic!("{:?}", events[0]) };
    assert_eq!(first.content, MessageContent::Text { body: "first".into() });
    assert_eq!(first.channel.kind, ChannelKind::Instagram);
    assert_eq!(first.channel.id, IGID);
    let WebhookEvent::Message(second) = &events[1] else { panic!("{:?}", events[1]) };
    assert!(matches!(&second.content, MessageContent::Image { media } if media.url.is_some()));
    let WebhookEvent::Message(unreact) = &events[2] else { panic!("{:?}", events[2]) };
    assert!(matches!(&unreact.content, MessageContent::Reaction { emoji: None, .. }));
    assert_eq!(unreact.from.user_id.as_deref(), Some("6100000000000002"));
    let WebhookEvent::Status(read) = &events[3] else { panic!("{:?}", events[3]) };
    assert_eq!(read.status, "read");
    assert_eq!(read.timestamp_ms, 1_750_001_000_004);
    let _ = IGSID;
}

/// The normalized form of every fixture, pinned: `tests/golden/<fixture>`
/// holds the events as JSON (without `raw`, which is the input again). A
/// parser change that alters any event shows up as a diff here. After a
/// deliberate change, regenerate with `PARLEY_UPDATE_GOLDEN=1 cargo test -p
/// parley-meta` and review the diff.
#[test]
fn golden_normalized_events() {
    fn strip_raw(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.remove("raw");
                map.values_mut().for_each(strip_raw);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip_raw),
            _ => {}
        }
    }
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("PARLEY_UPDATE_GOLDEN").is_some();
    let mut mismatched = Vec::new();
    for name in fixture_names() {
        let mut actual = serde_json::to_value(events(&name)).unwrap();
        strip_raw(&mut actual);
        let path = dir.join(&name);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            let text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
            std::fs::write(&path, text).unwrap();
            continue;
        }
        let expected: serde_json::Value = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap(),
            Err(_) => panic!("no golden file for {name}; run with PARLEY_UPDATE_GOLDEN=1"),
        };
        if expected != actual {
            mismatched.push(name);
        }
    }
    assert!(mismatched.is_empty(), "normalized events changed for {mismatched:?}");
}

#[test]
fn whatsapp_audio_file_is_not_a_voice_note() {
    let m = only_message("wa_audio_file.json");
    assert!(matches!(m.content, MessageContent::Audio { voice: false, .. }), "{:?}", m.content);
    assert_eq!(m.preview(), "🎵 Audio");
}
