//! Saving imported contacts and writing the contacts CSV.
//!
//! Imported customers are `contacts` rows on the account's WhatsApp channel
//! with no `conversations` row: the inbox lists conversations, so a customer
//! who never wrote does not show as an empty conversation. When they write
//! (or an agent's first message reaches them), ingest finds the contact by
//! its `wa_id` and opens the conversation on it, notes and labels included.

use std::io::Write;
use std::path::Path;

use parley_types::contact::clean_labels;
use parley_types::contacts_csv::{ContactRow, ContactsFilter, RejectedRow};
use parley_types::ChannelKind;
use rusqlite::{params, OptionalExtension, Transaction};

use super::ingest::channel_id;
use super::privacy::{csv_cell, ExportError};
use super::{Store, StoreError};

/// What one batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: Vec<RejectedRow>,
}

enum Saved {
    Created,
    Updated,
    Unchanged,
}

fn save_row(
    tx: &Transaction<'_>,
    channel: i64,
    row: &ContactRow,
    now_ms: i64,
) -> Result<Result<Saved, String>, StoreError> {
    let existing: Option<i64> = tx
        .prepare_cached("SELECT id FROM contacts WHERE channel_id = ?1 AND wa_id = ?2")?
        .query_row(params![channel, row.wa_id], |r| r.get(0))
        .optional()?;
    let opt_out_at = (row.opted_out == Some(true)).then_some(now_ms);
    let (contact, created) = match existing {
        Some(id) => {
            // Labels are merged: check the merged set before changing anything.
            let mut labels: Vec<String> = tx
                .prepare_cached("SELECT label FROM contact_labels WHERE contact_id = ?1")?
                .query_map(params![id], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            labels.extend(row.labels.iter().cloned());
            if let Err(reason) = clean_labels(&labels) {
                return Ok(Err(format!("With this row's labels added: {reason}")));
            }
            (id, false)
        }
        None => {
            tx.prepare_cached(
                "INSERT INTO contacts (channel_id, wa_id, name, notes, opted_out_at, opted_out_by,
                                       created_at)
                 VALUES (?1, ?2, ?3, coalesce(?4, ''), ?5, CASE WHEN ?5 IS NOT NULL THEN 'agent' END, ?6)",
            )?
            .execute(params![channel, row.wa_id, row.name, row.notes, opt_out_at, now_ms])?;
            (tx.last_insert_rowid(), true)
        }
    };
    let mut changes = 0;
    if !created {
        changes += tx
            .prepare_cached(
                "UPDATE contacts SET name = coalesce(?2, name), notes = coalesce(?3, notes),
                        opted_out_at = coalesce(opted_out_at, ?4),
                        opted_out_by = CASE WHEN opted_out_at IS NULL AND ?4 IS NOT NULL
                                            THEN 'agent' ELSE opted_out_by END
                 WHERE id = ?1 AND ((?2 IS NOT NULL AND name IS NOT ?2)
                                 OR (?3 IS NOT NULL AND notes IS NOT ?3)
                                 OR (?4 IS NOT NULL AND opted_out_at IS NULL))",
            )?
            .execute(params![contact, row.name, row.notes, opt_out_at])?;
    }
    let mut label = tx.prepare_cached(
        "INSERT OR IGNORE INTO contact_labels (contact_id, label) VALUES (?1, ?2)",
    )?;
    for l in &row.labels {
        changes += label.execute(params![contact, l])?;
    }
    let mut attribute = tx.prepare_cached(
        "INSERT INTO contact_attributes (contact_id, name, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (contact_id, name) DO UPDATE SET value = excluded.value
         WHERE value IS NOT excluded.value",
    )?;
    for (name, value) in &row.attributes {
        changes += attribute.execute(params![contact, name, value])?;
    }
    Ok(Ok(if created {
        Saved::Created
    } else if changes > 0 {
        Saved::Updated
    } else {
        Saved::Unchanged
    }))
}

/// The contacts `filter` selects (`?1`: labels as a JSON array, `?2`: their
/// count, `?3`: opted out or not, NULL for either). WhatsApp only: an
/// Instagram-scoped id means nothing outside Parley.
const FILTERED: &str = "ct.wa_id IS NOT NULL
    AND (?2 = 0 OR EXISTS (SELECT 1 FROM contact_labels l WHERE l.contact_id = ct.id
                           AND l.label IN (SELECT value FROM json_each(?1))))
    AND (?3 IS NULL OR (ct.opted_out_at IS NOT NULL) = ?3)";

