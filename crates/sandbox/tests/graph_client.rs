//! The real `parley_meta::graph::GraphClient` against the sandbox: one of
//! each outgoing type, every error class with its retry behaviour, templates
//! with review webhooks, media, profile and numbers, Instagram's windows,
//! customers on both channels, batching and faults.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use parley_meta::graph::{
    BusinessProfile, GraphClient, GraphConfig, GraphError, InstagramAttachment, InstagramBody,
    ListRow, ListSection, MediaSource, NewTemplate, OutgoingBody, OutgoingMessage, Recipient,
    ReplyButton, RetryClass, RetryPolicy, TemplateCategory,
};
use parley_meta::signature::{verify, SIGNATURE_HEADER};
use parley_meta::webhook::{self, AccountEvent, MessageContent, WebhookEvent};
use parley_sandbox::{
    spawn, CustomerMessage, Faults, IgCustomerMessage, PairLimit, SandboxConfig, SandboxHandle,
};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use zeroize::Zeroizing;

const SECRET: &str = "graph-client-secret";
const TOKEN: &str = "graph-client-token";
const PNID: &str = "123456789012345";
const WABA: &str = "987654321098765";
const IG: &str = "17841400000000009";
const CUSTOMER: &str = "15551230001";

struct Relay {
    url: String,
    hooks: mpsc::UnboundedReceiver<Value>,
}

async fn relay_endpoint(
    State(tx): State<mpsc::UnboundedSender<Value>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let sig = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    assert_eq!(verify(SECRET.as_bytes(), &body, sig), Ok(()), "every webhook is signed");
    let _ = tx.send(serde_json::from_slice(&body).expect("webhook is JSON"));
    StatusCode::OK
}

async fn relay() -> Relay {
    let (tx, hooks) = mpsc::unbounded_channel();
    let app = Router::new().route("/hook", post(relay_endpoint)).with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Relay { url: format!("http://{addr}/hook"), hooks }
}

impl Relay {
    async fn next(&mut self) -> Value {
        tokio::time::timeout(Duration::from_secs(10), self.hooks.recv())
            .await
            .expect("a webhook within 10 s")
            .expect("open")
    }

    /// Webhooks until `pred` holds for one; returns it.
    async fn until(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let hook = self.next().await;
            if pred(&hook) {
                return hook;
            }
        }
    }

    /// Every webhook that arrives within `d`.
    async fn drain(&mut self, d: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        let end = tokio::time::Instant::now() + d;
        while let Ok(Some(v)) = tokio::time::timeout_at(end, self.hooks.recv()).await {
            out.push(v);
        }
        out
    }
}

fn config(webhook_url: Option<String>) -> SandboxConfig {
    let mut c = SandboxConfig::new("127.0.0.1:0".parse::<SocketAddr>().unwrap(), webhook_url);
    c.app_secret = SECRET.into();
    c.access_token = TOKEN.into();
    c.phone_number_id = PNID.into();
    c.waba_id = WABA.into();
    c.instagram_account_id = IG.into();
    c.status_delay = Duration::from_millis(10);
    c.template_review_delay = Duration::from_millis(50);
    c
}

fn client(sb: &SandboxHandle, token: &str) -> GraphClient {
    let config = GraphConfig { base_url: sb.graph_base_url(), version: "v23.0".into() };
    GraphClient::new(config, Zeroizing::new(token.into())).unwrap()
}

fn to(body: OutgoingBody) -> OutgoingMessage {
    OutgoingMessage::new(Recipient::Phone(CUSTOMER.into()), body)
}

fn events(hook: &Value) -> Vec<WebhookEvent> {
    webhook::parse_value(hook).expect("a webhook")
}

