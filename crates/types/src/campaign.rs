//! Broadcast campaigns: one approved template sent to an audience of
//! contacts, paced to the number's throughput, with per-recipient outcomes.
//!
//! The rules that decide who is sent what live here, shared by the core
//! (which applies them) and the UI (which explains them before anyone
//! confirms).

use serde::{Deserialize, Serialize};

use crate::UnixMillis;

/// Meta's default throughput per business number (messages per second).
pub const DEFAULT_RATE_PER_SEC: u32 = 80;
/// Meta's highest throughput tier for eligible numbers.
pub const MAX_RATE_PER_SEC: u32 = 1_000;
/// A campaign name longer than this is refused.
pub const MAX_NAME_CHARS: usize = 100;
/// Recipients per page of [`CampaignRecipient`] rows.
pub const RECIPIENT_PAGE: usize = 200;

/// Who a campaign goes to. Every condition given must hold (labels: any of
/// them). Opted-out contacts are always excluded, and shown as excluded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audience {
    /// Contacts with at least one of these labels; empty means no label
    /// condition. An imported list is reached through the label its CSV
    /// gave every row.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Contacts whose custom attribute equals a value (ignoring case).
    #[serde(default)]
    pub attribute: Option<AttributeFilter>,
    /// Only these contacts (picked by hand), if given.
    #[serde(default)]
    pub contact_ids: Option<Vec<i64>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeFilter {
    pub name: String,
    pub value: String,
}

/// Where one template variable takes its value for each recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum ParamSource {
    /// The contact's name, or `fallback` when Meta never told us one.
    Name { fallback: String },
    /// The contact's custom attribute (an imported CSV column), or
    /// `fallback` when the contact has none.
    Attribute { name: String, fallback: String },
    /// The same text for everyone.
    Fixed { value: String },
}

impl ParamSource {
    /// The value for one contact; `None` when there is none and no
    /// fallback, which excludes the contact (a template variable may not be
    /// empty).
    pub fn value_for(&self, name: Option<&str>, attribute: Option<&str>) -> Option<String> {
        // Meta refuses variables with line breaks, tabs or runs of spaces
        // (132018): an imported cell is sent as one line.
        let one_line = |v: &str| v.split_whitespace().collect::<Vec<_>>().join(" ");
        let pick = |v: Option<&str>, fallback: &str| {
            v.map(one_line)
                .filter(|v| !v.is_empty())
                .or_else(|| Some(one_line(fallback)).filter(|f| !f.is_empty()))
        };
        match self {
            ParamSource::Name { fallback } => pick(name, fallback),
            ParamSource::Attribute { fallback, .. } => pick(attribute, fallback),
            ParamSource::Fixed { value } => pick(None, value),
        }
    }

    /// The attribute this source reads, if any.
    pub fn attribute(&self) -> Option<&str> {
        match self {
            ParamSource::Attribute { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// What the agent fills in to start a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignDraft {
    pub name: String,
    pub template_name: String,
    pub language: String,
    pub audience: Audience,
    /// One per header variable of the template, in order.
    #[serde(default)]
    pub header_params: Vec<ParamSource>,
    /// One per body variable of the template, in order.
    #[serde(default)]
    pub body_params: Vec<ParamSource>,
    /// Messages per second; [`DEFAULT_RATE_PER_SEC`] unless the number has
    /// a higher throughput.
    pub rate_per_sec: u32,
    /// When to start; `None` starts at once.
    #[serde(default)]
    pub start_at: Option<UnixMillis>,
}

impl CampaignDraft {
    /// What is wrong with the draft's own fields, as sentences (the
    /// template and the audience are checked by the core).
    pub fn problems<'a>(&'a self, now: UnixMillis) -> Vec<String> {
        let mut problems = Vec::new();
        let name = self.name.trim();
        if name.is_empty() {
            problems.push("Give the campaign a name, so its results can be found later.".into());
        } else if name.chars().count() > MAX_NAME_CHARS {
            problems.push(format!("Shorten the name to at most {MAX_NAME_CHARS} characters."));
        }
        if self.template_name.trim().is_empty() {
            problems.push("Pick an approved template to send.".into());
        }
        if self.rate_per_sec == 0 || self.rate_per_sec > MAX_RATE_PER_SEC {
            problems.push(format!(
                "Set the sending rate between 1 and {MAX_RATE_PER_SEC} messages per second \
                 (Meta allows {DEFAULT_RATE_PER_SEC} per number unless yours was raised)."
            ));
        }
        let numbered = |part: &'static str, params: &'a [ParamSource]| {
            params.iter().enumerate().map(move |(i, p)| (part, i + 1, p))
        };
        for (part, n, p) in
            numbered("Header", &self.header_params).chain(numbered("Body", &self.body_params))
        {
            match p {
                ParamSource::Attribute { name, .. } if name.trim().is_empty() => problems
                    .push(format!("{part} variable {n}: choose which contact attribute fills it.")),
                ParamSource::Fixed { value } if value.trim().is_empty() => {
                    problems.push(format!("{part} variable {n}: type the text it sends."))
                }
                _ => {}
            }
        }
        if self.start_at.is_some_and(|at| at < now - 60_000) {
            problems.push("The start time has passed; pick a later one or start now.".into());
        }
        problems
    }
}

/// How long sending `recipients` takes at `rate_per_sec`, in whole seconds.
pub fn estimated_secs(recipients: u64, rate_per_sec: u32) -> u64 {
    recipients.div_ceil(u64::from(rate_per_sec.max(1)))
}

/// The number of unique customers a messaging-limit tier allows outside a
/// service window per rolling 24 hours; `None` for unlimited or unknown.
pub fn tier_limit(tier: &str) -> Option<u64> {
    match tier.trim().to_ascii_uppercase().as_str() {
        "TIER_50" => Some(50),
        "TIER_250" => Some(250),
        "TIER_1K" => Some(1_000),
        "TIER_2K" => Some(2_000),
        "TIER_10K" => Some(10_000),
        "TIER_100K" => Some(100_000),
        _ => None,
    }
}

/// Why a contact is not sent the campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exclusion {
    /// Opted out of marketing (by an agent or a STOP).
    OptedOut,
    /// A variable has no value for this contact and no fallback.
    MissingValue,
    /// No WhatsApp number known (only a business-scoped id).
    NoNumber,
}

impl Exclusion {
    pub fn sentence(self) -> &'static str {
        match self {
            Exclusion::OptedOut => "Opted out of marketing messages.",
            Exclusion::MissingValue => {
                "A template variable has no value for this contact; add the attribute or a fallback."
            }
            Exclusion::NoNumber => "No WhatsApp number is known for this contact.",
        }
    }
}

