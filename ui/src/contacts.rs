//! The Contacts screen's logic, host-tested: the list's rows and filters,
//! the create/edit form (values, which field shows which refusal), the
//! merge and delete sentences, and the CSV import wizard's steps (headers
//! read from the file, the column mapping, the preview's counts, progress
//! and the report). The component in `components/contacts.rs` only renders
//! these and calls the core.

use std::collections::HashMap;

use parley_types::contact::OptOutSource;
use parley_types::contact_book::{
    check_draft, Contact, ContactDraft, ContactField, ContactQuery, FieldError,
};
use parley_types::contacts_csv::{ColumnMapping, CsvReader, ImportPreview, ImportReport};
use parley_types::ChannelKind;

/// What a contact's row shows, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRowView {
    pub title: String,
    /// Number (with `+`), `@handle`, or the Instagram-scoped id.
    pub subtitle: String,
    pub channel: &'static str,
    pub labels: Vec<String>,
    pub opted_out: bool,
}

/// A WhatsApp number as a person writes it: `+` and the digits.
pub fn number_text(wa_id: &str) -> String {
    format!("+{wa_id}")
}

/// The name, or the number / handle when there is none.
pub fn contact_title(c: &Contact) -> String {
    if let Some(name) = c.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        return name.to_owned();
    }
    match (&c.wa_id, &c.instagram, &c.user_id) {
        (Some(wa), _, _) => number_text(wa),
        (None, Some(handle), _) => format!("@{handle}"),
        (None, None, Some(user)) => user.clone(),
        _ => "Unnamed contact".into(),
    }
}

pub fn row_view(c: &Contact) -> ContactRowView {
    let mut bits = Vec::new();
    if let Some(wa) = &c.wa_id {
        bits.push(number_text(wa));
    }
    if let Some(handle) = &c.instagram {
        bits.push(format!("@{handle}"));
    }
    if bits.is_empty() {
        if let Some(user) = &c.user_id {
            bits.push(user.clone());
        }
    }
    ContactRowView {
        title: contact_title(c),
        subtitle: bits.join(" · "),
        channel: match c.channel {
            ChannelKind::Whatsapp => "WhatsApp",
            ChannelKind::Instagram => "Instagram",
        },
        labels: c.labels.clone(),
        opted_out: c.opted_out.is_some(),
    }
}

/// The opt-out as a sentence for the form.
pub fn opt_out_text(c: &Contact) -> Option<&'static str> {
    c.opted_out.as_ref().map(|o| match o.by {
        OptOutSource::Keyword => "Opted out of marketing: the customer wrote STOP.",
        OptOutSource::Agent => "Opted out of marketing by an agent.",
    })
}

/// The opt-out filter's three choices, as the `<select>` values.
pub fn opt_out_filter_value(q: &ContactQuery) -> &'static str {
    match q.opted_out {
        None => "any",
        Some(true) => "out",
        Some(false) => "in",
    }
}

pub fn opt_out_filter_from(value: &str) -> Option<bool> {
    match value {
        "out" => Some(true),
        "in" => Some(false),
        _ => None,
    }
}

/// A new query from the screen's inputs (from the first page).
pub fn query(search: &str, label: &str, opted_out: Option<bool>) -> ContactQuery {
    let label = label.trim();
    ContactQuery {
        search: search.trim().to_owned(),
        label: (!label.is_empty()).then(|| label.to_owned()),
        opted_out,
        after: None,
    }
}

/// The create/edit form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactForm {
    pub draft: ContactDraft,
    /// Whether the number can be typed (new contacts, and WhatsApp contacts
    /// without a conversation).
    pub number_editable: bool,
    /// The opt-out as loaded, so saving sends a change only when the box changed.
    pub loaded_opt_out: bool,
    pub opt_out_checked: bool,
    /// Refusals shown, per field (after Save, or from the core).
    pub errors: HashMap<ContactField, String>,
    pub saving: bool,
}

impl ContactForm {
    pub fn new_contact() -> ContactForm {
        ContactForm {
            draft: ContactDraft {
                attributes: vec![(String::new(), String::new())],
                ..Default::default()
            },
            number_editable: true,
            ..Default::default()
        }
    }

