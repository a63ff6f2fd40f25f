//! The Contacts screen (issue 7): listing, creating, editing, deleting and
//! merging contacts, likely duplicates, and the CSV import and export as
//! the UI calls them (the file's text in, progress out as events).

use parley_types::contact_book::{
    check_draft, Contact, ContactDraft, ContactPage, ContactQuery, ContactSaveOutcome,
    DuplicatePair, ExportContactsRequest, ImportCsvRequest, CONTACTS_PAGE,
};
use parley_types::contacts_csv::{ImportPreview, ImportReport};
use parley_types::InboxEvent;

use crate::{now_ms, Core, CoreError};

/// Rows the import preview lists (every rejected row is listed besides).
pub const PREVIEW_ROWS: usize = 200;

/// Duplicate pairs offered at once.
pub const DUPLICATES_SHOWN: u32 = 50;

impl Core {
    /// One page of contacts (see [`ContactQuery`]).
    pub fn list_contacts(&self, query: &ContactQuery) -> Result<ContactPage, CoreError> {
        self.gate()?;
        Ok(self.inner.store.list_contacts(query, CONTACTS_PAGE)?)
    }

    /// One conversation's row (the Contacts screen lists it before opening
    /// it, however far down the inbox it is).
    pub fn conversation(&self, id: i64) -> Result<parley_types::ConversationSummary, CoreError> {
        self.gate()?;
        Ok(self.inner.store.conversation(id)?)
    }

    pub fn contact(&self, id: i64) -> Result<Contact, CoreError> {
        self.gate()?;
        Ok(self.inner.store.contact(id)?)
    }

    /// Create (`draft.id` is `None`, on the account's WhatsApp number) or
    /// edit a contact. Refusals come back per field, checked by the same
    /// rules the form checks live, plus what only the store knows (a
    /// number another contact holds).
    pub fn save_contact(&self, draft: &ContactDraft) -> Result<ContactSaveOutcome, CoreError> {
        self.gate()?;
        let clean = match check_draft(draft, draft.id.is_none()) {
            Ok(clean) => clean,
            Err(errors) => return Ok(ContactSaveOutcome::Refused { errors }),
        };
        let channel = self.config().graph.map(|g| g.phone_number_id);
        let saved = self.inner.store.save_contact(
            draft.id,
            &clean,
            draft.opted_out,
            channel.as_deref(),
            now_ms(),
        )?;
        match saved {
            Err(errors) => Ok(ContactSaveOutcome::Refused { errors }),
            Ok(id) => {
                let contact = self.inner.store.contact(id)?;
                if let Some(conversation) = contact.conversation_id {
                    self.emit_conversation(conversation);
                }
                self.emit(InboxEvent::ContactsChanged);
                Ok(ContactSaveOutcome::Saved { contact })
            }
        }
    }

    /// Delete a contact and everything of theirs: conversation, messages,
    /// media, labels, attributes (the erasure "Erase this customer" runs).
    pub fn delete_contact(&self, id: i64) -> Result<(), CoreError> {
        self.gate()?;
        let (_, conversation) = self.inner.store.delete_contact(id)?;
        if let Some(conversation_id) = conversation {
            self.emit(InboxEvent::ConversationRemoved { conversation_id });
        }
        self.emit(InboxEvent::ContactsChanged);
        Ok(())
    }

    /// Merge `merge` into `keep` (same channel): returns the kept contact.
    pub fn merge_contacts(&self, keep: i64, merge: i64) -> Result<Contact, CoreError> {
        self.gate()?;
        let (kept, removed) = self.inner.store.merge_contacts(keep, merge)??;
        if let Some(conversation_id) = removed {
            self.emit(InboxEvent::ConversationRemoved { conversation_id });
        }
        if let Some(conversation) = kept {
            self.emit_conversation(conversation);
        }
        self.emit(InboxEvent::ContactsChanged);
        Ok(self.inner.store.contact(keep)?)
    }

