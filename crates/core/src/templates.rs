//! Message templates: the account's list (refreshed from Meta, stored in the
//! encrypted database) and sending one, which the 24-hour window does not
//! restrict. The variables are counted and filled by `parley_types::template`,
//! the same code the UI's preview uses. Creating one checks the draft with
//! `parley_types::template_builder` (the builder's rules), keeps under Meta's
//! 100 creations an hour, submits it and stores it PENDING; deleting and
//! duplicating into another language work on the stored list too.

use parley_meta::graph::{GraphError, NewTemplate, RetryClass, TemplateCategory};
use parley_types::template::{self, SendTemplateRequest, TemplateParam, TemplateSummary};
use parley_types::template_builder::{
    self as builder, AuthenticationOptions, DraftBody, DraftButton, DraftCategory, DraftHeader,
    ParameterFormat, TemplateDraft,
};
use parley_types::{ErrorCode, InboxEvent, Message};
use serde_json::{json, Value};

use crate::store::{Store, StoredTemplate};
use crate::{new_client_txn_id, now_ms, Core, CoreError};

/// A failed template listing as a sentence, with the code the UI branches
/// on. Meta's words for a busy server promise a resend, which fits messages,
/// not a listing: those say to press Refresh again.
fn refresh_error(e: &GraphError) -> CoreError {
    let (code, message) = match e.retry_class() {
        RetryClass::RetryLater => (
            ErrorCode::RetryLater,
            "Meta could not be reached to list the templates. Press Refresh again in a moment."
                .to_owned(),
        ),
        RetryClass::Reconnect => (ErrorCode::Reconnect, e.user_message()),
        _ => (ErrorCode::InvalidInput, e.user_message()),
    };
    CoreError::Meta { message, code }
}

/// A failed creation or deletion as a sentence: Meta's refusal as it words
/// it, or what to do when Meta could not be reached.
fn manage_error(e: &GraphError, action: &str) -> CoreError {
    let (code, message) = match e.retry_class() {
        RetryClass::RetryLater => (
            ErrorCode::RetryLater,
            format!("Meta could not be reached to {action}. Try again in a moment."),
        ),
        RetryClass::Reconnect => (ErrorCode::Reconnect, e.user_message()),
        _ => (
            ErrorCode::InvalidInput,
            match e {
                GraphError::Meta(_) => format!("Meta refused to {action}: {}", e.user_message()),
                _ => e.user_message(),
            },
        ),
    };
    CoreError::Meta { message, code }
}

/// Meta's limit: template creations per account in any hour.
pub const TEMPLATE_CREATIONS_PER_HOUR: u64 = 100;
const HOUR_MS: i64 = 60 * 60 * 1000;

/// The one place the hourly creation limit is decided: refused when 100
/// templates were submitted in the hour before `now_ms`.
fn check_creation_quota(store: &Store, now_ms: i64) -> Result<(), CoreError> {
    let recent = store.template_creations_since(now_ms - HOUR_MS + 1)?;
    if recent >= TEMPLATE_CREATIONS_PER_HOUR {
        return Err(CoreError::InvalidInput(format!(
            "this account submitted {recent} templates in the last hour and Meta allows \
             {TEMPLATE_CREATIONS_PER_HOUR}; try again in an hour"
        )));
    }
    Ok(())
}

fn example_block(
    part: &str,
    format: ParameterFormat,
    names: &[String],
    examples: &[String],
) -> Option<Value> {
    if names.is_empty() {
        return None;
    }
    Some(match format {
        ParameterFormat::Named => {
            let params: Vec<Value> = names
                .iter()
                .zip(examples)
                .map(|(n, e)| json!({ "param_name": n, "example": e }))
                .collect();
            json!({ format!("{part}_text_named_params"): params })
        }
        // Meta's shapes: `header_text: [..]`, `body_text: [[..]]`.
        ParameterFormat::Positional if part == "body" => json!({ "body_text": [examples] }),
        ParameterFormat::Positional => json!({ format!("{part}_text"): examples }),
    })
}