impl Store {
    /// Save one batch of checked rows (or rows already rejected, passed
    /// through) in one transaction on the WhatsApp channel `phone_number_id`.
    pub fn import_contact_rows(
        &self,
        phone_number_id: &str,
        rows: &[Result<ContactRow, RejectedRow>],
        now_ms: i64,
    ) -> Result<BatchOutcome, StoreError> {
        let mut out = BatchOutcome::default();
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let channel = channel_id(&tx, ChannelKind::Whatsapp, phone_number_id)?;
        for row in rows {
            match row {
                Err(rejected) => out.rejected.push(rejected.clone()),
                Ok(row) => match save_row(&tx, channel, row, now_ms)? {
                    Ok(Saved::Created) => out.created += 1,
                    Ok(Saved::Updated) => out.updated += 1,
                    Ok(Saved::Unchanged) => out.unchanged += 1,
                    Err(reason) => out.rejected.push(RejectedRow { line: row.row, reason }),
                },
            }
        }
        tx.commit()?;
        Ok(out)
    }

    /// A contact's custom attributes, by name.
    pub fn contact_attributes(&self, contact: i64) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT name, value FROM contact_attributes WHERE contact_id = ?1 ORDER BY name",
        )?;
        let rows = stmt.query_map(params![contact], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Write the WhatsApp contacts `filter` selects to `path` as RFC 4180
    /// UTF-8 CSV (formulas neutralised): name, number, labels, notes,
    /// opted out, then one column per custom attribute. Returns the rows.
    pub fn export_contacts(
        &self,
        filter: &ContactsFilter,
        path: &Path,
    ) -> Result<u64, ExportError> {
        let labels = serde_json::Value::from(filter.labels.clone()).to_string();
        let args = params![labels, filter.labels.len() as i64, filter.opted_out];
        let conn = self.reader();
        let attributes: Vec<String> = conn
            .prepare(&format!(
                "SELECT DISTINCT a.name FROM contact_attributes a
                 JOIN contacts ct ON ct.id = a.contact_id WHERE {FILTERED} ORDER BY a.name"
            ))?
            .query_map(args, |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let io = ExportError::Io;
        let mut file = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
        let mut header: Vec<String> =
            ["Name", "WhatsApp", "Labels", "Notes", "Opted out"].map(String::from).to_vec();
        header.extend(attributes.iter().cloned());
        let line = |cells: &[String]| {
            let mut s = cells.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(",");
            s.push_str("\r\n");
            s
        };
        file.write_all(line(&header).as_bytes()).map_err(io)?;
        let mut stmt = conn.prepare(&format!(
            "SELECT ct.id, coalesce(ct.name, ''), ct.wa_id, ct.notes, ct.opted_out_at IS NOT NULL,
                    coalesce((SELECT group_concat(label, '; ') FROM
                        (SELECT label FROM contact_labels WHERE contact_id = ct.id ORDER BY label)), '')
             FROM contacts ct WHERE {FILTERED} ORDER BY ct.id"
        ))?;
        let mut values = conn
            .prepare_cached("SELECT name, value FROM contact_attributes WHERE contact_id = ?1")?;
        let mut rows = stmt.query(args)?;
        let mut count = 0;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let opted: bool = r.get(4)?;
            let mut cells: Vec<String> = vec![
                r.get(1)?,
                r.get(2)?,
                r.get(5)?,
                r.get(3)?,
                if opted { "yes" } else { "no" }.into(),
            ];
            let mut own = vec![String::new(); attributes.len()];
            let mut attrs = values.query(params![id])?;
            while let Some(a) = attrs.next()? {
                let name: String = a.get(0)?;
                if let Some(i) = attributes.iter().position(|n| n.eq_ignore_ascii_case(&name)) {
                    own[i] = a.get(1)?;
                }
            }
            cells.extend(own);
            file.write_all(line(&cells).as_bytes()).map_err(io)?;
            count += 1;
        }
        file.flush().map_err(io)?;
        Ok(count)
    }
}