    /// Pairs of contacts that look like one customer.
    pub fn duplicate_contacts(&self) -> Result<Vec<DuplicatePair>, CoreError> {
        self.gate()?;
        Ok(self.inner.store.duplicate_contacts(DUPLICATES_SHOWN)?)
    }

    /// The import preview of a file the UI read: the first
    /// [`PREVIEW_ROWS`] rows as saved and every rejected row with its reason.
    pub fn preview_contacts_csv(
        &self,
        request: &ImportCsvRequest,
    ) -> Result<ImportPreview, CoreError> {
        self.preview_contacts_import(&request.csv, &request.mapping, PREVIEW_ROWS)
    }

    /// Import a file the UI read, off the async threads, pushing
    /// [`InboxEvent::ContactsImportProgress`] once per saved batch.
    pub async fn import_contacts_csv(
        &self,
        request: ImportCsvRequest,
    ) -> Result<ImportReport, CoreError> {
        self.gate()?;
        let core = self.clone();
        let report = tokio::task::spawn_blocking(move || {
            let mut progress =
                |done, total| core.emit(InboxEvent::ContactsImportProgress { done, total });
            core.import_contacts(&request.csv, &request.mapping, &mut progress)
        })
        .await
        .map_err(|e| CoreError::InvalidInput(format!("the import stopped: {e}")))??;
        self.emit(InboxEvent::ContactsChanged);
        Ok(report)
    }

    /// Export the WhatsApp contacts the filter selects to a new or
    /// replaced `.csv` file; returns how many.
    pub fn export_contacts_csv(&self, request: &ExportContactsRequest) -> Result<u64, CoreError> {
        self.gate()?;
        let path = check_export_file(&request.path)?;
        self.export_contacts(&request.filter, &path)
    }

    /// A file under the user's home that the export suggests.
    pub fn contacts_export_suggestion(&self) -> String {
        let home = std::env::var_os("HOME")
            .map(std::path::PathBuf::from)
            .filter(|h| h.is_absolute() && h.is_dir())
            .unwrap_or_else(|| self.inner.profile.dir().to_owned());
        let mut candidate = home.join("Parley contacts.csv");
        let mut n = 2;
        while candidate.exists() {
            candidate = home.join(format!("Parley contacts {n}.csv"));
            n += 1;
        }
        candidate.to_string_lossy().into_owned()
    }
}

