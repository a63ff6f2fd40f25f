//! The Graph API beyond `/messages`: media upload, look-up and download,
//! message templates with simulated review, the business profile, and the
//! account's phone numbers. Same authentication, validation and error shapes
//! as the messages endpoint.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::graph::GraphError;
use crate::{cast, graph_gate, lock, now_ms, webhook, Inner};
use parley_types::template::variables;

/// Per-type upload limits Meta documents, in bytes.
fn upload_limit(mime: &str) -> Option<u64> {
    const MB: u64 = 1024 * 1024;
    Some(match mime.split(';').next().unwrap_or("").trim() {
        "image/jpeg" | "image/png" => 5 * MB,
        "image/webp" => 500 * 1024,
        "audio/aac" | "audio/amr" | "audio/mpeg" | "audio/mp4" | "audio/ogg" => 16 * MB,
        "video/mp4" | "video/3gpp" => 16 * MB,
        "text/plain"
        | "application/pdf"
        | "application/vnd.ms-powerpoint"
        | "application/msword"
        | "application/vnd.ms-excel"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => 100 * MB,
        _ => return None,
    })
}

/// A template the account holds.
#[derive(Debug, Clone)]
pub struct TemplateRecord {
    pub id: String,
    pub name: String,
    pub language: String,
    pub category: String,
    pub status: String,
    pub components: Vec<Value>,
    pub rejected_reason: Option<String>,
    /// `quality_score.score`: `UNKNOWN` once approved until changed
    /// (`SandboxControl::set_template_quality`).
    pub quality: Option<String>,
}

impl TemplateRecord {
    fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id, "name": self.name, "language": self.language,
            "status": self.status, "category": self.category, "components": self.components,
        });
        if let Some(r) = &self.rejected_reason {
            v["rejected_reason"] = json!(r);
        }
        if let Some(q) = &self.quality {
            v["quality_score"] = json!({ "score": q, "date": now_ms() / 1000 });
        }
        v
    }
}

