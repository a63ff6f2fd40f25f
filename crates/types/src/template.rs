//! WhatsApp message templates as the UI and the core see them, and the one
//! implementation of their variables: which `{{…}}` a text holds and what
//! it reads once the agent filled them in.
//!
//! Meta's templates name variables either by position (`{{1}}`, `{{2}}`,
//! the template's `parameter_format` is `POSITIONAL`) or by name
//! (`{{order_id}}`, `NAMED`: lowercase letters, digits and underscores). A
//! variable may appear more than once; it is filled once. The values go to
//! Meta in the order the variables first appear, which for positional
//! templates is the order of their numbers.

use serde::{Deserialize, Serialize};

/// One variable of a template's header or body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateParam {
    /// `1`, `2`, … or the name, e.g. `order_id`.
    pub name: String,
    /// The example given when the template was submitted, if any.
    #[serde(default)]
    pub example: Option<String>,
}

/// A template as the picker shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSummary {
    pub name: String,
    /// e.g. `en_US`.
    pub language: String,
    /// `MARKETING`, `UTILITY`, `AUTHENTICATION`.
    pub category: String,
    /// `APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`, …
    pub status: String,
    /// `TEXT`, `IMAGE`, `VIDEO`, `DOCUMENT`, `LOCATION`; none without header.
    #[serde(default)]
    pub header_format: Option<String>,
    /// The header's text, for a `TEXT` header.
    #[serde(default)]
    pub header_text: Option<String>,
    pub body: String,
    #[serde(default)]
    pub footer: Option<String>,
    /// The buttons' labels.
    #[serde(default)]
    pub buttons: Vec<String>,
    /// The header's variables, in the order they are sent.
    #[serde(default)]
    pub header_params: Vec<TemplateParam>,
    /// The body's variables, in the order they are sent.
    #[serde(default)]
    pub body_params: Vec<TemplateParam>,
    /// Meta's quality score: `GREEN`, `YELLOW`, `RED` or `UNKNOWN`; none
    /// until Meta reported one.
    #[serde(default)]
    pub quality: Option<String>,
    /// Why Meta rejected it (e.g. `INVALID_FORMAT`), for a rejected one.
    #[serde(default)]
    pub rejected_reason: Option<String>,
}

impl TemplateSummary {
    pub fn is_approved(&self) -> bool {
        self.status == "APPROVED"
    }

    /// How many values a send needs (header and body).
    pub fn param_count(&self) -> usize {
        self.header_params.len() + self.body_params.len()
    }

    /// Why Parley cannot send this template (yet), if it cannot: a header
    /// with media needs a file Parley does not pick yet.
    pub fn unsupported_reason(&self) -> Option<String> {
        match self.header_format.as_deref() {
            None | Some("TEXT") => None,
            Some(other) => {
                let kind = other.to_ascii_lowercase();
                let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
                Some(format!(
                    "this template has {article} {kind} header, which Parley cannot send yet; \
                     choose another template"
                ))
            }
        }
    }

    /// The header as the customer will read it.
    pub fn render_header(&self, values: &[String]) -> Option<String> {
        self.header_text.as_deref().map(|t| render(t, &self.header_params, values))
    }

    /// The body as the customer will read it.
    pub fn render_body(&self, values: &[String]) -> String {
        render(&self.body, &self.body_params, values)
    }

    /// The whole message as one text (header, body and footer, each on its
    /// own paragraph): what the thread shows for a sent template.
    pub fn render_text(&self, header_values: &[String], body_values: &[String]) -> String {
        let mut parts = Vec::new();
        if let Some(h) = self.render_header(header_values).filter(|h| !h.trim().is_empty()) {
            parts.push(h);
        }
        parts.push(self.render_body(body_values));
        if let Some(f) = self.footer.as_ref().filter(|f| !f.trim().is_empty()) {
            parts.push(f.clone());
        }
        parts.join("\n\n")
    }
}

/// Request of the `send_template` command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendTemplateRequest {
    pub conversation_id: i64,
    pub name: String,
    pub language: String,
    /// One value per header variable, in order.
    #[serde(default)]
    pub header_params: Vec<String>,
    /// One value per body variable, in order.
    #[serde(default)]
    pub body_params: Vec<String>,
}

/// Whether `name` may name a variable: digits (positional) or lowercase
/// letters, digits and underscores (named).
fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The `{{…}}` pieces of `text`: (byte range of the whole `{{name}}`, name).
pub(crate) fn occurrences(text: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find("{{") {
        let start = from + open;
        let Some(close) = text[start + 2..].find("}}") else { break };
        let name = text[start + 2..start + 2 + close].trim();
        let end = start + 2 + close + 2;
        if is_variable_name(name) {
            found.push((start..end, name));
            from = end;
        } else {
            from = start + 2;
        }
    }
    found
}

