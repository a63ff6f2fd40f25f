//! The Contacts screen's data: a page of contacts, one contact whole, the
//! create/edit form's draft and its checks per field (the UI checks live,
//! the core again), duplicate pairs, and the CSV import progress.
//!
//! Contacts belong to one channel. A merge joins two contacts of the same
//! channel only; the same person on WhatsApp and Instagram stays two
//! contacts, linked by the `Instagram` attribute (their handle) of the
//! WhatsApp contact.

use serde::{Deserialize, Serialize};

use crate::contact::{check_notes, clean_labels, OptOut};
use crate::contacts_csv::{
    normalize_whatsapp_number, INSTAGRAM_ATTRIBUTE, MAX_ATTRIBUTE_CHARS, MAX_ATTRIBUTE_NAME_CHARS,
    MAX_NAME_CHARS,
};
use crate::ChannelKind;

/// Contacts per page of the list.
pub const CONTACTS_PAGE: u32 = 100;

/// Where the next page starts: after the contact with this sort key and id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactCursor {
    pub key: String,
    pub id: i64,
}

/// Which contacts the list shows, and from where.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactQuery {
    /// Matches a name (word prefixes), a number (digits anywhere in it) or
    /// an Instagram handle (prefix). Empty: every contact.
    pub search: String,
    /// Contacts with this label (ignoring case); `None`: any.
    pub label: Option<String>,
    /// Opted out or not; `None`: either.
    pub opted_out: Option<bool>,
    pub after: Option<ContactCursor>,
}

/// One contact, as the list and the form show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub id: i64,
    pub channel: ChannelKind,
    pub name: Option<String>,
    /// WhatsApp number, digits with the country code first.
    pub wa_id: Option<String>,
    /// Business-scoped user id (WhatsApp) or Instagram-scoped id.
    pub user_id: Option<String>,
    /// The Instagram handle kept as the `Instagram` attribute.
    pub instagram: Option<String>,
    pub labels: Vec<String>,
    pub notes: String,
    /// Custom attributes other than the Instagram handle, by name.
    pub attributes: Vec<(String, String)>,
    pub opted_out: Option<OptOut>,
    /// The customer's conversation, if they ever wrote or were written to.
    pub conversation_id: Option<i64>,
    pub created_at: i64,
}

/// A page of the list and where the next one starts (`None`: the end).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactPage {
    pub contacts: Vec<Contact>,
    pub next: Option<ContactCursor>,
}

/// What the form saves. `id: None` creates a WhatsApp contact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactDraft {
    pub id: Option<i64>,
    pub name: String,
    /// As typed; normalised to digits when saved. Required to create.
    pub whatsapp: String,
    /// As typed, with or without the `@`; empty: none.
    pub instagram: String,
    /// As typed, separated by commas.
    pub labels: String,
    pub notes: String,
    /// (name, value) pairs; a pair with both empty is ignored.
    pub attributes: Vec<(String, String)>,
    /// `None` leaves the opt-out as it is (a STOP arriving while the form
    /// was open stays); `Some` sets or clears it.
    pub opted_out: Option<bool>,
}

/// The form's fields a refusal can be shown on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactField {
    Name,
    Whatsapp,
    Instagram,
    Labels,
    Notes,
    Attributes,
}

/// A sentence saying what to fix, on its field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: ContactField,
    pub message: String,
}

/// What saving the form did: the contact as saved, or the refusals per field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum ContactSaveOutcome {
    Saved { contact: Contact },
    Refused { errors: Vec<FieldError> },
}

/// A draft as stored: number digits, handle without `@`, labels cleaned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanDraft {
    pub name: Option<String>,
    pub wa_id: Option<String>,
    pub instagram: Option<String>,
    pub labels: Vec<String>,
    pub notes: String,
    pub attributes: Vec<(String, String)>,
}

/// An Instagram handle without its `@`, or why it is not one.
pub fn clean_instagram(raw: &str) -> Result<Option<String>, String> {
    let raw = raw.trim();
    let handle = raw.strip_prefix('@').unwrap_or(raw);
    if handle.is_empty() {
        return Ok(None);
    }
    let ok = handle.chars().count() <= 30
        && handle.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
    if !ok {
        return Err("An Instagram handle holds up to 30 letters, digits, dots and underscores. \
                    Correct it."
            .into());
    }
    Ok(Some(handle.to_owned()))
}

/// Labels typed as one text, separated by commas.
pub fn split_labels(raw: &str) -> Vec<String> {
    raw.split([',', ';']).filter(|l| !l.trim().is_empty()).map(str::to_owned).collect()
}