/// Meta gives every new account `hello_world`; the sandbox adds templates
/// with positional and named variables, a text and a media header, and a
/// paused one, so template parameters and refusals can be tested.
pub fn seed_templates() -> Vec<TemplateRecord> {
    let mut seeds = vec![
        TemplateRecord {
            id: "1000000000000001".into(),
            name: "hello_world".into(),
            language: "en_US".into(),
            category: "UTILITY".into(),
            status: "APPROVED".into(),
            components: vec![
                json!({"type":"HEADER","format":"TEXT","text":"Hello World"}),
                json!({"type":"BODY","text":"Welcome and congratulations!! This message demonstrates your ability to send a WhatsApp message notification from the Cloud API, hosted by Meta."}),
                json!({"type":"FOOTER","text":"WhatsApp Business Platform sample message"}),
            ],
            rejected_reason: None,
            quality: None,
        },
        TemplateRecord {
            id: "1000000000000002".into(),
            name: "order_ready".into(),
            language: "en_US".into(),
            category: "UTILITY".into(),
            status: "APPROVED".into(),
            components: vec![
                json!({"type":"HEADER","format":"IMAGE"}),
                json!({"type":"BODY","text":"Hi {{1}}, your order {{2}} is ready for pickup."}),
                json!({"type":"BUTTONS","buttons":[{"type":"QUICK_REPLY","text":"On my way"}]}),
            ],
            rejected_reason: None,
            quality: None,
        },
        TemplateRecord {
            id: "1000000000000003".into(),
            name: "appointment_reminder".into(),
            language: "en_US".into(),
            category: "UTILITY".into(),
            status: "APPROVED".into(),
            components: vec![
                json!({"type":"HEADER","format":"TEXT","text":"Appointment on {{1}}",
                       "example":{"header_text":["Friday"]}}),
                json!({"type":"BODY","text":"Hi {{1}}, this is a reminder of your appointment at {{2}} with {{3}}. Reply to confirm or change it.",
                       "example":{"body_text":[["Ana","3:30 pm","Dr. Silva"]]}}),
                json!({"type":"FOOTER","text":"Sandbox Clinic"}),
                json!({"type":"BUTTONS","buttons":[{"type":"QUICK_REPLY","text":"Confirm"},{"type":"QUICK_REPLY","text":"Change"}]}),
            ],
            rejected_reason: None,
            quality: None,
        },
        TemplateRecord {
            id: "1000000000000004".into(),
            name: "order_shipped".into(),
            language: "en_US".into(),
            category: "UTILITY".into(),
            status: "APPROVED".into(),
            components: vec![
                json!({"type":"BODY","text":"Good news {{customer_name}}! Order {{order_id}} has shipped.",
                       "example":{"body_text_named_params":[
                           {"param_name":"customer_name","example":"Jessica"},
                           {"param_name":"order_id","example":"SKBUP2-4CPIG9"}]}}),
            ],
            rejected_reason: None,
            quality: None,
        },
        TemplateRecord {
            id: "1000000000000005".into(),
            name: "winter_clearance".into(),
            language: "en_US".into(),
            category: "MARKETING".into(),
            status: "PAUSED".into(),
            components: vec![json!({"type":"BODY","text":"Our winter clearance starts today."})],
            rejected_reason: None,
            quality: None,
        },
        TemplateRecord {
            id: "1000000000000006".into(),
            name: "weekend_offer".into(),
            language: "en_US".into(),
            category: "MARKETING".into(),
            status: "APPROVED".into(),
            components: vec![json!({
                "type": "BODY",
                "text": "Hi {{1}}, this weekend only: 20% off everything in our shop.",
                "example": { "body_text": [["Ana"]] },
            })],
            rejected_reason: None,
            quality: None,
        },
    ];
    // Approved ones have been sent enough for Meta to rate them.
    for t in seeds.iter_mut().filter(|t| t.status == "APPROVED") {
        t.quality = Some("GREEN".into());
    }
    seeds
}

pub fn seed_profile() -> Value {
    json!({
        "about": "Parley sandbox business",
        "address": "1 Sandbox Way, Loopback",
        "description": "A simulated business for trying Parley without a Meta account.",
        "email": "hello@sandbox.invalid",
        "websites": ["https://sandbox.invalid/"],
        "vertical": "RETAIL",
        "messaging_product": "whatsapp",
    })
}