    pub fn edit(c: &Contact) -> ContactForm {
        let mut attributes = c.attributes.clone();
        attributes.push((String::new(), String::new()));
        ContactForm {
            draft: ContactDraft {
                id: Some(c.id),
                name: c.name.clone().unwrap_or_default(),
                whatsapp: c.wa_id.as_deref().map(number_text).unwrap_or_default(),
                instagram: c.instagram.clone().unwrap_or_default(),
                labels: c.labels.join(", "),
                notes: c.notes.clone(),
                attributes,
                opted_out: None,
            },
            number_editable: c.channel == ChannelKind::Whatsapp && c.conversation_id.is_none(),
            loaded_opt_out: c.opted_out.is_some(),
            opt_out_checked: c.opted_out.is_some(),
            errors: HashMap::new(),
            saving: false,
        }
    }

    pub fn creating(&self) -> bool {
        self.draft.id.is_none()
    }

    /// A field was typed in: its refusal goes until the next Save.
    pub fn set(&mut self, field: ContactField, value: String) {
        match field {
            ContactField::Name => self.draft.name = value,
            ContactField::Whatsapp => self.draft.whatsapp = value,
            ContactField::Instagram => self.draft.instagram = value,
            ContactField::Labels => self.draft.labels = value,
            ContactField::Notes => self.draft.notes = value,
            ContactField::Attributes => {}
        }
        self.errors.remove(&field);
    }

    /// Attribute row `i`'s name or value; an empty row stays at the end.
    pub fn set_attribute(&mut self, i: usize, name: Option<String>, value: Option<String>) {
        if let Some(row) = self.draft.attributes.get_mut(i) {
            if let Some(n) = name {
                row.0 = n;
            }
            if let Some(v) = value {
                row.1 = v;
            }
        }
        let last_used =
            self.draft.attributes.last().is_some_and(|(n, v)| !n.is_empty() || !v.is_empty());
        if last_used {
            self.draft.attributes.push((String::new(), String::new()));
        }
        self.errors.remove(&ContactField::Attributes);
    }

    /// The draft to send, or the refusals to show (nothing is sent then).
    pub fn submit(&mut self) -> Option<ContactDraft> {
        let mut draft = self.draft.clone();
        draft.opted_out =
            (self.opt_out_checked != self.loaded_opt_out).then_some(self.opt_out_checked);
        match check_draft(&draft, self.creating()) {
            Ok(_) => {
                self.errors.clear();
                Some(draft)
            }
            Err(errors) => {
                self.refused(errors);
                None
            }
        }
    }

    /// Show refusals (the first per field).
    pub fn refused(&mut self, errors: Vec<FieldError>) {
        self.errors.clear();
        for e in errors {
            self.errors.entry(e.field).or_insert(e.message);
        }
        self.saving = false;
    }

    pub fn error(&self, field: ContactField) -> Option<String> {
        self.errors.get(&field).cloned()
    }
}

/// The question before a delete.
pub fn delete_question(c: &Contact) -> String {
    let title = contact_title(c);
    if c.conversation_id.is_some() {
        format!(
            "Delete {title} with their conversation, messages and files? This cannot be undone."
        )
    } else {
        format!("Delete {title}? This cannot be undone.")
    }
}

/// What a merge will do, said before it is done.
pub fn merge_sentence(keep: &Contact, merge: &Contact) -> String {
    format!(
        "Keep {} and move {}'s conversation, labels, notes and attributes onto it; {} is then \
         removed.",
        contact_title(keep),
        contact_title(merge),
        contact_title(merge)
    )
}

/// Where the import wizard is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportStep {
    /// Waiting for a file.
    Choose,
    /// The file's columns and what they are taken as.
    Map {
        file_name: String,
        csv: String,
        headers: Vec<String>,
        mapping: ColumnMapping,
    },
    /// What the import would do.
    Preview {
        file_name: String,
        csv: String,
        headers: Vec<String>,
        mapping: ColumnMapping,
        preview: ImportPreview,
    },
    Importing {
        done: u64,
        total: u64,
    },
    Done(ImportReport),
}

/// The header row of a file, or why the file cannot be used.
pub fn read_headers(csv: &str) -> Result<Vec<String>, String> {
    match CsvReader::new(csv).next() {
        None => Err("The file is empty: choose a CSV file with a header row.".into()),
        Some(Err(e)) => Err(e.reason),
        Some(Ok(header)) if header.cells.iter().all(|c| c.trim().is_empty()) => {
            Err("The first row is empty: it should name the columns (Name, Phone, ...).".into())
        }
        Some(Ok(header)) => Ok(header.cells),
    }
}

/// After a file was read: its mapping step, guessed from the headers.
pub fn mapping_step(file_name: &str, csv: String) -> Result<ImportStep, String> {
    let headers = read_headers(&csv)?;
    let mapping = ColumnMapping::guess(&headers);
    Ok(ImportStep::Map { file_name: file_name.to_owned(), csv, headers, mapping })
}

