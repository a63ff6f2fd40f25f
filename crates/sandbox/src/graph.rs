//! The Graph API surface: Meta's error object and the validation of
//! `POST /{version}/{phone_number_id}/messages` bodies.
//!
//! Validation is deliberately as strict as Meta's where the product depends
//! on it (text length, the customer-service window, interactive limits), so
//! that a bug the sandbox lets through is not one Meta would reject.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::cast::new_fbtrace_id;

/// Meta's longest text body, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;
const MAX_BUTTONS: usize = 3;
const MAX_LIST_ROWS: usize = 10;

/// Message types Cloud API accepts on `/messages`.
const KNOWN_TYPES: &[&str] = &[
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "reaction",
    "template",
];

/// An error answered in Meta's `{"error":{…}}` shape.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphError {
    pub status: StatusCode,
    pub code: i64,
    pub kind: &'static str,
    pub message: String,
    /// WhatsApp errors explain themselves in `error_data.details`; plain
    /// Graph errors (bad token, bad path) have no `error_data`.
    pub details: Option<String>,
    /// `error_subcode` (Instagram's outside-the-window error has one).
    pub subcode: Option<i64>,
}

impl GraphError {
    pub fn bad_token() -> Self {
        GraphError {
            status: StatusCode::UNAUTHORIZED,
            code: 190,
            kind: "OAuthException",
            message: "Invalid OAuth access token - the token is missing, malformed or not valid for this app".into(),
            details: None,
            subcode: None,
        }
    }

    pub fn unknown_path(path: &str) -> Self {
        GraphError {
            status: StatusCode::BAD_REQUEST,
            code: 2500,
            kind: "OAuthException",
            message: format!("Unknown path components: {path}"),
            details: None,
            subcode: None,
        }
    }

    pub fn unknown_object(id: &str) -> Self {
        GraphError {
            status: StatusCode::BAD_REQUEST,
            code: 100,
            kind: "GraphMethodException",
            message: format!(
                "Unsupported post request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation"
            ),
            details: None,
            subcode: None,
        }
    }

    pub fn invalid_parameter(details: impl Into<String>) -> Self {
        GraphError {
            status: StatusCode::BAD_REQUEST,
            code: 100,
            kind: "OAuthException",
            message: "(#100) Invalid parameter".into(),
            details: Some(details.into()),
            subcode: None,
        }
    }

    pub fn window_closed() -> Self {
        GraphError {
            status: StatusCode::BAD_REQUEST,
            code: 131047,
            kind: "OAuthException",
            message: "(#131047) Re-engagement message".into(),
            details: Some(
                "The customer has not written to this number in the last 24 hours, so only an approved template can be sent to them.".into(),
            ),
            subcode: None,
        }
    }

    fn whatsapp(status: StatusCode, code: i64, message: &str, details: &str) -> Self {
        GraphError {
            status,
            code,
            kind: "OAuthException",
            message: message.into(),
            details: Some(details.into()),
            subcode: None,
        }
    }

    /// More messages per second than the number's throughput allows.
    pub fn rate_limited(per_sec: u32) -> Self {
        Self::whatsapp(
            StatusCode::BAD_REQUEST,
            130429,
            "(#130429) Rate limit hit",
            &format!("Cloud API message throughput has been reached ({per_sec} messages per second for this number)."),
        )
    }

    /// Too many messages to the same customer in a short time.
    pub fn pair_limited() -> Self {
        Self::whatsapp(
            StatusCode::BAD_REQUEST,
            131056,
            "(#131056) (Business Account, Consumer Account) pair rate limit hit",
            "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.",
        )
    }

    pub fn template_missing(name: &str, language: &str) -> Self {
        Self::whatsapp(
            StatusCode::NOT_FOUND,
            132001,
            "(#132001) Template name does not exist in the translation",
            &format!("template name ({name}) does not exist in {language}"),
        )
    }

    pub fn template_params(part: &str, expected: usize, got: usize) -> Self {
        Self::whatsapp(
            StatusCode::BAD_REQUEST,
            132000,
            "(#132000) Number of parameters does not match the expected number of params",
            &format!("{part}: number of localizable_params ({got}) does not match the expected number of params ({expected})"),
        )
    }

