//! The Templates screen's state: the account's templates with their status,
//! quality and rejection reason, and the builder's form (its values, which
//! fields the agent touched, the refusals of
//! `parley_types::template_builder::validate` on those fields, the live
//! preview and the draft it submits). The rules are the types crate's, the
//! same the core checks again; nothing here decides what Meta accepts.

use std::collections::BTreeMap;

use parley_types::template::{self, TemplateParam, TemplateSummary};
use parley_types::template_builder::{
    authentication_body, authentication_footer, check_header_sample, header_sample_rule, validate,
    AuthenticationOptions, DraftBody, DraftButton, DraftCategory, DraftError, DraftField,
    DraftHeader, ParameterFormat, TemplateDraft,
};

use crate::template_picker::{sentence, Preview};

/// Shown when the account has no template at all.
pub const NO_TEMPLATES: &str =
    "This WhatsApp account has no template yet. Press New template to write one.";

/// The status badge: words and the class that colours it.
pub fn status_badge(status: &str) -> (String, &'static str) {
    let class = match status {
        "APPROVED" => "approved",
        "PENDING" | "IN_APPEAL" | "PENDING_DELETION" => "pending",
        "REJECTED" | "DISABLED" => "rejected",
        "PAUSED" | "LIMIT_EXCEEDED" => "paused",
        _ => "other",
    };
    (capitalise(&status.replace('_', " ").to_lowercase()), class)
}

/// Meta's quality score in words, or `None` before Meta scored it.
pub fn quality_words(quality: Option<&str>) -> Option<&'static str> {
    Some(match quality? {
        "GREEN" => "High quality",
        "YELLOW" => "Medium quality",
        "RED" => "Low quality",
        "UNKNOWN" => "Quality pending",
        _ => return None,
    })
}

/// Why Meta rejected a template, as a sentence with what to do.
pub fn rejection_words(reason: &str) -> String {
    let why = match reason {
        "INVALID_FORMAT" => "its format is invalid",
        "ABUSIVE_CONTENT" => "Meta judged its content abusive",
        "INCORRECT_CATEGORY" => "its category does not match its content",
        "TAG_CONTENT_MISMATCH" => "its content does not match its category",
        "SCAM" => "Meta judged it a scam",
        "PROMOTIONAL" => "it is promotional but not a marketing template",
        _ => "of Meta's review",
    };
    format!(
        "Rejected because {why}. Meta's reason: {reason}. Change it and submit it under a new \
         name, or appeal in WhatsApp Manager."
    )
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// The header choice of the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeaderKind {
    #[default]
    None,
    Text,
    Image,
    Video,
    Document,
}

impl HeaderKind {
    pub const ALL: [HeaderKind; 5] = [
        HeaderKind::None,
        HeaderKind::Text,
        HeaderKind::Image,
        HeaderKind::Video,
        HeaderKind::Document,
    ];

    pub fn key(self) -> &'static str {
        match self {
            HeaderKind::None => "none",
            HeaderKind::Text => "text",
            HeaderKind::Image => "image",
            HeaderKind::Video => "video",
            HeaderKind::Document => "document",
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            HeaderKind::None => "No header",
            HeaderKind::Text => "Text",
            HeaderKind::Image => "Image",
            HeaderKind::Video => "Video",
            HeaderKind::Document => "Document",
        }
    }

    pub fn parse(key: &str) -> Self {
        Self::ALL.into_iter().find(|k| k.key() == key).unwrap_or_default()
    }
}

/// One button as the form holds it (every kind's inputs, so switching the
/// kind back keeps what was typed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FormButton {
    pub kind: ButtonKind,
    pub text: String,
    pub url: String,
    pub url_example: String,
    pub phone_number: String,
    pub code_example: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ButtonKind {
    #[default]
    QuickReply,
    Url,
    PhoneNumber,
    CopyCode,
}

impl ButtonKind {
    pub const ALL: [ButtonKind; 4] =
        [ButtonKind::QuickReply, ButtonKind::Url, ButtonKind::PhoneNumber, ButtonKind::CopyCode];

    pub fn key(self) -> &'static str {
        match self {
            ButtonKind::QuickReply => "quick_reply",
            ButtonKind::Url => "url",
            ButtonKind::PhoneNumber => "phone_number",
            ButtonKind::CopyCode => "copy_code",
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            ButtonKind::QuickReply => "Quick reply",
            ButtonKind::Url => "Visit website",
            ButtonKind::PhoneNumber => "Call phone number",
            ButtonKind::CopyCode => "Copy offer code",
        }
    }

    pub fn parse(key: &str) -> Self {
        Self::ALL.into_iter().find(|k| k.key() == key).unwrap_or_default()
    }
}