/// Meta's `components` for an authentication template: the options only
/// (Meta writes the text); the button is sent as `OTP` / `COPY_CODE`.
fn authentication_components(options: &AuthenticationOptions) -> Vec<Value> {
    let mut components = vec![json!({
        "type": "BODY",
        "add_security_recommendation": options.add_security_recommendation,
    })];
    if let Some(minutes) = options.code_expiration_minutes {
        components.push(json!({ "type": "FOOTER", "code_expiration_minutes": minutes }));
    }
    let mut button = json!({ "type": "OTP", "otp_type": "COPY_CODE" });
    if !options.button_text.trim().is_empty() {
        button["text"] = json!(options.button_text.trim());
    }
    components.push(json!({ "type": "BUTTONS", "buttons": [button] }));
    components
}

/// Meta's `components` for a (valid) draft, with the examples Meta asks for.
pub fn components_of(draft: &TemplateDraft) -> Vec<Value> {
    if draft.category == DraftCategory::Authentication {
        return authentication_components(&draft.authentication.clone().unwrap_or_default());
    }
    let format = draft.parameter_format;
    let mut components = Vec::new();
    match &draft.header {
        None => {}
        Some(DraftHeader::Text { text, example }) => {
            let mut h = json!({ "type": "HEADER", "format": "TEXT", "text": text });
            let examples: Vec<String> = example.iter().cloned().collect();
            if let Some(ex) = example_block("header", format, &template::variables(text), &examples)
            {
                h["example"] = ex;
            }
            components.push(h);
        }
        Some(media) => {
            let kind = match media {
                DraftHeader::Image => "IMAGE",
                DraftHeader::Video => "VIDEO",
                _ => "DOCUMENT",
            };
            let mut h = json!({ "type": "HEADER", "format": kind });
            if let Some(handle) = draft.header_handle.as_ref().filter(|h| !h.is_empty()) {
                h["example"] = json!({ "header_handle": [handle] });
            }
            components.push(h);
        }
    }
    let mut body = json!({ "type": "BODY", "text": draft.body.text });
    if let Some(ex) =
        example_block("body", format, &template::variables(&draft.body.text), &draft.body.examples)
    {
        body["example"] = ex;
    }
    components.push(body);
    if let Some(footer) = &draft.footer {
        components.push(json!({ "type": "FOOTER", "text": footer }));
    }
    if !draft.buttons.is_empty() {
        let buttons: Vec<Value> = draft
            .buttons
            .iter()
            .map(|b| match b {
                DraftButton::QuickReply { text } => json!({ "type": "QUICK_REPLY", "text": text }),
                DraftButton::Url { text, url, example } => {
                    let mut v = json!({ "type": "URL", "text": text, "url": url });
                    if let Some(ex) = example.as_ref().filter(|_| url.contains("{{")) {
                        v["example"] = json!([ex]);
                    }
                    v
                }
                DraftButton::PhoneNumber { text, phone_number } => {
                    json!({ "type": "PHONE_NUMBER", "text": text, "phone_number": phone_number })
                }
                DraftButton::CopyCode { example } => {
                    json!({ "type": "COPY_CODE", "example": example })
                }
            })
            .collect();
        components.push(json!({ "type": "BUTTONS", "buttons": buttons }));
    }
    components
}