/// Check a draft field by field. `needs_number`: creating (a contact needs
/// a WhatsApp number to be reached by).
pub fn check_draft(
    draft: &ContactDraft,
    needs_number: bool,
) -> Result<CleanDraft, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut fail = |field, message: String| errors.push(FieldError { field, message });
    let name = draft.name.trim();
    if name.chars().count() > MAX_NAME_CHARS {
        fail(ContactField::Name, format!("Keep the name to {MAX_NAME_CHARS} characters."));
    } else if name.chars().any(char::is_control) {
        fail(
            ContactField::Name,
            "The name cannot contain line breaks or control characters.".into(),
        );
    }
    let wa_id = if draft.whatsapp.trim().is_empty() {
        if needs_number {
            fail(
                ContactField::Whatsapp,
                "Enter the customer's WhatsApp number with its country code, such as +44 20 7946 0958."
                    .into(),
            );
        }
        None
    } else {
        match normalize_whatsapp_number(&draft.whatsapp) {
            Ok(digits) => Some(digits),
            Err(reason) => {
                fail(ContactField::Whatsapp, reason);
                None
            }
        }
    };
    let instagram = clean_instagram(&draft.instagram).unwrap_or_else(|reason| {
        fail(ContactField::Instagram, reason);
        None
    });
    let labels = clean_labels(&split_labels(&draft.labels)).unwrap_or_else(|reason| {
        fail(ContactField::Labels, reason);
        Vec::new()
    });
    if let Err(reason) = check_notes(&draft.notes) {
        fail(ContactField::Notes, reason);
    }
    let mut attributes: Vec<(String, String)> = Vec::new();
    for (key, value) in &draft.attributes {
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() && value.is_empty() {
            continue;
        }
        let problem = if key.is_empty() {
            Some(format!("The attribute with the value \"{value}\" needs a name."))
        } else if key.chars().count() > MAX_ATTRIBUTE_NAME_CHARS
            || key.chars().any(char::is_control)
        {
            Some(format!(
                "An attribute name holds at most {MAX_ATTRIBUTE_NAME_CHARS} characters and no \
                 control characters; shorten \"{key}\"."
            ))
        } else if key.eq_ignore_ascii_case(INSTAGRAM_ATTRIBUTE) {
            Some("Put the Instagram handle in its own field above.".into())
        } else if attributes.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
            Some(format!("There are two attributes named \"{key}\"; keep one."))
        } else if value.chars().count() > MAX_ATTRIBUTE_CHARS {
            Some(format!(
                "The \"{key}\" value is longer than {MAX_ATTRIBUTE_CHARS} characters; shorten it."
            ))
        } else {
            None
        };
        match problem {
            Some(message) => {
                fail(ContactField::Attributes, message);
                break;
            }
            // An attribute with a name and no value is removed.
            None if value.is_empty() => {}
            None => attributes.push((key.to_owned(), value.to_owned())),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(CleanDraft {
        name: (!name.is_empty()).then(|| name.to_owned()),
        wa_id,
        instagram,
        labels,
        notes: draft.notes.clone(),
        attributes,
    })
}

/// Two contacts of one channel that look like one customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicatePair {
    pub first: Contact,
    pub second: Contact,
    /// Why they look alike, as a sentence.
    pub reason: String,
}

/// Request of `import_contacts_csv` and `preview_contacts_csv`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportCsvRequest {
    pub csv: String,
    pub mapping: crate::contacts_csv::ColumnMapping,
}

/// Request of `export_contacts_csv`: the current filter (labels, opted
/// out), or everything when `filter` is the default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportContactsRequest {
    pub path: String,
    pub filter: crate::contacts_csv::ContactsFilter,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> ContactDraft {
        ContactDraft {
            name: " Ann ".into(),
            whatsapp: "+44 20 7946 0958".into(),
            instagram: "@ann.b".into(),
            labels: "VIP, late payer,,vip".into(),
            notes: "n".into(),
            attributes: vec![("City".into(), "Oslo".into()), ("".into(), "".into())],
            ..Default::default()
        }
    }

    #[test]
    fn a_good_draft_is_cleaned() {
        let clean = check_draft(&draft(), true).unwrap();
        assert_eq!(clean.name.as_deref(), Some("Ann"));
        assert_eq!(clean.wa_id.as_deref(), Some("442079460958"));
        assert_eq!(clean.instagram.as_deref(), Some("ann.b"));
        assert_eq!(clean.labels, ["VIP", "late payer"]);
        assert_eq!(clean.attributes, [("City".to_string(), "Oslo".to_string())]);
    }

    #[test]
    fn each_bad_field_gets_its_own_sentence() {
        let bad = ContactDraft {
            whatsapp: "0207 946 0958".into(),
            instagram: "not a handle!".into(),
            labels: "x".repeat(40),
            attributes: vec![("Instagram".into(), "x".into())],
            ..draft()
        };
        let errors = check_draft(&bad, true).unwrap_err();
        let fields: Vec<ContactField> = errors.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                ContactField::Whatsapp,
                ContactField::Instagram,
                ContactField::Labels,
                ContactField::Attributes
            ]
        );
        assert!(errors[0].message.contains("country code"));
        let no_number = ContactDraft { whatsapp: " ".into(), ..draft() };
        assert!(check_draft(&no_number, true).unwrap_err()[0].message.contains("Enter"));
        assert!(check_draft(&no_number, false).is_ok(), "an edit may lack a number");
        let twice = ContactDraft {
            attributes: vec![("City".into(), "a".into()), ("city".into(), "b".into())],
            ..draft()
        };
        assert!(check_draft(&twice, true).unwrap_err()[0].message.contains("two attributes"));
    }
}