impl FormButton {
    fn draft(&self) -> DraftButton {
        match self.kind {
            ButtonKind::QuickReply => DraftButton::QuickReply { text: self.text.clone() },
            ButtonKind::Url => DraftButton::Url {
                text: self.text.clone(),
                url: self.url.trim().to_owned(),
                example: Some(self.url_example.trim().to_owned()).filter(|e| !e.is_empty()),
            },
            ButtonKind::PhoneNumber => DraftButton::PhoneNumber {
                text: self.text.clone(),
                phone_number: self.phone_number.trim().to_owned(),
            },
            ButtonKind::CopyCode => {
                DraftButton::CopyCode { example: self.code_example.trim().to_owned() }
            }
        }
    }

    fn from_draft(b: &DraftButton) -> Self {
        match b {
            DraftButton::QuickReply { text } => {
                FormButton { text: text.clone(), ..Self::default() }
            }
            DraftButton::Url { text, url, example } => FormButton {
                kind: ButtonKind::Url,
                text: text.clone(),
                url: url.clone(),
                url_example: example.clone().unwrap_or_default(),
                ..Self::default()
            },
            DraftButton::PhoneNumber { text, phone_number } => FormButton {
                kind: ButtonKind::PhoneNumber,
                text: text.clone(),
                phone_number: phone_number.clone(),
                ..Self::default()
            },
            DraftButton::CopyCode { example } => FormButton {
                kind: ButtonKind::CopyCode,
                code_example: example.clone(),
                ..Self::default()
            },
        }
    }

    /// The preview's label for it.
    fn label(&self) -> String {
        match self.kind {
            ButtonKind::CopyCode => "Copy offer code".to_owned(),
            _ => self.text.clone(),
        }
    }
}

/// One edit of the form.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    Name(String),
    Language(String),
    Category(DraftCategory),
    Format(ParameterFormat),
    HeaderKind(HeaderKind),
    HeaderText(String),
    HeaderExample(String),
    Body(String),
    /// The example of the body's variable of this name.
    BodyExample(String, String),
    Footer(String),
    AddButton(ButtonKind),
    RemoveButton(usize),
    /// Move a button one place up (`-1`) or down (`1`).
    MoveButton(usize, isize),
    ButtonKind(usize, ButtonKind),
    ButtonText(usize, String),
    ButtonUrl(usize, String),
    ButtonUrlExample(usize, String),
    ButtonPhone(usize, String),
    ButtonCode(usize, String),
    /// Authentication: add "For your security, do not share this code."
    AuthSecurity(bool),
    /// Authentication: the code's expiry in minutes (empty: none).
    AuthExpiry(String),
    /// Authentication: the copy-code button's label.
    AuthButton(String),
    /// A media header's sample is being uploaded (its file name).
    SampleUploading(String),
    /// Meta took the sample: its file name and handle.
    SampleUploaded(String, String),
    /// The sample was refused (a sentence).
    SampleFailed(String),
}

/// A media header's sample as the form holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sample {
    Uploading(String),
    Uploaded { file_name: String, handle: String },
    Failed(String),
}

/// The example code an authentication template's preview shows.
pub const EXAMPLE_CODE: &str = "123456";

/// The builder's form.
#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    pub name: String,
    pub language: String,
    pub category: DraftCategory,
    pub parameter_format: ParameterFormat,
    pub header_kind: HeaderKind,
    pub header_text: String,
    pub header_example: String,
    pub body: String,
    /// Examples by variable name, kept while the body is rewritten.
    pub examples: BTreeMap<String, String>,
    pub footer: String,
    pub buttons: Vec<FormButton>,
    /// Fields the agent edited: only their refusals show (a fresh form is
    /// not a wall of red), and Submit stays disabled while any field is
    /// refused, touched or not.
    pub touched: Vec<DraftField>,
    /// Opened to duplicate a template: says so in the heading.
    pub duplicate_of: Option<String>,
    /// Authentication templates: Meta's options instead of texts.
    pub auth_security: bool,
    pub auth_expiry: String,
    pub auth_button: String,
    /// The media header's sample, once one was chosen.
    pub sample: Option<Sample>,
}

impl Default for Form {
    fn default() -> Self {
        Form {
            name: String::new(),
            language: "en_US".into(),
            category: DraftCategory::Utility,
            parameter_format: ParameterFormat::Positional,
            header_kind: HeaderKind::None,
            header_text: String::new(),
            header_example: String::new(),
            body: String::new(),
            examples: BTreeMap::new(),
            footer: String::new(),
            buttons: Vec::new(),
            touched: Vec::new(),
            duplicate_of: None,
            auth_security: true,
            auth_expiry: "10".into(),
            auth_button: "Copy code".into(),
            sample: None,
        }
    }
}

