//! The template picker's state: which templates it offers, the search, the
//! chosen template, one value per variable, and whether it may be sent.
//! Counting and filling the variables is `parley_types::template`, the code
//! the core uses too, so the preview is exactly the text that is sent.

use parley_types::contact::ContactDetails;
use parley_types::template::{self, SendTemplateRequest, TemplateSummary};

/// The picker's heading, and the button that opens it.
pub const CHOOSE_TEMPLATE: &str = "Choose a template";
/// Shown when the account has no approved template.
pub const NO_TEMPLATES: &str =
    "This WhatsApp account has no approved template yet. Create one in WhatsApp Manager, then \
     press Refresh.";
/// Shown when the search matches nothing.
pub const NO_MATCH: &str = "No approved template matches your search.";

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Picker {
    /// Every stored template (all statuses; only approved ones are offered).
    pub templates: Vec<TemplateSummary>,
    pub query: String,
    /// The chosen template, by (name, language).
    pub chosen: Option<(String, String)>,
    pub header_values: Vec<String>,
    pub body_values: Vec<String>,
    /// A sentence for the agent (a failed refresh or send).
    pub error: Option<String>,
    /// Loading or refreshing the list.
    pub loading: bool,
    /// The send command is running.
    pub sending: bool,
    /// What the conversation's contact offers to fill variables with.
    pub contact: Vec<Source>,
}

/// A value a variable can be filled from: the contact's name, number or
/// one of its custom attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// `name`, `number` or `attr:<name>`: the option's value.
    pub key: String,
    /// What the option says, e.g. "Contact's city".
    pub label: String,
    pub value: String,
}

/// A name compared loosely: lowercase letters and digits only, so
/// `first_name`, `First Name` and `first-name` match.
fn loose(name: &str) -> String {
    name.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// The contact's values a template may use, from its details.
pub fn contact_sources(details: &ContactDetails) -> Vec<Source> {
    let mut out = Vec::new();
    if let Some(name) = details.name.as_ref().filter(|n| !n.trim().is_empty()) {
        out.push(Source {
            key: "name".into(),
            label: "Contact's name".into(),
            value: name.clone(),
        });
    }
    if !details.handle.is_empty() {
        out.push(Source {
            key: "number".into(),
            label: "Contact's number".into(),
            value: details.handle.clone(),
        });
    }
    for a in details.attributes.iter().filter(|a| !a.value.trim().is_empty()) {
        out.push(Source {
            key: format!("attr:{}", a.name),
            label: format!("Contact's {}", a.name),
            value: a.value.clone(),
        });
    }
    out
}

/// The source a named variable is filled from by default: an attribute of
/// the same name, else the name or number for the usual names of those.
/// Numbered variables (`{{1}}`) say nothing of their meaning: none.
pub fn matching_source<'a>(variable: &str, sources: &'a [Source]) -> Option<&'a Source> {
    if variable.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let v = loose(variable);
    if let Some(attr) =
        sources.iter().find(|s| s.key.strip_prefix("attr:").is_some_and(|n| loose(n) == v))
    {
        return Some(attr);
    }
    let key = match v.as_str() {
        "name" | "customername" | "contactname" | "fullname" => "name",
        "phone" | "phonenumber" | "number" | "waid" | "whatsappnumber" => "number",
        _ => return None,
    };
    sources.iter().find(|s| s.key == key)
}

/// One input of the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// `header` or `body`.
    pub part: Part,
    pub index: usize,
    pub label: String,
    pub placeholder: String,
    pub value: String,
    pub test_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Header,
    Body,
}

/// What the live preview bubble shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    pub header: Option<String>,
    pub body: String,
    pub footer: Option<String>,
    pub buttons: Vec<String>,
}

impl Picker {
    pub fn set_templates(&mut self, templates: Vec<TemplateSummary>) {
        self.templates = templates;
        self.loading = false;
        // A chosen template that is gone (or no longer approved) is dropped.
        if self.chosen_template().is_none() {
            self.back();
        }
    }

    /// Approved templates matching the search (name, language or category,
    /// any case), by name then language.
    pub fn visible(&self) -> Vec<&TemplateSummary> {
        let q = self.query.trim().to_lowercase();
        let mut list: Vec<&TemplateSummary> = self
            .templates
            .iter()
            .filter(|t| t.is_approved())
            .filter(|t| {
                q.is_empty()
                    || [&t.name, &t.language, &t.category].iter().any(|s| {
                        s.to_lowercase().contains(&q)
                            || s.to_lowercase().replace('_', " ").contains(&q)
                    })
            })
            .collect();
        list.sort_by(|a, b| (&a.name, &a.language).cmp(&(&b.name, &b.language)));
        list
    }

