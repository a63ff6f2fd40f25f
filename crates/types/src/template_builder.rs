//! A new template as the agent writes it, and Meta's rules for one, checked
//! before it is submitted: the UI shows each refusal on its field, the core
//! checks again and refuses with the first.
//!
//! The limits follow Meta's template documentation: a name of lowercase
//! letters, digits and underscores (at most 512); a body of 1 to 1,024
//! characters; a text header and a footer of at most 60; a button label of
//! at most 25; at most 10 buttons, of which at most 2 visit a website, 1
//! calls a phone number and 1 copies a code, with the quick replies grouped
//! together; variables numbered `{{1}}`, `{{2}}`… without gaps (or, for a
//! named template, lowercase names), never first or last in the body, each
//! with an example; at most one variable in a text header, none in the
//! footer, and in a website address only one, at its end. An
//! authentication template sets only Meta's options (the security
//! recommendation, an expiry of 1 to 90 minutes, the copy-code button's
//! label): Meta writes its text. An image, video or document header needs
//! a sample file (uploaded first; its handle goes with the draft).

use serde::{Deserialize, Serialize};

use crate::template::occurrences;

/// Meta's limit on a template name.
pub const MAX_NAME_CHARS: usize = 512;
/// Meta's limit on a template body.
pub const MAX_BODY_CHARS: usize = 1024;
/// Meta's limit on a text header and on a footer.
pub const MAX_HEADER_CHARS: usize = 60;
pub const MAX_FOOTER_CHARS: usize = 60;
/// Meta's limit on a button's label.
pub const MAX_BUTTON_TEXT_CHARS: usize = 25;
pub const MAX_BUTTONS: usize = 10;
pub const MAX_URL_BUTTONS: usize = 2;
pub const MAX_PHONE_BUTTONS: usize = 1;
pub const MAX_COPY_CODE_BUTTONS: usize = 1;
/// Meta's limit on a website button's address.
pub const MAX_URL_CHARS: usize = 2000;
/// Meta's limit on a copy-code button's example code.
pub const MAX_COPY_CODE_CHARS: usize = 15;

/// Template names Meta accepts: lowercase ASCII letters, digits and `_`, at
/// most 512 characters. The one definition: `parley-meta` re-exports it.
pub fn valid_template_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DraftCategory {
    Marketing,
    Utility,
    Authentication,
}

impl DraftCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            DraftCategory::Marketing => "MARKETING",
            DraftCategory::Utility => "UTILITY",
            DraftCategory::Authentication => "AUTHENTICATION",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "MARKETING" => Some(DraftCategory::Marketing),
            "UTILITY" => Some(DraftCategory::Utility),
            "AUTHENTICATION" => Some(DraftCategory::Authentication),
            _ => None,
        }
    }
}

/// How the template's variables are written: `{{1}}` or `{{order_id}}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ParameterFormat {
    #[default]
    Positional,
    Named,
}

impl ParameterFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ParameterFormat::Positional => "POSITIONAL",
            ParameterFormat::Named => "NAMED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum DraftHeader {
    /// A line of text, with at most one variable (and then its example).
    Text {
        text: String,
        #[serde(default)]
        example: Option<String>,
    },
    Image,
    Video,
    Document,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftBody {
    pub text: String,
    /// One example per variable, in the order they are sent
    /// ([`crate::template::variables`]).
    #[serde(default)]
    pub examples: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DraftButton {
    QuickReply {
        text: String,
    },
    /// A website; the address may end with one variable, then `example` is
    /// a whole address as it could be sent.
    Url {
        text: String,
        url: String,
        #[serde(default)]
        example: Option<String>,
    },
    /// Calls `phone_number`, in E.164 (`+` and the digits).
    PhoneNumber {
        text: String,
        phone_number: String,
    },
    /// Copies a code (an offer code); `example` is one such code.
    CopyCode {
        example: String,
    },
}

/// Meta's limit on an authentication code's stated expiry, in minutes.
pub const MAX_CODE_EXPIRATION_MINUTES: u32 = 90;

/// What an authentication template may set; Meta writes its text
/// ("{{1}} is your verification code.") and it has one copy-code button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthenticationOptions {
    /// Adds "For your security, do not share this code."
    pub add_security_recommendation: bool,
    /// Adds "This code expires in N minutes." (1 to 90).
    #[serde(default)]
    pub code_expiration_minutes: Option<u32>,
    /// The copy-code button's label; Meta's "Copy code" when empty.
    #[serde(default)]
    pub button_text: String,
}