/// A send of `template` must name a template in that language (else
/// 132001), approved (paused: 132015, disabled: 132016, pending or rejected:
/// 132001, as Meta answers), and give its header and body exactly as many
/// parameters as they have variables (132000); a named template's
/// parameters must carry the variables' `parameter_name`s.
pub fn check_template(templates: &[TemplateRecord], body: &Value) -> Result<(), GraphError> {
    let name = body.pointer("/template/name").and_then(Value::as_str).unwrap_or_default();
    let language =
        body.pointer("/template/language/code").and_then(Value::as_str).unwrap_or_default();
    let Some(t) = templates.iter().find(|t| t.name == name && t.language == language) else {
        return Err(GraphError::template_missing(name, language));
    };
    match t.status.as_str() {
        "APPROVED" => {}
        "PAUSED" => return Err(GraphError::template_paused(name)),
        "DISABLED" => return Err(GraphError::template_disabled(name)),
        _ => return Err(GraphError::template_missing(name, language)),
    }
    let given = |part: &str| -> Vec<Value> {
        body.pointer("/template/components")
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .filter(|c| {
                        c.get("type")
                            .and_then(Value::as_str)
                            .is_some_and(|t| t.eq_ignore_ascii_case(part))
                    })
                    .filter_map(|c| c.get("parameters").and_then(Value::as_array))
                    .flatten()
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    for part in ["HEADER", "BODY"] {
        let component =
            t.components.iter().find(|c| c.get("type").and_then(Value::as_str) == Some(part));
        let format = component.and_then(|c| c.get("format")).and_then(Value::as_str);
        let expected: Vec<String> = match (component, format) {
            (None, _) => Vec::new(),
            // A media header takes its file as its one parameter.
            (Some(_), Some(f)) if f != "TEXT" => vec![String::new()],
            (Some(c), _) => variables(c.get("text").and_then(Value::as_str).unwrap_or_default()),
        };
        let params = given(part);
        let lower = part.to_ascii_lowercase();
        if expected.len() != params.len() {
            return Err(GraphError::template_params(&lower, expected.len(), params.len()));
        }
        let named =
            expected.iter().any(|n| !n.is_empty() && !n.chars().all(|c| c.is_ascii_digit()));
        for (want, param) in expected.iter().zip(&params) {
            if named && param.get("parameter_name").and_then(Value::as_str) != Some(want.as_str()) {
                return Err(GraphError::template_params(&lower, expected.len(), 0));
            }
            if !want.is_empty()
                && param.get("text").and_then(Value::as_str).is_none_or(|v| v.trim().is_empty())
            {
                return Err(GraphError::invalid_parameter(format!(
                    "The parameter template['components'][{lower}]['parameters'][text] is required."
                )));
            }
        }
    }
    // An authentication template's copy-code button takes the code too.
    if t.category == "AUTHENTICATION" {
        let button = given("BUTTON");
        if button.len() != 1 || button[0].get("text").and_then(Value::as_str).is_none() {
            return Err(GraphError::template_params("button", 1, button.len()));
        }
    }
    Ok(())
}

// The error is the finished answer: handlers return it at once, so its size
// costs nothing worth boxing for.
#[allow(clippy::result_large_err)]
fn check_object(expected: &str, got: &str) -> Result<(), Response> {
    if expected == got {
        Ok(())
    } else {
        Err(GraphError::unknown_object(got).into_response())
    }
}

// ------------------------------------------------------------ media

/// (name, filename, content type, bytes) of each multipart part.
type Part = (String, Option<String>, Option<String>, Vec<u8>);

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&i| &hay[i..i + needle.len()] == needle)
}

fn header_param(line: &str, key: &str) -> Option<String> {
    let at = line.find(&format!("{key}=\""))? + key.len() + 2;
    let end = line[at..].find('"')? + at;
    Some(line[at..end].to_owned())
}

/// A strict-enough multipart/form-data reader for uploads.
fn parse_multipart(body: &[u8], boundary: &str) -> Option<Vec<Part>> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut at = find(body, delimiter.as_bytes(), 0)? + delimiter.len();
    loop {
        if body.get(at..at + 2) == Some(b"--") {
            return Some(parts);
        }
        at += 2; // CRLF after the delimiter
        let headers_end = find(body, b"\r\n\r\n", at)?;
        let headers = String::from_utf8_lossy(&body[at..headers_end]).into_owned();
        let content_start = headers_end + 4;
        let next = find(body, format!("\r\n{delimiter}").as_bytes(), content_start)?;
        let mut name = None;
        let mut filename = None;
        let mut content_type = None;
        for line in headers.split("\r\n") {
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("content-disposition:") {
                name = header_param(line, "name");
                filename = header_param(line, "filename");
            } else if lower.starts_with("content-type:") {
                content_type = Some(line["content-type:".len()..].trim().to_owned());
            }
        }
        parts.push((name?, filename, content_type, body[content_start..next].to_vec()));
        at = next + 2 + delimiter.len();
    }
}