/// The mapping's fields the wizard lets the agent choose.
pub const MAPPED_FIELDS: [(&str, &str); 6] = [
    ("whatsapp", "WhatsApp number"),
    ("name", "Name"),
    ("instagram", "Instagram handle"),
    ("labels", "Labels (separated by ;)"),
    ("notes", "Notes"),
    ("opted_out", "Opted out (yes/no)"),
];

/// The column chosen for a field (`None`: not imported).
pub fn mapped(mapping: &ColumnMapping, field: &str) -> Option<String> {
    match field {
        "whatsapp" => mapping.whatsapp.clone(),
        "name" => mapping.name.clone(),
        "instagram" => mapping.instagram.clone(),
        "labels" => mapping.labels.clone(),
        "notes" => mapping.notes.clone(),
        "opted_out" => mapping.opted_out.clone(),
        _ => None,
    }
}

/// Choose `column` (empty: none) for `field`.
pub fn set_mapped(mapping: &mut ColumnMapping, field: &str, column: &str) {
    let value = (!column.is_empty()).then(|| column.to_owned());
    match field {
        "whatsapp" => mapping.whatsapp = value,
        "name" => mapping.name = value,
        "instagram" => mapping.instagram = value,
        "labels" => mapping.labels = value,
        "notes" => mapping.notes = value,
        "opted_out" => mapping.opted_out = value,
        _ => {}
    }
}

/// The columns no field uses: kept as custom attributes under their header.
pub fn attribute_columns(headers: &[String], mapping: &ColumnMapping) -> Vec<String> {
    let used: Vec<String> = MAPPED_FIELDS.iter().filter_map(|(f, _)| mapped(mapping, f)).collect();
    headers
        .iter()
        .filter(|h| !h.trim().is_empty() && !used.iter().any(|u| u.eq_ignore_ascii_case(h)))
        .cloned()
        .collect()
}

/// The mapping step's own check before asking for a preview.
pub fn mapping_error(mapping: &ColumnMapping, headers: &[String]) -> Option<String> {
    mapping.resolve(headers).err()
}

/// The preview's counts, as a sentence.
pub fn preview_summary(p: &ImportPreview) -> String {
    let rejected = p.rejected.len() as u64;
    let good = p.total.saturating_sub(rejected);
    format!(
        "{} {} in the file: {good} will be imported, {rejected} {} left out.",
        p.total,
        if p.total == 1 { "row" } else { "rows" },
        if rejected == 1 { "is" } else { "are" },
    )
}

/// Progress in percent (0 until the total is known).
pub fn percent(done: u64, total: u64) -> u64 {
    (done.min(total) * 100).checked_div(total).unwrap_or(0)
}

/// The report's counts, as a sentence.
pub fn report_summary(r: &ImportReport) -> String {
    format!(
        "{} created, {} updated, {} unchanged, {} rejected.",
        r.created,
        r.updated,
        r.unchanged,
        r.rejected.len()
    )
}

/// A progress event for the wizard: only while importing, never backwards.
pub fn on_progress(step: &mut ImportStep, done: u64, total: u64) {
    if let ImportStep::Importing { done: seen, total: t } = step {
        if done >= *seen {
            *seen = done;
            *t = total;
        }
    }
}

#[cfg(test)]
mod tests {
    use parley_types::contact::OptOut;
    use parley_types::contacts_csv::RejectedRow;

    use super::*;

    fn contact() -> Contact {
        Contact {
            id: 7,
            channel: ChannelKind::Whatsapp,
            name: None,
            wa_id: Some("15550000001".into()),
            user_id: None,
            instagram: Some("ann.b".into()),
            labels: vec!["VIP".into()],
            notes: "n".into(),
            attributes: vec![("City".into(), "Oslo".into())],
            opted_out: Some(OptOut { at: 1, by: OptOutSource::Keyword }),
            conversation_id: None,
            created_at: 0,
        }
    }

    #[test]
    fn rows_show_the_name_or_the_number() {
        let mut c = contact();
        let v = row_view(&c);
        assert_eq!(v.title, "+15550000001");
        assert_eq!(v.subtitle, "+15550000001 · @ann.b");
        assert!(v.opted_out);
        c.name = Some("  Ann ".into());
        assert_eq!(contact_title(&c), "Ann");
        assert_eq!(opt_out_text(&c).unwrap(), "Opted out of marketing: the customer wrote STOP.");
        assert!(delete_question(&c).starts_with("Delete Ann?"));
        c.conversation_id = Some(3);
        assert!(delete_question(&c).contains("conversation, messages and files"));
    }