impl Default for AuthenticationOptions {
    fn default() -> Self {
        AuthenticationOptions {
            add_security_recommendation: true,
            code_expiration_minutes: Some(10),
            button_text: "Copy code".into(),
        }
    }
}

/// The body Meta writes for an authentication template (English; Meta
/// translates it for other languages).
pub fn authentication_body(add_security_recommendation: bool) -> String {
    let mut text = "{{1}} is your verification code.".to_owned();
    if add_security_recommendation {
        text.push_str(" For your security, do not share this code.");
    }
    text
}

/// The footer Meta writes for an authentication template's expiry.
pub fn authentication_footer(minutes: u32) -> String {
    format!("This code expires in {minutes} minutes.")
}

/// A template to submit for review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateDraft {
    pub name: String,
    /// e.g. `en_US`.
    pub language: String,
    pub category: DraftCategory,
    #[serde(default)]
    pub parameter_format: ParameterFormat,
    #[serde(default)]
    pub header: Option<DraftHeader>,
    pub body: DraftBody,
    #[serde(default)]
    pub footer: Option<String>,
    #[serde(default)]
    pub buttons: Vec<DraftButton>,
    /// For an authentication template (category `Authentication`), which
    /// then has no header, body text, footer or buttons of its own.
    #[serde(default)]
    pub authentication: Option<AuthenticationOptions>,
    /// For an image, video or document header: the handle of the sample
    /// file uploaded with Meta's Resumable Upload API, which Meta reviews.
    #[serde(default)]
    pub header_handle: Option<String>,
}

/// The sample a media header needs: its kind's words, the types Meta
/// takes for it and its size limit.
pub fn header_sample_rule(
    header: &DraftHeader,
) -> Option<(&'static str, &'static [&'static str], u64)> {
    use crate::attachment::{MAX_AUDIO_VIDEO_BYTES, MAX_DOCUMENT_BYTES, MAX_IMAGE_BYTES};
    Some(match header {
        DraftHeader::Text { .. } => return None,
        DraftHeader::Image => {
            ("a JPEG or PNG image", &["image/jpeg", "image/png"], MAX_IMAGE_BYTES)
        }
        DraftHeader::Video => ("an MP4 video", &["video/mp4"], MAX_AUDIO_VIDEO_BYTES),
        DraftHeader::Document => ("a PDF document", &["application/pdf"], MAX_DOCUMENT_BYTES),
    })
}

/// Whether a file may be the sample of `header` (checked by the UI before
/// reading it, by the core before uploading it); `Err` says what to pick.
pub fn check_header_sample(header: &DraftHeader, mime_type: &str, size: u64) -> Result<(), String> {
    let Some((what, types, max)) = header_sample_rule(header) else {
        return Err("a text header takes no sample file".into());
    };
    let mime = crate::attachment::essence(mime_type);
    if !types.contains(&mime.as_str()) {
        return Err(format!("the header's sample must be {what}; choose another file"));
    }
    if size == 0 {
        return Err("the sample file is empty; choose another file".into());
    }
    if size > max {
        return Err(format!(
            "the sample is {:.1} MB and Meta takes at most {} MB for {what}; choose a smaller \
             file",
            size as f64 / 1_048_576.0,
            max / 1_048_576
        ));
    }
    Ok(())
}

/// The kind of sample a stored header needs, from the MIME type of a file:
/// `image`, `video` or `document`, as the header formats read.
pub fn header_of_sample(mime_type: &str) -> Option<DraftHeader> {
    [DraftHeader::Image, DraftHeader::Video, DraftHeader::Document].into_iter().find(|h| {
        header_sample_rule(h).is_some_and(|(_, types, _)| {
            types.contains(&crate::attachment::essence(mime_type).as_str())
        })
    })
}

/// Where a refusal belongs on the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "field", content = "index", rename_all = "snake_case")]
pub enum DraftField {
    Name,
    Language,
    Category,
    Header,
    Body,
    Footer,
    /// The buttons as a whole (how many of a kind).
    Buttons,
    /// One button, by its position.
    Button(usize),
}

/// One broken rule: the field and a sentence saying what to fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftError {
    pub field: DraftField,
    pub message: String,
}

fn err(field: DraftField, message: impl Into<String>) -> DraftError {
    DraftError { field, message: message.into() }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// A valid named variable: a lowercase letter, then lowercase letters,
/// digits and underscores.
fn is_snake_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_number(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_digit())
}

