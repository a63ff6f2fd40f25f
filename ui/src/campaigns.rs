//! The Campaigns screen's logic: the new-campaign form and how it becomes a
//! [`CampaignDraft`], and the words for a campaign's progress. Plain Rust,
//! tested on the host; the component only renders it.

use parley_types::campaign::{
    estimated_secs, AttributeFilter, Audience, CampaignDraft, CampaignPreview, CampaignSummary,
    ParamSource, DEFAULT_RATE_PER_SEC,
};
use parley_types::template::{label, TemplateSummary};
use parley_types::UnixMillis;

/// Where a variable's value comes from, as the form edits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Name,
    Attribute,
    Fixed,
}

impl SourceKind {
    pub const ALL: [SourceKind; 3] = [SourceKind::Name, SourceKind::Attribute, SourceKind::Fixed];

    pub fn key(self) -> &'static str {
        match self {
            SourceKind::Name => "name",
            SourceKind::Attribute => "attribute",
            SourceKind::Fixed => "fixed",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SourceKind::Name => "Contact's name",
            SourceKind::Attribute => "Contact attribute",
            SourceKind::Fixed => "The same text for everyone",
        }
    }

    pub fn parse(key: &str) -> SourceKind {
        match key {
            "attribute" => SourceKind::Attribute,
            "fixed" => SourceKind::Fixed,
            _ => SourceKind::Name,
        }
    }
}

/// One variable's row in the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableField {
    /// `{{1}}` or `{{first_name}}`, with the template's example.
    pub label: String,
    pub example: Option<String>,
    pub kind: SourceKind,
    /// The attribute name (Attribute) or the text (Fixed).
    pub value: String,
    /// Used when the contact has no name or attribute.
    pub fallback: String,
}

impl VariableField {
    fn source(&self) -> ParamSource {
        match self.kind {
            SourceKind::Name => ParamSource::Name { fallback: self.fallback.clone() },
            SourceKind::Attribute => ParamSource::Attribute {
                name: self.value.trim().to_owned(),
                fallback: self.fallback.clone(),
            },
            SourceKind::Fixed => ParamSource::Fixed { value: self.value.clone() },
        }
    }
}

/// The new-campaign form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignForm {
    pub name: String,
    /// `name|language` of the chosen template.
    pub template: Option<(String, String)>,
    pub labels: Vec<String>,
    pub attribute_name: String,
    pub attribute_value: String,
    pub header: Vec<VariableField>,
    pub body: Vec<VariableField>,
    pub rate: String,
    /// Empty for "now"; otherwise a local `YYYY-MM-DDTHH:MM`.
    pub start_at: String,
}

impl Default for CampaignForm {
    fn default() -> Self {
        CampaignForm {
            name: String::new(),
            template: None,
            labels: Vec::new(),
            attribute_name: String::new(),
            attribute_value: String::new(),
            header: Vec::new(),
            body: Vec::new(),
            rate: DEFAULT_RATE_PER_SEC.to_string(),
            start_at: String::new(),
        }
    }
}

fn fields(
    params: &[parley_types::template::TemplateParam],
    attributes: &[String],
) -> Vec<VariableField> {
    params
        .iter()
        .map(|p| {
            // A named variable with an attribute of the same name is filled
            // from it; otherwise from the contact's name for the first one.
            let matching = attributes.iter().find(|a| a.eq_ignore_ascii_case(&p.name));
            let (kind, value) = match matching {
                Some(a) => (SourceKind::Attribute, a.clone()),
                None => (SourceKind::Fixed, String::new()),
            };
            VariableField {
                label: label(&p.name),
                example: p.example.clone(),
                kind,
                value,
                fallback: String::new(),
            }
        })
        .collect()
}

impl CampaignForm {
    /// Choose a template: one field per variable, prefilled where an
    /// attribute has the variable's name.
    pub fn pick_template(&mut self, template: &TemplateSummary, attributes: &[String]) {
        self.template = Some((template.name.clone(), template.language.clone()));
        self.header = fields(&template.header_params, attributes);
        self.body = fields(&template.body_params, attributes);
        if let Some(first) = self.body.first_mut().filter(|f| f.kind == SourceKind::Fixed) {
            first.kind = SourceKind::Name;
            first.fallback = "there".into();
        }
    }

    pub fn toggle_label(&mut self, label: &str) {
        if let Some(i) = self.labels.iter().position(|l| l.eq_ignore_ascii_case(label)) {
            self.labels.remove(i);
        } else {
            self.labels.push(label.to_owned());
        }
    }