    #[test]
    fn the_form_shows_each_refusal_on_its_field_and_sends_the_opt_out_only_when_changed() {
        let mut form = ContactForm::new_contact();
        form.set(ContactField::Name, "Ann".into());
        form.set(ContactField::Whatsapp, "0555 1234".into());
        assert_eq!(form.submit(), None);
        assert!(form.error(ContactField::Whatsapp).unwrap().contains("country code"));
        assert_eq!(form.error(ContactField::Name), None);
        form.set(ContactField::Whatsapp, "+1 555 000 0001".into());
        assert_eq!(form.error(ContactField::Whatsapp), None, "typing clears it");
        form.set_attribute(0, Some("City".into()), None);
        assert_eq!(form.draft.attributes.len(), 2, "an empty row waits at the end");
        form.set_attribute(0, None, Some("Oslo".into()));
        let draft = form.submit().unwrap();
        assert_eq!(draft.opted_out, None);
        assert_eq!(draft.attributes[0], ("City".to_string(), "Oslo".to_string()));

        let mut edit = ContactForm::edit(&contact());
        assert!(edit.number_editable && !edit.creating());
        assert_eq!(edit.draft.whatsapp, "+15550000001");
        assert_eq!(edit.submit().unwrap().opted_out, None, "unchanged box: left as it is");
        edit.opt_out_checked = false;
        assert_eq!(edit.submit().unwrap().opted_out, Some(false));
        let mut with_conversation = contact();
        with_conversation.conversation_id = Some(1);
        assert!(!ContactForm::edit(&with_conversation).number_editable);
        edit.refused(vec![FieldError { field: ContactField::Whatsapp, message: "Taken.".into() }]);
        assert_eq!(edit.error(ContactField::Whatsapp).as_deref(), Some("Taken."));
    }

    #[test]
    fn filters_map_to_a_query() {
        let q = query("  ann ", " VIP ", Some(true));
        assert_eq!(
            (q.search.as_str(), q.label.as_deref(), q.opted_out),
            ("ann", Some("VIP"), Some(true))
        );
        assert_eq!(query("", "  ", None).label, None);
        assert_eq!(opt_out_filter_value(&q), "out");
        assert_eq!(opt_out_filter_from("in"), Some(false));
        assert_eq!(opt_out_filter_from("any"), None);
    }

    #[test]
    fn the_wizard_maps_headers_previews_counts_and_reports() {
        assert!(read_headers("").unwrap_err().contains("empty"));
        assert!(read_headers(",,\n1,2,3").unwrap_err().contains("first row"));
        let step = mapping_step("c.csv", "Name,Phone,Tags,City\nAnn,1555,,\n".into()).unwrap();
        let ImportStep::Map { headers, mut mapping, .. } = step else { panic!() };
        assert_eq!(mapped(&mapping, "whatsapp").as_deref(), Some("Phone"));
        assert_eq!(attribute_columns(&headers, &mapping), ["City"]);
        set_mapped(&mut mapping, "whatsapp", "");
        assert!(mapping_error(&mapping, &headers).unwrap().contains("WhatsApp"));
        set_mapped(&mut mapping, "whatsapp", "Phone");
        set_mapped(&mut mapping, "notes", "City");
        assert!(attribute_columns(&headers, &mapping).is_empty());
        assert_eq!(mapping_error(&mapping, &headers), None);
        let preview = ImportPreview {
            rows: vec![],
            total: 5,
            rejected: vec![RejectedRow { line: 3, reason: "x".into() }],
        };
        assert_eq!(
            preview_summary(&preview),
            "5 rows in the file: 4 will be imported, 1 is left out."
        );
        let mut step = ImportStep::Importing { done: 0, total: 0 };
        on_progress(&mut step, 1000, 4000);
        on_progress(&mut step, 0, 4000);
        assert_eq!(step, ImportStep::Importing { done: 1000, total: 4000 });
        assert_eq!(percent(1000, 4000), 25);
        assert_eq!(percent(5, 0), 0);
        let report =
            ImportReport { created: 3, updated: 1, unchanged: 0, rejected: preview.rejected };
        assert_eq!(report_summary(&report), "3 created, 1 updated, 0 unchanged, 1 rejected.");
    }

    #[test]
    fn a_merge_says_what_it_keeps() {
        let keep = Contact { name: Some("Ann".into()), ..contact() };
        let merge = Contact { id: 8, name: Some("Ann B".into()), ..contact() };
        assert_eq!(
            merge_sentence(&keep, &merge),
            "Keep Ann and move Ann B's conversation, labels, notes and attributes onto it; Ann B \
             is then removed."
        );
    }
}