/// What the form says about one field.
fn field_of_edit(edit: &Edit) -> DraftField {
    match edit {
        Edit::Name(_) => DraftField::Name,
        Edit::Language(_) => DraftField::Language,
        Edit::Category(_) => DraftField::Category,
        // The variables' kind changes how header and body read.
        Edit::Format(_) | Edit::Body(_) | Edit::BodyExample(..) => DraftField::Body,
        Edit::HeaderKind(_)
        | Edit::HeaderText(_)
        | Edit::HeaderExample(_)
        | Edit::SampleUploading(_)
        | Edit::SampleUploaded(..)
        | Edit::SampleFailed(_) => DraftField::Header,
        Edit::Footer(_) | Edit::AuthExpiry(_) => DraftField::Footer,
        Edit::AuthSecurity(_) => DraftField::Body,
        Edit::AuthButton(_) => DraftField::Button(0),
        Edit::AddButton(_) | Edit::RemoveButton(_) | Edit::MoveButton(..) => DraftField::Buttons,
        Edit::ButtonKind(i, _)
        | Edit::ButtonText(i, _)
        | Edit::ButtonUrl(i, _)
        | Edit::ButtonUrlExample(i, _)
        | Edit::ButtonPhone(i, _)
        | Edit::ButtonCode(i, _) => DraftField::Button(*i),
    }
}

impl Form {
    /// A form holding a draft (a duplicate to translate), every field
    /// touched so what no longer fits shows at once.
    pub fn from_draft(draft: &TemplateDraft, duplicate_of: Option<String>) -> Self {
        let (header_kind, header_text, header_example) = match &draft.header {
            None => (HeaderKind::None, String::new(), String::new()),
            Some(DraftHeader::Text { text, example }) => {
                (HeaderKind::Text, text.clone(), example.clone().unwrap_or_default())
            }
            Some(DraftHeader::Image) => (HeaderKind::Image, String::new(), String::new()),
            Some(DraftHeader::Video) => (HeaderKind::Video, String::new(), String::new()),
            Some(DraftHeader::Document) => (HeaderKind::Document, String::new(), String::new()),
        };
        let examples = template::variables(&draft.body.text)
            .into_iter()
            .zip(draft.body.examples.iter().cloned())
            .collect();
        let mut form = Form {
            name: draft.name.clone(),
            language: draft.language.clone(),
            category: draft.category,
            parameter_format: draft.parameter_format,
            header_kind,
            header_text,
            header_example,
            body: draft.body.text.clone(),
            examples,
            footer: draft.footer.clone().unwrap_or_default(),
            buttons: draft.buttons.iter().map(FormButton::from_draft).collect(),
            touched: Vec::new(),
            duplicate_of,
            ..Form::default()
        };
        // A copy needs its sample uploaded again: Meta's handles are single-use.
        if let Some(a) = &draft.authentication {
            form.auth_security = a.add_security_recommendation;
            form.auth_expiry = a.code_expiration_minutes.map(|m| m.to_string()).unwrap_or_default();
            form.auth_button = a.button_text.clone();
        }
        form.touch_all();
        form
    }

    fn touch_all(&mut self) {
        self.touched = vec![
            DraftField::Name,
            DraftField::Language,
            DraftField::Category,
            DraftField::Header,
            DraftField::Body,
            DraftField::Footer,
            DraftField::Buttons,
        ];
        self.touched.extend((0..self.buttons.len()).map(DraftField::Button));
    }

    fn touch(&mut self, field: DraftField) {
        if !self.touched.contains(&field) {
            self.touched.push(field);
        }
    }

    pub fn apply(&mut self, edit: Edit) {
        let field = field_of_edit(&edit);
        match edit {
            Edit::Name(v) => self.name = v,
            Edit::Language(v) => self.language = v,
            Edit::Category(v) => self.category = v,
            Edit::Format(v) => self.parameter_format = v,
            Edit::HeaderKind(v) => {
                if v != self.header_kind {
                    // Another kind needs another sample.
                    self.sample = None;
                }
                self.header_kind = v;
            }
            Edit::SampleUploading(name) => self.sample = Some(Sample::Uploading(name)),
            Edit::SampleUploaded(file_name, handle) => {
                self.sample = Some(Sample::Uploaded { file_name, handle })
            }
            Edit::SampleFailed(why) => self.sample = Some(Sample::Failed(sentence(&why))),
            Edit::HeaderText(v) => self.header_text = v,
            Edit::HeaderExample(v) => self.header_example = v,
            Edit::Body(v) => self.body = v,
            Edit::BodyExample(name, v) => {
                self.examples.insert(name, v);
            }
            Edit::Footer(v) => self.footer = v,
            Edit::AddButton(kind) => {
                self.buttons.push(FormButton { kind, ..FormButton::default() });
            }
            Edit::RemoveButton(i) => {
                if i < self.buttons.len() {
                    self.buttons.remove(i);
                }
            }
            Edit::MoveButton(i, by) => {
                let to = i as isize + by;
                if i < self.buttons.len() && to >= 0 && (to as usize) < self.buttons.len() {
                    self.buttons.swap(i, to as usize);
                }
            }
            Edit::ButtonKind(i, kind) => self.button(i, |b| b.kind = kind),
            Edit::ButtonText(i, v) => self.button(i, |b| b.text = v),
            Edit::ButtonUrl(i, v) => self.button(i, |b| b.url = v),
            Edit::ButtonUrlExample(i, v) => self.button(i, |b| b.url_example = v),
            Edit::ButtonPhone(i, v) => self.button(i, |b| b.phone_number = v),
            Edit::ButtonCode(i, v) => self.button(i, |b| b.code_example = v),
            Edit::AuthSecurity(v) => self.auth_security = v,
            Edit::AuthExpiry(v) => self.auth_expiry = v,
            Edit::AuthButton(v) => self.auth_button = v,
        }
        self.touch(field);
        if field == DraftField::Body {
            // Switching numbered and named variables changes the header too.
            self.touch(DraftField::Header);
        }
        if field == DraftField::Buttons {
            // Buttons moved: a refusal follows its button to its new place.
            for i in 0..self.buttons.len() {
                if self.touched.contains(&DraftField::Button(i)) {
                    continue;
                }
                self.touched.push(DraftField::Button(i));
            }
        }
    }

