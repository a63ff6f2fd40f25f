//! Contacts CSV import and export (issue 7): the file is checked with the
//! shared rules of `parley_types::contacts_csv`, previewed, then saved in
//! batched transactions on the account's WhatsApp channel.

use std::path::Path;

use parley_types::contacts_csv::{
    check_row, is_blank, ColumnMapping, ContactsFilter, CsvReader, ImportPreview, ImportReport,
    Record, RejectedRow, ResolvedMapping,
};

use crate::{now_ms, Core, CoreError};

/// Rows saved per transaction: the sync loop's writes wait at most one batch.
pub const IMPORT_BATCH: usize = 1_000;

/// The header and its mapping, and how many customer rows follow (a first
/// pass, so progress has a total and a broken file fails before anything
/// is saved).
fn open_file(csv: &str, mapping: &ColumnMapping) -> Result<(ResolvedMapping, u64), CoreError> {
    let mut reader = CsvReader::new(csv);
    let header =
        match reader.next() {
            None => return Err(CoreError::InvalidInput(
                "The file is empty: export your contacts as CSV with a header row and try again."
                    .into(),
            )),
            Some(header) => header.map_err(|e| CoreError::InvalidInput(e.reason))?,
        };
    let map = mapping.resolve(&header.cells).map_err(CoreError::InvalidInput)?;
    let mut total = 0;
    for record in reader {
        let record = record.map_err(|e| CoreError::InvalidInput(e.reason))?;
        if !is_blank(&record) {
            total += 1;
        }
    }
    Ok((map, total))
}

/// The customer rows after the header, checked.
fn checked<'a>(
    csv: &'a str,
    map: &'a ResolvedMapping,
) -> impl Iterator<Item = Result<parley_types::contacts_csv::ContactRow, RejectedRow>> + 'a {
    // The first row of each number is imported; a later one is reported.
    let mut seen: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    CsvReader::new(csv)
        .skip(1)
        // `open_file` read the whole file without an error.
        .filter_map(Result::ok)
        .filter(|r: &Record| !is_blank(r))
        .map(move |r| {
            let row = check_row(map, &r).map_err(|reason| RejectedRow { line: r.row, reason })?;
            match seen.entry(row.wa_id.clone()) {
                std::collections::hash_map::Entry::Occupied(first) => Err(RejectedRow {
                    line: r.row,
                    reason: format!(
                        "Row {} has the same WhatsApp number; only that row is imported. Remove \
                         one of the two.",
                        first.get()
                    ),
                }),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(r.row);
                    Ok(row)
                }
            }
        })
}

impl Core {
    /// The WhatsApp number imported contacts belong to.
    fn whatsapp_channel(&self) -> Result<String, CoreError> {
        self.config().graph.map(|g| g.phone_number_id).ok_or(CoreError::NoGraphAccount)
    }

    /// What importing `csv` with `mapping` would do: the first `limit` rows
    /// as they would be saved and every row that would be left out, with its
    /// reason. Saves nothing.
    pub fn preview_contacts_import(
        &self,
        csv: &str,
        mapping: &ColumnMapping,
        limit: usize,
    ) -> Result<ImportPreview, CoreError> {
        self.gate()?;
        let (map, total) = open_file(csv, mapping)?;
        let mut preview = ImportPreview { total, ..Default::default() };
        for row in checked(csv, &map) {
            match row {
                Ok(row) if preview.rows.len() < limit => preview.rows.push(row),
                Ok(_) => {}
                Err(rejected) => preview.rejected.push(rejected),
            }
        }
        Ok(preview)
    }