fn status_of(hook: &Value) -> Option<String> {
    hook.pointer("/entry/0/changes/0/value/statuses/0/status")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

#[tokio::test]
async fn one_of_each_outgoing_type_reaches_the_sandbox_as_sent() {
    let mut r = relay().await;
    let sb = spawn(config(Some(r.url.clone()))).await.unwrap();
    let c = client(&sb, TOKEN);
    let control = sb.control();
    let inbound = control.customer_sends_text(CUSTOMER, "Ana", "hi").await.unwrap();
    r.next().await;

    let media_id =
        c.upload_media(PNID, "photo.jpg", "image/jpeg", b"\xFF\xD8\xFFjpeg").await.unwrap();
    let voice_id = c.upload_media(PNID, "voice.ogg", "audio/ogg", b"OggS voice").await.unwrap();
    let button = |i: u8| ReplyButton { id: format!("b{i}"), title: format!("Option {i}") };
    let messages = vec![
        OutgoingMessage::text(CUSTOMER, "See https://example.com/offer"),
        to(OutgoingBody::Image {
            media: MediaSource::Id(media_id.clone()),
            caption: Some("by id".into()),
        }),
        to(OutgoingBody::Image {
            media: MediaSource::Link("https://cdn.example/a.jpg".into()),
            caption: Some("by link".into()),
        }),
        to(OutgoingBody::Video {
            media: MediaSource::Link("https://cdn.example/v.mp4".into()),
            caption: None,
        }),
        to(OutgoingBody::Audio { media: MediaSource::Id(voice_id) }),
        to(OutgoingBody::Document {
            media: MediaSource::Link("https://cdn.example/i.pdf".into()),
            caption: Some("Invoice".into()),
            filename: Some("invoice.pdf".into()),
        }),
        to(OutgoingBody::Sticker { media: MediaSource::Link("https://cdn.example/s.webp".into()) }),
        to(OutgoingBody::Location {
            latitude: 38.7223,
            longitude: -9.1393,
            name: Some("Shop".into()),
            address: Some("Rua Augusta 1".into()),
        }),
        to(OutgoingBody::Contacts {
            contacts: vec![
                json!({"name":{"formatted_name":"Support","first_name":"Support"},"phones":[{"phone":"+1 555 000 1000","type":"WORK"}]}),
            ],
        }),
        to(OutgoingBody::Buttons {
            header: Some("Choose".into()),
            body: "Pick one".into(),
            footer: None,
            buttons: vec![button(1), button(2), button(3)],
        }),
        to(OutgoingBody::List {
            header: None,
            body: "Our menu".into(),
            footer: Some("Thanks".into()),
            button: "See options".into(),
            sections: vec![ListSection {
                title: Some("Main".into()),
                rows: vec![ListRow {
                    id: "r1".into(),
                    title: "Pizza".into(),
                    description: Some("Large".into()),
                }],
            }],
        }),
        to(OutgoingBody::Reaction { message_id: inbound.clone(), emoji: Some("👍".into()) }),
        to(OutgoingBody::Template {
            name: "order_ready".into(),
            language: "en_US".into(),
            components: vec![
                json!({"type":"header","parameters":[{"type":"image","image":{"link":"https://cdn.example/order.jpg"}}]}),
                json!({"type":"body","parameters":[{"type":"text","text":"Ana"},{"type":"text","text":"#4821"}]}),
                json!({"type":"button","sub_type":"quick_reply","index":"0","parameters":[{"type":"payload","payload":"ON_MY_WAY"}]}),
            ],
        }),
        OutgoingMessage::text(CUSTOMER, "Replying to you").replying_to(inbound.clone()),
    ];
    for m in &messages {
        c.send(PNID, m).await.unwrap_or_else(|e| panic!("{:?}: {e}", m.body.type_name()));
    }
    c.mark_read(PNID, &inbound).await.unwrap();

    let sent = control.sent();
    let kinds: Vec<&str> = sent.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "text",
            "image",
            "image",
            "video",
            "audio",
            "document",
            "sticker",
            "location",
            "contacts",
            "interactive",
            "interactive",
            "reaction",
            "template",
            "text"
        ]
    );
    assert!(sent.iter().all(|s| s.to == CUSTOMER && s.channel == "whatsapp"));
    assert_eq!(sent[0].body["text"]["preview_url"], true);
    assert_eq!(sent[1].body["image"]["id"], media_id.as_str());
    assert_eq!(sent[2].body["image"]["link"], "https://cdn.example/a.jpg");
    assert_eq!(sent[5].body["document"]["filename"], "invoice.pdf");
    assert_eq!(sent[7].body["location"]["name"], "Shop");
    assert_eq!(sent[9].body["interactive"]["action"]["buttons"].as_array().unwrap().len(), 3);
    assert_eq!(sent[10].body["interactive"]["type"], "list");
    assert_eq!(sent[11].body["reaction"]["message_id"], inbound.as_str());
    assert_eq!(sent[12].body["template"]["components"][1]["parameters"][1]["text"], "#4821");
    assert_eq!(sent[13].reply_to.as_deref(), Some(inbound.as_str()));
    assert_eq!(control.marked_read(), [inbound]);
    // The uploaded bytes are what the sandbox keeps.
    assert_eq!(control.media(&media_id).unwrap(), b"\xFF\xD8\xFFjpeg");
    sb.shutdown().await;
}