    fn button(&mut self, i: usize, f: impl FnOnce(&mut FormButton)) {
        if let Some(b) = self.buttons.get_mut(i) {
            f(b);
        }
    }

    /// The body's variables in the order they are sent.
    pub fn body_variables(&self) -> Vec<String> {
        template::variables(&self.body)
    }

    pub fn is_authentication(&self) -> bool {
        self.category == DraftCategory::Authentication
    }

    /// The authentication options typed (an expiry that is not a number
    /// reads as 0, which the rules refuse).
    fn authentication(&self) -> AuthenticationOptions {
        let expiry = self.auth_expiry.trim();
        AuthenticationOptions {
            add_security_recommendation: self.auth_security,
            code_expiration_minutes: (!expiry.is_empty())
                .then(|| expiry.parse::<u32>().unwrap_or(0)),
            button_text: self.auth_button.trim().to_owned(),
        }
    }

    /// The draft the form holds (what is checked and submitted). An
    /// authentication template keeps only its options: the texts typed
    /// for another category stay in the form, not in the draft.
    pub fn draft(&self) -> TemplateDraft {
        if self.is_authentication() {
            return TemplateDraft {
                name: self.name.trim().to_owned(),
                language: self.language.trim().to_owned(),
                category: self.category,
                parameter_format: ParameterFormat::Positional,
                header: None,
                body: DraftBody::default(),
                footer: None,
                buttons: Vec::new(),
                authentication: Some(self.authentication()),
                header_handle: None,
            };
        }
        let header = match self.header_kind {
            HeaderKind::None => None,
            HeaderKind::Text => Some(DraftHeader::Text {
                text: self.header_text.clone(),
                example: Some(self.header_example.trim().to_owned())
                    .filter(|e| !e.is_empty() && self.header_text.contains("{{")),
            }),
            HeaderKind::Image => Some(DraftHeader::Image),
            HeaderKind::Video => Some(DraftHeader::Video),
            HeaderKind::Document => Some(DraftHeader::Document),
        };
        TemplateDraft {
            name: self.name.trim().to_owned(),
            language: self.language.trim().to_owned(),
            category: self.category,
            parameter_format: self.parameter_format,
            header,
            body: DraftBody {
                text: self.body.clone(),
                examples: self
                    .body_variables()
                    .iter()
                    .map(|n| self.examples.get(n).map(|e| e.trim().to_owned()).unwrap_or_default())
                    .collect(),
            },
            footer: Some(self.footer.clone()).filter(|f| !f.is_empty()),
            buttons: self.buttons.iter().map(FormButton::draft).collect(),
            authentication: None,
            header_handle: match (&self.sample, self.header_kind) {
                (_, HeaderKind::None | HeaderKind::Text) => None,
                (Some(Sample::Uploaded { handle, .. }), _) => Some(handle.clone()),
                _ => None,
            },
        }
    }

    /// The header the draft has, for checking a chosen sample.
    pub fn media_header(&self) -> Option<DraftHeader> {
        match self.header_kind {
            HeaderKind::Image => Some(DraftHeader::Image),
            HeaderKind::Video => Some(DraftHeader::Video),
            HeaderKind::Document => Some(DraftHeader::Document),
            _ => None,
        }
    }

    /// Why a picked file cannot be this header's sample (a sentence), if
    /// it cannot: checked before the file is read.
    pub fn sample_refusal(&self, mime_type: &str, size: u64) -> Option<String> {
        let header = self.media_header()?;
        check_header_sample(&header, mime_type, size).err().map(|e| sentence(&e))
    }

    /// The file types the picker offers for this header.
    pub fn sample_accept(&self) -> String {
        self.media_header()
            .and_then(|h| header_sample_rule(&h))
            .map(|(_, types, _)| types.join(","))
            .unwrap_or_default()
    }

    /// Every rule the draft breaks.
    pub fn errors(&self) -> Vec<DraftError> {
        validate(&self.draft())
    }