/// The distinct variables of `text`, in the order they are sent: by number
/// when they are all positional, else in order of first appearance.
pub fn variables(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (_, name) in occurrences(text) {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    if !names.is_empty() && names.iter().all(|n| n.chars().all(|c| c.is_ascii_digit())) {
        names.sort_by_key(|n| n.parse::<u64>().unwrap_or(u64::MAX));
    }
    names
}

/// `text` with each variable replaced by its value (`params[i]` gets
/// `values[i]`). A variable without a value (or with an empty one) stays
/// as written, so a preview shows what is still to fill in.
pub fn render(text: &str, params: &[TemplateParam], values: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (range, name) in occurrences(text) {
        let value = params
            .iter()
            .position(|p| p.name == name)
            .and_then(|i| values.get(i))
            .filter(|v| !v.trim().is_empty());
        if let Some(value) = value {
            out.push_str(&text[last..range.start]);
            out.push_str(value);
            last = range.end;
        }
    }
    out.push_str(&text[last..]);
    out
}

/// Check the values of a send against the template: as many as it has
/// variables, none empty. The refusal is a sentence for the agent.
pub fn check_values(
    template: &TemplateSummary,
    header: &[String],
    body: &[String],
) -> Result<(), String> {
    for (part, params, values) in
        [("header", &template.header_params, header), ("body", &template.body_params, body)]
    {
        if params.len() != values.len() {
            return Err(format!(
                "the template {} expects {} {part} value{} but {} {} given; fill in every field",
                template.name,
                params.len(),
                if params.len() == 1 { "" } else { "s" },
                values.len(),
                if values.len() == 1 { "was" } else { "were" },
            ));
        }
        if let Some(i) = values.iter().position(|v| v.trim().is_empty()) {
            return Err(format!(
                "the {part} value {} is empty; fill in every field",
                label(&params[i].name)
            ));
        }
    }
    Ok(())
}

/// How a variable is labelled for the agent: `{{1}}` or `order_id`.
pub fn label(name: &str) -> String {
    format!("{{{{{name}}}}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(names: &[&str]) -> Vec<TemplateParam> {
        names.iter().map(|n| TemplateParam { name: (*n).into(), example: None }).collect()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn positional_variables_are_counted_once_and_sorted_by_number() {
        assert_eq!(variables("Hi {{2}}, {{1}} and {{2}} again"), strings(&["1", "2"]));
        assert_eq!(variables("{{10}} {{9}}"), strings(&["9", "10"]));
        assert_eq!(variables("no variables {here} {{ }} {{Bad Name}}"), Vec::<String>::new());
        assert_eq!(variables("unclosed {{1"), Vec::<String>::new());
    }

    #[test]
    fn named_variables_keep_their_first_appearance_order() {
        assert_eq!(
            variables("Hi {{customer_name}}, order {{order_id}} for {{customer_name}}"),
            strings(&["customer_name", "order_id"])
        );
    }

    #[test]
    fn render_fills_positional_and_named_values_and_leaves_empty_ones() {
        let p = params(&["1", "2"]);
        assert_eq!(
            render("Hi {{1}}, your order {{2}} is ready. Bye {{1}}", &p, &strings(&["Ana", "A-7"])),
            "Hi Ana, your order A-7 is ready. Bye Ana"
        );
        assert_eq!(
            render("Hi {{1}}, order {{2}}", &p, &strings(&["Ana", " "])),
            "Hi Ana, order {{2}}"
        );
        let n = params(&["order_id"]);
        assert_eq!(render("Order {{order_id}}!", &n, &strings(&["42"])), "Order 42!");
        // A value is text: braces in it are not variables.
        assert_eq!(render("{{1}}{{2}}", &p, &strings(&["{{2}}", "x"])), "{{2}}x");
    }

    fn summary() -> TemplateSummary {
        TemplateSummary {
            name: "appointment".into(),
            language: "en_US".into(),
            category: "UTILITY".into(),
            status: "APPROVED".into(),
            header_format: Some("TEXT".into()),
            header_text: Some("Visit {{1}}".into()),
            body: "Hi {{1}}, see you {{2}}.".into(),
            footer: Some("Reply STOP to opt out".into()),
            buttons: vec!["Confirm".into()],
            header_params: params(&["1"]),
            body_params: params(&["1", "2"]),
            quality: None,
            rejected_reason: None,
        }
    }

    #[test]
    fn the_sent_text_joins_header_body_and_footer() {
        let t = summary();
        assert_eq!(t.param_count(), 3);
        assert_eq!(
            t.render_text(&strings(&["today"]), &strings(&["Ana", "at 3"])),
            "Visit today\n\nHi Ana, see you at 3.\n\nReply STOP to opt out"
        );
    }

    #[test]
    fn values_are_checked_for_count_and_emptiness() {
        let t = summary();
        assert!(check_values(&t, &strings(&["x"]), &strings(&["a", "b"])).is_ok());
        let few = check_values(&t, &strings(&["x"]), &strings(&["a"])).unwrap_err();
        assert!(few.contains("expects 2 body values but 1 was given"), "{few}");
        let empty = check_values(&t, &strings(&["x"]), &strings(&["a", "  "])).unwrap_err();
        assert!(empty.contains("{{2}} is empty"), "{empty}");
        let header = check_values(&t, &[], &strings(&["a", "b"])).unwrap_err();
        assert!(header.contains("1 header value"), "{header}");
    }

    #[test]
    fn media_headers_are_not_sendable_yet() {
        let mut t = summary();
        assert_eq!(t.unsupported_reason(), None);
        t.header_format = Some("IMAGE".into());
        assert!(t.unsupported_reason().unwrap().contains("image header"));
    }
}