#[tokio::test]
async fn every_error_class_is_typed_and_retried_only_when_safe() {
    let sb = spawn(config(None)).await.unwrap();
    let c = client(&sb, TOKEN);
    let control = sb.control();
    let fast = RetryPolicy { max_attempts: 3, max_delay: Duration::from_millis(10) };
    control.customer_sends_text(CUSTOMER, "Ana", "hi").await.unwrap();
    let hi = OutgoingMessage::text(CUSTOMER, "hello");

    // Retry later: each rate-limit code and a Meta 5xx. The typed error,
    // then send_with_retry riding it out with exactly one accepted message.
    for code in [130429, 131056, 80007, 4, 131000] {
        control.fail_next(code, 1);
        let err = c.send(PNID, &hi).await.unwrap_err();
        assert_eq!(err.code(), Some(code));
        assert_eq!(err.retry_class(), RetryClass::RetryLater, "{code}");
        assert!(err.certainly_not_accepted());
        assert!(err.retry_after(0).is_some());
        control.fail_next(code, 1);
        let before = control.sent().len();
        c.send_with_retry(PNID, &hi, fast).await.unwrap();
        assert_eq!(control.sent().len(), before + 1, "exactly one accepted after the retry");
    }
    // Pair limits wait at least 6 s; account limits at least a minute.
    control.fail_next(131056, 1);
    assert!(c.send(PNID, &hi).await.unwrap_err().retry_after(0).unwrap() >= Duration::from_secs(6));
    control.fail_next(80007, 1);
    assert!(
        c.send(PNID, &hi).await.unwrap_err().retry_after(0).unwrap() >= Duration::from_secs(60)
    );
    // Attempts run out: the last refusal comes back, nothing accepted.
    control.fail_next(130429, 3);
    let before = control.sent().len();
    assert_eq!(c.send_with_retry(PNID, &hi, fast).await.unwrap_err().code(), Some(130429));
    assert_eq!(control.sent().len(), before);

    // Wait for the customer: outside the window.
    let stranger = OutgoingMessage::text("15557779999", "hello");
    let before = control.sent().len();
    let err = c.send_with_retry(PNID, &stranger, fast).await.unwrap_err();
    assert_eq!(err.code(), Some(131047));
    assert_eq!(err.retry_class(), RetryClass::WaitForCustomer);
    assert_eq!(err.retry_after(0), None);
    assert_eq!(control.sent().len(), before);

    // Fix the input: unknown template, wrong variable count.
    let tpl = |name: &str, params: usize| {
        let p: Vec<Value> =
            (0..params).map(|i| json!({"type":"text","text":i.to_string()})).collect();
        to(OutgoingBody::Template {
            name: name.into(),
            language: "en_US".into(),
            components: vec![json!({"type":"body","parameters":p})],
        })
    };
    let err = c.send(PNID, &tpl("no_such_template", 0)).await.unwrap_err();
    assert_eq!((err.code(), err.retry_class()), (Some(132001), RetryClass::FixInput));
    assert!(err.user_message().contains("does not exist"));
    let err = c.send(PNID, &tpl("order_ready", 1)).await.unwrap_err();
    assert_eq!((err.code(), err.retry_class()), (Some(132000), RetryClass::FixInput));
    // Paused templates are refused with their own code.
    let err = c.send(PNID, &tpl("winter_clearance", 0)).await.unwrap_err();
    assert_eq!(err.code(), Some(132015));
    // The body is right but the text header's variable is missing.
    let err = c.send(PNID, &tpl("appointment_reminder", 3)).await.unwrap_err();
    assert_eq!(err.code(), Some(132000));
    let with = |components: Vec<Value>| {
        to(OutgoingBody::Template {
            name: "appointment_reminder".into(),
            language: "en_US".into(),
            components,
        })
    };
    let body3 = json!({"type":"body","parameters":[
        {"type":"text","text":"Ana"},{"type":"text","text":"3 pm"},{"type":"text","text":"Dr. Silva"}]});
    let header = json!({"type":"header","parameters":[{"type":"text","text":"Friday"}]});
    c.send(PNID, &with(vec![header.clone(), body3])).await.unwrap();
    let empty = json!({"type":"body","parameters":[
        {"type":"text","text":"Ana"},{"type":"text","text":" "},{"type":"text","text":"Dr. Silva"}]});
    assert_eq!(c.send(PNID, &with(vec![header, empty])).await.unwrap_err().code(), Some(100));
    // A named template's values must carry their names.
    let named = |p: Value| {
        to(OutgoingBody::Template {
            name: "order_shipped".into(),
            language: "en_US".into(),
            components: vec![json!({"type":"body","parameters":p})],
        })
    };
    let err = c
        .send(PNID, &named(json!([{"type":"text","text":"Ana"},{"type":"text","text":"A-1"}])))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(132000));
    c.send(
        PNID,
        &named(json!([{"type":"text","parameter_name":"customer_name","text":"Ana"},
                      {"type":"text","parameter_name":"order_id","text":"A-1"}])),
    )
    .await
    .unwrap();

    // Reconnect: a bad token.
    let err = client(&sb, "wrong-token").send(PNID, &hi).await.unwrap_err();
    assert_eq!((err.code(), err.retry_class()), (Some(190), RetryClass::Reconnect));

    // A bare 502 (no Meta body) may hide an accepted message: never retried.
    control.set_faults(Faults { bare_server_errors: 1, ..Faults::default() });
    let err = c.send_with_retry(PNID, &hi, fast).await.unwrap_err();
    assert_eq!(err, GraphError::Http { status: 502 });
    assert!(!err.certainly_not_accepted());

    // Slow answers are slow, and still answers.
    control.set_faults(Faults { slow_response_ms: 300, ..Faults::default() });
    let started = Instant::now();
    assert!(c.phone_numbers(WABA).await.is_ok());
    assert!(started.elapsed() >= Duration::from_millis(300));
    control.set_faults(Faults::default());
    sb.shutdown().await;
}

