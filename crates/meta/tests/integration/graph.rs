//! The Graph API client against a loopback axum server that records every
//! request and answers from a script.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Router;
use parley_meta::graph::{
    GraphClient, GraphConfig, GraphError, ListRow, ListSection, MediaSource, OutgoingBody,
    OutgoingMessage, Recipient, ReplyButton, RetryClass,
};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use zeroize::Zeroizing;

pub(crate) const TOKEN: &str = "EAAtest-token-0123456789";
pub(crate) const PNID: &str = "100000000000001";

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) authorization: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Bytes,
}

impl Seen {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

#[derive(Clone, Default)]
pub(crate) struct Script {
    seen: Arc<Mutex<Vec<Seen>>>,
    answers: Arc<Mutex<VecDeque<(u16, String)>>>,
}

async fn record(
    State(script): State<Script>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    script.seen.lock().unwrap().push(Seen {
        method,
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        authorization: header("authorization"),
        content_type: header("content-type"),
        body,
    });
    let (status, body) = script
        .answers
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or((500, r#"{"error":{"message":"no scripted answer","code":1}}"#.into()));
    (StatusCode::from_u16(status).unwrap(), [("content-type", "application/json")], body)
}

/// A server answering `answers` in order, and a client pointed at it.
pub(crate) async fn serve(answers: &[(u16, &str)]) -> (GraphClient, Script) {
    let script = Script::default();
    script.answers.lock().unwrap().extend(answers.iter().map(|(s, b)| (*s, (*b).to_owned())));
    let app = Router::new().fallback(record).with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let config = GraphConfig { base_url, version: "v23.0".into() };
    (GraphClient::new(config, Zeroizing::new(TOKEN.into())).unwrap(), script)
}

pub(crate) fn seen(script: &Script) -> Vec<Seen> {
    script.seen.lock().unwrap().clone()
}

pub(crate) const ACCEPTED: &str = r#"{"messaging_product":"whatsapp","contacts":[{"input":"15557654321","wa_id":"15557654321"}],"messages":[{"id":"wamid.OUT1"}]}"#;

#[tokio::test]
async fn send_text_posts_the_documented_request() {
    let (client, script) = serve(&[(200, ACCEPTED)]).await;
    let accepted =
        client.send_text(PNID, "15557654321", "On its way!", Some("wamid.IN1")).await.unwrap();
    assert_eq!(accepted.message_id, "wamid.OUT1");
    assert_eq!(accepted.wa_id.as_deref(), Some("15557654321"));

    let [req] = seen(&script).try_into().unwrap();
    assert_eq!(req.method, Method::POST);
    assert_eq!(req.path, format!("/v23.0/{PNID}/messages"));
    assert_eq!(req.query, None, "the token is never in the URL");
    assert_eq!(req.authorization.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
    assert_eq!(req.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        req.json(),
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "15557654321",
            "context": { "message_id": "wamid.IN1" },
            "type": "text",
            "text": { "preview_url": false, "body": "On its way!" }
        })
    );
}

#[tokio::test]
async fn send_text_to_a_bsuid_uses_recipient_and_links_get_previews() {
    let bsuid_answer = r#"{"messaging_product":"whatsapp","contacts":[{"input":"US.1349","user_id":"US.1349"}],"messages":[{"id":"wamid.OUT2"}]}"#;
    let (client, script) = serve(&[(200, bsuid_answer)]).await;
    let accepted = client
        .send_text(PNID, "US.1349", "Track it at https://example.com/t/1", None)
        .await
        .unwrap();
    assert_eq!(
        accepted,
        parley_meta::graph::SendAccepted { message_id: "wamid.OUT2".into(), wa_id: None }
    );
    let body = seen(&script)[0].json();
    assert_eq!(body["recipient"], "US.1349");
    assert!(body.get("to").is_none());
    assert!(body.get("context").is_none());
    assert_eq!(body["text"]["preview_url"], true);
}

#[tokio::test]
async fn send_serialises_every_message_type() {
    let to = || Recipient::Phone("15557654321".into());
    let cases: Vec<(OutgoingBody, Value)> = vec![
        (
            OutgoingBody::Image {
                media: MediaSource::Id("900001".into()),
                caption: Some("Your receipt".into()),
            },
            json!({ "id": "900001", "caption": "Your receipt" }),
        ),
        (
            OutgoingBody::Document {
                media: MediaSource::Link("https://example.com/manual.pdf".into()),
                caption: None,
                filename: Some("manual.pdf".into()),
            },
            json!({ "link": "https://example.com/manual.pdf", "filename": "manual.pdf" }),
        ),
        (
            OutgoingBody::Audio { media: MediaSource::Id("900002".into()) },
            json!({ "id": "900002" }),
        ),
        (
            OutgoingBody::Sticker { media: MediaSource::Id("900003".into()) },
            json!({ "id": "900003" }),
        ),
        (
            OutgoingBody::Location {
                latitude: 38.7223,
                longitude: -9.1393,
                name: Some("Store".into()),
                address: None,
            },
            json!({ "latitude": 38.7223, "longitude": -9.1393, "name": "Store" }),
        ),
        (
            OutgoingBody::Reaction { message_id: "wamid.IN2".into(), emoji: Some("🙏".into()) },
            json!({ "message_id": "wamid.IN2", "emoji": "🙏" }),
        ),
        (
            OutgoingBody::Buttons {
                header: Some("Delivery".into()),
                body: "Deliver tomorrow?".into(),
                footer: Some("Reply to choose".into()),
                buttons: vec![
                    ReplyButton { id: "yes".into(), title: "Yes".into() },
                    ReplyButton { id: "later".into(), title: "Later".into() },
                ],
            },
            json!({
                "type": "button",
                "header": { "type": "text", "text": "Delivery" },
                "body": { "text": "Deliver tomorrow?" },
                "footer": { "text": "Reply to choose" },
                "action": { "buttons": [
                    { "type": "reply", "reply": { "id": "yes", "title": "Yes" } },
                    { "type": "reply", "reply": { "id": "later", "title": "Later" } }
                ] }
            }),
        ),
        (
            OutgoingBody::List {
                header: None,
                body: "Pick a slot".into(),
                footer: None,
                button: "Slots".into(),
                sections: vec![ListSection {
                    title: Some("Tuesday".into()),
                    rows: vec![ListRow {
                        id: "tue-14".into(),
                        title: "14:00".into(),
                        description: Some("Downtown".into()),
                    }],
                }],
            },
            json!({
                "type": "list",
                "body": { "text": "Pick a slot" },
                "action": { "button": "Slots", "sections": [
                    { "title": "Tuesday", "rows": [ { "id": "tue-14", "title": "14:00", "description": "Downtown" } ] }
                ] }
            }),
        ),
        (
            OutgoingBody::Template {
                name: "order_ready".into(),
                language: "en_US".into(),
                components: vec![
                    json!({ "type": "body", "parameters": [ { "type": "text", "text": "#1042" } ] }),
                ],
            },
            json!({
                "name": "order_ready",
                "language": { "code": "en_US" },
                "components": [ { "type": "body", "parameters": [ { "type": "text", "text": "#1042" } ] } ]
            }),
        ),
    ];
    let answers: Vec<(u16, &str)> = cases.iter().map(|_| (200, ACCEPTED)).collect();
    let (client, script) = serve(&answers).await;
    for (body, _) in &cases {
        let mut message = OutgoingMessage::new(to(), body.clone());
        message.biz_opaque_callback_data = Some("outbox:7".into());
        client.send(PNID, &message).await.unwrap_or_else(|e| panic!("{body:?}: {e}"));
    }
    let requests = seen(&script);
    assert_eq!(requests.len(), cases.len());
    for ((body, expected), req) in cases.iter().zip(&requests) {
        let sent = req.json();
        let type_name = body.type_name();
        assert_eq!(sent["type"], type_name);
        assert_eq!(sent[type_name], *expected, "{type_name}");
        assert_eq!(sent["to"], "15557654321");
        assert_eq!(sent["biz_opaque_callback_data"], "outbox:7");
    }
}

#[tokio::test]
async fn mark_read() {
    let (client, script) =
        serve(&[(200, r#"{"success":true}"#), (200, r#"{"success":false}"#)]).await;
    client.mark_read(PNID, "wamid.IN3").await.unwrap();
    let req = &seen(&script)[0];
    assert_eq!(req.path, format!("/v23.0/{PNID}/messages"));
    assert_eq!(
        req.json(),
        json!({ "messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN3" })
    );
    assert!(matches!(client.mark_read(PNID, "wamid.IN4").await, Err(GraphError::Decode(_))));
}

#[tokio::test]
async fn instagram_text_with_human_agent_tag() {
    let (client, script) =
        serve(&[(200, r#"{"recipient_id":"6100000000000001","message_id":"ig.mid.OUT1"}"#)]).await;
    let accepted = client
        .send_instagram_text("17841400000000001", "6100000000000001", "Olá!", true)
        .await
        .unwrap();
    assert_eq!(accepted.message_id, "ig.mid.OUT1");
    let req = &seen(&script)[0];
    assert_eq!(req.path, "/v23.0/17841400000000001/messages");
    assert_eq!(req.authorization.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
    assert_eq!(
        req.json(),
        json!({
            "recipient": { "id": "6100000000000001" },
            "message": { "text": "Olá!" },
            "messaging_type": "MESSAGE_TAG",
            "tag": "HUMAN_AGENT"
        })
    );
}

#[tokio::test]
async fn media_lookup_and_download() {
    let (client, script) = serve(&[]).await;
    let file_url = format!("{}/media-file/abc?hash=1", client.base_url());
    let info = json!({ "messaging_product": "whatsapp", "url": file_url, "mime_type": "image/jpeg",
                       "sha256": "ab12", "file_size": "2048", "id": "900000000000003" });
    script.answers.lock().unwrap().extend([(200, info.to_string()), (200, "JPEGBYTES".to_owned())]);
    let media = client.media_info("900000000000003").await.unwrap();
    assert_eq!(media.url, file_url);
    assert_eq!(media.file_size, Some(2048));
    assert_eq!(client.download_media(&media.url).await.unwrap(), b"JPEGBYTES");
    let requests = seen(&script);
    assert_eq!(requests[0].method, Method::GET);
    assert_eq!(requests[0].path, "/v23.0/900000000000003");
    assert_eq!(requests[1].path, "/media-file/abc");
    assert!(requests
        .iter()
        .all(|r| r.authorization.as_deref() == Some(&format!("Bearer {TOKEN}"))));
    // The token is not offered to plain-HTTP hosts other than the configured one.
    let err = client.download_media("http://203.0.113.9/file").await.unwrap_err();
    assert_eq!(err.retry_class(), RetryClass::FixInput);
    assert_eq!(seen(&script).len(), 2);
}

#[tokio::test]
async fn invalid_messages_never_reach_meta() {
    let (client, script) = serve(&[]).await;
    let too_long = "x".repeat(4097);
    let err = client.send_text(PNID, "15557654321", &too_long, None).await.unwrap_err();
    assert_eq!(err.retry_class(), RetryClass::FixInput);
    assert!(err.user_message().contains("4097 characters"), "{}", err.user_message());
    let err = client.send_text("1/../../me", "15557654321", "hi", None).await.unwrap_err();
    assert!(matches!(err, GraphError::InvalidInput(_)));
    let rows = (0..11)
        .map(|i| ListRow { id: format!("r{i}"), title: format!("Row {i}"), description: None })
        .collect();
    let list = OutgoingBody::List {
        header: None,
        body: "Pick".into(),
        footer: None,
        button: "Open".into(),
        sections: vec![ListSection { title: None, rows }],
    };
    let err = client
        .send(PNID, &OutgoingMessage::new(Recipient::Phone("1555".into()), list))
        .await
        .unwrap_err();
    assert!(err.user_message().contains("11 rows"), "{}", err.user_message());
    assert!(seen(&script).is_empty());
}

pub(crate) fn meta_error(code: i64, message: &str, details: Option<&str>) -> String {
    let mut error = json!({ "message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEfGh123" });
    if let Some(d) = details {
        error["error_data"] = json!({ "messaging_product": "whatsapp", "details": d });
    }
    json!({ "error": error }).to_string()
}

#[tokio::test]
async fn meta_errors_map_to_classes_and_sentences() {
    let cases: Vec<(u16, String, RetryClass, &str)> = vec![
        (401, meta_error(190, "Error validating access token: Session has expired", None), RetryClass::Reconnect, "Reconnect the channel"),
        (400, meta_error(131047, "(#131047) Re-engagement message", Some("Message failed to send because more than 24 hours have passed since the customer last replied to this number.")), RetryClass::WaitForCustomer, "more than 24 hours since the customer last wrote; send an approved template"),
        (400, meta_error(130429, "(#130429) Rate limit hit", None), RetryClass::RetryLater, "retried shortly"),
        (400, meta_error(131056, "(#131056) (Business Account, Consumer Account) pair rate limit hit", None), RetryClass::RetryLater, "this customer"),
        (400, meta_error(80007, "(#80007) Rate limit issues", None), RetryClass::RetryLater, "rate limit"),
        (400, meta_error(4, "(#4) Application request limit reached", None), RetryClass::RetryLater, "rate limit"),
        (400, meta_error(131026, "(#131026) Message Undeliverable", None), RetryClass::FixInput, "could not be delivered"),
        (400, meta_error(131051, "(#131051) Unsupported message type", None), RetryClass::FixInput, "does not support this message type"),
        (400, meta_error(132000, "(#132000) Number of parameters does not match the expected number of params", None), RetryClass::FixInput, "variables does not match"),
        (404, meta_error(132001, "(#132001) Template name does not exist in the translation", None), RetryClass::FixInput, "does not exist"),
        (400, meta_error(132005, "(#132005) Translated text too long", None), RetryClass::FixInput, "too long"),
        (400, meta_error(132007, "(#132007) Template Format Character Policy Violated", None), RetryClass::FixInput, "formatting policy"),
        (400, meta_error(132012, "(#132012) Parameter format does not match format in the created template", None), RetryClass::FixInput, "wrong format"),
        (400, meta_error(132015, "(#132015) Template is Paused", None), RetryClass::FixInput, "paused"),
        (400, meta_error(132016, "(#132016) Template is Disabled", None), RetryClass::FixInput, "disabled"),
        (400, meta_error(100, "(#100) Invalid parameter", Some("Parameter 'to' is not a valid phone number")), RetryClass::FixInput, "Parameter 'to' is not a valid phone number"),
        (500, meta_error(131000, "(#131000) Something went wrong", None), RetryClass::RetryLater, "temporary problem"),
        (503, meta_error(131016, "(#131016) Service unavailable", None), RetryClass::RetryLater, "temporary problem"),
        (500, meta_error(424242, "An unknown error occurred", None), RetryClass::RetryLater, "retried"),
    ];
    let answers: Vec<(u16, &str)> = cases.iter().map(|(s, b, _, _)| (*s, b.as_str())).collect();
    let (client, _script) = serve(&answers).await;
    for (status, body, class, words) in &cases {
        let err = client.send_text(PNID, "15557654321", "hi", None).await.unwrap_err();
        let GraphError::Meta(meta) = &err else { panic!("{body}: {err:?}") };
        assert_eq!(meta.http_status, *status);
        assert_eq!(meta.fbtrace_id.as_deref(), Some("AbCdEfGh123"));
        assert_eq!(err.retry_class(), *class, "{body}");
        let sentence = err.user_message();
        assert!(sentence.contains(words), "{body}\n=> {sentence}");
        assert!(!sentence.contains('{') && !sentence.contains(TOKEN), "{sentence}");
        assert!(sentence.ends_with('.'), "{sentence}");
    }
}

#[tokio::test]
async fn non_meta_error_bodies_and_dead_servers() {
    let (client, _script) =
        serve(&[(502, "<html>Bad gateway</html>"), (200, "not json"), (200, r#"{"messages":[]}"#)])
            .await;
    let err = client.send_text(PNID, "1555", "hi", None).await.unwrap_err();
    assert_eq!(err, GraphError::Http { status: 502 });
    assert_eq!(err.retry_class(), RetryClass::RetryLater);
    assert!(matches!(client.send_text(PNID, "1555", "hi", None).await, Err(GraphError::Decode(_))));
    assert!(matches!(client.send_text(PNID, "1555", "hi", None).await, Err(GraphError::Decode(_))));

    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config =
        GraphConfig { base_url: format!("http://127.0.0.1:{port}"), version: "v23.0".into() };
    let dead = GraphClient::new(config, Zeroizing::new(TOKEN.into())).unwrap();
    let err = dead.send_text(PNID, "1555", "hi", None).await.unwrap_err();
    // Nothing listened, so nothing was sent: resending is safe.
    assert!(matches!(err, GraphError::NotSent(_)), "{err:?}");
    assert!(err.certainly_not_accepted());
    assert_eq!(err.retry_class(), RetryClass::RetryLater);
    assert!(err.retry_after(0).is_some());
    for text in [format!("{err}"), format!("{err:?}"), err.user_message(), format!("{dead:?}")] {
        assert!(!text.contains(TOKEN), "{text}");
    }
}