/// A draft holding everything of a stored template, for `language`.
pub fn draft_of(t: &StoredTemplate, language: &str) -> TemplateDraft {
    let summary = summary_of(t);
    let components: Vec<Value> = serde_json::from_str(&t.components).unwrap_or_default();
    let find = |kind: &str| {
        components.iter().find(|c| {
            c.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case(kind))
        })
    };
    let named = summary
        .header_params
        .iter()
        .chain(&summary.body_params)
        .any(|p| !p.name.chars().all(|c| c.is_ascii_digit()));
    let header = match summary.header_format.as_deref() {
        None => None,
        Some("TEXT") => Some(DraftHeader::Text {
            text: summary.header_text.clone().unwrap_or_default(),
            example: summary.header_params.first().and_then(|p| p.example.clone()),
        }),
        Some("IMAGE") => Some(DraftHeader::Image),
        Some("VIDEO") => Some(DraftHeader::Video),
        Some(_) => Some(DraftHeader::Document),
    };
    let buttons = find("BUTTONS")
        .and_then(|b| b.get("buttons"))
        .and_then(Value::as_array)
        .map(|bs| {
            bs.iter()
                .filter_map(|b| {
                    let label = text(b, "text").unwrap_or_default();
                    let kind = text(b, "type").unwrap_or_default().to_ascii_uppercase();
                    Some(match kind.as_str() {
                        "QUICK_REPLY" => DraftButton::QuickReply { text: label },
                        "URL" => DraftButton::Url {
                            text: label,
                            url: text(b, "url").unwrap_or_default(),
                            example: match b.get("example") {
                                Some(Value::Array(a)) => {
                                    a.first().and_then(Value::as_str).map(str::to_owned)
                                }
                                Some(Value::String(s)) => Some(s.clone()),
                                _ => None,
                            },
                        },
                        "PHONE_NUMBER" => DraftButton::PhoneNumber {
                            text: label,
                            phone_number: text(b, "phone_number").unwrap_or_default(),
                        },
                        "COPY_CODE" => DraftButton::CopyCode {
                            example: match b.get("example") {
                                Some(Value::Array(a)) => a
                                    .first()
                                    .and_then(Value::as_str)
                                    .map(str::to_owned)
                                    .unwrap_or_default(),
                                _ => text(b, "example").unwrap_or_default(),
                            },
                        },
                        _ => return None,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let category = DraftCategory::parse(&t.category).unwrap_or(DraftCategory::Utility);
    if category == DraftCategory::Authentication {
        return TemplateDraft {
            name: t.name.clone(),
            language: language.to_owned(),
            category,
            parameter_format: ParameterFormat::Positional,
            header: None,
            body: DraftBody::default(),
            footer: None,
            buttons: Vec::new(),
            authentication: Some(authentication_of(&components)),
            header_handle: None,
        };
    }
    TemplateDraft {
        name: t.name.clone(),
        language: language.to_owned(),
        category,
        parameter_format: if named { ParameterFormat::Named } else { ParameterFormat::Positional },
        header,
        body: DraftBody {
            examples: summary
                .body_params
                .iter()
                .map(|p| p.example.clone().unwrap_or_default())
                .collect(),
            text: summary.body,
        },
        footer: summary.footer,
        buttons,
        authentication: None,
        header_handle: None,
    }
}

/// The options of a stored authentication template: from the creation's
/// keys, or read back from the text Meta wrote.
fn authentication_of(components: &[Value]) -> AuthenticationOptions {
    let find = |kind: &str| {
        components.iter().find(|c| {
            c.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case(kind))
        })
    };
    let body = find("BODY");
    let footer = find("FOOTER");
    AuthenticationOptions {
        add_security_recommendation: body
            .and_then(|b| b.get("add_security_recommendation").and_then(Value::as_bool))
            .unwrap_or_else(|| {
                body.and_then(|b| text(b, "text")).is_some_and(|t| t.contains("do not share"))
            }),
        code_expiration_minutes: footer.and_then(|f| {
            f.get("code_expiration_minutes")
                .and_then(Value::as_u64)
                .map(|m| m as u32)
                .or_else(|| text(f, "text")?.split_whitespace().find_map(|w| w.parse::<u32>().ok()))
        }),
        button_text: find("BUTTONS")
            .and_then(|b| b.get("buttons"))
            .and_then(Value::as_array)
            .and_then(|bs| bs.first())
            .and_then(|b| text(b, "text"))
            .unwrap_or_default(),
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// The examples Meta keeps for a component's variables: positional
/// (`example.header_text: [..]`, `example.body_text: [[..]]`) or named
/// (`example.{header,body}_text_named_params: [{param_name, example}]`).
fn params_of(component: Option<&Value>, part: &str) -> Vec<TemplateParam> {
    let Some(c) = component else { return Vec::new() };
    let names = template::variables(c.get("text").and_then(Value::as_str).unwrap_or_default());
    let example = c.get("example");
    let named =
        example.and_then(|e| e.get(format!("{part}_text_named_params"))).and_then(Value::as_array);
    let positional: Vec<String> = example
        .and_then(|e| e.get(format!("{part}_text")))
        .and_then(Value::as_array)
        .map(|a| {
            // body_text is a list of lists; header_text a flat list.
            let flat = match a.first() {
                Some(Value::Array(inner)) => inner.clone(),
                _ => a.clone(),
            };
            flat.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
        })
        .unwrap_or_default();
    names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let example = match named {
                Some(list) => list
                    .iter()
                    .find(|p| p.get("param_name").and_then(Value::as_str) == Some(name.as_str()))
                    .and_then(|p| text(p, "example")),
                None => name
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| positional.get(n.wrapping_sub(1)).cloned())
                    .or_else(|| positional.get(i).cloned()),
            };
            TemplateParam { name, example }
        })
        .collect()
}

/// What the picker shows of a stored template.
pub fn summary_of(t: &StoredTemplate) -> TemplateSummary {
    let components: Vec<Value> = serde_json::from_str(&t.components).unwrap_or_default();
    let find = |kind: &str| {
        components.iter().find(|c| {
            c.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case(kind))
        })
    };
    let header = find("HEADER");
    let header_format = header.map(|h| text(h, "format").unwrap_or_else(|| "TEXT".into()));
    let header_text =
        header.filter(|_| header_format.as_deref() == Some("TEXT")).and_then(|h| text(h, "text"));
    // An authentication template stored as submitted has Meta's options,
    // not its text: written here as Meta writes it.
    let authentication = t.category.eq_ignore_ascii_case("AUTHENTICATION")
        && find("BODY").is_some_and(|b| b.get("text").is_none());
    let written: Vec<Value>;
    let (body, footer) = if authentication {
        let options = authentication_of(&components);
        written = vec![
            json!({ "type": "BODY",
                    "text": builder::authentication_body(options.add_security_recommendation),
                    "example": { "body_text": [["123456"]] } }),
            json!({ "type": "FOOTER",
                    "text": options.code_expiration_minutes.map(builder::authentication_footer) }),
        ];
        (written.first(), written.get(1).filter(|f| f["text"].is_string()))
    } else {
        (find("BODY"), find("FOOTER"))
    };
    let buttons = find("BUTTONS")
        .and_then(|b| b.get("buttons"))
        .and_then(Value::as_array)
        .map(|bs| {
            bs.iter()
                .filter_map(|b| {
                    text(b, "text").or_else(|| {
                        // Meta's label for a copy-code button without one.
                        (text(b, "otp_type").is_some()).then(|| "Copy code".to_owned())
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let header_params =
        if header_text.is_some() { params_of(header, "header") } else { Vec::new() };
    TemplateSummary {
        name: t.name.clone(),
        language: t.language.clone(),
        category: t.category.clone(),
        status: t.status.clone(),
        header_format,
        header_text,
        body: body.and_then(|b| text(b, "text")).unwrap_or_default(),
        footer: footer.and_then(|f| text(f, "text")),
        buttons,
        header_params,
        body_params: params_of(body, "body"),
        quality: t.quality.clone(),
        rejected_reason: t.rejected_reason.clone().filter(|_| t.status == "REJECTED"),
    }
}

/// Meta's send components for the filled-in values. A named template's
/// values carry their `parameter_name`.
pub(crate) fn send_components(
    summary: &TemplateSummary,
    header: &[String],
    body: &[String],
) -> Vec<Value> {
    let part = |kind: &str, params: &[TemplateParam], values: &[String]| -> Option<Value> {
        if params.is_empty() {
            return None;
        }
        let parameters: Vec<Value> = params
            .iter()
            .zip(values)
            .map(|(p, v)| {
                if p.name.chars().all(|c| c.is_ascii_digit()) {
                    json!({ "type": "text", "text": v })
                } else {
                    json!({ "type": "text", "parameter_name": p.name, "text": v })
                }
            })
            .collect();
        Some(json!({ "type": kind, "parameters": parameters }))
    };
    let mut components: Vec<Value> = part("header", &summary.header_params, header)
        .into_iter()
        .chain(part("body", &summary.body_params, body))
        .collect();
    // An authentication template's copy-code button carries the code too.
    if summary.category.eq_ignore_ascii_case("AUTHENTICATION") {
        if let Some(code) = body.first() {
            components.push(json!({
                "type": "button", "sub_type": "url", "index": "0",
                "parameters": [{ "type": "text", "text": code }],
            }));
        }
    }
    components
}

impl Core {
    /// The stored templates (every status; the picker shows the approved).
    pub fn list_templates(&self) -> Result<Vec<TemplateSummary>, CoreError> {
        self.gate()?;
        Ok(self.inner.store.list_templates()?.iter().map(summary_of).collect())
    }

    fn waba_id(&self, what: &str) -> Result<String, CoreError> {
        self.config().graph.and_then(|g| g.waba_id).ok_or_else(|| {
            CoreError::InvalidInput(format!(
                "this profile has no WhatsApp Business Account id, so its templates cannot be \
                 {what}; connect the account again"
            ))
        })
    }

    /// Submit a new template for Meta's review. The draft is checked first
    /// (refused with the first broken rule's sentence), then the hourly
    /// limit, both before anything goes out; once Meta took it, it is
    /// stored PENDING so the list shows it at once, and the
    /// `message_template_status_update` webhook settles it later.
    pub async fn create_template(
        &self,
        draft: &TemplateDraft,
    ) -> Result<TemplateSummary, CoreError> {
        self.create_template_at(draft, now_ms()).await
    }

    pub(crate) async fn create_template_at(
        &self,
        draft: &TemplateDraft,
        now_ms: i64,
    ) -> Result<TemplateSummary, CoreError> {
        self.gate()?;
        if let Some(first) = builder::validate(draft).into_iter().next() {
            return Err(CoreError::InvalidInput(first.message));
        }
        let waba_id = self.waba_id("created")?;
        if self.inner.store.template(&draft.name, &draft.language)?.is_some() {
            return Err(CoreError::InvalidInput(format!(
                "there is already a template {} in {}; choose another name or language",
                draft.name, draft.language
            )));
        }
        check_creation_quota(&self.inner.store, now_ms)?;
        let components = components_of(draft);
        let new = NewTemplate {
            name: draft.name.clone(),
            category: match draft.category {
                DraftCategory::Marketing => TemplateCategory::Marketing,
                DraftCategory::Utility => TemplateCategory::Utility,
                DraftCategory::Authentication => TemplateCategory::Authentication,
            },
            language: draft.language.clone(),
            components: components.clone(),
            parameter_format: Some(draft.parameter_format.as_str().to_owned()),
        };
        let client = self.graph_client()?;
        let created = client
            .create_template(&waba_id, &new)
            .await
            .map_err(|e| manage_error(&e, "create the template"))?;
        self.inner.store.record_template_creation(now_ms, now_ms - HOUR_MS)?;
        let stored = StoredTemplate {
            name: draft.name.clone(),
            language: draft.language.clone(),
            template_id: Some(created.id),
            category: created.category.unwrap_or_else(|| draft.category.as_str().to_owned()),
            status: created.status,
            components: Value::Array(components).to_string(),
            rejected_reason: None,
            quality: None,
        };
        self.inner.store.upsert_template(&stored, now_ms)?;
        tracing::info!("template submitted for review");
        Ok(summary_of(&stored))
    }

    /// Upload a media header's sample with Meta's Resumable Upload API
    /// (the app that owns the token, then the file) and return its handle
    /// for `TemplateDraft::header_handle`. The type and size are checked
    /// first with the builder's rule.
    pub async fn upload_template_sample(
        &self,
        file_name: &str,
        mime_type: &str,
        bytes: &[u8],
    ) -> Result<String, CoreError> {
        self.gate()?;
        let header = builder::header_of_sample(mime_type).ok_or_else(|| {
            CoreError::InvalidInput(
                "a header's sample must be a JPEG or PNG image, an MP4 video or a PDF document; \
                 choose another file"
                    .into(),
            )
        })?;
        builder::check_header_sample(&header, mime_type, bytes.len() as u64)
            .map_err(CoreError::InvalidInput)?;
        let client = self.graph_client()?;
        let app_id =
            client.app_id().await.map_err(|e| manage_error(&e, "find the app to upload to"))?;
        let name = if file_name.trim().is_empty() { "sample" } else { file_name.trim() };
        let handle = client
            .upload_template_sample(
                &app_id,
                name,
                &parley_types::attachment::essence(mime_type),
                bytes,
            )
            .await
            .map_err(|e| manage_error(&e, "upload the sample"))?;
        tracing::info!(bytes = bytes.len(), "template sample uploaded");
        Ok(handle)
    }

    /// Delete the template `name` (every language) at Meta, then here.
    pub async fn delete_template(&self, name: &str) -> Result<(), CoreError> {
        self.gate()?;
        if !builder::valid_template_name(name) {
            return Err(CoreError::InvalidInput(
                "that is not a template name; pick a template from the list".into(),
            ));
        }
        let waba_id = self.waba_id("deleted")?;
        let client = self.graph_client()?;
        client
            .delete_template(&waba_id, name)
            .await
            .map_err(|e| manage_error(&e, "delete the template"))?;
        self.inner.store.delete_templates_named(name)?;
        tracing::info!("template deleted");
        Ok(())
    }

    /// A draft of the stored template `name` in `from_language`, with every
    /// component kept, for `to_language`: the agent translates the texts,
    /// then submits it with `create_template`.
    pub fn duplicate_template(
        &self,
        name: &str,
        from_language: &str,
        to_language: &str,
    ) -> Result<TemplateDraft, CoreError> {
        self.gate()?;
        let stored = self.inner.store.template(name, from_language)?.ok_or_else(|| {
            CoreError::InvalidInput(format!(
                "there is no template {name} in {from_language}; refresh the templates and pick \
                 one from the list"
            ))
        })?;
        if self.inner.store.template(name, to_language)?.is_some() {
            return Err(CoreError::InvalidInput(format!(
                "the template {name} already exists in {to_language}; pick another language"
            )));
        }
        Ok(draft_of(&stored, to_language))
    }

    /// Why Meta rejected the stored template (its reason code, e.g.
    /// `INVALID_FORMAT`), if it did.
    pub fn template_rejection(
        &self,
        name: &str,
        language: &str,
    ) -> Result<Option<String>, CoreError> {
        self.gate()?;
        Ok(self
            .inner
            .store
            .template(name, language)?
            .filter(|t| t.status == "REJECTED")
            .and_then(|t| t.rejected_reason))
    }

    /// Fetch the account's templates from Meta (every page) and replace the
    /// stored set with them.
    pub async fn refresh_templates(&self) -> Result<Vec<TemplateSummary>, CoreError> {
        self.gate()?;
        let waba_id = self.waba_id("listed")?;
        let client = self.graph_client()?;
        let templates = client.list_all_templates(&waba_id).await.map_err(|e| refresh_error(&e))?;
        let stored: Vec<StoredTemplate> = templates
            .into_iter()
            .map(|t| StoredTemplate {
                name: t.name,
                language: t.language,
                template_id: Some(t.id),
                category: t.category.unwrap_or_default(),
                status: t.status,
                components: Value::Array(t.components).to_string(),
                rejected_reason: t.rejected_reason,
                quality: t.quality,
            })
            .collect();
        self.inner.store.replace_templates(&stored, now_ms())?;
        tracing::info!(count = stored.len(), "templates refreshed");
        self.list_templates()
    }

    /// The stored template `name` in `language`, if Parley can send it: it
    /// exists here, is approved, and needs nothing Parley does not pick
    /// yet. Otherwise a sentence saying what to do. Every send checks this:
    /// one message from the composer, or a campaign's.
    pub(crate) fn sendable_template(
        &self,
        name: &str,
        language: &str,
    ) -> Result<(StoredTemplate, TemplateSummary), CoreError> {
        let stored = self.inner.store.template(name, language)?.ok_or_else(|| {
            CoreError::InvalidInput(format!(
                "there is no template {name} in {language}; refresh the templates and pick one \
                 from the list"
            ))
        })?;
        let summary = summary_of(&stored);
        if !summary.is_approved() {
            return Err(CoreError::InvalidInput(format!(
                "the template {} is {}, not approved, so WhatsApp will not send it; pick an \
                 approved template",
                summary.name,
                summary.status.to_lowercase()
            )));
        }
        if let Some(reason) = summary.unsupported_reason() {
            return Err(CoreError::InvalidInput(reason));
        }
        Ok((stored, summary))
    }

    /// Queue an approved template for a WhatsApp conversation, whether or
    /// not the customer wrote in the last 24 hours. Checked before anything
    /// is stored: the template exists here and is approved, every variable
    /// has a non-empty value. The thread shows the rendered text.
    pub fn send_template(&self, request: &SendTemplateRequest) -> Result<Message, CoreError> {
        self.gate()?;
        let (_, summary) = self.sendable_template(&request.name, &request.language)?;
        // The opt-out (an agent's, or the customer's STOP) is honoured here,
        // where every template leaves: marketing is refused, utility and
        // authentication messages (an order update, a code) still go.
        if summary.category.eq_ignore_ascii_case("MARKETING")
            && self.inner.store.opted_out(request.conversation_id)?
        {
            return Err(CoreError::InvalidInput(format!(
                "this customer opted out of marketing messages, so the marketing template {} \
                 is not sent; send a utility template, or wait until they write START",
                summary.name
            )));
        }
        let header: Vec<String> =
            request.header_params.iter().map(|v| v.trim().to_owned()).collect();
        let body: Vec<String> = request.body_params.iter().map(|v| v.trim().to_owned()).collect();
        template::check_values(&summary, &header, &body).map_err(CoreError::InvalidInput)?;
        let text = summary.render_text(&header, &body);
        let send = json!({
            "name": summary.name,
            "language": summary.language,
            "components": send_components(&summary, &header, &body),
        })
        .to_string();
        let message = self.inner.store.queue_template(
            request.conversation_id,
            &text,
            &send,
            &new_client_txn_id(),
            now_ms(),
        )??;
        self.emit(InboxEvent::MessageChanged { message: message.clone() });
        self.emit_conversation(request.conversation_id);
        self.inner.outbox_wake.notify_one();
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_types::IpcError;

    fn stored(components: Value) -> StoredTemplate {
        StoredTemplate {
            name: "t".into(),
            language: "en_US".into(),
            template_id: Some("1".into()),
            category: "UTILITY".into(),
            status: "APPROVED".into(),
            components: components.to_string(),
            rejected_reason: None,
            quality: None,
        }
    }

    #[test]
    fn a_summary_reads_header_body_footer_buttons_and_examples() {
        let s = summary_of(&stored(json!([
            {"type":"HEADER","format":"TEXT","text":"On {{1}}","example":{"header_text":["Friday"]}},
            {"type":"BODY","text":"Hi {{1}}, at {{2}}","example":{"body_text":[["Ana","3 pm"]]}},
            {"type":"FOOTER","text":"Clinic"},
            {"type":"BUTTONS","buttons":[{"type":"QUICK_REPLY","text":"Confirm"}]}
        ])));
        assert_eq!(s.header_text.as_deref(), Some("On {{1}}"));
        assert_eq!(s.header_params[0].example.as_deref(), Some("Friday"));
        assert_eq!(s.body_params.len(), 2);
        assert_eq!(s.body_params[1].example.as_deref(), Some("3 pm"));
        assert_eq!(s.footer.as_deref(), Some("Clinic"));
        assert_eq!(s.buttons, vec!["Confirm".to_owned()]);
        let sent = send_components(&s, &["Mon".into()], &["Bo".into(), "9".into()]);
        assert_eq!(sent[0], json!({"type":"header","parameters":[{"type":"text","text":"Mon"}]}));
        assert_eq!(sent[1]["parameters"][1], json!({"type":"text","text":"9"}));
    }

    #[test]
    fn named_variables_carry_their_names_and_examples() {
        let s = summary_of(&stored(json!([
            {"type":"BODY","text":"Hi {{customer_name}}, order {{order_id}}",
             "example":{"body_text_named_params":[
                {"param_name":"order_id","example":"A-1"},
                {"param_name":"customer_name","example":"Jo"}]}}
        ])));
        assert_eq!(s.body_params[0].name, "customer_name");
        assert_eq!(s.body_params[0].example.as_deref(), Some("Jo"));
        assert_eq!(s.body_params[1].example.as_deref(), Some("A-1"));
        assert_eq!(s.header_format, None);
        let sent = send_components(&s, &[], &["Ana".into(), "B-2".into()]);
        assert_eq!(sent.len(), 1);
        assert_eq!(
            sent[0]["parameters"][0],
            json!({"type":"text","parameter_name":"customer_name","text":"Ana"})
        );
    }

    #[test]
    fn a_failed_refresh_says_what_to_do() {
        let busy = refresh_error(&GraphError::Http { status: 503 });
        let ipc = parley_types::IpcError::from(&busy);
        assert_eq!(ipc.code, ErrorCode::RetryLater);
        assert!(ipc.message.contains("Press Refresh again"), "{}", ipc.message);
        let denied =
            parley_types::IpcError::from(&refresh_error(&GraphError::Http { status: 401 }));
        assert_eq!(denied.code, ErrorCode::Reconnect);
        assert!(denied.message.contains("Reconnect"), "{}", denied.message);
    }

    #[test]
    fn a_draft_becomes_meta_components_and_back() {
        let draft = TemplateDraft {
            name: "visit".into(),
            language: "en_US".into(),
            category: DraftCategory::Utility,
            parameter_format: ParameterFormat::Positional,
            header: Some(DraftHeader::Document),
            body: DraftBody {
                text: "Your visit on {{1}} is booked.".into(),
                examples: vec!["Monday".into()],
            },
            footer: None,
            buttons: vec![
                DraftButton::PhoneNumber {
                    text: "Call".into(),
                    phone_number: "+15551234567".into(),
                },
                DraftButton::Url {
                    text: "Map".into(),
                    url: "https://map.example".into(),
                    example: None,
                },
            ],
            authentication: None,
            header_handle: None,
        };
        let components = components_of(&draft);
        assert_eq!(components[0], json!({"type":"HEADER","format":"DOCUMENT"}));
        let with_sample = TemplateDraft { header_handle: Some("4::cGRm".into()), ..draft.clone() };
        assert_eq!(
            components_of(&with_sample)[0],
            json!({"type":"HEADER","format":"DOCUMENT","example":{"header_handle":["4::cGRm"]}})
        );
        assert_eq!(components[1]["example"], json!({"body_text": [["Monday"]]}));
        assert_eq!(
            components[2]["buttons"],
            json!([{"type":"PHONE_NUMBER","text":"Call","phone_number":"+15551234567"},
                   {"type":"URL","text":"Map","url":"https://map.example"}])
        );
        let mut t = stored(Value::Array(components));
        t.name = "visit".into();
        assert_eq!(draft_of(&t, "pt_BR"), TemplateDraft { language: "pt_BR".into(), ..draft });
    }

    #[test]
    fn an_authentication_template_sends_its_options_and_reads_back_meta_s_text() {
        let draft = TemplateDraft {
            name: "login_code".into(),
            language: "en_US".into(),
            category: DraftCategory::Authentication,
            parameter_format: ParameterFormat::Positional,
            header: None,
            body: DraftBody::default(),
            footer: None,
            buttons: vec![],
            authentication: Some(AuthenticationOptions {
                add_security_recommendation: true,
                code_expiration_minutes: Some(5),
                button_text: "Copy".into(),
            }),
            header_handle: None,
        };
        let components = components_of(&draft);
        assert_eq!(
            Value::Array(components.clone()),
            json!([{"type":"BODY","add_security_recommendation":true},
                   {"type":"FOOTER","code_expiration_minutes":5},
                   {"type":"BUTTONS","buttons":[{"type":"OTP","otp_type":"COPY_CODE","text":"Copy"}]}])
        );
        let mut t = stored(Value::Array(components));
        t.name = "login_code".into();
        t.category = "AUTHENTICATION".into();
        let s = summary_of(&t);
        assert_eq!(
            s.body,
            "{{1}} is your verification code. For your security, do not share this code."
        );
        assert_eq!(s.footer.as_deref(), Some("This code expires in 5 minutes."));
        assert_eq!(s.buttons, vec!["Copy".to_owned()]);
        assert_eq!(s.body_params.len(), 1);
        assert_eq!(draft_of(&t, "en_US"), draft);
        // Sent with the code in the body and on the button.
        let sent = send_components(&s, &[], &["123456".into()]);
        assert_eq!(
            sent[1],
            json!({"type":"button","sub_type":"url","index":"0",
                   "parameters":[{"type":"text","text":"123456"}]})
        );
        // As Meta lists it once approved: text written, button a URL.
        let listed = stored(json!([
            {"type":"BODY","text":"{{1}} is your verification code.","example":{"body_text":[["1"]]}},
            {"type":"BUTTONS","buttons":[{"type":"URL","text":"Copy code","url":"https://www.whatsapp.com/otp/code/?otp_type=COPY_CODE&code=otp{{1}}"}]}
        ]));
        let listed = StoredTemplate { category: "AUTHENTICATION".into(), ..listed };
        assert_eq!(summary_of(&listed).body, "{{1}} is your verification code.");
        let back = draft_of(&listed, "fr").authentication.unwrap();
        assert!(!back.add_security_recommendation);
        assert_eq!(back.code_expiration_minutes, None);
        assert_eq!(back.button_text, "Copy code");
    }

    #[test]
    fn a_creation_refusal_says_what_happened() {
        let busy =
            IpcError::from(&manage_error(&GraphError::Http { status: 503 }, "create the template"));
        assert_eq!(busy.code, ErrorCode::RetryLater);
        assert!(busy.message.contains("to create the template. Try again"), "{}", busy.message);
    }

    #[test]
    fn a_media_header_has_no_text_variables() {
        let s = summary_of(&stored(json!([
            {"type":"HEADER","format":"IMAGE"},
            {"type":"BODY","text":"Hi {{1}}"}
        ])));
        assert_eq!(s.header_format.as_deref(), Some("IMAGE"));
        assert!(s.header_params.is_empty());
        assert!(s.unsupported_reason().is_some());
    }
}