#[tokio::test]
async fn the_pair_and_throughput_limits_are_enforced_naturally() {
    let mut cfg = config(None);
    cfg.pair_limit = Some(PairLimit { burst: 2, every: Duration::from_secs(6) });
    cfg.max_msgs_per_sec = 4;
    let sb = spawn(cfg).await.unwrap();
    let c = client(&sb, TOKEN);
    let control = sb.control();
    for wa_id in [CUSTOMER, "15551230002", "15551230003"] {
        control.customer_sends_text(wa_id, "X", "hi").await.unwrap();
    }
    let started = Instant::now();
    for _ in 0..2 {
        c.send_text(PNID, CUSTOMER, "ok", None).await.unwrap();
    }
    let pair = c.send_text(PNID, CUSTOMER, "third", None).await.unwrap_err();
    assert_eq!((pair.code(), pair.retry_class()), (Some(131056), RetryClass::RetryLater));
    for _ in 0..2 {
        c.send_text(PNID, "15551230002", "ok", None).await.unwrap();
    }
    let rate = c.send_text(PNID, "15551230003", "fifth", None).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1), "the five sends fit in one second");
    assert_eq!((rate.code(), rate.retry_class()), (Some(130429), RetryClass::RetryLater));
    // A second later the number may send again.
    tokio::time::sleep(Duration::from_millis(1050)).await;
    c.send_text(PNID, "15551230003", "later", None).await.unwrap();
    assert_eq!(control.sent().len(), 5);
    sb.shutdown().await;
}