    pub fn template_paused(name: &str) -> Self {
        Self::whatsapp(
            StatusCode::BAD_REQUEST,
            132015,
            "(#132015) Template is Paused",
            &format!("template {name} is paused due to low quality"),
        )
    }

    pub fn template_disabled(name: &str) -> Self {
        Self::whatsapp(
            StatusCode::BAD_REQUEST,
            132016,
            "(#132016) Template is Disabled",
            &format!("template {name} has been disabled due to low quality"),
        )
    }

    pub fn media_upload(details: &str) -> Self {
        Self::whatsapp(StatusCode::BAD_REQUEST, 131053, "(#131053) Media upload error", details)
    }

    /// Instagram: code 10 with subcode 2018278 and no `error_data`.
    pub fn ig_outside_window() -> Self {
        GraphError {
            status: StatusCode::BAD_REQUEST,
            code: 10,
            kind: "OAuthException",
            message: "(#10) This message is sent outside of allowed window.".into(),
            details: None,
            subcode: Some(2018278),
        }
    }

    /// The error Meta answers for `code`, for "fail the next send with code Z".
    pub fn simulated(code: i64) -> Self {
        match code {
            130429 => Self::rate_limited(80),
            131056 => Self::pair_limited(),
            131047 => Self::window_closed(),
            132001 => Self::template_missing("simulated", "en_US"),
            190 => GraphError {
                status: StatusCode::UNAUTHORIZED,
                code: 190,
                kind: "OAuthException",
                message: "Error validating access token: Session has expired.".into(),
                details: None,
                subcode: Some(463),
            },
            80007 => Self::whatsapp(
                StatusCode::BAD_REQUEST,
                80007,
                "(#80007) Rate limit issues",
                "The WhatsApp Business Account has reached its rate limit.",
            ),
            4 => GraphError {
                status: StatusCode::BAD_REQUEST,
                code: 4,
                kind: "OAuthException",
                message: "(#4) Application request limit reached".into(),
                details: None,
                subcode: None,
            },
            1 | 2 | 131000 | 131016 => Self::whatsapp(
                StatusCode::INTERNAL_SERVER_ERROR,
                code,
                &format!("(#{code}) Something went wrong"),
                "Message failed to send due to an unknown error. Try again later.",
            ),
            100 => Self::invalid_parameter("Simulated invalid parameter."),
            other => Self::whatsapp(
                StatusCode::BAD_REQUEST,
                other,
                &format!("(#{other}) Simulated failure"),
                "The sandbox was told to fail this request with this code.",
            ),
        }
    }