    /// What the empty list says, if it is empty.
    pub fn empty_message(&self) -> Option<&'static str> {
        if self.loading || !self.visible().is_empty() {
            None
        } else if self.templates.iter().any(|t| t.is_approved()) {
            Some(NO_MATCH)
        } else {
            Some(NO_TEMPLATES)
        }
    }

    pub fn chosen_template(&self) -> Option<&TemplateSummary> {
        let (name, language) = self.chosen.as_ref()?;
        self.templates
            .iter()
            .find(|t| &t.name == name && &t.language == language && t.is_approved())
    }

    /// Pick a template: one empty value per variable.
    pub fn choose(&mut self, name: &str, language: &str) {
        let Some(t) = self
            .templates
            .iter()
            .find(|t| t.name == name && t.language == language && t.is_approved())
        else {
            return;
        };
        self.header_values = vec![String::new(); t.header_params.len()];
        self.body_values = vec![String::new(); t.body_params.len()];
        self.error = t.unsupported_reason().map(|r| sentence(&r));
        self.chosen = Some((name.to_owned(), language.to_owned()));
        self.prefill();
    }

    /// The contact's details arrived: offer them, and fill the empty
    /// variables they match.
    pub fn set_contact(&mut self, details: &ContactDetails) {
        self.contact = contact_sources(details);
        self.prefill();
    }

    /// Empty variables whose name matches one of the contact's values get
    /// it; still editable.
    fn prefill(&mut self) {
        let Some(t) = self.chosen_template() else { return };
        let fill = |params: &[template::TemplateParam], values: &[String]| -> Vec<String> {
            params
                .iter()
                .zip(values)
                .map(|(p, v)| match matching_source(&p.name, &self.contact) {
                    Some(s) if v.is_empty() => s.value.clone(),
                    _ => v.clone(),
                })
                .collect()
        };
        let header = fill(&t.header_params, &self.header_values);
        let body = fill(&t.body_params, &self.body_values);
        self.header_values = header;
        self.body_values = body;
    }

    /// Fill one variable with a contact's value (by [`Source::key`]).
    pub fn fill_from(&mut self, part: Part, index: usize, key: &str) {
        if let Some(value) = self.contact.iter().find(|s| s.key == key).map(|s| s.value.clone()) {
            self.set_value(part, index, value);
        }
    }

    /// The contact value a field holds now, if it holds one (its key).
    pub fn filled_from(&self, part: Part, index: usize) -> Option<String> {
        let values = match part {
            Part::Header => &self.header_values,
            Part::Body => &self.body_values,
        };
        let value = values.get(index)?;
        self.contact.iter().find(|s| !value.is_empty() && &s.value == value).map(|s| s.key.clone())
    }

    /// Back to the list.
    pub fn back(&mut self) {
        self.chosen = None;
        self.header_values.clear();
        self.body_values.clear();
        self.error = None;
    }

    pub fn set_value(&mut self, part: Part, index: usize, value: String) {
        let values = match part {
            Part::Header => &mut self.header_values,
            Part::Body => &mut self.body_values,
        };
        if let Some(slot) = values.get_mut(index) {
            *slot = value;
        }
    }

    /// The inputs, header first, in the order the values are sent.
    pub fn fields(&self) -> Vec<Field> {
        let Some(t) = self.chosen_template() else { return Vec::new() };
        let make = |part: Part, params: &[template::TemplateParam], values: &[String]| {
            params
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let (where_, prefix) = match part {
                        Part::Header => ("Header", "header"),
                        Part::Body => ("Body", "body"),
                    };
                    Field {
                        part,
                        index: i,
                        label: format!("{where_} {}", template::label(&p.name)),
                        placeholder: p
                            .example
                            .as_ref()
                            .map(|e| format!("e.g. {e}"))
                            .unwrap_or_else(|| format!("Value for {}", template::label(&p.name))),
                        value: values.get(i).cloned().unwrap_or_default(),
                        test_id: format!("template-{prefix}-param-{i}"),
                    }
                })
                .collect::<Vec<_>>()
        };
        let mut fields = make(Part::Header, &t.header_params, &self.header_values);
        fields.extend(make(Part::Body, &t.body_params, &self.body_values));
        fields
    }

    /// The bubble as the customer will see it; unfilled variables show as
    /// `{{1}}`.
    pub fn preview(&self) -> Option<Preview> {
        let t = self.chosen_template()?;
        Some(Preview {
            header: t
                .render_header(&self.header_values)
                .or_else(|| t.header_format.as_ref().map(|f| format!("[{}]", f.to_lowercase()))),
            body: t.render_body(&self.body_values),
            footer: t.footer.clone(),
            buttons: t.buttons.clone(),
        })
    }

    /// Send is enabled once a sendable template is chosen and every value is
    /// filled in, and no send is running.
    pub fn can_send(&self) -> bool {
        let Some(t) = self.chosen_template() else { return false };
        !self.sending
            && t.unsupported_reason().is_none()
            && template::check_values(t, &self.header_values, &self.body_values).is_ok()
    }

    /// The command's request, when [`Picker::can_send`].
    pub fn request(&self, conversation_id: i64) -> Option<SendTemplateRequest> {
        if !self.can_send() {
            return None;
        }
        let t = self.chosen_template()?;
        let trimmed = |v: &[String]| v.iter().map(|s| s.trim().to_owned()).collect();
        Some(SendTemplateRequest {
            conversation_id,
            name: t.name.clone(),
            language: t.language.clone(),
            header_params: trimmed(&self.header_values),
            body_params: trimmed(&self.body_values),
        })
    }

    /// A send was accepted by the core: start over for the next one.
    pub fn sent(&mut self) {
        self.sending = false;
        self.back();
        self.query.clear();
    }
}