#[tokio::test]
async fn templates_are_listed_created_reviewed_by_webhook_and_deleted() {
    let mut r = relay().await;
    let sb = spawn(config(Some(r.url.clone()))).await.unwrap();
    let c = client(&sb, TOKEN);
    let body = vec![
        json!({"type":"BODY","text":"Hi {{1}}, spring sale!","example":{"body_text":[["Ana"]]}}),
    ];
    let new = |name: &str| NewTemplate {
        name: name.into(),
        category: TemplateCategory::Marketing,
        language: "en_US".into(),
        components: body.clone(),
        parameter_format: None,
    };
    let created = c.create_template(WABA, &new("spring_sale")).await.unwrap();
    assert_eq!(created.status, "PENDING");
    let rejected = c.create_template(WABA, &new("please_reject_this")).await.unwrap();
    let dup = c.create_template(WABA, &new("spring_sale")).await.unwrap_err();
    assert_eq!(dup.retry_class(), RetryClass::FixInput);

    let mut seen = Vec::new();
    while seen.len() < 2 {
        let hook = r.next().await;
        seen.extend(events(&hook).iter().filter_map(|e| e.account_event()));
    }
    let status_of = |id: &str| {
        seen.iter().find_map(|e| match e {
            AccountEvent::TemplateStatus { template_id: Some(t), event, reason, .. } if t == id => {
                Some((event.clone(), reason.clone()))
            }
            _ => None,
        })
    };
    assert_eq!(status_of(&created.id), Some((Some("APPROVED".into()), None)));
    assert_eq!(
        status_of(&rejected.id),
        Some((Some("REJECTED".into()), Some("INVALID_FORMAT".into())))
    );

    // Paged listing: one per page still finds all four.
    let page = c.list_templates(WABA, 1, None).await.unwrap();
    assert_eq!(page.templates.len(), 1);
    assert!(page.after.is_some());
    let all = c.list_all_templates(WABA).await.unwrap();
    assert_eq!(all.len(), 8, "the six seeded templates and the two new ones");

    // Now approved, it can be sent (to anyone: templates open conversations).
    let send = to(OutgoingBody::Template {
        name: "spring_sale".into(),
        language: "en_US".into(),
        components: vec![json!({"type":"body","parameters":[{"type":"text","text":"Ana"}]})],
    });
    c.send(PNID, &send).await.unwrap();
    let never = to(OutgoingBody::Template {
        name: "please_reject_this".into(),
        language: "en_US".into(),
        components: vec![json!({"type":"body","parameters":[{"type":"text","text":"Ana"}]})],
    });
    assert_eq!(c.send(PNID, &never).await.unwrap_err().code(), Some(132001));

    c.delete_template(WABA, "spring_sale").await.unwrap();
    assert!(c.delete_template(WABA, "spring_sale").await.is_err());
    assert_eq!(c.list_all_templates(WABA).await.unwrap().len(), 7);
    sb.shutdown().await;
}

#[tokio::test]
async fn media_profile_and_numbers() {
    let mut r = relay().await;
    let sb = spawn(config(Some(r.url.clone()))).await.unwrap();
    let c = client(&sb, TOKEN);
    let control = sb.control();

    let pdf = b"%PDF-1.7 a small document".to_vec();
    let id = c.upload_media(PNID, "doc.pdf", "application/pdf", &pdf).await.unwrap();
    let (info, bytes) = c.fetch_media(&id, 1024).await.unwrap();
    assert_eq!(bytes, pdf);
    assert_eq!(info.file_size, Some(pdf.len() as u64));
    assert!(matches!(c.fetch_media(&id, 4).await, Err(GraphError::MediaTooLarge { .. })));
    assert!(c.media_info("999").await.is_err());

    // A customer's photo: the webhook's id and sha256 fetch and verify.
    control
        .customer_sends(CUSTOMER, &CustomerMessage::Image { caption: Some("look".into()) }, None)
        .await
        .unwrap();
    let hook = r.next().await;
    let WebhookEvent::Message(m) = &events(&hook)[0] else { panic!("{hook}") };
    let MessageContent::Image { media } = &m.content else { panic!("{:?}", m.content) };
    let (info, bytes) = c.fetch_media(media.id.as_deref().unwrap(), 1 << 20).await.unwrap();
    assert_eq!(info.sha256, media.sha256);
    assert!(bytes.starts_with(&[0xFF, 0xD8]));
    // Without the token the file is not served.
    let plain = reqwest::get(&info.url).await.unwrap();
    assert_eq!(plain.status().as_u16(), 401);

    let profile = c.business_profile(PNID).await.unwrap();
    assert!(profile.about.is_some());
    let update = BusinessProfile {
        about: Some("Open 9 to 5".into()),
        websites: vec!["https://shop.example/".into()],
        ..BusinessProfile::default()
    };
    c.update_business_profile(PNID, &update).await.unwrap();
    let again = c.business_profile(PNID).await.unwrap();
    assert_eq!(again.about.as_deref(), Some("Open 9 to 5"));
    assert_eq!(again.websites, ["https://shop.example/"]);

    let numbers = c.phone_numbers(WABA).await.unwrap();
    assert_eq!(numbers.len(), 1);
    assert_eq!(numbers[0].id, PNID);
    assert_eq!(numbers[0].quality_rating.as_deref(), Some("GREEN"));
    assert_eq!(numbers[0].messaging_limit_tier.as_deref(), Some("TIER_2K"));
    assert!(c.phone_numbers("111").await.is_err(), "another account's id is unknown");

    // One number by its id, as onboarding checks it.
    let one = c.phone_number(PNID).await.unwrap();
    assert_eq!(one, numbers[0]);
    assert_eq!(one.verified_name.as_deref(), Some("Parley Sandbox"));
    assert_eq!(one.code_verification_status.as_deref(), Some("VERIFIED"));
    assert_eq!(c.phone_number("100000000000999").await.unwrap_err().code(), Some(100));
    let wrong = client(&sb, "not-the-token");
    assert_eq!(wrong.phone_number(PNID).await.unwrap_err().code(), Some(190));
    sb.shutdown().await;
}

