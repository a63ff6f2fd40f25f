//! The contact side panel's data and the rules for what an agent may save,
//! shared by the UI (live checks) and the core (the checks that count).

use serde::{Deserialize, Serialize};

use crate::{ChannelKind, UnixMillis};

/// Longest note kept for a customer, in characters.
pub const MAX_NOTES_CHARS: usize = 4_000;
/// Longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 32;
/// Labels per customer.
pub const MAX_LABELS: usize = 20;

/// Who opted the customer out of marketing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptOutSource {
    /// An agent ticked the box.
    Agent,
    /// The customer wrote STOP (or a similar keyword).
    Keyword,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptOut {
    pub at: UnixMillis,
    pub by: OptOutSource,
}

/// Everything the contact panel shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactDetails {
    pub conversation_id: i64,
    pub channel: ChannelKind,
    /// The profile name Meta reported, if any.
    pub name: Option<String>,
    /// Phone number (WhatsApp `wa_id`) or Instagram-scoped id.
    pub handle: String,
    pub notes: String,
    pub labels: Vec<String>,
    pub opted_out: Option<OptOut>,
    /// When the customer was first seen.
    pub first_seen_at: UnixMillis,
    pub messages_from_customer: u64,
    pub messages_to_customer: u64,
    pub last_inbound_at: Option<UnixMillis>,
    pub closed: bool,
    /// Custom attributes (imported CSV columns), by name (any case).
    #[serde(default)]
    pub attributes: Vec<ContactAttribute>,
}

/// One custom attribute of a contact, e.g. `city` = `Lisbon`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactAttribute {
    pub name: String,
    pub value: String,
}

/// What an agent may change in the panel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactUpdate {
    pub conversation_id: i64,
    pub notes: String,
    pub labels: Vec<String>,
    /// `None` leaves the opt-out as it is: a STOP that arrived while the
    /// agent edited the notes must not be undone by saving them.
    pub opted_out: Option<bool>,
}

/// One label as kept: trimmed, inner whitespace collapsed. `Err` says what
/// to fix.
pub fn clean_label(raw: &str) -> Result<String, String> {
    let label = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if label.is_empty() {
        return Err("A label needs at least one letter or digit.".into());
    }
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err(format!("Keep a label to {MAX_LABEL_CHARS} characters."));
    }
    if label.chars().any(char::is_control) {
        return Err("A label cannot contain control characters.".into());
    }
    Ok(label)
}

/// The labels as kept: each cleaned, duplicates (ignoring case) dropped,
/// order kept, at most [`MAX_LABELS`].
pub fn clean_labels(raw: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for label in raw {
        let label = clean_label(label)?;
        if !out.iter().any(|l| l.to_lowercase() == label.to_lowercase()) {
            out.push(label);
        }
    }
    if out.len() > MAX_LABELS {
        return Err(format!("A customer can have at most {MAX_LABELS} labels."));
    }
    Ok(out)
}

/// `Err` when the notes are too long to keep.
pub fn check_notes(notes: &str) -> Result<(), String> {
    let n = notes.chars().count();
    if n > MAX_NOTES_CHARS {
        return Err(format!(
            "Notes are limited to {MAX_NOTES_CHARS} characters; these have {n}. Shorten them."
        ));
    }
    Ok(())
}

/// What a customer's whole message means for their opt-out, if anything:
/// `Some(true)` opts out (STOP, UNSUBSCRIBE, ...), `Some(false)` opts back
/// in (START, SUBSCRIBE). Only a message that is just the keyword counts
/// ("stop!" does, "don't stop the delivery" does not), in any case.
pub fn opt_keyword(body: &str) -> Option<bool> {
    let word = body
        .trim()
        .trim_end_matches(['.', '!'])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase();
    match word.as_str() {
        "STOP" | "STOP ALL" | "UNSUBSCRIBE" | "OPT OUT" | "OPTOUT" | "CANCEL" | "END" | "QUIT" => {
            Some(true)
        }
        "START" | "SUBSCRIBE" | "OPT IN" | "OPTIN" | "UNSTOP" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_trimmed_deduplicated_and_bounded() {
        let raw = ["  VIP ", "vip", "late   payer", "VIP"].map(String::from);
        assert_eq!(clean_labels(&raw).unwrap(), vec!["VIP", "late payer"]);
        assert!(clean_label("   ").unwrap_err().contains("at least one"));
        assert!(clean_label(&"x".repeat(33)).unwrap_err().contains("32"));
        assert!(clean_label("a\u{7}b").is_err());
        let many: Vec<String> = (0..21).map(|i| format!("l{i}")).collect();
        assert!(clean_labels(&many).unwrap_err().contains("20"));
    }

    #[test]
    fn notes_have_a_limit_in_characters() {
        assert!(check_notes(&"é".repeat(MAX_NOTES_CHARS)).is_ok(), "characters, not bytes");
        assert!(check_notes(&"a".repeat(MAX_NOTES_CHARS + 1)).unwrap_err().contains("4001"));
    }

    #[test]
    fn only_a_bare_keyword_changes_the_opt_out() {
        for stop in ["STOP", "stop", " Stop! ", "unsubscribe.", "stop   all", "Opt out"] {
            assert_eq!(opt_keyword(stop), Some(true), "{stop:?}");
        }
        for start in ["START", "subscribe", "opt in"] {
            assert_eq!(opt_keyword(start), Some(false), "{start:?}");
        }
        for other in ["don't stop the delivery", "stop it please", "stopped", "", "🛑"] {
            assert_eq!(opt_keyword(other), None, "{other:?}");
        }
    }
}