    /// The refusals of `field` (as sentences), if the agent touched it.
    pub fn field_errors(&self, field: DraftField) -> Vec<String> {
        if !self.touched.contains(&field) {
            return Vec::new();
        }
        self.errors()
            .into_iter()
            .filter(|e| e.field == field)
            .map(|e| sentence(&e.message))
            .collect()
    }

    /// Submit is enabled only for a draft that breaks no rule.
    pub fn can_submit(&self) -> bool {
        self.errors().is_empty()
    }

    /// What still blocks Submit among the fields the agent has not touched
    /// yet, in words ("Name, Body").
    pub fn untouched_problems(&self) -> Option<String> {
        let mut names: Vec<&'static str> = Vec::new();
        for e in self.errors() {
            if self.touched.contains(&e.field) {
                continue;
            }
            let name = match e.field {
                DraftField::Name => "Name",
                DraftField::Language => "Language",
                DraftField::Category => "Category",
                DraftField::Header => "Header",
                DraftField::Body => "Body",
                DraftField::Footer => "Footer",
                DraftField::Buttons | DraftField::Button(_) => "Buttons",
            };
            if !names.contains(&name) {
                names.push(name);
            }
        }
        (!names.is_empty()).then(|| format!("Still to fill in: {}.", names.join(", ")))
    }

    /// The message as the customer would see it, the examples filled in
    /// (a variable without an example shows as written).
    pub fn preview(&self) -> Preview {
        if self.is_authentication() {
            let a = self.authentication();
            let label = Some(a.button_text).filter(|b| !b.is_empty());
            return Preview {
                header: None,
                body: authentication_body(a.add_security_recommendation)
                    .replace("{{1}}", EXAMPLE_CODE),
                footer: a.code_expiration_minutes.filter(|m| *m > 0).map(authentication_footer),
                buttons: vec![label.unwrap_or_else(|| "Copy code".to_owned())],
            };
        }
        let vars = self.body_variables();
        let params: Vec<TemplateParam> =
            vars.iter().map(|n| TemplateParam { name: n.clone(), example: None }).collect();
        let values: Vec<String> =
            vars.iter().map(|n| self.examples.get(n).cloned().unwrap_or_default()).collect();
        let header = match self.header_kind {
            HeaderKind::None => None,
            HeaderKind::Text => {
                let hv = template::variables(&self.header_text);
                let hp: Vec<TemplateParam> =
                    hv.iter().map(|n| TemplateParam { name: n.clone(), example: None }).collect();
                Some(template::render(
                    &self.header_text,
                    &hp,
                    std::slice::from_ref(&self.header_example),
                ))
                .filter(|h| !h.trim().is_empty())
            }
            other => Some(match &self.sample {
                Some(Sample::Uploaded { file_name, .. }) => {
                    format!("[{}: {file_name}]", other.words().to_lowercase())
                }
                _ => format!("[{}]", other.words().to_lowercase()),
            }),
        };
        Preview {
            header,
            body: template::render(&self.body, &params, &values),
            footer: Some(self.footer.clone()).filter(|f| !f.trim().is_empty()),
            buttons: self.buttons.iter().map(FormButton::label).collect(),
        }
    }
}

/// The screen: the list, or the builder, plus the pending confirmations.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Manager {
    pub templates: Vec<TemplateSummary>,
    pub loading: bool,
    /// A sentence for the agent (a failed load, refresh, delete, submit).
    pub error: Option<String>,
    /// The builder, when open.
    pub form: Option<Form>,
    /// Submitting the form.
    pub submitting: bool,
    /// Asking "Delete this template?" for this name.
    pub confirm_delete: Option<String>,
    /// Asking the new language for a duplicate of (name, language).
    pub duplicating: Option<(String, String)>,
    /// The language typed for the duplicate.
    pub duplicate_language: String,
}

impl Manager {
    /// Templates by name then language.
    pub fn set_templates(&mut self, mut list: Vec<TemplateSummary>) {
        list.sort_by(|a, b| (&a.name, &a.language).cmp(&(&b.name, &b.language)));
        self.templates = list;
        self.loading = false;
    }