    /// Import `csv`: a customer whose WhatsApp number is already a contact
    /// on the account's channel is updated (name and notes when given,
    /// labels merged, opted out when the file says yes (a "no" never undoes
    /// an opt-out), attributes set), never duplicated; others are created,
    /// without a conversation. Saved [`IMPORT_BATCH`] rows per transaction,
    /// `progress(done, total)` after each.
    pub fn import_contacts(
        &self,
        csv: &str,
        mapping: &ColumnMapping,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ImportReport, CoreError> {
        self.gate()?;
        let channel = self.whatsapp_channel()?;
        let (map, total) = open_file(csv, mapping)?;
        let mut report = ImportReport::default();
        let mut done = 0;
        let mut batch = Vec::with_capacity(IMPORT_BATCH);
        let mut rows = checked(csv, &map).peekable();
        progress(0, total);
        while rows.peek().is_some() {
            batch.clear();
            batch.extend(rows.by_ref().take(IMPORT_BATCH));
            let out = self.inner.store.import_contact_rows(&channel, &batch, now_ms())?;
            report.created += out.created;
            report.updated += out.updated;
            report.unchanged += out.unchanged;
            report.rejected.extend(out.rejected);
            done += batch.len() as u64;
            progress(done, total);
        }
        Ok(report)
    }

    /// Write the WhatsApp contacts `filter` selects to `path` (created or
    /// replaced) as UTF-8 CSV; returns how many.
    pub fn export_contacts(&self, filter: &ContactsFilter, path: &Path) -> Result<u64, CoreError> {
        self.gate()?;
        self.inner.store.export_contacts(filter, path).map_err(|e| match e {
            crate::store::ExportError::Store(s) => CoreError::Store(s),
            io => CoreError::InvalidInput(format!("{io}. Choose another file and try again.")),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use parley_types::contacts_csv::ContactRow;

    use super::*;
    use crate::{InMemorySecretStore, NoNotifier, Profile};

    use crate::tests::{count, import_csv as import};

    fn core(dir: &Path) -> Core {
        crate::tests::offline_core(dir, Arc::new(InMemorySecretStore::default()))
    }

    const FILE: &str = "\u{feff}Name,Phone,Labels,Notes,Opted out,City\r\n\
        Ann,+1 555 000 0001,VIP;north,\"likes \"\"early\"\" calls\",no,Oslo\r\n\
        Bob,0555 000 0002,,,,\r\n\
        \r\n\
        Cy,15550000003,,\"a note\non two lines\",maybe,\r\n\
        Dee,(44) 20-7946-0958,,,yes,\"Bergen, NO\"\r\n\
        Eve,15550000005,a,b,no,x,extra\r\n";

    #[test]
    fn good_and_bad_rows_import_with_an_exact_report() {
        let dir = tempfile::tempdir().unwrap();
        let core = core(dir.path());
        let report = import(&core, FILE);
        assert_eq!((report.created, report.updated, report.unchanged), (2, 0, 0));
        let lines: Vec<u64> = report.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 5, 7], "{:?}", report.rejected);
        assert!(report.rejected[0].reason.contains("country code"));
        assert!(report.rejected[1].reason.contains("yes or no"));
        assert!(report.rejected[2].reason.contains("7 cells"));
        assert_eq!(count(&core, "SELECT count(*) FROM contacts"), 2);
        assert_eq!(count(&core, "SELECT count(*) FROM contact_labels"), 2);
        assert_eq!(
            count(&core, "SELECT count(*) FROM contacts WHERE wa_id = '442079460958' AND opted_out_at IS NOT NULL"),
            1
        );
        assert!(core.list_conversations().unwrap().is_empty(), "no empty conversations");
        // The preview says the same, without saving.
        let mapping = ColumnMapping::guess(&CsvReader::new(FILE).next().unwrap().unwrap().cells);
        let preview = core.preview_contacts_import(FILE, &mapping, 1).unwrap();
        assert_eq!(preview.total, 5);
        assert_eq!(preview.rows.len(), 1);
        assert_eq!(preview.rows[0].notes.as_deref(), Some("likes \"early\" calls"));
        assert_eq!(preview.rejected, report.rejected);
        // A file that never closes a quote saves nothing.
        let broken = "Name,Phone\nZed,15550000009\n\"oops,15550000010\n";
        let err = core.import_contacts(broken, &mapping_of(broken), &mut |_, _| {}).unwrap_err();
        assert!(err.to_string().contains("never closes"));
        assert_eq!(count(&core, "SELECT count(*) FROM contacts"), 2);
    }

    fn mapping_of(csv: &str) -> ColumnMapping {
        ColumnMapping::guess(&CsvReader::new(csv).next().unwrap().unwrap().cells)
    }

    #[test]
    fn importing_twice_updates_and_never_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let core = core(dir.path());
        import(&core, FILE);
        let again = import(&core, FILE);
        assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 2));
        let changed = "Name,WhatsApp,Labels,Notes,Opted out,City\n\
            Ann B,15550000001,vip;south,,no,Oslo\n\
            Dee,442079460958,,,no,Tromsø\n\
            New,15550000006,,,,\n";
        let report = import(&core, changed);
        assert_eq!((report.created, report.updated, report.unchanged), (1, 2, 0));
        assert!(report.rejected.is_empty());
        assert_eq!(count(&core, "SELECT count(*) FROM contacts"), 3);
        let reader = core.store().reader();
        let (name, notes): (String, String) = reader
            .query_row("SELECT name, notes FROM contacts WHERE wa_id = '15550000001'", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(name, "Ann B");
        assert_eq!(notes, "likes \"early\" calls", "empty notes are not given");
        let labels: String = reader
            .query_row(
                "SELECT group_concat(label, ',') FROM (SELECT label FROM contact_labels l
                 JOIN contacts c ON c.id = l.contact_id WHERE wa_id = '15550000001' ORDER BY label)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(labels, "north,south,VIP", "merged, ignoring case");
        let opted: Option<i64> = reader
            .query_row("SELECT opted_out_at FROM contacts WHERE wa_id = '442079460958'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(opted.is_some(), "a file's \"no\" never undoes an opt-out");
        let city: String = reader
            .query_row(
                "SELECT value FROM contact_attributes a JOIN contacts c ON c.id = a.contact_id
                 WHERE c.wa_id = '442079460958' AND a.name = 'city'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(city, "Tromsø");
    }

    #[test]
    fn a_hundred_thousand_rows_import_with_progress_to_the_total() {
        let dir = tempfile::tempdir().unwrap();
        let core = core(dir.path());
        let mut csv = String::from("Name,Phone,Labels,Tier\n");
        for i in 0..100_000u64 {
            csv.push_str(&format!("Customer {i},+49 151 {:08},bulk,{}\n", i, i % 3));
        }
        let mut ticks = Vec::new();
        let report =
            core.import_contacts(&csv, &mapping_of(&csv), &mut |d, t| ticks.push((d, t))).unwrap();
        assert_eq!(report.created, 100_000);
        assert!(report.rejected.is_empty());
        assert_eq!(ticks.first(), Some(&(0, 100_000)));
        assert_eq!(ticks.last(), Some(&(100_000, 100_000)));
        assert_eq!(ticks.len(), 101, "one tick per batch of {IMPORT_BATCH}");
        assert_eq!(count(&core, "SELECT count(*) FROM contacts"), 100_000);
        assert_eq!(count(&core, "SELECT count(*) FROM contact_attributes"), 100_000);
        assert_eq!(count(&core, "SELECT count(DISTINCT wa_id) FROM contacts"), 100_000);
    }

    #[test]
    fn export_round_trips_through_the_reader_and_neutralises_formulas() {
        let dir = tempfile::tempdir().unwrap();
        let core = core(&dir.path().join("p"));
        let nasty = "=HYPERLINK(\"http://evil.example\",\"click\")";
        let csv = format!(
            "Name,Phone,Labels,Notes,Opted out,Instagram,Order\n\
             \"Ann, \"\"the\"\" customer\",15550000001,VIP;late payer,\"two\nlines\",yes,@ann.b,{}\n\
             Bob,15550000002,other,,no,,-1\n",
            parley_core_csv_quote(nasty)
        );
        assert!(import(&core, &csv).rejected.is_empty());
        let path = dir.path().join("contacts.csv");
        let all = core.export_contacts(&ContactsFilter::default(), &path).unwrap();
        assert_eq!(all, 2);
        let text = std::fs::read_to_string(&path).unwrap();
        let records: Vec<Record> = CsvReader::new(&text).map(Result::unwrap).collect();
        let header: Vec<&str> = records[0].cells.iter().map(String::as_str).collect();
        assert_eq!(
            header,
            ["Name", "WhatsApp", "Labels", "Notes", "Opted out", "Instagram", "Order"]
        );
        assert_eq!(records[1].cells[0], "Ann, \"the\" customer");
        assert_eq!(records[1].cells[3], "two\nlines");
        assert_eq!(records[1].cells[6], format!("'{nasty}"), "the formula is neutralised");
        assert_eq!(records[2].cells[6], "'-1");
        // Re-importing the export changes nothing (the neutralised cell aside).
        let map = mapping_of(&text).resolve(&records[0].cells).unwrap();
        let row: ContactRow = check_row(&map, &records[1]).unwrap();
        assert_eq!(row.wa_id, "15550000001");
        assert_eq!(row.labels, ["late payer", "VIP"]);
        assert_eq!(row.opted_out, Some(true));
        assert!(row.attributes.contains(&("Instagram".into(), "ann.b".into())));
        // Filters: by label (ignoring case) and by opt-out.
        let vip = ContactsFilter { labels: vec!["vip".into()], opted_out: None };
        assert_eq!(core.export_contacts(&vip, &path).unwrap(), 1);
        let not_out = ContactsFilter { labels: vec![], opted_out: Some(false) };
        assert_eq!(core.export_contacts(&not_out, &path).unwrap(), 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("Bob") && !text.contains("Ann"));
    }

    fn parley_core_csv_quote(s: &str) -> String {
        format!("\"{}\"", s.replace('"', "\"\""))
    }

    #[test]
    fn erasing_a_customer_removes_their_attributes_and_an_import_needs_a_number() {
        let dir = tempfile::tempdir().unwrap();
        let core = core(dir.path());
        import(&core, "Name,Phone,City\nAnn,15550000001,Oslo\nBob,15550000002,Bergen\n");
        // Ann writes: ingest opens a conversation on the imported contact.
        let json = serde_json::json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": "200", "changes": [{ "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": "1", "phone_number_id": "100" },
                "contacts": [{ "profile": { "name": "Ann" }, "wa_id": "15550000001" }],
                "messages": [{ "from": "15550000001", "id": "wamid.1", "timestamp": "1700000000",
                               "type": "text", "text": { "body": "hi" } }]
            }}]}]
        });
        core.store()
            .ingest(&parley_meta::webhook::parse_value(&json).unwrap(), None, 1_700_000_000_000)
            .unwrap();
        let conversations = core.list_conversations().unwrap();
        assert_eq!(conversations.len(), 1);
        assert_eq!(count(&core, "SELECT count(*) FROM contacts"), 2, "the same contact");
        // The contact's details carry them, for the template picker.
        let details = core.contact_details(conversations[0].id).unwrap();
        assert_eq!(
            details.attributes,
            vec![parley_types::contact::ContactAttribute {
                name: "City".into(),
                value: "Oslo".into()
            }]
        );
        // The data-rights export carries them too.
        let out = dir.path().join("export");
        core.export(&out, Some(conversations[0].id)).unwrap();
        let contacts = std::fs::read_to_string(out.join("contacts.json")).unwrap();
        assert!(contacts.contains(r#"{\"City\":\"Oslo\"}"#), "{contacts}");
        core.delete_conversation_data(conversations[0].id).unwrap();
        assert_eq!(count(&core, "SELECT count(*) FROM contact_attributes WHERE value = 'Oslo'"), 0);
        assert_eq!(count(&core, "SELECT count(*) FROM contact_attributes"), 1, "Bob's stay");
        // Without a WhatsApp number configured there is no channel to import into.
        let bare = tempfile::tempdir().unwrap();
        let bare = Core::open(
            Profile::open(bare.path()).unwrap(),
            Arc::new(InMemorySecretStore::default()),
            Arc::new(NoNotifier),
        )
        .unwrap();
        let csv = "Phone\n15550000001\n";
        let err = bare.import_contacts(csv, &mapping_of(csv), &mut |_, _| {}).unwrap_err();
        assert!(matches!(err, CoreError::NoGraphAccount));
    }
}