/// The summary shown before anything is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignPreview {
    /// Contacts that will be sent the template.
    pub recipients: u64,
    pub excluded_opted_out: u64,
    pub excluded_missing_value: u64,
    pub excluded_no_number: u64,
    /// Recipients who did not write in the last 24 hours: the ones the
    /// messaging limit counts.
    pub outside_window: u64,
    pub estimated_secs: u64,
    /// The number's messaging-limit tier as Meta reports it, when known.
    pub tier: Option<String>,
    pub tier_limit: Option<u64>,
    /// Whether `outside_window` is more than the tier allows in 24 hours:
    /// Meta will refuse the rest.
    pub exceeds_tier: bool,
    /// What the first recipients will read, to check the variables.
    pub samples: Vec<CampaignSample>,
    /// Why the tier is unknown, when it is.
    pub tier_error: Option<String>,
}

impl CampaignPreview {
    pub fn excluded(&self) -> u64 {
        self.excluded_opted_out + self.excluded_missing_value + self.excluded_no_number
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignSample {
    pub contact: String,
    pub text: String,
}

/// Request of `create_campaign`: the draft, and the recipient count the
/// agent saw and confirmed. A different count (contacts changed since the
/// preview) is refused, so nobody is sent anything unconfirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateCampaignRequest {
    pub draft: CampaignDraft,
    pub confirmed_recipients: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    /// Waiting for its start time.
    Scheduled,
    Running,
    /// Stopped by the agent; resumes where it stopped.
    Paused,
    /// Stopped for good; the rest were never sent.
    Cancelled,
    /// Every recipient was tried.
    Completed,
}

impl CampaignState {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignState::Scheduled => "scheduled",
            CampaignState::Running => "running",
            CampaignState::Paused => "paused",
            CampaignState::Cancelled => "cancelled",
            CampaignState::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<CampaignState> {
        Some(match s {
            "scheduled" => CampaignState::Scheduled,
            "running" => CampaignState::Running,
            "paused" => CampaignState::Paused,
            "cancelled" => CampaignState::Cancelled,
            "completed" => CampaignState::Completed,
            _ => return None,
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            CampaignState::Scheduled => "Scheduled",
            CampaignState::Running => "Sending",
            CampaignState::Paused => "Paused",
            CampaignState::Cancelled => "Cancelled",
            CampaignState::Completed => "Completed",
        }
    }

    /// Whether nothing more will be sent.
    pub fn is_final(self) -> bool {
        matches!(self, CampaignState::Cancelled | CampaignState::Completed)
    }
}

/// Live counts of a campaign. `recipients` counts those meant to be sent;
/// each of them is in exactly one of `queued`, `sending`, `sent`,
/// `delivered`, `read`, `failed`, `not_sent` (cancelled before its turn).
/// `excluded` are counted apart. `replied` counts recipients who wrote back
/// after it, whatever their delivery state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignTotals {
    pub recipients: u64,
    pub excluded: u64,
    pub queued: u64,
    pub sending: u64,
    /// Accepted by Meta or reported sent.
    pub sent: u64,
    pub delivered: u64,
    pub read: u64,
    pub failed: u64,
    pub not_sent: u64,
    pub replied: u64,
}

impl CampaignTotals {
    /// Recipients whose send is settled (whatever its outcome).
    pub fn done(&self) -> u64 {
        self.sent + self.delivered + self.read + self.failed + self.not_sent
    }