/// A core refusal reads as a sentence: capitalised, with a full stop.
pub(crate) fn sentence(s: &str) -> String {
    let mut chars = s.chars();
    let mut out: String =
        chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// How a template's row describes it: "en_US · Utility".
pub fn row_details(t: &TemplateSummary) -> String {
    let category = t.category.to_lowercase();
    let mut chars = category.chars();
    let category: String =
        chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
    if category.is_empty() {
        t.language.clone()
    } else {
        format!("{} · {category}", t.language)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_types::template::TemplateParam;

    fn t(name: &str, status: &str, body: &str) -> TemplateSummary {
        let body_params = template::variables(body)
            .into_iter()
            .map(|n| TemplateParam { example: Some(format!("ex-{n}")), name: n })
            .collect();
        TemplateSummary {
            name: name.into(),
            language: "en_US".into(),
            category: "UTILITY".into(),
            status: status.into(),
            header_format: None,
            header_text: None,
            body: body.into(),
            footer: Some("Footer".into()),
            buttons: vec!["OK".into()],
            header_params: Vec::new(),
            body_params,
            quality: None,
            rejected_reason: None,
        }
    }

    fn picker() -> Picker {
        let mut p = Picker::default();
        let mut header = t("appointment_reminder", "APPROVED", "Hi {{1}}, at {{2}}");
        header.header_format = Some("TEXT".into());
        header.header_text = Some("On {{1}}".into());
        header.header_params = vec![TemplateParam { name: "1".into(), example: None }];
        p.set_templates(vec![
            t("order_shipped", "APPROVED", "Order {{order_id}} shipped, {{customer_name}}"),
            t("draft_offer", "PENDING", "Soon"),
            header,
            t("hello_world", "APPROVED", "Welcome"),
        ]);
        p
    }

    #[test]
    fn only_approved_templates_are_offered_sorted_and_searchable() {
        let mut p = picker();
        let names: Vec<_> = p.visible().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["appointment_reminder", "hello_world", "order_shipped"]);
        p.query = "ORDER".into();
        assert_eq!(p.visible().len(), 1);
        p.query = "order shipped".into();
        assert_eq!(p.visible().len(), 1, "spaces match underscores");
        p.query = "draft".into();
        assert!(p.visible().is_empty(), "a pending template is not offered");
        assert_eq!(p.empty_message(), Some(NO_MATCH));
        let empty = Picker { templates: vec![t("x", "REJECTED", "")], ..Picker::default() };
        assert_eq!(empty.empty_message(), Some(NO_TEMPLATES));
        p.choose("draft_offer", "en_US");
        assert_eq!(p.chosen, None, "a pending template cannot be chosen");
    }

    #[test]
    fn send_waits_for_every_value_and_the_preview_fills_in_live() {
        let mut p = picker();
        p.choose("appointment_reminder", "en_US");
        let fields = p.fields();
        let labels: Vec<_> = fields.iter().map(|f| f.label.as_str()).collect();
        assert_eq!(labels, ["Header {{1}}", "Body {{1}}", "Body {{2}}"]);
        assert_eq!(fields[1].placeholder, "e.g. ex-1");
        assert_eq!(fields[0].placeholder, "Value for {{1}}");
        assert_eq!(fields[2].test_id, "template-body-param-1");
        assert!(!p.can_send());
        assert_eq!(p.request(7), None);
        p.set_value(Part::Header, 0, "Friday".into());
        p.set_value(Part::Body, 0, "Ana".into());
        let preview = p.preview().unwrap();
        assert_eq!(preview.header.as_deref(), Some("On Friday"));
        assert_eq!(preview.body, "Hi Ana, at {{2}}");
        assert_eq!(preview.buttons, ["OK"]);
        assert!(!p.can_send());
        p.set_value(Part::Body, 1, "   ".into());
        assert!(!p.can_send(), "blank is not filled in");
        p.set_value(Part::Body, 1, " 3 pm ".into());
        assert!(p.can_send());
        let request = p.request(7).unwrap();
        assert_eq!(request.header_params, ["Friday"]);
        assert_eq!(request.body_params, ["Ana", "3 pm"]);
        p.sending = true;
        assert!(!p.can_send(), "no double send while the command runs");
        p.sent();
        assert_eq!(p.chosen, None);
        assert!(!p.sending);
    }

    #[test]
    fn named_variables_and_templates_without_variables() {
        let mut p = picker();
        p.choose("order_shipped", "en_US");
        let labels: Vec<_> = p.fields().into_iter().map(|f| f.label).collect();
        assert_eq!(labels, ["Body {{order_id}}", "Body {{customer_name}}"]);
        p.set_value(Part::Body, 0, "A-1".into());
        assert_eq!(p.preview().unwrap().body, "Order A-1 shipped, {{customer_name}}");
        p.choose("hello_world", "en_US");
        assert!(p.fields().is_empty());
        assert!(p.can_send(), "nothing to fill in");
        // A refresh that drops the chosen template goes back to the list.
        p.set_templates(vec![t("order_shipped", "APPROVED", "x")]);
        assert_eq!(p.chosen, None);
    }

    #[test]
    fn media_headers_are_refused_with_a_sentence() {
        let mut p = picker();
        let mut media = t("order_ready", "APPROVED", "Hi {{1}}");
        media.header_format = Some("IMAGE".into());
        p.templates.push(media);
        p.choose("order_ready", "en_US");
        assert!(p.error.as_deref().unwrap().starts_with("This template has an image header"));
        p.set_value(Part::Body, 0, "Ana".into());
        assert!(!p.can_send());
        assert_eq!(p.preview().unwrap().header.as_deref(), Some("[image]"));
    }

    #[test]
    fn variables_are_filled_from_the_contact_by_name_and_stay_editable() {
        use parley_types::contact::ContactAttribute;
        let details = ContactDetails {
            conversation_id: 1,
            channel: parley_types::ChannelKind::Whatsapp,
            name: Some("Ana Lima".into()),
            handle: "15551230001".into(),
            notes: String::new(),
            labels: vec![],
            opted_out: None,
            first_seen_at: 0,
            messages_from_customer: 1,
            messages_to_customer: 0,
            last_inbound_at: None,
            closed: false,
            attributes: vec![
                ContactAttribute { name: "Order ID".into(), value: "B-12".into() },
                ContactAttribute { name: "city".into(), value: "Lisbon".into() },
                ContactAttribute { name: "empty".into(), value: " ".into() },
            ],
        };
        let sources = contact_sources(&details);
        let keys: Vec<_> = sources.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["name", "number", "attr:Order ID", "attr:city"]);
        assert_eq!(matching_source("order_id", &sources).unwrap().value, "B-12");
        assert_eq!(matching_source("customer_name", &sources).unwrap().value, "Ana Lima");
        assert_eq!(matching_source("phone_number", &sources).unwrap().value, "15551230001");
        assert_eq!(matching_source("1", &sources), None, "a number says nothing");
        assert_eq!(matching_source("coupon", &sources), None);

        let mut p = picker();
        p.choose("order_shipped", "en_US");
        p.set_value(Part::Body, 1, "Jo".into());
        // The details arrive after the choice: only empty fields are filled.
        p.set_contact(&details);
        assert_eq!(p.body_values, vec!["B-12".to_owned(), "Jo".to_owned()]);
        assert_eq!(p.filled_from(Part::Body, 0).as_deref(), Some("attr:Order ID"));
        assert_eq!(p.filled_from(Part::Body, 1), None);
        p.fill_from(Part::Body, 1, "name");
        assert_eq!(p.body_values[1], "Ana Lima");
        p.set_value(Part::Body, 1, "Ana".into());
        assert_eq!(p.body_values[1], "Ana", "still editable");
        // Chosen again with the contact known: prefilled at once.
        p.back();
        p.choose("order_shipped", "en_US");
        assert_eq!(p.body_values, vec!["B-12".to_owned(), "Ana Lima".to_owned()]);
        // Numbered variables are left to the agent, who may pick a value.
        p.back();
        p.choose("appointment_reminder", "en_US");
        assert_eq!(p.body_values, vec![String::new(), String::new()]);
        p.fill_from(Part::Body, 0, "attr:city");
        assert_eq!(p.body_values[0], "Lisbon");
    }

    #[test]
    fn rows_name_language_and_category() {
        assert_eq!(row_details(&t("a", "APPROVED", "")), "en_US · Utility");
    }
}