pub async fn upload_media(
    State(inner): State<Arc<Inner>>,
    Path((version, account_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(answer) = graph_gate(&inner, &headers, &version).await {
        return answer;
    }
    if let Err(answer) = check_object(&inner.config.phone_number_id, &account_id) {
        return answer;
    }
    let content_type =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_owned());
    let Some(parts) = boundary.as_deref().and_then(|b| parse_multipart(&body, b)) else {
        return GraphError::invalid_parameter("The upload must be multipart/form-data.")
            .into_response();
    };
    let field = |n: &str| parts.iter().find(|p| p.0 == n);
    if field("messaging_product").map(|p| p.3.as_slice()) != Some(b"whatsapp".as_slice()) {
        return GraphError::invalid_parameter("The parameter messaging_product is required.")
            .into_response();
    }
    let Some(file) = field("file") else {
        return GraphError::invalid_parameter("The parameter file is required.").into_response();
    };
    let mime = field("type")
        .map(|p| String::from_utf8_lossy(&p.3).into_owned())
        .or_else(|| file.2.clone())
        .unwrap_or_default();
    let Some(limit) = upload_limit(&mime) else {
        return GraphError::media_upload(&format!("Unsupported media type {mime}."))
            .into_response();
    };
    if file.3.len() as u64 > limit {
        return GraphError::media_upload(&format!(
            "The file is {} bytes; {mime} files may be at most {limit} bytes.",
            file.3.len()
        ))
        .into_response();
    }
    let (id, _) = inner.store_media(file.3.clone(), &mime, false);
    tracing::info!(media = %id, bytes = file.3.len(), "media uploaded");
    Json(json!({ "id": id })).into_response()
}

/// `GET /{version}/{media_id}`: the short-lived URL and checksums.
pub async fn media_info(
    State(inner): State<Arc<Inner>>,
    Path((version, object_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(answer) = graph_gate(&inner, &headers, &version).await {
        return answer;
    }
    if object_id == inner.config.phone_number_id {
        return Json(phone_number_json(&inner)).into_response();
    }
    if object_id == "app" {
        return Json(json!({ "id": crate::DEFAULT_APP_ID, "name": "Parley sandbox" }))
            .into_response();
    }
    let st = lock(&inner.state);
    match st.media.get(&object_id) {
        Some(m) => Json(json!({
            "messaging_product": "whatsapp",
            "url": format!("{}/_sandbox/media/{object_id}/file", inner.self_url),
            "mime_type": m.mime,
            "sha256": m.sha256,
            "file_size": m.bytes.len(),
            "id": object_id,
        }))
        .into_response(),
        None => GraphError::unknown_object(&object_id).into_response(),
    }
}

#[derive(Deserialize)]
pub struct UploadQuery {
    file_length: Option<u64>,
    file_type: Option<String>,
}

/// `POST /{app_id}/uploads`: a Resumable Upload session for one file.
pub async fn upload_session(
    State(inner): State<Arc<Inner>>,
    Path((version, app_id)): Path<(String, String)>,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
) -> Response {
    if let Err(answer) = graph_gate(&inner, &headers, &version).await {
        return answer;
    }
    if let Err(answer) = check_object(crate::DEFAULT_APP_ID, &app_id) {
        return answer;
    }
    let (Some(length), Some(kind)) = (q.file_length.filter(|l| *l > 0), q.file_type) else {
        return GraphError::invalid_parameter(
            "The parameters file_length and file_type are required.",
        )
        .into_response();
    };
    if !["image/jpeg", "image/png", "video/mp4", "application/pdf"].contains(&kind.as_str()) {
        return GraphError::invalid_parameter("The parameter file_type is not supported.")
            .into_response();
    }
    let id = format!("upload:{}", cast::new_media_id());
    lock(&inner.state).upload_sessions.insert(id.clone(), (length, kind));
    Json(json!({ "id": format!("{id}?sig=sandbox") })).into_response()
}

/// `POST /upload:{session}`: the file's bytes from offset 0; answers the
/// handle a template's `example.header_handle` takes.
pub async fn upload_data(
    State(inner): State<Arc<Inner>>,
    Path((version, object_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(answer) = graph_gate(&inner, &headers, &version).await {
        return answer;
    }
    if headers.get("file_offset").and_then(|v| v.to_str().ok()) != Some("0") {
        return GraphError::invalid_parameter("The header file_offset must be 0 for a new upload.")
            .into_response();
    }
    let mut st = lock(&inner.state);
    let Some((length, _)) = st.upload_sessions.get(&object_id).cloned() else {
        return GraphError::unknown_object(&object_id).into_response();
    };
    if body.len() as u64 != length {
        return GraphError::invalid_parameter("The file is not the length the session declared.")
            .into_response();
    }
    st.upload_sessions.remove(&object_id);
    let handle = format!("4::{}", cast::new_media_id());
    st.sample_handles.insert(handle.clone());
    Json(json!({ "h": handle })).into_response()
}

/// The download behind a media URL. Like Meta's, it needs the bearer token.
pub async fn media_file(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let token =
        crate::graph::bearer(headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()));
    // Instagram attachment URLs are public CDN links; WhatsApp ones need the token.
    let st = lock(&inner.state);
    let Some(m) = st.media.get(&id) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    if token != Some(inner.config.access_token.as_str()) && !m.public {
        return GraphError::bad_token().into_response();
    }
    ([(header::CONTENT_TYPE, m.mime.clone())], m.bytes.clone()).into_response()
}

// ------------------------------------------------------------ templates

#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<usize>,
    after: Option<String>,
    name: Option<String>,
}

pub async fn list_templates(
    State(inner): State<Arc<Inner>>,
    Path((version, waba_id)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    if let Err(answer) = graph_gate(&inner, &headers, &version).await {
        return answer;
    }
    if let Err(answer) = check_object(&inner.config.waba_id, &waba_id) {
        return answer;
    }
    let limit = q.limit.unwrap_or(25).clamp(1, 100);
    // Cursors are opaque to clients; here they are just the next index.
    let start = q.after.as_deref().and_then(|a| a.parse::<usize>().ok()).unwrap_or(0);
    let st = lock(&inner.state);
    let matching: Vec<&TemplateRecord> =
        st.templates.iter().filter(|t| q.name.as_ref().is_none_or(|n| &t.name == n)).collect();
    let page: Vec<Value> = matching.iter().skip(start).take(limit).map(|t| t.to_json()).collect();
    let end = start + page.len();
    let mut paging =
        json!({ "cursors": { "before": start.to_string(), "after": end.to_string() } });
    if end < matching.len() {
        paging["next"] = json!(format!(
            "{}/{version}/{waba_id}/message_templates?limit={limit}&after={end}",
            inner.self_url
        ));
    }
    Json(json!({ "data": page, "paging": paging })).into_response()
}

pub async fn create_template(
    State(inner): State<Arc<Inner>>,
    Path((version, waba_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(answer) = graph_gate(&inner, &headers, &version).await {
        return answer;
    }
    if let Err(answer) = check_object(&inner.config.waba_id, &waba_id) {
        return answer;
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return GraphError::invalid_parameter("The request body is not valid JSON.")
            .into_response();
    };
    let text = |k: &str| req.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let (name, language, category) = (text("name"), text("language"), text("category"));
    if !parley_meta::graph::valid_template_name(&name) {
        return GraphError::invalid_parameter(
            "The parameter name must be lowercase letters, digits and underscores.",
        )
        .into_response();
    }
    if !["MARKETING", "UTILITY", "AUTHENTICATION"].contains(&category.as_str()) {
        return GraphError::invalid_parameter(
            "The parameter category must be MARKETING, UTILITY or AUTHENTICATION.",
        )
        .into_response();
    }
    let mut components =
        req.get("components").and_then(Value::as_array).cloned().unwrap_or_default();
    // A media header is reviewed with a sample uploaded first.
    let media_header = components.iter().find(|c| {
        c.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("HEADER"))
            && c.get("format").and_then(Value::as_str).is_some_and(|f| {
                ["IMAGE", "VIDEO", "DOCUMENT"].contains(&f.to_ascii_uppercase().as_str())
            })
    });
    if let Some(header) = media_header {
        let handle = header.pointer("/example/header_handle/0").and_then(Value::as_str);
        if !handle.is_some_and(|h| lock(&inner.state).sample_handles.contains(h)) {
            return GraphError::invalid_parameter(
                "The header needs example.header_handle: a sample uploaded with the Resumable Upload API.",
            )
            .into_response();
        }
    }
    if category == "AUTHENTICATION" {
        match authentication_components(&components) {
            Ok(written) => components = written,
            Err(refusal) => return refusal.into_response(),
        }
    }
    if language.is_empty() || components.is_empty() {
        return GraphError::invalid_parameter(
            "The parameters language and components are required.",
        )
        .into_response();
    }
    let record = {
        let mut st = lock(&inner.state);
        if st.templates.iter().any(|t| t.name == name && t.language == language) {
            return GraphError::invalid_parameter(
                "A template with this name already exists in this language.",
            )
            .into_response();
        }
        let record = TemplateRecord {
            id: cast::new_media_id(),
            name,
            language,
            category,
            status: "PENDING".into(),
            components,
            rejected_reason: None,
            quality: None,
        };
        st.templates.push(record.clone());
        record
    };
    tracing::info!(template = %record.id, "template submitted for review");
    inner.spawn_bg(review(Arc::clone(&inner), record.id.clone()));
    Json(json!({ "id": record.id, "status": "PENDING", "category": record.category }))
        .into_response()
}

/// An authentication template as Meta stores it: the text Meta writes from
/// the options, and the `OTP` button turned into a `URL` one. Refused like
/// Meta when it carries text of its own or no `OTP` button.
fn authentication_components(given: &[Value]) -> Result<Vec<Value>, GraphError> {
    let find = |kind: &str| {
        given.iter().find(|c| {
            c.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case(kind))
        })
    };
    if given.iter().any(|c| c.get("text").is_some()) || find("HEADER").is_some() {
        return Err(GraphError::invalid_parameter(
            "Authentication templates take no header and no text of their own.",
        ));
    }
    let button = find("BUTTONS")
        .and_then(|b| b.get("buttons"))
        .and_then(Value::as_array)
        .and_then(|bs| bs.first())
        .filter(|b| {
            b.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("OTP"))
        })
        .ok_or_else(|| {
            GraphError::invalid_parameter(
                "Authentication templates need a one-time password button.",
            )
        })?;
    let security = find("BODY")
        .and_then(|b| b.get("add_security_recommendation"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let minutes =
        find("FOOTER").and_then(|f| f.get("code_expiration_minutes")).and_then(Value::as_u64);
    let mut out = vec![json!({
        "type": "BODY",
        "text": parley_types::template_builder::authentication_body(security),
        "add_security_recommendation": security,
        "example": { "body_text": [["123456"]] },
    })];
    if let Some(m) = minutes {
        out.push(json!({
            "type": "FOOTER",
            "text": parley_types::template_builder::authentication_footer(m as u32),
            "code_expiration_minutes": m,
        }));
    }
    let label = button.get("text").and_then(Value::as_str).unwrap_or("Copy code");
    out.push(json!({ "type": "BUTTONS", "buttons": [{
        "type": "URL",
        "text": label,
        "url": "https://www.whatsapp.com/otp/code/?otp_type=COPY_CODE&code=otp{{1}}",
        "example": ["https://www.whatsapp.com/otp/code/?otp_type=COPY_CODE&code=otp123456"],
    }]}));
    Ok(out)
}

/// The simulated review: approved, unless the name asks for a rejection
/// (any name containing `reject`), which is rejected as INVALID_FORMAT.
async fn review(inner: Arc<Inner>, id: String) {
    tokio::time::sleep(inner.config.template_review_delay).await;
    let record = {
        let mut st = lock(&inner.state);
        let Some(t) = st.templates.iter_mut().find(|t| t.id == id) else { return };
        if t.name.contains("reject") {
            t.status = "REJECTED".into();
            t.rejected_reason = Some("INVALID_FORMAT".into());
        } else {
            t.status = "APPROVED".into();
            // Meta's score for a template with too few sends to judge.
            t.quality = Some("UNKNOWN".into());
        }
        t.clone()
    };
    let review = webhook::TemplateReview {
        template_id: &record.id,
        name: &record.name,
        language: &record.language,
        category: &record.category,
        event: &record.status,
        reason: record.rejected_reason.as_deref(),
    };
    let body = webhook::template_status(&inner.config.waba_id, &review, now_ms() / 1000);
    if let Err(e) = inner.post_webhook(&body).await {
        tracing::warn!(error = %e, "template status webhook dropped");
    }
}

/// Change a template's quality score and tell the app, as Meta's
/// `message_template_quality_update` does. `false` when no template has
/// that name and language.
pub async fn set_quality(inner: &Arc<Inner>, name: &str, language: &str, score: &str) -> bool {
    let (record, previous) = {
        let mut st = lock(&inner.state);
        let Some(t) = st.templates.iter_mut().find(|t| t.name == name && t.language == language)
        else {
            return false;
        };
        let previous = t.quality.replace(score.to_owned());
        (t.clone(), previous)
    };
    let body = webhook::template_quality(
        &inner.config.waba_id,
        &record.id,
        &record.name,
        &record.language,
        previous.as_deref().unwrap_or("UNKNOWN"),
        score,
        now_ms() / 1000,
    );
    if let Err(e) = inner.post_webhook(&body).await {
        tracing::warn!(error = %e, "template quality webhook dropped");
    }
    true
}

#[derive(Deserialize)]
pub struct DeleteQuery {
    name: Option<String>,
}

pub async fn delete_template(
    State(inner): State<Arc<Inner>>,
    Path((version, waba_id)): Path<(String, String)>,
    Query(q): Query<DeleteQuery>,
    headers: HeaderMap,
) -> Response {
    if let Err(answer) = graph_gate(&inner, &headers, &version).await {
        return answer;
    }
    if let Err(answer) = check_object(&inner.config.waba_id, &waba_id) {
        return answer;
    }
    let Some(name) = q.name.filter(|n| !n.is_empty()) else {
        return GraphError::invalid_parameter("The parameter name is required.").into_response();
    };
    let mut st = lock(&inner.state);
    let before = st.templates.len();
    st.templates.retain(|t| t.name != name);
    if st.templates.len() == before {
        return GraphError::invalid_parameter("No template with this name exists.").into_response();
    }
    Json(json!({ "success": true })).into_response()
}

// ------------------------------------------------------------ profile, numbers

pub async fn get_profile(
    State(inner): State<Arc<Inner>>,
    Path((version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(answer) = graph_gate(&inner, &headers, &version).await {
        return answer;
    }
    if let Err(answer) = check_object(&inner.config.phone_number_id, &phone_number_id) {
        return answer;
    }
    let profile = lock(&inner.state).profile.clone();
    Json(json!({ "data": [profile] })).into_response()
}

pub async fn update_profile(
    State(inner): State<Arc<Inner>>,
    Path((version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(answer) = graph_gate(&inner, &headers, &version).await {
        return answer;
    }
    if let Err(answer) = check_object(&inner.config.phone_number_id, &phone_number_id) {
        return answer;
    }
    let Ok(Value::Object(update)) = serde_json::from_slice::<Value>(&body) else {
        return GraphError::invalid_parameter("The request body must be a JSON object.")
            .into_response();
    };
    if update.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
        return GraphError::invalid_parameter("The parameter messaging_product is required.")
            .into_response();
    }
    for (key, max) in [("about", 139), ("address", 256), ("description", 512), ("email", 128)] {
        if let Some(v) = update.get(key) {
            let n = v.as_str().map(|s| s.chars().count());
            if !matches!(n, Some(1..) if n <= Some(max)) {
                return GraphError::invalid_parameter(format!(
                    "Param {key} must be a string of 1 to {max} characters."
                ))
                .into_response();
            }
        }
    }
    if update.get("websites").and_then(Value::as_array).is_some_and(|w| w.len() > 2) {
        return GraphError::invalid_parameter("Param websites may list at most 2 URLs.")
            .into_response();
    }
    let mut st = lock(&inner.state);
    if let Some(profile) = st.profile.as_object_mut() {
        for (k, v) in update {
            if ["about", "address", "description", "email", "websites", "vertical"]
                .contains(&k.as_str())
            {
                profile.insert(k, v);
            }
        }
    }
    Json(json!({ "success": true })).into_response()
}

pub async fn phone_numbers(
    State(inner): State<Arc<Inner>>,
    Path((version, waba_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(answer) = graph_gate(&inner, &headers, &version).await {
        return answer;
    }
    if let Err(answer) = check_object(&inner.config.waba_id, &waba_id) {
        return answer;
    }
    Json(json!({
        "data": [phone_number_json(&inner)],
        "paging": { "cursors": { "before": "0", "after": "1" } },
    }))
    .into_response()
}

/// The sandbox's one number, with the fields Meta's phone number node has
/// (`GET /{phone_number_id}` and `GET /{waba_id}/phone_numbers`).
fn phone_number_json(inner: &Inner) -> Value {
    json!({
        "id": inner.config.phone_number_id,
        "display_phone_number": inner.config.display_phone_number,
        "verified_name": "Parley Sandbox",
        "code_verification_status": "VERIFIED",
        "quality_rating": "GREEN",
        "messaging_limit_tier": "TIER_2K",
        "name_status": "APPROVED",
        "throughput": { "level": "STANDARD" },
        "platform_type": "CLOUD_API",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_round_trip() {
        let body = b"--B\r\nContent-Disposition: form-data; name=\"messaging_product\"\r\n\r\nwhatsapp\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n\x00\r\n--B--\r\n";
        let parts = parse_multipart(body, "B").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].3, b"whatsapp");
        assert_eq!(parts[1].1.as_deref(), Some("a.png"));
        assert_eq!(parts[1].2.as_deref(), Some("image/png"));
        assert_eq!(parts[1].3, b"\x89PNG\r\n\x00");
        assert!(parse_multipart(b"garbage", "B").is_none());
    }

    #[test]
    fn template_checks() {
        let t = seed_templates();
        let send = |name: &str, params: usize| {
            let p: Vec<Value> =
                (0..params).map(|i| json!({"type":"text","text":i.to_string()})).collect();
            json!({"template":{"name":name,"language":{"code":"en_US"},
                "components":[{"type":"body","parameters":p}]}})
        };
        // order_ready's image header needs its file as a parameter.
        assert_eq!(check_template(&t, &send("order_ready", 2)).unwrap_err().code, 132000);
        let with_image = json!({"template":{"name":"order_ready","language":{"code":"en_US"},
            "components":[
                {"type":"header","parameters":[{"type":"image","image":{"link":"https://x.invalid/a.jpg"}}]},
                {"type":"body","parameters":[{"type":"text","text":"Ana"},{"type":"text","text":"7"}]}]}});
        assert!(check_template(&t, &with_image).is_ok());
        assert_eq!(check_template(&t, &send("order_ready", 1)).unwrap_err().code, 132000);
        assert_eq!(check_template(&t, &send("winter_clearance", 0)).unwrap_err().code, 132015);
        let mut pending = t.clone();
        pending[0].status = "PENDING".into();
        assert_eq!(check_template(&pending, &send("hello_world", 0)).unwrap_err().code, 132001);
        assert_eq!(check_template(&t, &send("nope", 0)).unwrap_err().code, 132001);
        assert!(check_template(
            &t,
            &json!({"template":{"name":"hello_world","language":{"code":"en_US"}}})
        )
        .is_ok());
    }
}