    /// Share of recipients settled, 0..=1, for the progress bar.
    pub fn progress(&self) -> f64 {
        if self.recipients == 0 {
            return 1.0;
        }
        self.done() as f64 / self.recipients as f64
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignSummary {
    pub id: i64,
    pub name: String,
    pub template_name: String,
    pub language: String,
    pub state: CampaignState,
    pub rate_per_sec: u32,
    pub created_at: UnixMillis,
    pub start_at: Option<UnixMillis>,
    pub started_at: Option<UnixMillis>,
    pub finished_at: Option<UnixMillis>,
    pub totals: CampaignTotals,
    /// Why the sender is waiting, when Meta asked it to (rate limits).
    #[serde(default)]
    pub note: Option<String>,
}

/// Where one recipient stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientState {
    Excluded,
    Queued,
    Sending,
    Sent,
    Delivered,
    Read,
    Failed,
    /// The campaign was cancelled before this recipient's turn.
    NotSent,
}

impl RecipientState {
    pub fn label(self) -> &'static str {
        match self {
            RecipientState::Excluded => "Excluded",
            RecipientState::Queued => "Queued",
            RecipientState::Sending => "Sending",
            RecipientState::Sent => "Sent",
            RecipientState::Delivered => "Delivered",
            RecipientState::Read => "Read",
            RecipientState::Failed => "Failed",
            RecipientState::NotSent => "Not sent",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecipientState::Excluded => "excluded",
            RecipientState::Queued => "queued",
            RecipientState::Sending => "sending",
            RecipientState::Sent => "sent",
            RecipientState::Delivered => "delivered",
            RecipientState::Read => "read",
            RecipientState::Failed => "failed",
            RecipientState::NotSent => "not_sent",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignRecipient {
    /// The recipient row, for paging.
    pub id: i64,
    pub contact_id: i64,
    pub name: Option<String>,
    /// The WhatsApp number.
    pub handle: String,
    pub state: RecipientState,
    /// Why it was excluded or failed, as a sentence.
    pub reason: Option<String>,
    pub sent_at: Option<UnixMillis>,
    pub replied_at: Option<UnixMillis>,
    /// The conversation the message went into, once sent.
    pub conversation_id: Option<i64>,
}

/// Request of `campaign_recipients`: a page after `after` (a recipient id),
/// optionally only one state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientsRequest {
    pub campaign_id: i64,
    #[serde(default)]
    pub after: Option<i64>,
    #[serde(default)]
    pub state: Option<RecipientState>,
}

/// What an audience can be built from: the labels and custom attributes in
/// use, with how many contacts carry each label.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudienceOptions {
    pub labels: Vec<(String, u64)>,
    pub attributes: Vec<String>,
}

/// What the agent can do to a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignAction {
    Pause,
    Resume,
    Cancel,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_fall_back_and_empty_ones_exclude() {
        let name = ParamSource::Name { fallback: "there".into() };
        assert_eq!(name.value_for(Some(" Ana "), None).as_deref(), Some("Ana"));
        assert_eq!(name.value_for(None, None).as_deref(), Some("there"));
        assert_eq!(name.value_for(Some("  "), None).as_deref(), Some("there"));
        let city = ParamSource::Attribute { name: "city".into(), fallback: String::new() };
        assert_eq!(city.value_for(Some("Ana"), Some("Porto")).as_deref(), Some("Porto"));
        assert_eq!(city.value_for(Some("Ana"), None), None);
        assert_eq!(city.attribute(), Some("city"));
        assert_eq!(city.value_for(None, Some("Rua\n 1\t  A")).as_deref(), Some("Rua 1 A"));
        let fixed = ParamSource::Fixed { value: "20%".into() };
        assert_eq!(fixed.value_for(None, None).as_deref(), Some("20%"));
    }

    #[test]
    fn a_draft_names_each_problem() {
        let draft = CampaignDraft {
            name: " ".into(),
            template_name: "promo".into(),
            language: "en_US".into(),
            audience: Audience::default(),
            header_params: vec![],
            body_params: vec![
                ParamSource::Fixed { value: " ".into() },
                ParamSource::Attribute { name: String::new(), fallback: "x".into() },
            ],
            rate_per_sec: 0,
            start_at: Some(0),
        };
        let problems = draft.problems(10 * 60_000);
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(problems[0].contains("name"));
        assert!(problems.iter().any(|p| p.contains("rate")));
        assert!(problems.iter().any(|p| p.starts_with("Body variable 1: type")));
        assert!(problems.iter().any(|p| p.starts_with("Body variable 2: choose")));
        assert!(problems.iter().any(|p| p.contains("start time")));
    }

    #[test]
    fn estimates_and_tiers() {
        assert_eq!(estimated_secs(5_000, 80), 63);
        assert_eq!(estimated_secs(0, 80), 0);
        assert_eq!(tier_limit("TIER_2K"), Some(2_000));
        assert_eq!(tier_limit("tier_250"), Some(250));
        assert_eq!(tier_limit("TIER_UNLIMITED"), None);
        let totals =
            CampaignTotals { recipients: 4, delivered: 1, failed: 1, ..Default::default() };
        assert_eq!(totals.done(), 2);
        assert!((totals.progress() - 0.5).abs() < 1e-9);
    }
}