    pub fn body(&self) -> Value {
        let mut error = json!({
            "message": self.message,
            "type": self.kind,
            "code": self.code,
            "fbtrace_id": new_fbtrace_id(),
        });
        if let Some(details) = &self.details {
            error["error_data"] = json!({ "messaging_product": "whatsapp", "details": details });
        }
        if let Some(subcode) = self.subcode {
            error["error_subcode"] = json!(subcode);
        }
        json!({ "error": error })
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

/// `v23.0`, `v9.0`: what Graph accepts as a version path segment.
pub fn is_version(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix('v') else { return false };
    let mut parts = rest.split('.');
    let (Some(major), Some(minor), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    [major, minor].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Pull the token out of `Authorization: Bearer …`.
pub fn bearer(header: Option<&str>) -> Option<&str> {
    let value = header?.trim();
    let (scheme, token) = value.split_once(' ')?;
    // Meta takes `OAuth <token>` too (the Resumable Upload API asks for it).
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth"))
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// An Instagram send request, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct IgOutbound {
    pub igsid: String,
    /// `text`, `image`, `video`, `audio`, `file`, `like_heart`.
    pub kind: String,
    pub text: Option<String>,
    pub human_agent: bool,
    pub body: Value,
}

/// Validate `POST /{ig_id}/messages` the way the Instagram API does.
pub fn parse_instagram(raw: &[u8]) -> Result<IgOutbound, GraphError> {
    let body: Value = serde_json::from_slice(raw)
        .map_err(|_| GraphError::invalid_parameter("The request body is not valid JSON."))?;
    let igsid = require_str(&body, "/recipient/id", "recipient[id]")?.to_owned();
    let tag = body.get("tag").and_then(Value::as_str);
    let human_agent = match (tag, body.get("messaging_type").and_then(Value::as_str)) {
        (None, _) => false,
        (Some("HUMAN_AGENT"), Some("MESSAGE_TAG")) => true,
        (Some("HUMAN_AGENT"), _) => {
            return Err(GraphError::invalid_parameter(
                "The HUMAN_AGENT tag needs messaging_type MESSAGE_TAG.",
            ))
        }
        (Some(_), _) => {
            return Err(GraphError::invalid_parameter(
                "Instagram accepts only the HUMAN_AGENT tag.",
            ))
        }
    };
    let message = body
        .get("message")
        .filter(|m| m.is_object())
        .ok_or_else(|| GraphError::invalid_parameter("The parameter message is required."))?;
    let (kind, text) = if let Some(text) = message.get("text").and_then(Value::as_str) {
        if text.trim().is_empty() || text.len() > 1000 {
            return Err(GraphError::invalid_parameter(
                "Instagram text must be 1 to 1000 bytes of UTF-8.",
            ));
        }
        ("text".to_owned(), Some(text.to_owned()))
    } else if let Some(kind) = message.pointer("/attachment/type").and_then(Value::as_str) {
        match kind {
            "like_heart" => {}
            "image" | "video" | "audio" | "file" => {
                let url = str_at(message, "/attachment/payload/url").unwrap_or_default();
                if !url.starts_with("https://") {
                    return Err(GraphError::invalid_parameter(
                        "The attachment payload needs an https url.",
                    ));
                }
            }
            _ => return Err(GraphError::invalid_parameter("Unsupported attachment type.")),
        }
        (kind.to_owned(), None)
    } else {
        return Err(GraphError::invalid_parameter("The message needs text or an attachment."));
    };
    Ok(IgOutbound { igsid, kind, text, human_agent, body })
}

/// A validated `/messages` request.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    MarkRead { message_id: String },
    Send(Outbound),
}

/// A message the business asked to send, validated but not yet accepted
/// (the window check needs the sandbox's state).
#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    /// `to` exactly as given, echoed as `contacts[].input`.
    pub input: String,
    /// `to` reduced to digits, as Meta's `wa_id` (empty until resolved when
    /// the request named a `recipient` BSUID).
    pub wa_id: String,
    /// The `recipient` business-scoped user id, when that addressed it.
    pub user_id: Option<String>,
    pub kind: String,
    pub text: Option<String>,
    pub reply_to: Option<String>,
    pub body: Value,
}

impl Outbound {
    /// Only templates may open a conversation outside the service window.
    pub fn is_template(&self) -> bool {
        self.kind == "template"
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn require_str<'a>(v: &'a Value, pointer: &str, name: &str) -> Result<&'a str, GraphError> {
    match str_at(v, pointer) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(GraphError::invalid_parameter(format!("The parameter {name} is required."))),
    }
}

/// Validate a `/messages` body the way Cloud API does before accepting it.
pub fn parse(raw: &[u8]) -> Result<Request, GraphError> {
    let body: Value = serde_json::from_slice(raw)
        .map_err(|_| GraphError::invalid_parameter("The request body is not valid JSON."))?;
    if !body.is_object() {
        return Err(GraphError::invalid_parameter("The request body must be a JSON object."));
    }
    match body.get("messaging_product").and_then(Value::as_str) {
        Some("whatsapp") => {}
        Some(_) => {
            return Err(GraphError::invalid_parameter(
                "The parameter messaging_product must be \"whatsapp\".",
            ))
        }
        None => {
            return Err(GraphError::invalid_parameter(
                "The parameter messaging_product is required.",
            ))
        }
    }
    if let Some(status) = body.get("status") {
        if status.as_str() != Some("read") {
            return Err(GraphError::invalid_parameter("The parameter status must be \"read\"."));
        }
        let id = require_str(&body, "/message_id", "message_id")?;
        return Ok(Request::MarkRead { message_id: id.to_owned() });
    }

    // Since 2026 a customer known only by a business-scoped user id is
    // addressed with `recipient` instead of `to`; the sandbox resolves it to
    // the customer's number when accepting.
    let (input, wa_id, user_id) = match (str_at(&body, "/to"), str_at(&body, "/recipient")) {
        (None | Some(""), Some(bsuid)) if bsuid.contains('.') => {
            (bsuid.to_owned(), String::new(), Some(bsuid.to_owned()))
        }
        _ => {
            let input = require_str(&body, "/to", "to")?.to_owned();
            let wa_id: String = input.chars().filter(char::is_ascii_digit).collect();
            let only_phone_chars = input.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c));
            if !only_phone_chars || !(7..=15).contains(&wa_id.len()) {
                return Err(GraphError::invalid_parameter(
                    "The parameter to must be a phone number in international format.",
                ));
            }
            (input, wa_id, None)
        }
    };
    if let Some(rt) = body.get("recipient_type") {
        if rt.as_str() != Some("individual") {
            return Err(GraphError::invalid_parameter(
                "The parameter recipient_type must be \"individual\".",
            ));
        }
    }
    // Cloud API treats a missing type as text.
    let kind = body.get("type").map_or(Some("text"), Value::as_str).unwrap_or_default().to_owned();
    if !KNOWN_TYPES.contains(&kind.as_str()) {
        return Err(GraphError::invalid_parameter(format!(
            "The parameter type has an unsupported value; expected one of: {}.",
            KNOWN_TYPES.join(", ")
        )));
    }
    let text = validate_kind(&body, &kind)?;
    let reply_to = match body.get("context") {
        None => None,
        Some(_) => {
            Some(require_str(&body, "/context/message_id", "context.message_id")?.to_owned())
        }
    };
    Ok(Request::Send(Outbound { input, wa_id, user_id, kind, text, reply_to, body }))
}