/// Meta's E.164: `+`, then 7 to 15 digits, the first not 0.
pub fn is_e164(phone: &str) -> bool {
    let Some(digits) = phone.strip_prefix('+') else { return false };
    (7..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
}

/// The variables of `text` checked against the template's format: every
/// `{{…}}` well formed, numbers from 1 without gaps or lowercase names.
/// Returns the distinct names in sent order, or the sentence of the first
/// problem (`part` is "body", "header", ...).
fn check_variables(text: &str, format: ParameterFormat, part: &str) -> Result<Vec<String>, String> {
    let found = occurrences(text);
    if text.matches("{{").count() != found.len() {
        return Err(format!(
            "the {part} has a {{{{ that is not a variable; write variables as {} or remove the \
             braces",
            match format {
                ParameterFormat::Positional => "{{1}}, {{2}}",
                ParameterFormat::Named => "{{customer_name}}",
            }
        ));
    }
    let names = crate::template::variables(text);
    match format {
        ParameterFormat::Positional => {
            if let Some(bad) = names.iter().find(|n| !is_number(n)) {
                return Err(format!(
                    "the {part} has the named variable {{{{{bad}}}}} but this template numbers \
                     its variables; write {{{{1}}}}, {{{{2}}}}… or switch to named variables"
                ));
            }
            for (i, n) in names.iter().enumerate() {
                if n.parse::<usize>().ok() != Some(i + 1) {
                    return Err(format!(
                        "the {part}'s variables must be numbered from {{{{1}}}} without gaps; \
                         {{{{{}}}}} is missing",
                        i + 1
                    ));
                }
            }
        }
        ParameterFormat::Named => {
            if let Some(bad) = names.iter().find(|n| !is_snake_name(n)) {
                return Err(format!(
                    "the {part}'s variable {{{{{bad}}}}} is not a name; named variables start \
                     with a lowercase letter, like {{{{customer_name}}}}"
                ));
            }
        }
    }
    Ok(names)
}

fn check_header(draft: &TemplateDraft, out: &mut Vec<DraftError>) {
    let field = DraftField::Header;
    let (text, example) = match &draft.header {
        None => return,
        Some(DraftHeader::Text { text, example }) => (text, example),
        // Meta reviews a media header with a sample file uploaded first.
        Some(media @ (DraftHeader::Image | DraftHeader::Video | DraftHeader::Document)) => {
            if draft.header_handle.as_ref().is_none_or(|h| h.trim().is_empty()) {
                let what = header_sample_rule(media).map_or("a file", |(what, _, _)| what);
                out.push(err(
                    field,
                    format!("choose a sample for the header: {what} Meta reviews with it"),
                ));
            }
            return;
        }
    };
    let n = chars(text);
    if text.trim().is_empty() {
        out.push(err(field, "the header is empty; write it or remove the header"));
        return;
    }
    // Meta's header text takes no line breaks, formatting marks or emoji.
    let is_emoji = |c: char| matches!(c as u32, 0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0xFE0F);
    if text.contains(['\n', '\r']) {
        out.push(err(field, "a header is one line; remove the line breaks"));
    }
    // Outside the variables: `{{order_id}}` has an underscore of its own.
    let mut outside = String::new();
    let mut rest = text.as_str();
    while let Some(open) = rest.find("{{") {
        outside.push_str(&rest[..open]);
        rest = match rest[open..].find("}}") {
            Some(close) => &rest[open + close + 2..],
            None => "",
        };
    }
    outside.push_str(rest);
    if outside.contains(['*', '_', '~', '`']) {
        out.push(err(field, "a header takes no formatting marks (* _ ~ `); remove them"));
    }
    if text.chars().any(is_emoji) {
        out.push(err(field, "a header takes no emoji; move them to the body"));
    }
    if n > MAX_HEADER_CHARS {
        out.push(err(
            field,
            format!("the header is {n} characters; shorten it to {MAX_HEADER_CHARS} or fewer"),
        ));
    }
    match check_variables(text, draft.parameter_format, "header") {
        Err(m) => out.push(err(field, m)),
        Ok(names) if names.len() > 1 || occurrences(text).len() > 1 => out.push(err(
            field,
            "the header may hold only one variable; remove the others or move them to the body",
        )),
        Ok(names) if names.len() == 1 && example.as_ref().is_none_or(|e| e.trim().is_empty()) => {
            out.push(err(field, "give an example for the header's variable"))
        }
        Ok(_) => {}
    }
}

fn check_body(draft: &TemplateDraft, out: &mut Vec<DraftError>) {
    let field = DraftField::Body;
    let text = &draft.body.text;
    let n = chars(text);
    if text.trim().is_empty() {
        out.push(err(field, "the body is empty; write the message"));
        return;
    }
    if n > MAX_BODY_CHARS {
        out.push(err(
            field,
            format!("the body is {n} characters; shorten it to {MAX_BODY_CHARS} or fewer"),
        ));
    }
    let names = match check_variables(text, draft.parameter_format, "body") {
        Ok(names) => names,
        Err(m) => {
            out.push(err(field, m));
            return;
        }
    };
    let found = occurrences(text);
    let trimmed_start = text.len() - text.trim_start().len();
    let trimmed_end = text.trim_end().len();
    if found.first().is_some_and(|(r, _)| r.start == trimmed_start) {
        out.push(err(field, "the body may not start with a variable; add words before it"));
    }
    if found.last().is_some_and(|(r, _)| r.end == trimmed_end) {
        out.push(err(
            field,
            "the body may not end with a variable; add words (or a full stop) after it",
        ));
    }
    let examples = &draft.body.examples;
    if examples.len() != names.len() || examples.iter().any(|e| e.trim().is_empty()) {
        out.push(err(
            field,
            format!(
                "the body has {} variable{} and each needs an example; give one example per \
                 variable",
                names.len(),
                if names.len() == 1 { "" } else { "s" }
            ),
        ));
    }
}

fn check_footer(draft: &TemplateDraft, out: &mut Vec<DraftError>) {
    let Some(footer) = &draft.footer else { return };
    let field = DraftField::Footer;
    let n = chars(footer);
    if footer.trim().is_empty() {
        out.push(err(field, "the footer is empty; write it or remove the footer"));
    } else if n > MAX_FOOTER_CHARS {
        out.push(err(
            field,
            format!("the footer is {n} characters; shorten it to {MAX_FOOTER_CHARS} or fewer"),
        ));
    }
    if footer.contains("{{") {
        out.push(err(field, "the footer may not hold variables; remove the {{…}}"));
    }
}

fn check_label(text: &str, i: usize, out: &mut Vec<DraftError>) {
    let n = chars(text);
    if text.trim().is_empty() {
        out.push(err(DraftField::Button(i), "the button has no label; write one"));
    } else if n > MAX_BUTTON_TEXT_CHARS {
        out.push(err(
            DraftField::Button(i),
            format!(
                "the button's label is {n} characters; shorten it to {MAX_BUTTON_TEXT_CHARS} \
                 or fewer"
            ),
        ));
    }
}

fn check_url(url: &str, example: Option<&str>, i: usize, out: &mut Vec<DraftError>) {
    let field = DraftField::Button(i);
    if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() <= "https://".len()
    {
        out.push(err(field, "the website address must start with https:// (or http://)"));
        return;
    }
    if chars(url) > MAX_URL_CHARS {
        out.push(err(
            field,
            format!("the website address is too long; shorten it to {MAX_URL_CHARS} characters"),
        ));
    }
    let found = occurrences(url);
    if url.matches("{{").count() != found.len() || found.len() > 1 {
        out.push(err(field, "the website address may hold only one variable, written {{1}}"));
        return;
    }
    if let Some((range, name)) = found.first() {
        if range.end != url.len() {
            out.push(err(field, "the website address's variable must come at its very end"));
        } else if *name != "1" {
            out.push(err(field, "write the website address's variable as {{1}}"));
        } else if example.is_none_or(|e| !e.starts_with("http")) {
            out.push(err(
                field,
                "give an example of the whole website address, with the variable filled in",
            ));
        }
    }
}

fn check_buttons(draft: &TemplateDraft, out: &mut Vec<DraftError>) {
    let buttons = &draft.buttons;
    if buttons.len() > MAX_BUTTONS {
        out.push(err(
            DraftField::Buttons,
            format!("there are {} buttons; remove some to keep {MAX_BUTTONS}", buttons.len()),
        ));
    }
    let count = |f: fn(&DraftButton) -> bool| buttons.iter().filter(|b| f(b)).count();
    let kinds = [
        (count(|b| matches!(b, DraftButton::Url { .. })), MAX_URL_BUTTONS, "website buttons"),
        (
            count(|b| matches!(b, DraftButton::PhoneNumber { .. })),
            MAX_PHONE_BUTTONS,
            "call buttons",
        ),
        (
            count(|b| matches!(b, DraftButton::CopyCode { .. })),
            MAX_COPY_CODE_BUTTONS,
            "copy-code buttons",
        ),
    ];
    for (n, max, what) in kinds {
        if n > max {
            out.push(err(
                DraftField::Buttons,
                format!("there are {n} {what}; a template may have {max}, so remove the others"),
            ));
        }
    }
    // The quick replies form one group: once the group ended, another
    // quick reply is out of place.
    let is_qr = |b: &DraftButton| matches!(b, DraftButton::QuickReply { .. });
    if let Some(first) = buttons.iter().position(is_qr) {
        let group_end =
            buttons[first..].iter().position(|b| !is_qr(b)).map_or(buttons.len(), |p| first + p);
        if let Some(stray) = buttons[group_end..].iter().position(is_qr) {
            out.push(err(
                DraftField::Button(group_end + stray),
                "quick replies must be next to each other; move this one beside the other quick \
                 replies",
            ));
        }
    }
    for (i, b) in buttons.iter().enumerate() {
        match b {
            DraftButton::QuickReply { text } => check_label(text, i, out),
            DraftButton::Url { text, url, example } => {
                check_label(text, i, out);
                check_url(url, example.as_deref(), i, out);
            }
            DraftButton::PhoneNumber { text, phone_number } => {
                check_label(text, i, out);
                if !is_e164(phone_number) {
                    out.push(err(
                        DraftField::Button(i),
                        "write the phone number in international form: + then the country code \
                         and number, digits only (e.g. +15551234567)",
                    ));
                }
            }
            DraftButton::CopyCode { example } => {
                let n = chars(example);
                if example.trim().is_empty() || n > MAX_COPY_CODE_CHARS {
                    out.push(err(
                        DraftField::Button(i),
                        format!(
                            "give an example code of 1 to {MAX_COPY_CODE_CHARS} characters for \
                             the copy-code button"
                        ),
                    ));
                }
            }
        }
    }
}

/// An authentication template: Meta writes its text and its one copy-code
/// button, so the draft only sets the options.
fn check_authentication(draft: &TemplateDraft, out: &mut Vec<DraftError>) {
    if draft.header.is_some() {
        out.push(err(DraftField::Header, "an authentication template has no header; remove it"));
    }
    if !draft.body.text.trim().is_empty() {
        out.push(err(
            DraftField::Body,
            "Meta writes an authentication template's text ({{1}} is your verification code.); \
             leave the body empty",
        ));
    }
    if draft.footer.is_some() {
        out.push(err(
            DraftField::Footer,
            "an authentication template's footer is the code's expiry; remove the footer text",
        ));
    }
    if !draft.buttons.is_empty() {
        out.push(err(
            DraftField::Buttons,
            "an authentication template has only Meta's copy-code button; remove the others",
        ));
    }
    let options = draft.authentication.clone().unwrap_or_default();
    if let Some(m) = options.code_expiration_minutes {
        if !(1..=MAX_CODE_EXPIRATION_MINUTES).contains(&m) {
            out.push(err(
                DraftField::Footer,
                format!(
                    "the code's expiry must be 1 to {MAX_CODE_EXPIRATION_MINUTES} minutes, or \
                     none"
                ),
            ));
        }
    }
    let n = chars(&options.button_text);
    if n > MAX_BUTTON_TEXT_CHARS {
        out.push(err(
            DraftField::Button(0),
            format!(
                "the button's label is {n} characters; shorten it to {MAX_BUTTON_TEXT_CHARS} or \
                 fewer"
            ),
        ));
    }
}

/// Every rule `draft` breaks, in the order of the form (name, language,
/// header, body, footer, buttons). Empty when Meta may be asked to review it.
pub fn validate(draft: &TemplateDraft) -> Vec<DraftError> {
    let mut out = Vec::new();
    if draft.name.is_empty() {
        out.push(err(DraftField::Name, "the template needs a name; write one"));
    } else if !valid_template_name(&draft.name) {
        out.push(err(
            DraftField::Name,
            format!(
                "a template name may only hold lowercase letters, digits and underscores (at \
                 most {MAX_NAME_CHARS}); for example order_update"
            ),
        ));
    }
    let lang = &draft.language;
    let lang_ok = (2..=15).contains(&lang.len())
        && lang.chars().all(|c| c.is_ascii_alphabetic() || c == '_')
        && !lang.starts_with('_')
        && !lang.ends_with('_');
    if !lang_ok {
        out.push(err(DraftField::Language, "pick the template's language, like en_US or fr"));
    }
    if draft.category == DraftCategory::Authentication {
        check_authentication(draft, &mut out);
        return out;
    }
    check_header(draft, &mut out);
    check_body(draft, &mut out);
    check_footer(draft, &mut out);
    check_buttons(draft, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> TemplateDraft {
        TemplateDraft {
            name: "order_update".into(),
            language: "en_US".into(),
            category: DraftCategory::Utility,
            parameter_format: ParameterFormat::Positional,
            header: Some(DraftHeader::Text {
                text: "Order {{1}}".into(),
                example: Some("A-7".into()),
            }),
            body: DraftBody {
                text: "Hi {{1}}, your order {{2}} ships today.".into(),
                examples: vec!["Ana".into(), "A-7".into()],
            },
            footer: Some("Reply STOP to opt out".into()),
            buttons: vec![
                DraftButton::QuickReply { text: "Thanks".into() },
                DraftButton::QuickReply { text: "Call me".into() },
                DraftButton::Url {
                    text: "Track".into(),
                    url: "https://shop.example/track/{{1}}".into(),
                    example: Some("https://shop.example/track/A-7".into()),
                },
                DraftButton::PhoneNumber {
                    text: "Call us".into(),
                    phone_number: "+15551234567".into(),
                },
                DraftButton::CopyCode { example: "SAVE10".into() },
            ],
            authentication: None,
            header_handle: None,
        }
    }

    /// The fields `d` is refused on.
    fn fields(d: &TemplateDraft) -> Vec<DraftField> {
        validate(d).into_iter().map(|e| e.field).collect()
    }

    /// `d` breaks exactly one rule, on `field`; its sentence holds `words`.
    fn refused(d: &TemplateDraft, field: DraftField, words: &str) {
        let errors = validate(d);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, field, "{errors:?}");
        assert!(errors[0].message.contains(words), "{:?}", errors[0].message);
    }

    #[test]
    fn a_valid_draft_passes_positional_and_named() {
        assert_eq!(validate(&draft()), vec![]);
        let mut named = draft();
        named.parameter_format = ParameterFormat::Named;
        named.header = Some(DraftHeader::Text {
            text: "Order {{order_id}}".into(),
            example: Some("A".into()),
        });
        named.body.text = "Hi {{customer_name}}, order {{order_id}} for {{customer_name}}.".into();
        assert_eq!(validate(&named), vec![]);
        let mut bare = draft();
        bare.header = None;
        bare.footer = None;
        bare.buttons.clear();
        bare.body = DraftBody { text: "Thanks for your order.".into(), examples: vec![] };
        assert_eq!(validate(&bare), vec![]);
        // A media header needs its uploaded sample.
        bare.header = Some(DraftHeader::Image);
        refused(&bare, DraftField::Header, "choose a sample for the header: a JPEG or PNG");
        bare.header_handle = Some("4::aW1n".into());
        assert_eq!(validate(&bare), vec![]);
        bare.header_handle = None;
        bare.header = None;
        for bad in ["Two\nlines", "*Sale*", "Hello 🎉"] {
            bare.header = Some(DraftHeader::Text { text: bad.into(), example: None });
            assert_eq!(validate(&bare)[0].field, DraftField::Header, "{bad:?}");
        }
    }

    #[test]
    fn an_authentication_template_only_sets_meta_s_options() {
        let mut d = draft();
        d.category = DraftCategory::Authentication;
        assert_eq!(
            fields(&d),
            vec![DraftField::Header, DraftField::Body, DraftField::Footer, DraftField::Buttons]
        );
        d.header = None;
        d.body = DraftBody::default();
        d.footer = None;
        d.buttons.clear();
        assert_eq!(validate(&d), vec![], "Meta's defaults");
        d.authentication = Some(AuthenticationOptions {
            add_security_recommendation: false,
            code_expiration_minutes: Some(91),
            button_text: "c".repeat(26),
        });
        assert_eq!(fields(&d), vec![DraftField::Footer, DraftField::Button(0)]);
        d.authentication = Some(AuthenticationOptions {
            code_expiration_minutes: None,
            button_text: String::new(),
            ..AuthenticationOptions::default()
        });
        assert_eq!(validate(&d), vec![]);
        assert_eq!(
            authentication_body(true),
            "{{1}} is your verification code. For your security, do not share this code."
        );
        assert_eq!(authentication_footer(5), "This code expires in 5 minutes.");
    }

    #[test]
    fn a_header_sample_has_meta_s_types_and_sizes() {
        let image = DraftHeader::Image;
        assert_eq!(check_header_sample(&image, "image/png", 10), Ok(()));
        assert_eq!(check_header_sample(&image, "IMAGE/JPEG; x=1", 10), Ok(()));
        assert!(check_header_sample(&image, "image/webp", 10).unwrap_err().contains("JPEG or PNG"));
        assert!(check_header_sample(&image, "image/png", 0).unwrap_err().contains("empty"));
        let big = check_header_sample(&image, "image/png", 6 * 1_048_576).unwrap_err();
        assert!(big.contains("6.0 MB") && big.contains("at most 5 MB"), "{big}");
        assert_eq!(check_header_sample(&DraftHeader::Video, "video/mp4", 10), Ok(()));
        assert_eq!(check_header_sample(&DraftHeader::Document, "application/pdf", 10), Ok(()));
        assert!(check_header_sample(&DraftHeader::Document, "text/plain", 10).is_err());
        assert_eq!(header_of_sample("application/pdf"), Some(DraftHeader::Document));
        assert_eq!(header_of_sample("text/plain"), None);
    }

    #[test]
    fn names_are_lowercase_letters_digits_and_underscores() {
        for bad in ["Order", "order update", "order-update", "ordré", ""] {
            let mut d = draft();
            d.name = bad.into();
            assert_eq!(fields(&d), vec![DraftField::Name], "{bad}");
        }
        let mut d = draft();
        d.name = "a".repeat(MAX_NAME_CHARS + 1);
        refused(&d, DraftField::Name, "lowercase letters, digits and underscores");
        assert!(valid_template_name("spring_sale_2"));
    }

    #[test]
    fn the_language_is_a_code() {
        for bad in ["", "e", "en US", "_en"] {
            let mut d = draft();
            d.language = bad.into();
            refused(&d, DraftField::Language, "language");
        }
    }

    #[test]
    fn the_body_is_1_to_1024_characters() {
        let mut d = draft();
        d.body = DraftBody { text: "  ".into(), examples: vec![] };
        refused(&d, DraftField::Body, "empty");
        d.body.text = "é".repeat(MAX_BODY_CHARS);
        assert_eq!(validate(&d), vec![]);
        d.body.text.push('.');
        refused(&d, DraftField::Body, "1025 characters");
    }

    #[test]
    fn header_and_footer_are_at_most_60_and_button_labels_25() {
        let mut d = draft();
        d.header = Some(DraftHeader::Text { text: "h".repeat(61), example: None });
        refused(&d, DraftField::Header, "61 characters");
        let mut d = draft();
        d.footer = Some("f".repeat(61));
        refused(&d, DraftField::Footer, "61 characters");
        d.footer = Some("f".repeat(60));
        assert_eq!(validate(&d), vec![]);
        let mut d = draft();
        d.buttons[1] = DraftButton::QuickReply { text: "b".repeat(26) };
        refused(&d, DraftField::Button(1), "26 characters");
        d.buttons[1] = DraftButton::QuickReply { text: " ".into() };
        refused(&d, DraftField::Button(1), "no label");
    }

    #[test]
    fn at_most_10_buttons_2_websites_1_call_1_copy_code() {
        let mut d = draft();
        d.buttons = (0..11).map(|i| DraftButton::QuickReply { text: format!("r{i}") }).collect();
        refused(&d, DraftField::Buttons, "11 buttons");
        let url = DraftButton::Url {
            text: "Site".into(),
            url: "https://shop.example".into(),
            example: None,
        };
        let mut d = draft();
        d.buttons.push(url.clone());
        d.buttons.push(url);
        refused(&d, DraftField::Buttons, "3 website buttons");
        let mut d = draft();
        d.buttons.push(DraftButton::PhoneNumber {
            text: "Other".into(),
            phone_number: "+4930123456".into(),
        });
        refused(&d, DraftField::Buttons, "2 call buttons");
        let mut d = draft();
        d.buttons.push(DraftButton::CopyCode { example: "X".into() });
        refused(&d, DraftField::Buttons, "2 copy-code buttons");
    }

    #[test]
    fn quick_replies_are_grouped_together() {
        let mut d = draft();
        // Thanks, Call me, Track, Call us, SAVE10, then another quick reply.
        d.buttons.push(DraftButton::QuickReply { text: "Later".into() });
        refused(&d, DraftField::Button(5), "next to each other");
        // All at the end is fine too.
        let mut d = draft();
        d.buttons.rotate_left(2);
        assert_eq!(validate(&d), vec![]);
    }

    #[test]
    fn positional_variables_are_numbered_from_1_without_gaps() {
        let mut d = draft();
        d.body.text = "Hi {{1}}, order {{3}} ships.".into();
        refused(&d, DraftField::Body, "{{2}} is missing");
        d.body.text = "Hi {{2}}, order {{3}} ships.".into();
        refused(&d, DraftField::Body, "{{1}} is missing");
        d.body.text = "Hi {{name}}, order {{2}} ships.".into();
        refused(&d, DraftField::Body, "named variable {{name}}");
        d.body.text = "Hi {{ Name }}, order ships.".into();
        refused(&d, DraftField::Body, "not a variable");
        // Repeating one is fine.
        d.body.text = "Hi {{1}}, order {{2}} for {{1}}.".into();
        assert_eq!(validate(&d), vec![]);
    }

    #[test]
    fn named_variables_are_lowercase_names() {
        let mut d = draft();
        d.parameter_format = ParameterFormat::Named;
        d.header = None;
        d.body.text = "Hi {{customer_name}}, order {{1}} ships.".into();
        refused(&d, DraftField::Body, "{{1}} is not a name");
        d.body.text = "Hi {{_name}}, order {{id}} ships.".into();
        refused(&d, DraftField::Body, "{{_name}} is not a name");
    }

    #[test]
    fn the_body_neither_starts_nor_ends_with_a_variable() {
        let mut d = draft();
        d.body.text = " {{1}}, your order {{2}} ships today.".into();
        refused(&d, DraftField::Body, "start with a variable");
        d.body.text = "Hi {{1}}, your order is {{2}}\n".into();
        refused(&d, DraftField::Body, "end with a variable");
    }

    #[test]
    fn every_variable_has_an_example() {
        let mut d = draft();
        d.body.examples.pop();
        refused(&d, DraftField::Body, "2 variables and each needs an example");
        let mut d = draft();
        d.body.examples[0] = " ".into();
        refused(&d, DraftField::Body, "each needs an example");
        let mut d = draft();
        d.body = DraftBody { text: "No variables here.".into(), examples: vec!["x".into()] };
        refused(&d, DraftField::Body, "0 variables");
        let mut d = draft();
        d.header = Some(DraftHeader::Text { text: "Order {{1}}".into(), example: None });
        refused(&d, DraftField::Header, "example for the header");
    }

    #[test]
    fn the_header_holds_at_most_one_variable_and_the_footer_none() {
        let mut d = draft();
        d.header =
            Some(DraftHeader::Text { text: "{{1}} and {{2}}".into(), example: Some("x".into()) });
        refused(&d, DraftField::Header, "only one variable");
        d.header =
            Some(DraftHeader::Text { text: "{{1}} and {{1}}".into(), example: Some("x".into()) });
        refused(&d, DraftField::Header, "only one variable");
        d.header =
            Some(DraftHeader::Text { text: "Order {{2}}".into(), example: Some("x".into()) });
        refused(&d, DraftField::Header, "{{1}} is missing");
        d.header = Some(DraftHeader::Text { text: " ".into(), example: None });
        refused(&d, DraftField::Header, "header is empty");
        let mut d = draft();
        d.footer = Some("Sent to {{1}}".into());
        refused(&d, DraftField::Footer, "may not hold variables");
    }

    #[test]
    fn a_website_has_one_variable_at_its_end_with_an_example() {
        let with = |url: &str, example: Option<&str>| {
            let mut d = draft();
            d.buttons[2] = DraftButton::Url {
                text: "Track".into(),
                url: url.into(),
                example: example.map(str::to_owned),
            };
            d
        };
        assert_eq!(validate(&with("https://shop.example/track", None)), vec![]);
        let b = DraftField::Button(2);
        refused(&with("shop.example/{{1}}", Some("https://x")), b, "start with https://");
        refused(&with("https://s.example/{{1}}/x", Some("https://x")), b, "very end");
        refused(&with("https://s.example/{{1}}{{2}}", Some("https://x")), b, "only one variable");
        refused(&with("https://s.example/{{2}}", Some("https://x")), b, "as {{1}}");
        refused(&with("https://s.example/{{1}}", None), b, "example of the whole website");
    }

    #[test]
    fn the_phone_number_is_e164_and_a_copy_code_has_an_example() {
        for bad in ["15551234567", "+1 555 123 4567", "+0555123456", "+1234", "+1234567890123456"] {
            let mut d = draft();
            d.buttons[3] =
                DraftButton::PhoneNumber { text: "Call".into(), phone_number: bad.into() };
            refused(&d, DraftField::Button(3), "international form");
        }
        let mut d = draft();
        d.buttons[4] = DraftButton::CopyCode { example: String::new() };
        refused(&d, DraftField::Button(4), "example code");
        d.buttons[4] = DraftButton::CopyCode { example: "X".repeat(16) };
        refused(&d, DraftField::Button(4), "example code");
    }

    #[test]
    fn a_draft_round_trips_as_json() {
        let d = draft();
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<TemplateDraft>(&json).unwrap(), d);
        let e = serde_json::to_value(err(DraftField::Button(2), "x")).unwrap();
        assert_eq!(e["field"], serde_json::json!({"field": "button", "index": 2}));
    }
}