    /// The draft to preview, or the first problem with the form itself.
    /// `start_at` is the local start time already converted to UTC millis.
    pub fn draft(&self, start_at: Option<UnixMillis>) -> Result<CampaignDraft, String> {
        let Some((template_name, language)) = self.template.clone() else {
            return Err("Pick an approved template to send.".into());
        };
        let rate: u32 = self.rate.trim().parse().map_err(|_| {
            "Type the sending rate as a whole number of messages per second.".to_owned()
        })?;
        if !self.start_at.trim().is_empty() && start_at.is_none() {
            return Err("The start time is not a valid date and time.".into());
        }
        let attribute = (!self.attribute_name.trim().is_empty()).then(|| AttributeFilter {
            name: self.attribute_name.trim().to_owned(),
            value: self.attribute_value.trim().to_owned(),
        });
        Ok(CampaignDraft {
            name: self.name.trim().to_owned(),
            template_name,
            language,
            audience: Audience { labels: self.labels.clone(), attribute, contact_ids: None },
            header_params: self.header.iter().map(VariableField::source).collect(),
            body_params: self.body.iter().map(VariableField::source).collect(),
            rate_per_sec: rate,
            start_at,
        })
    }
}

/// "1 h 3 min", "2 min 5 s", "45 s".
pub fn duration_text(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3_599 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3_600, secs % 3_600 / 60),
    }
}

/// The sentences of the confirmation summary.
pub fn preview_lines(p: &CampaignPreview, rate: u32) -> Vec<String> {
    let mut lines = vec![format!(
        "{} recipient{} will be sent this template.",
        p.recipients,
        if p.recipients == 1 { "" } else { "s" }
    )];
    let excluded = [
        (p.excluded_opted_out, "opted out of marketing"),
        (p.excluded_missing_value, "missing a variable's value"),
        (p.excluded_no_number, "without a WhatsApp number"),
    ];
    let parts: Vec<String> =
        excluded.iter().filter(|(n, _)| *n > 0).map(|(n, why)| format!("{n} {why}")).collect();
    if parts.is_empty() {
        lines.push("Nobody in the audience is excluded.".into());
    } else {
        lines.push(format!("Excluded: {}.", parts.join(", ")));
    }
    lines.push(format!(
        "Sending takes about {} at {rate} messages per second.",
        duration_text(estimated_secs(p.recipients, rate))
    ));
    match (&p.tier, p.tier_limit, &p.tier_error) {
        (_, Some(limit), _) if p.exceeds_tier => lines.push(format!(
            "Warning: {} of them have not written in the last 24 hours, more than this number's \
             messaging limit of {limit} customers a day. Meta will refuse the rest until the \
             limit resets or rises.",
            p.outside_window
        )),
        (Some(tier), _, _) => lines.push(format!(
            "Within the number's messaging limit ({}): {} of them start a new conversation.",
            tier_text(tier),
            p.outside_window
        )),
        (None, _, Some(error)) => {
            lines.push(format!("The messaging limit could not be checked: {error}"))
        }
        _ => {}
    }
    lines
}

fn tier_text(tier: &str) -> String {
    match parley_types::campaign::tier_limit(tier) {
        Some(n) => format!("{n} customers a day"),
        None if tier.eq_ignore_ascii_case("TIER_UNLIMITED") => "unlimited".into(),
        None => tier.to_owned(),
    }
}