    pub fn empty_message(&self) -> Option<&'static str> {
        (!self.loading && self.templates.is_empty()).then_some(NO_TEMPLATES)
    }

    pub fn new_template(&mut self) {
        self.form = Some(Form::default());
        self.error = None;
        self.confirm_delete = None;
        self.duplicating = None;
    }

    pub fn close_builder(&mut self) {
        self.form = None;
        self.submitting = false;
    }

    pub fn edit(&mut self, edit: Edit) {
        if let Some(form) = self.form.as_mut() {
            form.apply(edit);
        }
    }

    /// The draft to submit, when the form is valid and nothing is running.
    pub fn submission(&self) -> Option<TemplateDraft> {
        let form = self.form.as_ref()?;
        (!self.submitting && form.can_submit()).then(|| form.draft())
    }

    /// Meta took the template: back to the list, which shows it (PENDING).
    pub fn submitted(&mut self, created: TemplateSummary) {
        self.submitting = false;
        self.form = None;
        self.error = None;
        self.templates.retain(|t| !(t.name == created.name && t.language == created.language));
        self.templates.push(created);
        let list = std::mem::take(&mut self.templates);
        self.set_templates(list);
    }

    pub fn failed(&mut self, message: String) {
        self.loading = false;
        self.submitting = false;
        self.error = Some(sentence(&message));
    }

    pub fn ask_delete(&mut self, name: &str) {
        self.confirm_delete = Some(name.to_owned());
        self.duplicating = None;
    }

    /// The template is gone at Meta: every language of it goes here too.
    pub fn deleted(&mut self, name: &str) {
        self.templates.retain(|t| t.name != name);
        self.confirm_delete = None;
        self.error = None;
    }

    pub fn ask_duplicate(&mut self, name: &str, language: &str) {
        self.duplicating = Some((name.to_owned(), language.to_owned()));
        self.duplicate_language.clear();
        self.confirm_delete = None;
    }

    /// The language the duplicate goes to, when it is worth asking the
    /// core: not empty, not the same language, not one it already has.
    pub fn duplicate_request(&self) -> Result<(String, String, String), String> {
        let (name, from) = self.duplicating.clone().ok_or_else(String::new)?;
        let to = self.duplicate_language.trim().to_owned();
        if to.is_empty() {
            return Err("Type the new language, like fr or pt_BR.".into());
        }
        if self.templates.iter().any(|t| t.name == name && t.language == to) {
            return Err(format!("{name} already exists in {to}; pick another language."));
        }
        Ok((name, from, to))
    }

    /// The core's copy arrived: the builder opens with it.
    pub fn duplicated(&mut self, draft: &TemplateDraft) {
        let of = self.duplicating.take().map(|(n, l)| format!("{n} ({l})"));
        self.form = Some(Form::from_draft(draft, of));
        self.error = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(form: &mut Form, edits: Vec<Edit>) {
        for e in edits {
            form.apply(e);
        }
    }

    fn valid_form() -> Form {
        let mut f = Form::default();
        typed(
            &mut f,
            vec![
                Edit::Name("order_ready".into()),
                Edit::Body("Hi {{1}}, your order is ready.".into()),
                Edit::BodyExample("1".into(), "Ana".into()),
                Edit::Footer("Sandbox Shop".into()),
                Edit::AddButton(ButtonKind::QuickReply),
                Edit::ButtonText(0, "Thanks".into()),
            ],
        );
        f
    }

    #[test]
    fn a_fresh_form_shows_no_errors_but_cannot_be_submitted() {
        let f = Form::default();
        assert!(f.field_errors(DraftField::Name).is_empty());
        assert!(f.field_errors(DraftField::Body).is_empty());
        assert!(!f.can_submit());
        assert_eq!(f.untouched_problems().as_deref(), Some("Still to fill in: Name, Body."));
    }

    #[test]
    fn a_typed_form_becomes_the_draft_and_can_be_submitted() {
        let f = valid_form();
        assert_eq!(f.errors(), vec![]);
        assert!(f.can_submit());
        let d = f.draft();
        assert_eq!(d.body.examples, vec!["Ana".to_owned()]);
        assert_eq!(d.footer.as_deref(), Some("Sandbox Shop"));
        assert_eq!(d.buttons, vec![DraftButton::QuickReply { text: "Thanks".into() }]);
        assert_eq!(d.header, None);
        assert_eq!(f.untouched_problems(), None);
    }

    #[test]
    fn errors_show_on_their_field_as_the_agent_types() {
        let mut f = valid_form();
        f.apply(Edit::ButtonText(0, "x".repeat(26)));
        let errors = f.field_errors(DraftField::Button(0));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("The button's label is 26 characters"), "{errors:?}");
        assert!(f.field_errors(DraftField::Body).is_empty());
        assert!(!f.can_submit());
        f.apply(Edit::ButtonText(0, "Thanks".into()));
        assert!(f.can_submit());
        f.apply(Edit::Body("Hi {{1}}, order {{3}} is ready.".into()));
        assert!(f.field_errors(DraftField::Body)[0].contains("{{2}} is missing"));
        f.apply(Edit::Name("Order Ready".into()));
        assert!(f.field_errors(DraftField::Name)[0].contains("lowercase letters"));
    }

    #[test]
    fn examples_follow_the_variables_by_name() {
        let mut f = valid_form();
        f.apply(Edit::Body("Hi {{1}}, order {{2}} is ready.".into()));
        assert_eq!(f.body_variables(), vec!["1".to_owned(), "2".to_owned()]);
        assert!(f.field_errors(DraftField::Body)[0].contains("each needs an example"));
        f.apply(Edit::BodyExample("2".into(), "A-7".into()));
        assert_eq!(f.draft().body.examples, vec!["Ana".to_owned(), "A-7".to_owned()]);
        assert_eq!(f.preview().body, "Hi Ana, order A-7 is ready.");
        // Rewriting the body keeps the examples of the variables left.
        f.apply(Edit::Body("Order {{2}} for {{1}} is ready.".into()));
        assert_eq!(f.preview().body, "Order A-7 for Ana is ready.");
    }

    #[test]
    fn the_preview_shows_header_body_footer_and_buttons() {
        let mut f = valid_form();
        typed(
            &mut f,
            vec![
                Edit::HeaderKind(HeaderKind::Text),
                Edit::HeaderText("Order {{1}}".into()),
                Edit::HeaderExample("A-7".into()),
                Edit::AddButton(ButtonKind::CopyCode),
                Edit::ButtonCode(1, "SAVE10".into()),
            ],
        );
        let p = f.preview();
        assert_eq!(p.header.as_deref(), Some("Order A-7"));
        assert_eq!(p.body, "Hi Ana, your order is ready.");
        assert_eq!(p.footer.as_deref(), Some("Sandbox Shop"));
        assert_eq!(p.buttons, vec!["Thanks".to_owned(), "Copy offer code".to_owned()]);
        assert_eq!(
            f.draft().header,
            Some(DraftHeader::Text { text: "Order {{1}}".into(), example: Some("A-7".into()) })
        );
        f.apply(Edit::HeaderKind(HeaderKind::Image));
        assert_eq!(f.preview().header.as_deref(), Some("[image]"));
        // A media header needs its sample, checked before it is read.
        assert!(f.field_errors(DraftField::Header)[0].starts_with("Choose a sample for the header"));
        assert_eq!(f.sample_accept(), "image/jpeg,image/png");
        assert!(f
            .sample_refusal("image/gif", 10)
            .unwrap()
            .starts_with("The header's sample must be a JPEG or PNG"));
        assert!(f.sample_refusal("image/png", 6 * 1024 * 1024).unwrap().contains("at most 5 MB"));
        assert_eq!(f.sample_refusal("image/png", 10), None);
        f.apply(Edit::SampleUploading("shop.png".into()));
        assert!(!f.can_submit(), "not while it uploads");
        f.apply(Edit::SampleUploaded("shop.png".into(), "4::aGk".into()));
        assert!(f.can_submit(), "{:?}", f.errors());
        assert_eq!(f.draft().header_handle.as_deref(), Some("4::aGk"));
        assert_eq!(f.draft().header, Some(DraftHeader::Image));
        assert_eq!(f.preview().header.as_deref(), Some("[image: shop.png]"));
        // Another kind drops the sample; a refusal reads as a sentence.
        f.apply(Edit::HeaderKind(HeaderKind::Document));
        assert_eq!(f.sample, None);
        assert_eq!(f.sample_accept(), "application/pdf");
        f.apply(Edit::SampleFailed("meta refused to upload the sample".into()));
        assert_eq!(f.sample, Some(Sample::Failed("Meta refused to upload the sample.".into())));
        assert!(!f.can_submit());
        f.apply(Edit::HeaderKind(HeaderKind::Text));
        assert_eq!(f.draft().header_handle, None);
    }

    #[test]
    fn buttons_are_added_removed_and_reordered() {
        let mut f = valid_form();
        typed(
            &mut f,
            vec![
                Edit::AddButton(ButtonKind::Url),
                Edit::ButtonText(1, "Track".into()),
                Edit::ButtonUrl(1, "https://shop.example/t/{{1}}".into()),
            ],
        );
        assert!(f.field_errors(DraftField::Button(1))[0].contains("example"));
        f.apply(Edit::ButtonUrlExample(1, "https://shop.example/t/A-7".into()));
        assert!(f.can_submit());
        f.apply(Edit::MoveButton(1, -1));
        assert_eq!(f.buttons[0].kind, ButtonKind::Url);
        assert_eq!(f.buttons[1].text, "Thanks");
        f.apply(Edit::MoveButton(0, -1)); // already first: nothing
        assert_eq!(f.buttons[0].kind, ButtonKind::Url);
        f.apply(Edit::ButtonKind(1, ButtonKind::PhoneNumber));
        assert!(f.field_errors(DraftField::Button(1))[0].contains("international form"));
        f.apply(Edit::ButtonPhone(1, "+15551234567".into()));
        assert!(f.can_submit());
        f.apply(Edit::RemoveButton(0));
        assert_eq!(f.buttons.len(), 1);
        assert_eq!(
            f.draft().buttons[0],
            DraftButton::PhoneNumber { text: "Thanks".into(), phone_number: "+15551234567".into() }
        );
    }

    #[test]
    fn an_authentication_template_sets_meta_s_options_only() {
        let mut f = valid_form();
        f.apply(Edit::Category(DraftCategory::Authentication));
        // The texts typed for a utility template stay out of the draft.
        assert!(f.can_submit(), "{:?}", f.errors());
        let d = f.draft();
        assert_eq!((d.header, d.footer, d.buttons.len()), (None, None, 0));
        assert_eq!(d.body.text, "");
        assert_eq!(d.authentication, Some(AuthenticationOptions::default()));
        let p = f.preview();
        assert_eq!(
            p.body,
            "123456 is your verification code. For your security, do not share this code."
        );
        assert_eq!(p.footer.as_deref(), Some("This code expires in 10 minutes."));
        assert_eq!(p.buttons, vec!["Copy code".to_owned()]);
        f.apply(Edit::AuthExpiry("120".into()));
        assert!(f.field_errors(DraftField::Footer)[0].contains("1 to 90 minutes"));
        f.apply(Edit::AuthExpiry("soon".into()));
        assert!(f.field_errors(DraftField::Footer)[0].contains("1 to 90 minutes"));
        assert!(!f.can_submit());
        f.apply(Edit::AuthExpiry(String::new()));
        f.apply(Edit::AuthSecurity(false));
        f.apply(Edit::AuthButton("y".repeat(26)));
        assert!(f.field_errors(DraftField::Button(0))[0].contains("26 characters"));
        f.apply(Edit::AuthButton("Copy".into()));
        assert!(f.can_submit());
        let p = f.preview();
        assert_eq!(p.body, "123456 is your verification code.");
        assert_eq!(p.footer, None);
        // A duplicate of one opens with its options.
        let back = Form::from_draft(&f.draft(), None);
        assert!(back.is_authentication());
        assert!(!back.auth_security);
        assert_eq!((back.auth_expiry.as_str(), back.auth_button.as_str()), ("", "Copy"));
    }

    #[test]
    fn a_duplicate_opens_prefilled_and_checked() {
        let mut m = Manager::default();
        m.set_templates(vec![summary("order_ready", "en_US", "APPROVED")]);
        m.ask_duplicate("order_ready", "en_US");
        assert!(m.duplicate_request().unwrap_err().contains("Type the new language"));
        m.duplicate_language = "en_US".into();
        assert!(m.duplicate_request().unwrap_err().contains("already exists in en_US"));
        m.duplicate_language = " fr ".into();
        assert_eq!(
            m.duplicate_request().unwrap(),
            ("order_ready".into(), "en_US".into(), "fr".into())
        );
        let mut draft = valid_form().draft();
        draft.language = "fr".into();
        m.duplicated(&draft);
        let form = m.form.as_ref().unwrap();
        assert_eq!(form.language, "fr");
        assert_eq!(form.examples.get("1").map(String::as_str), Some("Ana"));
        assert_eq!(form.duplicate_of.as_deref(), Some("order_ready (en_US)"));
        assert_eq!(form.draft(), draft);
        assert!(m.submission().is_some());
    }

    fn summary(name: &str, language: &str, status: &str) -> TemplateSummary {
        TemplateSummary {
            name: name.into(),
            language: language.into(),
            category: "UTILITY".into(),
            status: status.into(),
            header_format: None,
            header_text: None,
            body: "Hi".into(),
            footer: None,
            buttons: vec![],
            header_params: vec![],
            body_params: vec![],
            quality: None,
            rejected_reason: None,
        }
    }

    #[test]
    fn submitting_lists_it_pending_and_deleting_removes_every_language() {
        let mut m = Manager::default();
        m.set_templates(vec![
            summary("b", "en_US", "APPROVED"),
            summary("a", "fr", "APPROVED"),
            summary("a", "en_US", "REJECTED"),
        ]);
        assert_eq!(m.templates[0].language, "en_US");
        m.new_template();
        assert_eq!(m.submission(), None, "an empty form is not submitted");
        m.form = Some(valid_form());
        assert!(m.submission().is_some());
        m.submitting = true;
        assert_eq!(m.submission(), None, "not twice");
        m.submitted(summary("order_ready", "en_US", "PENDING"));
        assert!(m.form.is_none());
        assert_eq!(m.templates.len(), 4);
        assert_eq!(m.templates[2].name, "b");
        m.ask_delete("a");
        assert_eq!(m.confirm_delete.as_deref(), Some("a"));
        m.deleted("a");
        assert_eq!(m.templates.len(), 2);
        m.failed("meta refused to delete the template".into());
        assert_eq!(m.error.as_deref(), Some("Meta refused to delete the template."));
    }

    #[test]
    fn status_quality_and_rejection_have_words() {
        assert_eq!(status_badge("APPROVED"), ("Approved".into(), "approved"));
        assert_eq!(status_badge("PENDING_DELETION"), ("Pending deletion".into(), "pending"));
        assert_eq!(status_badge("REJECTED").1, "rejected");
        assert_eq!(quality_words(Some("GREEN")), Some("High quality"));
        assert_eq!(quality_words(Some("UNKNOWN")), Some("Quality pending"));
        assert_eq!(quality_words(None), None);
        let r = rejection_words("INVALID_FORMAT");
        assert!(r.starts_with("Rejected because its format is invalid"), "{r}");
        assert!(r.contains("Meta's reason: INVALID_FORMAT."));
        assert!(rejection_words("SOMETHING_NEW").contains("Meta's reason: SOMETHING_NEW."));
    }
}