/// Per-type checks; returns the text body for `text` messages.
fn validate_kind(body: &Value, kind: &str) -> Result<Option<String>, GraphError> {
    match kind {
        "text" => {
            let text = require_str(body, "/text/body", "text['body']")?;
            let chars = text.chars().count();
            if chars > MAX_TEXT_CHARS {
                return Err(GraphError::invalid_parameter(format!(
                    "Param text['body'] is {chars} characters long; the limit is {MAX_TEXT_CHARS}."
                )));
            }
            Ok(Some(text.to_owned()))
        }
        "image" | "video" | "audio" | "document" | "sticker" => {
            let media = body.get(kind);
            let has_ref = media.is_some_and(|m| {
                m.get("id").and_then(Value::as_str).is_some_and(|s| !s.is_empty())
                    || m.get("link").and_then(Value::as_str).is_some_and(|s| !s.is_empty())
            });
            if !has_ref {
                return Err(GraphError::invalid_parameter(format!(
                    "The parameter {kind} needs an id or a link."
                )));
            }
            Ok(None)
        }
        "location" => {
            let ok = ["/location/latitude", "/location/longitude"]
                .iter()
                .all(|p| body.pointer(p).is_some_and(Value::is_number));
            if !ok {
                return Err(GraphError::invalid_parameter(
                    "The parameter location needs numeric latitude and longitude.",
                ));
            }
            Ok(None)
        }
        "contacts" => {
            if body.get("contacts").and_then(Value::as_array).is_none_or(|a| a.is_empty()) {
                return Err(GraphError::invalid_parameter(
                    "The parameter contacts must be a non-empty array.",
                ));
            }
            Ok(None)
        }
        "reaction" => {
            require_str(body, "/reaction/message_id", "reaction['message_id']")?;
            // An empty emoji removes a reaction, so only presence is checked.
            if str_at(body, "/reaction/emoji").is_none() {
                return Err(GraphError::invalid_parameter(
                    "The parameter reaction['emoji'] is required.",
                ));
            }
            Ok(None)
        }
        "template" => {
            require_str(body, "/template/name", "template['name']")?;
            require_str(body, "/template/language/code", "template['language']['code']")?;
            Ok(None)
        }
        "interactive" => {
            let itype = require_str(body, "/interactive/type", "interactive['type']")?;
            match itype {
                "button" => {
                    let n = body
                        .pointer("/interactive/action/buttons")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len);
                    if !(1..=MAX_BUTTONS).contains(&n) {
                        return Err(GraphError::invalid_parameter(format!(
                            "Reply buttons must number between 1 and {MAX_BUTTONS}; got {n}."
                        )));
                    }
                }
                "list" => {
                    let rows: usize = body
                        .pointer("/interactive/action/sections")
                        .and_then(Value::as_array)
                        .map_or(0, |sections| {
                            sections
                                .iter()
                                .map(|s| {
                                    s.get("rows").and_then(Value::as_array).map_or(0, Vec::len)
                                })
                                .sum()
                        });
                    if !(1..=MAX_LIST_ROWS).contains(&rows) {
                        return Err(GraphError::invalid_parameter(format!(
                            "A list must have between 1 and {MAX_LIST_ROWS} rows in total; got {rows}."
                        )));
                    }
                }
                _ => {}
            }
            Ok(None)
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(v: Value) -> Result<Outbound, GraphError> {
        match parse(v.to_string().as_bytes())? {
            Request::Send(o) => Ok(o),
            other => panic!("expected a send, got {other:?}"),
        }
    }

    #[test]
    fn versions_and_bearer() {
        assert!(is_version("v23.0") && is_version("v9.1"));
        assert!(
            !is_version("23.0") && !is_version("v23") && !is_version("v2x.0") && !is_version("v.0")
        );
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(None), None);
    }

    #[test]
    fn text_reply_is_parsed_with_context_and_normalised_number() {
        let o = send(json!({
            "messaging_product": "whatsapp", "to": "+1 555-123-4567", "type": "text",
            "text": {"body": "hi"}, "context": {"message_id": "wamid.A"}
        }))
        .unwrap();
        assert_eq!(o.input, "+1 555-123-4567");
        assert_eq!(o.wa_id, "15551234567");
        assert_eq!(o.text.as_deref(), Some("hi"));
        assert_eq!(o.reply_to.as_deref(), Some("wamid.A"));
    }

    #[test]
    fn rejects_what_meta_rejects() {
        let base = |extra: Value| {
            let mut v = json!({"messaging_product": "whatsapp", "to": "15551234567"});
            v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            send(v).map(|_| ()).map_err(|e| e.code)
        };
        assert_eq!(base(json!({"type": "text", "text": {"body": "x".repeat(4096)}})), Ok(()));
        // 4096 multi-byte characters are fine: the limit is characters, not bytes.
        assert_eq!(base(json!({"type": "text", "text": {"body": "é".repeat(4096)}})), Ok(()));
        assert_eq!(base(json!({"type": "text", "text": {"body": "x".repeat(4097)}})), Err(100));
        assert_eq!(base(json!({"type": "text", "text": {}})), Err(100));
        assert_eq!(base(json!({"type": "fax"})), Err(100));
        assert_eq!(base(json!({"type": "image", "image": {}})), Err(100));
        assert_eq!(base(json!({"type": "image", "image": {"id": "1"}})), Ok(()));
        let four = Value::Array(vec![json!({"type":"reply","reply":{"id":"a","title":"a"}}); 4]);
        let buttons = json!({"type": "interactive", "interactive": {"type": "button", "action": {"buttons": four}}});
        assert_eq!(base(buttons), Err(100));
        assert_eq!(base(json!({"type": "template", "template": {"name": "hello"}})), Err(100));
        assert!(send(json!({"messaging_product": "sms", "to": "15551234567"})).is_err());
        assert!(send(json!({"messaging_product": "whatsapp", "text": {"body": "x"}})).is_err());
        assert!(send(json!({"messaging_product": "whatsapp", "to": "abc"})).is_err());
        assert!(parse(b"not json").is_err());
    }

    #[test]
    fn mark_as_read_and_error_shape() {
        let r =
            parse(br#"{"messaging_product":"whatsapp","status":"read","message_id":"wamid.Z"}"#);
        assert_eq!(r, Ok(Request::MarkRead { message_id: "wamid.Z".into() }));
        let body = GraphError::window_closed().body();
        assert_eq!(body["error"]["code"], 131047);
        assert_eq!(body["error"]["error_data"]["messaging_product"], "whatsapp");
        assert!(body["error"]["fbtrace_id"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(GraphError::bad_token().body()["error"].get("error_data").is_none());
    }
}