/// The one-line progress of a campaign in the list.
pub fn totals_line(c: &CampaignSummary) -> String {
    let t = &c.totals;
    let mut parts = vec![format!("{} of {} sent", t.done() - t.not_sent - t.failed, t.recipients)];
    for (n, what) in [
        (t.delivered + t.read, "delivered"),
        (t.read, "read"),
        (t.failed, "failed"),
        (t.replied, "replied"),
        (t.excluded, "excluded"),
        (t.not_sent, "not sent"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    parts.join(" · ")
}

/// The progress bar's width, as a CSS percentage.
pub fn progress_percent(c: &CampaignSummary) -> String {
    format!("{:.1}%", (c.totals.progress() * 100.0).clamp(0.0, 100.0))
}

/// Where the results export is suggested: the home folder's file named
/// after the campaign (letters, digits and dashes only).
pub fn suggested_export(home: &str, c: &CampaignSummary) -> String {
    let slug: String = c
        .name
        .chars()
        .map(|ch| if ch.is_alphanumeric() { ch.to_ascii_lowercase() } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    format!("{}/parley-campaign-{}-{}.csv", home.trim_end_matches('/'), c.id, slug)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_types::campaign::{CampaignState, CampaignTotals};
    use parley_types::template::TemplateParam;

    fn template() -> TemplateSummary {
        TemplateSummary {
            name: "offer".into(),
            language: "en_US".into(),
            category: "MARKETING".into(),
            status: "APPROVED".into(),
            header_format: None,
            header_text: None,
            body: "Hi {{first_name}}, {{city}} store: {{discount}} off".into(),
            footer: None,
            buttons: vec![],
            header_params: vec![],
            body_params: ["first_name", "city", "discount"]
                .iter()
                .map(|n| TemplateParam { name: (*n).into(), example: Some("x".into()) })
                .collect(),
            quality: None,
            rejected_reason: None,
        }
    }

    #[test]
    fn picking_a_template_prefills_from_matching_attributes() {
        let mut form = CampaignForm::default();
        form.pick_template(&template(), &["City".into(), "tier".into()]);
        assert_eq!(form.body[0].kind, SourceKind::Name);
        assert_eq!(form.body[0].fallback, "there");
        assert_eq!(
            (form.body[1].kind, form.body[1].value.as_str()),
            (SourceKind::Attribute, "City")
        );
        assert_eq!(form.body[2].kind, SourceKind::Fixed);
        assert_eq!(form.body[2].label, "{{discount}}");
    }

    #[test]
    fn the_form_becomes_a_draft_or_says_what_is_wrong() {
        let mut form = CampaignForm::default();
        assert!(form.draft(None).unwrap_err().contains("template"));
        form.pick_template(&template(), &["city".into()]);
        form.name = " Spring ".into();
        form.body[2].value = "20%".into();
        form.toggle_label("vip");
        form.toggle_label("north");
        form.toggle_label("VIP");
        form.rate = "x".into();
        assert!(form.draft(None).unwrap_err().contains("whole number"));
        form.rate = "40".into();
        form.start_at = "garbage".into();
        assert!(form.draft(None).unwrap_err().contains("start time"));
        form.start_at.clear();
        let draft = form.draft(None).unwrap();
        assert_eq!(draft.name, "Spring");
        assert_eq!(draft.audience.labels, vec!["north".to_owned()]);
        assert_eq!(draft.rate_per_sec, 40);
        assert_eq!(draft.body_params[2], ParamSource::Fixed { value: "20%".into() });
        assert!(draft.problems(0).is_empty(), "{:?}", draft.problems(0));
    }

    #[test]
    fn the_summary_speaks_of_exclusions_duration_and_the_tier() {
        let mut p = CampaignPreview {
            recipients: 5_000,
            excluded_opted_out: 12,
            excluded_missing_value: 3,
            excluded_no_number: 0,
            outside_window: 4_990,
            estimated_secs: 63,
            tier: Some("TIER_2K".into()),
            tier_limit: Some(2_000),
            exceeds_tier: true,
            samples: vec![],
            tier_error: None,
        };
        let lines = preview_lines(&p, 80);
        assert_eq!(lines[0], "5000 recipients will be sent this template.");
        assert_eq!(lines[1], "Excluded: 12 opted out of marketing, 3 missing a variable's value.");
        assert_eq!(lines[2], "Sending takes about 1 min 3 s at 80 messages per second.");
        assert!(lines[3].starts_with("Warning: 4990"), "{}", lines[3]);
        p.exceeds_tier = false;
        p.tier = Some("TIER_UNLIMITED".into());
        p.tier_limit = None;
        assert!(preview_lines(&p, 80)[3].contains("(unlimited)"));
    }

    #[test]
    fn progress_words_and_export_path() {
        let c = CampaignSummary {
            id: 7,
            name: "Spring sale: 20%!".into(),
            template_name: "offer".into(),
            language: "en_US".into(),
            state: CampaignState::Running,
            rate_per_sec: 80,
            created_at: 0,
            start_at: None,
            started_at: None,
            finished_at: None,
            totals: CampaignTotals {
                recipients: 10,
                queued: 4,
                sent: 2,
                delivered: 2,
                read: 1,
                failed: 1,
                replied: 1,
                excluded: 3,
                ..Default::default()
            },
            note: None,
        };
        assert_eq!(
            totals_line(&c),
            "5 of 10 sent · 3 delivered · 1 read · 1 failed · 1 replied · 3 excluded"
        );
        assert_eq!(progress_percent(&c), "60.0%");
        assert_eq!(
            suggested_export("/home/a/", &c),
            "/home/a/parley-campaign-7-spring-sale-20.csv"
        );
        assert_eq!(duration_text(3_725), "1 h 2 min");
    }
}