/// A full path to a file whose folder exists (an existing file is replaced,
/// a folder is refused).
pub fn check_export_file(path: &str) -> Result<std::path::PathBuf, CoreError> {
    let trimmed = path.trim();
    let path = std::path::PathBuf::from(trimmed);
    if trimmed.is_empty() || !path.is_absolute() {
        return Err(CoreError::InvalidInput(
            "Choose a full path for the file, such as /home/you/Parley contacts.csv.".into(),
        ));
    }
    if path.is_dir() {
        return Err(CoreError::InvalidInput(format!(
            "{} is a folder: add a file name such as contacts.csv.",
            path.display()
        )));
    }
    if !path.parent().is_some_and(std::path::Path::is_dir) {
        return Err(CoreError::InvalidInput(format!(
            "The folder that would hold {} does not exist: choose a folder that does.",
            path.display()
        )));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use parley_types::contact_book::{ContactField, ContactQuery};
    use parley_types::contacts_csv::{ColumnMapping, CsvReader};
    use serde_json::json;

    use super::*;
    use crate::InMemorySecretStore;

    use crate::tests::{count, import_csv as import};

    fn core(dir: &std::path::Path) -> Core {
        crate::tests::offline_core(dir, Arc::new(InMemorySecretStore::default()))
    }

    /// A WhatsApp text from `from` (wa_id and/or business-scoped user_id).
    fn inbound(
        core: &Core,
        wa_id: Option<&str>,
        user_id: Option<&str>,
        id: &str,
        body: &str,
        at: i64,
    ) {
        let mut contact = json!({ "profile": { "name": "Customer" } });
        let mut message = json!({ "id": id, "timestamp": at.to_string(), "type": "text",
                                  "text": { "body": body } });
        if let Some(w) = wa_id {
            contact["wa_id"] = json!(w);
            message["from"] = json!(w);
        }
        if let Some(u) = user_id {
            contact["user_id"] = json!(u);
            message["from_user_id"] = json!(u);
        }
        let hook = json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": "200", "changes": [{ "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": "1", "phone_number_id": "100" },
                "contacts": [contact],
                "messages": [message]
            }}]}]
        });
        core.store()
            .ingest(&parley_meta::webhook::parse_value(&hook).unwrap(), None, at * 1000)
            .unwrap();
    }

    fn draft(name: &str, number: &str) -> ContactDraft {
        ContactDraft { name: name.into(), whatsapp: number.into(), ..Default::default() }
    }

    fn saved(outcome: ContactSaveOutcome) -> Contact {
        match outcome {
            ContactSaveOutcome::Saved { contact } => contact,
            refused => panic!("{refused:?}"),
        }
    }

    #[test]
    fn contacts_are_created_edited_and_refused_per_field() {
        let dir = tempfile::tempdir().unwrap();
        let core = core(dir.path());
        let mut d = draft("Ann", "+44 20 7946 0958");
        d.instagram = "@ann.b".into();
        d.labels = "VIP, north".into();
        d.notes = "prefers mornings".into();
        d.attributes = vec![("City".into(), "Oslo".into())];
        d.opted_out = Some(true);
        let ann = saved(core.save_contact(&d).unwrap());
        assert_eq!(ann.wa_id.as_deref(), Some("442079460958"));
        assert_eq!(ann.instagram.as_deref(), Some("ann.b"));
        assert_eq!(ann.labels, ["north", "VIP"]);
        assert_eq!(ann.attributes, [("City".to_string(), "Oslo".to_string())]);
        assert!(ann.opted_out.is_some());
        assert_eq!(ann.conversation_id, None);
        // The same number again is refused on its field.
        let ContactSaveOutcome::Refused { errors } =
            core.save_contact(&draft("Other", "442079460958")).unwrap()
        else {
            panic!("a second contact with one number")
        };
        assert_eq!(errors[0].field, ContactField::Whatsapp);
        assert!(errors[0].message.contains("\"Ann\""), "{errors:?}");
        let ContactSaveOutcome::Refused { errors } = core.save_contact(&draft("X", "12")).unwrap()
        else {
            panic!("a short number")
        };
        assert!(errors[0].message.contains("8 to 15"));
        // Editing: a new name, number, labels; attributes replaced; opt-out kept when None.
        let mut edit = d.clone();
        edit.id = Some(ann.id);
        edit.name = "Ann B".into();
        edit.whatsapp = "+44 20 7946 0959".into();
        edit.labels = "south".into();
        edit.instagram = String::new();
        edit.attributes = vec![];
        edit.opted_out = None;
        let ann = saved(core.save_contact(&edit).unwrap());
        assert_eq!(ann.name.as_deref(), Some("Ann B"));
        assert_eq!(ann.wa_id.as_deref(), Some("442079460959"));
        assert_eq!(ann.labels, ["south"]);
        assert_eq!((ann.instagram, ann.attributes.len()), (None, 0));
        assert!(ann.opted_out.is_some(), "None keeps the opt-out");
        edit.opted_out = Some(false);
        assert!(saved(core.save_contact(&edit).unwrap()).opted_out.is_none());
        // A number under a conversation cannot change.
        inbound(&core, Some("442079460959"), None, "wamid.1", "hi", 1_700_000_000);
        edit.whatsapp = "+44 20 7946 0950".into();
        let ContactSaveOutcome::Refused { errors } = core.save_contact(&edit).unwrap() else {
            panic!("number changed under a conversation")
        };
        assert!(errors[0].message.contains("cannot change"));
    }

    #[test]
    fn the_list_pages_by_name_and_filters_by_search_label_and_opt_out() {
        let dir = tempfile::tempdir().unwrap();
        let core = core(dir.path());
        let mut csv = String::from("Name,Phone,Labels,Opted out,Instagram\n");
        for i in 0..250u64 {
            let label = if i % 10 == 0 { "vip" } else { "bulk" };
            let out = if i % 50 == 0 { "yes" } else { "no" };
            csv.push_str(&format!("Customer {i:03},+49 151 {i:08},{label},{out},handle_{i}\n"));
        }
        csv.push_str(",+1 555 000 0001,,,\n");
        assert_eq!(import(&core, &csv).created, 251);
        let mut query = ContactQuery::default();
        let mut seen = Vec::new();
        loop {
            let page = core.list_contacts(&query).unwrap();
            seen.extend(page.contacts.iter().map(|c| c.name.clone()));
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen.len(), 251, "every contact once across pages");
        assert_eq!(seen[0], None, "a contact without a name sorts by its number");
        assert_eq!(seen[1].as_deref(), Some("Customer 000"));
        assert_eq!(seen[250].as_deref(), Some("Customer 249"));
        let list = |q: ContactQuery| core.list_contacts(&q).unwrap().contacts;
        let by_name = list(ContactQuery { search: "customer 12".into(), ..Default::default() });
        assert_eq!(by_name.len(), 10, "words match as prefixes: 120..129, not 012");
        let by_name = list(ContactQuery { search: "customer 012".into(), ..Default::default() });
        assert_eq!(by_name.len(), 1);
        let by_number = list(ContactQuery { search: "0000012".into(), ..Default::default() });
        assert_eq!(by_number.len(), 11, "12 and 120..129");
        let by_handle = list(ContactQuery { search: "@HANDLE_24".into(), ..Default::default() });
        assert_eq!(by_handle.len(), 11, "a handle prefix, ignoring case: 24 and 240..249");
        let vip = list(ContactQuery { label: Some("VIP".into()), ..Default::default() });
        assert_eq!(vip.len(), 25);
        let out = list(ContactQuery { opted_out: Some(true), ..Default::default() });
        assert_eq!(out.len(), 5);
        let vip_out = list(ContactQuery {
            label: Some("vip".into()),
            opted_out: Some(true),
            search: "customer".into(),
            ..Default::default()
        });
        assert_eq!(vip_out.len(), 5);
        // The order is the sort index's: no sort step over all contacts.
        let plan = core.store().list_contacts_plan().unwrap();
        assert!(plan.contains("contacts_by_sort"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        let plan = core.store().duplicate_contacts_plan().unwrap();
        assert!(plan.contains("contacts_by_name"), "the pair join is an index lookup: {plan}");
    }

    #[test]
    fn deleting_a_contact_erases_an_imported_one_and_one_with_a_conversation() {
        let dir = tempfile::tempdir().unwrap();
        let core = core(dir.path());
        import(
            &core,
            "Name,Phone,Labels,City\nAnn,15550000001,vip,Oslo\nBob,15550000002,x,Bergen\n",
        );
        inbound(&core, Some("15550000002"), None, "wamid.b", "secret words", 1_700_000_000);
        let all = core.list_contacts(&ContactQuery::default()).unwrap().contacts;
        let (ann, bob) = (&all[0], &all[1]);
        assert!(ann.conversation_id.is_none() && bob.conversation_id.is_some());
        core.delete_contact(ann.id).unwrap();
        assert_eq!(count(&core, "SELECT count(*) FROM contact_attributes WHERE value = 'Oslo'"), 0);
        core.delete_contact(bob.id).unwrap();
        for table in
            ["contacts", "contact_labels", "contact_attributes", "conversations", "messages"]
        {
            assert_eq!(count(&core, &format!("SELECT count(*) FROM {table}")), 0, "{table}");
        }
        assert!(core.search("secret").unwrap().is_empty());
        assert!(matches!(
            core.delete_contact(bob.id),
            Err(CoreError::Store(crate::store::StoreError::NotFound))
        ));
    }

    #[test]
    fn merging_moves_the_conversation_labels_notes_attributes_and_opt_out() {
        let dir = tempfile::tempdir().unwrap();
        let core = core(dir.path());
        import(
            &core,
            "Name,Phone,Labels,Notes,Opted out,City,Tier\n\
             Ann,15550000001,vip,first note,no,Oslo,\n\
             Ann,15550000002,late,second note,yes,Bergen,gold\n\
             Bob,15550000003,,,,,\n",
        );
        inbound(&core, Some("15550000001"), None, "wamid.1", "one", 1_700_000_000);
        inbound(&core, Some("15550000002"), None, "wamid.2", "two", 1_700_000_100);
        inbound(&core, Some("15550000002"), None, "wamid.3", "three", 1_700_000_200);
        let pairs = core.duplicate_contacts().unwrap();
        assert_eq!(pairs.len(), 1, "{pairs:?}");
        let (keep, merge) = (pairs[0].first.clone(), pairs[0].second.clone());
        assert_eq!(keep.wa_id.as_deref(), Some("15550000001"));
        let kept = core.merge_contacts(keep.id, merge.id).unwrap();
        assert_eq!(kept.labels, ["late", "vip"]);
        assert_eq!(kept.notes, "first note\n\nsecond note");
        assert!(kept.opted_out.is_some(), "opted out if either was");
        assert!(kept.attributes.contains(&("City".into(), "Oslo".into())), "the kept one wins");
        assert!(kept.attributes.contains(&("Tier".into(), "gold".into())));
        assert!(kept.attributes.contains(&("Other WhatsApp".into(), "+15550000002".into())));
        assert_eq!(count(&core, "SELECT count(*) FROM contacts"), 2, "the merged row is gone");
        assert_eq!(count(&core, "SELECT count(*) FROM conversations"), 1);
        let conversations = core.list_conversations().unwrap();
        assert_eq!(conversations[0].id, keep.conversation_id.unwrap());
        assert_eq!(conversations[0].last_preview, "three");
        assert_eq!(conversations[0].unread, 3);
        let messages = core.list_messages(conversations[0].id).unwrap();
        assert_eq!(
            messages.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
            ["one", "two", "three"]
        );
        assert!(core.duplicate_contacts().unwrap().is_empty());
        // A third Ann with yet another number: her number is kept too, under
        // the next free name, not dropped.
        import(&core, "Name,Phone\nAnn,15550000009\n");
        let third = count(&core, "SELECT id FROM contacts WHERE wa_id = '15550000009'");
        let kept = core.merge_contacts(kept.id, third).unwrap();
        assert!(kept.attributes.contains(&("Other WhatsApp".into(), "+15550000002".into())));
        assert!(kept.attributes.contains(&("Other WhatsApp 2".into(), "+15550000009".into())));
        // Refusals: itself, and another channel.
        assert!(matches!(core.merge_contacts(kept.id, kept.id), Err(CoreError::Merge(_))));
        let ig = json!({ "object": "instagram", "entry": [{ "id": "ig1", "time": 1, "messaging": [{
            "sender": { "id": "IGSID1" }, "recipient": { "id": "ig1" }, "timestamp": 1_700_000_000_000i64,
            "message": { "mid": "m.1", "text": "hello" } }] }] });
        core.store()
            .ingest(&parley_meta::webhook::parse_value(&ig).unwrap(), None, 1_700_000_000_000)
            .unwrap();
        let ig_contact: i64 =
            count(&core, "SELECT ct.id FROM contacts ct JOIN channels ch ON ch.id = ct.channel_id WHERE ch.kind = 'instagram'");
        let err = core.merge_contacts(kept.id, ig_contact).unwrap_err();
        assert!(err.to_string().contains("different channels"), "{err}");
    }

    #[test]
    fn a_webhook_naming_a_number_and_a_user_id_of_two_contacts_makes_them_one() {
        let dir = tempfile::tempdir().unwrap();
        let core = core(dir.path());
        import(&core, "Name,Phone,Labels\nAnn,15550000001,vip\n");
        // Meta sends the business-scoped user id alone first: a second contact.
        inbound(&core, None, Some("US.1234"), "wamid.1", "by user id", 1_700_000_000);
        assert_eq!(count(&core, "SELECT count(*) FROM contacts"), 2);
        // Then both ids in one webhook: one contact, keeping the number's row.
        inbound(&core, Some("15550000001"), Some("US.1234"), "wamid.2", "both", 1_700_000_100);
        assert_eq!(count(&core, "SELECT count(*) FROM contacts"), 1);
        let all = core.list_contacts(&ContactQuery::default()).unwrap().contacts;
        assert_eq!(all[0].wa_id.as_deref(), Some("15550000001"));
        assert_eq!(all[0].user_id.as_deref(), Some("US.1234"));
        assert_eq!(all[0].labels, ["vip"]);
        let conversations = core.list_conversations().unwrap();
        assert_eq!(conversations.len(), 1);
        assert_eq!(core.list_messages(conversations[0].id).unwrap().len(), 2);
        // The user id alone now finds the same contact.
        inbound(&core, None, Some("US.1234"), "wamid.3", "user id again", 1_700_000_200);
        assert_eq!(count(&core, "SELECT count(*) FROM contacts"), 1);
        assert_eq!(core.list_messages(conversations[0].id).unwrap().len(), 3);
    }

    #[test]
    fn csv_text_from_the_ui_previews_and_imports_with_progress_events() {
        let dir = tempfile::tempdir().unwrap();
        let core = core(dir.path());
        let csv = "Name,Phone,Notes\nAnn,15550000001,\"=HYPERLINK(\"\"x\"\")\"\nBad,12,\nAnn again,+1 555 000 0001,\nNobody,,\n,,\n";
        let mapping = ColumnMapping::guess(&CsvReader::new(csv).next().unwrap().unwrap().cells);
        let request = ImportCsvRequest { csv: csv.into(), mapping };
        let preview = core.preview_contacts_csv(&request).unwrap();
        assert_eq!((preview.total, preview.rows.len()), (4, 1));
        let reasons: Vec<(u64, &str)> =
            preview.rejected.iter().map(|r| (r.line, r.reason.as_str())).collect();
        assert_eq!(reasons[0].0, 3);
        assert!(reasons[0].1.contains("digits"));
        assert_eq!(reasons[1].0, 4);
        assert!(reasons[1].1.contains("Row 2 has the same WhatsApp number"), "{reasons:?}");
        assert!(reasons[2].1.contains("no WhatsApp number"));
        let mut events = core.subscribe();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let report = rt.block_on(core.import_contacts_csv(request)).unwrap();
        assert_eq!((report.created, report.rejected.len()), (1, 3));
        let mut progress = Vec::new();
        while let Ok(event) = events.try_recv() {
            if let InboxEvent::ContactsImportProgress { done, total } = event {
                progress.push((done, total));
            }
        }
        assert_eq!(progress, [(0, 4), (4, 4)]);
        // Export: a folder or a relative path is refused; a file is written.
        let err = core
            .export_contacts_csv(&ExportContactsRequest {
                path: "x.csv".into(),
                filter: Default::default(),
            })
            .unwrap_err();
        assert!(err.to_string().contains("full path"));
        let err = core
            .export_contacts_csv(&ExportContactsRequest {
                path: dir.path().to_string_lossy().into(),
                filter: Default::default(),
            })
            .unwrap_err();
        assert!(err.to_string().contains("is a folder"));
        let path = dir.path().join("out.csv");
        let n = core
            .export_contacts_csv(&ExportContactsRequest {
                path: path.to_string_lossy().into(),
                filter: Default::default(),
            })
            .unwrap();
        assert_eq!(n, 1);
        assert!(std::fs::read_to_string(&path).unwrap().contains("'=HYPERLINK"));
    }
}