#[tokio::test]
async fn instagram_sends_follow_the_24h_and_human_agent_rules() {
    let mut r = relay().await;
    let sb = spawn(config(Some(r.url.clone()))).await.unwrap();
    let c = client(&sb, TOKEN);
    let control = sb.control();
    let who = control.instagram_customers()[0].igsid.clone();
    let hour = Duration::from_secs(3600);
    let text = InstagramBody::Text("Thanks for writing!".into());

    // Businesses cannot start Instagram conversations.
    let err = c.send_instagram(IG, &who, &text, hour, false).await.unwrap_err();
    assert_eq!(err.code(), Some(100));

    control
        .instagram_customer_sends(&who, &IgCustomerMessage::Text { text: "hello".into() })
        .await
        .unwrap();
    r.next().await;
    let sent = c.send_instagram(IG, &who, &text, hour, false).await.unwrap();
    let read = r.until(|h| h.pointer("/entry/0/messaging/0/read").is_some()).await;
    let WebhookEvent::Status(s) = &events(&read)[0] else { panic!("{read}") };
    assert_eq!((s.provider_id.as_str(), s.status.as_str()), (sent.message_id.as_str(), "read"));

    // 30 hours later: only a person may answer, with the tag.
    assert!(control.rewind_instagram_window(&who, hour * 30));
    // The sandbox enforces it too (the client is told it is still fresh).
    let err = c.send_instagram(IG, &who, &text, hour, false).await.unwrap_err();
    assert_eq!(err.retry_class(), RetryClass::WaitForCustomer, "{err:?}");
    let image = InstagramBody::Attachment {
        kind: InstagramAttachment::Image,
        url: "https://cdn.example/p.jpg".into(),
    };
    c.send_instagram(IG, &who, &image, hour * 30, true).await.unwrap();
    let last = control.sent().pop().unwrap();
    assert_eq!((last.channel.as_str(), last.kind.as_str()), ("instagram", "image"));
    assert_eq!(last.body["tag"], "HUMAN_AGENT");

    // Eight days: nobody may answer.
    assert!(control.rewind_instagram_window(&who, hour * 24 * 7));
    assert!(matches!(
        c.send_instagram(IG, &who, &text, hour * 200, true).await,
        Err(GraphError::OutsideWindow(_))
    ));
    let raw = reqwest::Client::new()
        .post(format!("{}/v23.0/{IG}/messages", sb.graph_base_url()))
        .bearer_auth(TOKEN)
        .json(&json!({"recipient":{"id":who},"messaging_type":"MESSAGE_TAG","tag":"HUMAN_AGENT","message":{"text":"late"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    let body: Value = raw.json().await.unwrap();
    assert_eq!(
        (body["error"]["code"].as_i64(), body["error"]["error_subcode"].as_i64()),
        (Some(10), Some(2018278))
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn customers_send_every_type_on_both_channels_and_parley_meta_reads_them_all() {
    let mut r = relay().await;
    let sb = spawn(config(Some(r.url.clone()))).await.unwrap();
    let control = sb.control();
    let first = control.customer_sends_text(CUSTOMER, "Ana", "first").await.unwrap();
    r.next().await;
    let wa = [
        CustomerMessage::Image { caption: Some("c".into()) },
        CustomerMessage::Video { caption: None },
        CustomerMessage::Voice,
        CustomerMessage::Audio,
        CustomerMessage::Document { filename: "a.pdf".into(), caption: None },
        CustomerMessage::Sticker { animated: true },
        CustomerMessage::Location { latitude: 1.0, longitude: 2.0, name: None, address: None },
        CustomerMessage::Contacts { name: "Marta".into(), phone: "+1 555 010 2000".into() },
        CustomerMessage::ButtonReply { id: "b1".into(), title: "Yes".into() },
        CustomerMessage::ListReply {
            id: "r1".into(),
            title: "Pizza".into(),
            description: Some("Large".into()),
        },
        CustomerMessage::Button { text: "On my way".into(), payload: "ON_MY_WAY".into() },
        CustomerMessage::Reaction { message_id: first.clone(), emoji: Some("❤️".into()) },
        CustomerMessage::Reaction { message_id: first.clone(), emoji: None },
        CustomerMessage::Order {
            catalog_id: "3".into(),
            product_retailer_id: "sku".into(),
            quantity: 2,
            price: 9.5,
        },
        CustomerMessage::Unsupported,
        CustomerMessage::FromAd {
            text: "Is this still on sale?".into(),
            headline: "Spring sale".into(),
        },
        CustomerMessage::ChangedNumber { new_wa_id: "15551230099".into() },
    ];
    let kinds = [
        "image",
        "video",
        "audio",
        "audio",
        "document",
        "sticker",
        "location",
        "contacts",
        "interactive",
        "interactive",
        "button",
        "reaction",
        "reaction",
        "order",
        "unsupported",
        "text",
        "system",
    ];
    for (m, kind) in wa.iter().zip(kinds) {
        control.customer_sends(CUSTOMER, m, None).await.unwrap();
        let ev = events(&r.next().await);
        let [WebhookEvent::Message(got)] = ev.as_slice() else { panic!("{m:?}: {ev:#?}") };
        assert_eq!(got.kind(), kind, "{m:?}");
        assert_eq!(got.from.wa_id.as_deref(), Some(CUSTOMER));
    }
    // The ad click carried its referral.
    let ad = control.customer_sends(CUSTOMER, &wa[15], None).await.unwrap();
    let ev = events(&r.next().await);
    let WebhookEvent::Message(m) = &ev[0] else { panic!() };
    assert_eq!(m.provider_id, ad);
    let referral = m.context.as_ref().and_then(|c| c.referral.as_ref()).expect("referral");
    assert_eq!(referral.headline.as_deref(), Some("Spring sale"));
    assert!(referral.ctwa_clid.is_some());

    // A reply quoting a business message.
    control
        .customer_sends(CUSTOMER, &CustomerMessage::Text { text: "re".into() }, Some("wamid.OURS"))
        .await
        .unwrap();
    let ev = events(&r.next().await);
    let WebhookEvent::Message(reply) = &ev[0] else { panic!() };
    assert_eq!(reply.context.as_ref().and_then(|c| c.message_id.as_deref()), Some("wamid.OURS"));

    let igsid = control.instagram_customers()[1].igsid.clone();
    let hello = control
        .instagram_customer_sends(&igsid, &IgCustomerMessage::Text { text: "hi".into() })
        .await
        .unwrap();
    r.next().await;
    let ig = [
        (IgCustomerMessage::Image, "image"),
        (IgCustomerMessage::Video, "video"),
        (IgCustomerMessage::Audio, "audio"),
        (IgCustomerMessage::StoryReply { text: "nice story".into() }, "text"),
        (IgCustomerMessage::QuickReply { text: "Yes".into(), payload: "YES".into() }, "button"),
        (IgCustomerMessage::Reaction { mid: hello.clone(), emoji: Some("😂".into()) }, "reaction"),
        (IgCustomerMessage::Reaction { mid: hello.clone(), emoji: None }, "reaction"),
        (IgCustomerMessage::Unsupported, "unsupported"),
    ];
    for (m, kind) in &ig {
        control.instagram_customer_sends(&igsid, m).await.unwrap();
        let ev = events(&r.next().await);
        let [WebhookEvent::Message(got)] = ev.as_slice() else { panic!("{m:?}: {ev:#?}") };
        assert_eq!(got.kind(), *kind, "{m:?}");
        assert_eq!(got.from.user_id.as_deref(), Some(igsid.as_str()));
    }
    control
        .instagram_customer_sends(&igsid, &IgCustomerMessage::Delete { mid: hello.clone() })
        .await
        .unwrap();
    let ev = events(&r.next().await);
    assert!(matches!(&ev[0], WebhookEvent::Deleted(d) if d.provider_id == hello), "{ev:#?}");
    sb.shutdown().await;
}

#[tokio::test]
async fn bursts_are_batched_and_faults_show_up_on_the_wire() {
    let mut r = relay().await;
    let sb = spawn(config(Some(r.url.clone()))).await.unwrap();
    let c = client(&sb, TOKEN);
    let control = sb.control();

    let ids = control.burst(5).await.unwrap();
    let hook = r.next().await;
    assert_eq!(hook["entry"].as_array().unwrap().len(), 2, "two entries in one POST");
    let got: Vec<String> = events(&hook)
        .iter()
        .map(|e| match e {
            WebhookEvent::Message(m) => m.provider_id.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, ids, "every message of the batch, in order");

    control.customer_sends_text(CUSTOMER, "Ana", "hi").await.unwrap();
    r.next().await;

    // Out of order: read, delivered, sent.
    control.set_faults(Faults { out_of_order_statuses: true, ..Faults::default() });
    c.send_text(PNID, CUSTOMER, "one", None).await.unwrap();
    let mut order = Vec::new();
    while order.len() < 3 {
        order.extend(status_of(&r.next().await));
    }
    assert_eq!(order, ["read", "delivered", "sent"]);

    // Duplicates: every webhook twice, byte for byte.
    control.set_faults(Faults { duplicate_webhooks: true, ..Faults::default() });
    control.customer_sends_text(CUSTOMER, "Ana", "twice").await.unwrap();
    let (a, b) = (r.next().await, r.next().await);
    assert_eq!(a, b);

    // Every status fails: sent, then failed with Meta's error.
    control.set_faults(Faults { status_failure_rate: 1.0, ..Faults::default() });
    c.send_text(PNID, CUSTOMER, "doomed", None).await.unwrap();
    let failed = r.until(|h| status_of(h).as_deref() == Some("failed")).await;
    let WebhookEvent::Status(s) = &events(&failed)[0] else { panic!() };
    assert_eq!(s.errors[0].code, 131026);

    // A voice message is also reported played.
    control.set_faults(Faults::default());
    let voice =
        to(OutgoingBody::Audio { media: MediaSource::Link("https://cdn.example/v.ogg".into()) });
    c.send(PNID, &voice).await.unwrap();
    r.until(|h| status_of(h).as_deref() == Some("played")).await;

    // A customer known by their business-scoped user id is reachable by it.
    let bsuid = control.customers().iter().find(|x| x.wa_id == CUSTOMER).map(|x| x.user_id.clone());
    let bsuid = match bsuid {
        Some(id) => id,
        // CUSTOMER is not in the seeded cast: take the id from a webhook.
        None => {
            control.customer_sends_text(CUSTOMER, "Ana", "id?").await.unwrap();
            let hook = r.until(|h| h.pointer("/entry/0/changes/0/value/messages").is_some()).await;
            hook.pointer("/entry/0/changes/0/value/contacts/0/user_id")
                .and_then(Value::as_str)
                .unwrap()
                .to_owned()
        }
    };
    c.send_text(PNID, &bsuid, "by user id", None).await.unwrap();
    let last = control.sent().pop().unwrap();
    assert_eq!(
        (last.to.as_str(), last.body["recipient"].as_str()),
        (CUSTOMER, Some(bsuid.as_str()))
    );
    let _ = r.drain(Duration::from_millis(200)).await;

    // Delayed webhooks arrive late.
    control.set_faults(Faults { webhook_delay_ms: 300, ..Faults::default() });
    let started = Instant::now();
    control.customer_sends_text(CUSTOMER, "Ana", "late").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    control.set_faults(Faults::default());
    let _ = r.drain(Duration::from_millis(100)).await;

    // The same faults through the HTTP control API.
    let http = reqwest::Client::new();
    let base = sb.graph_base_url();
    let set: Value = http
        .post(format!("{base}/_sandbox/fail-next"))
        .json(&json!({"code":131056}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(set["fail_next"], json!([131056]));
    assert_eq!(c.send_text(PNID, CUSTOMER, "x", None).await.unwrap_err().code(), Some(131056));
    let burst: Value = http
        .post(format!("{base}/_sandbox/burst"))
        .json(&json!({"count":3}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(burst["ids"].as_array().unwrap().len(), 3);
    let sent: Value = http
        .post(format!("{base}/_sandbox/customers/{CUSTOMER}/send"))
        .json(&json!({"type":"voice"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(sent["id"].as_str().unwrap().starts_with("wamid."));
    sb.shutdown().await;
}
