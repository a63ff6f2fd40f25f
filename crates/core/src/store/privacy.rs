//! The data-rights side of the store: retention purges, erasing one
//! customer, streamed exports and the inventory of what is kept.

use std::io::Write;
use std::path::Path;

use rusqlite::{params, Connection};
use serde::Serialize;

use super::{Store, StoreError};

/// What a purge or an erasure removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    pub messages: u64,
    pub media_files: u64,
}

/// How many rows or files an export writes between two progress reports.
pub const PROGRESS_EVERY: u64 = 1000;

/// What an export wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    pub contacts: u64,
    pub conversations: u64,
    pub messages: u64,
    pub media_files: u64,
}

/// What the database holds, for the data inventory.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Inventory {
    pub contacts: u64,
    pub conversations: u64,
    pub messages: u64,
    pub media_files: u64,
    pub media_bytes: u64,
}

/// Clean up after deleting rows: merge the search index so the deleted
/// words leave its segments (FTS5 otherwise keeps them until a merge), and
/// fold the WAL into the main file, whose freed pages secure_delete zeroed.
pub(super) fn scrub(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "INSERT INTO messages_fts (messages_fts) VALUES ('optimize');
         INSERT INTO contacts_fts (contacts_fts) VALUES ('optimize');
         PRAGMA wal_checkpoint(TRUNCATE);",
    )?;
    Ok(())
}

/// Delete the messages chosen by `filter` (an SQL condition on `messages`
/// whose parameters are `args`) with everything hanging off them.
fn delete_messages(
    tx: &rusqlite::Transaction<'_>,
    filter: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<PurgeReport, StoreError> {
    let media_files: i64 = tx.query_row(
        &format!("SELECT count(*) FROM media WHERE message_id IN (SELECT id FROM messages WHERE {filter})"),
        args,
        |r| r.get(0),
    )?;
    for sql in [
        "DELETE FROM reactions WHERE provider_id IN (SELECT provider_id FROM messages WHERE {f} AND provider_id IS NOT NULL)",
        "DELETE FROM status_events WHERE provider_id IN (SELECT provider_id FROM messages WHERE {f} AND provider_id IS NOT NULL)",
        "DELETE FROM outbox WHERE message_id IN (SELECT id FROM messages WHERE {f})",
        "DELETE FROM outbox WHERE reaction_target IN (SELECT provider_id FROM messages WHERE {f} AND provider_id IS NOT NULL)",
        "DELETE FROM sent_reactions WHERE target IN (SELECT provider_id FROM messages WHERE {f} AND provider_id IS NOT NULL)",
        "DELETE FROM media WHERE message_id IN (SELECT id FROM messages WHERE {f})",
    ] {
        tx.execute(&sql.replace("{f}", filter), args)?;
    }
    let messages = tx.execute(&format!("DELETE FROM messages WHERE {filter}"), args)?;
    Ok(PurgeReport { messages: messages as u64, media_files: media_files as u64 })
}

/// Erase one contact inside `tx`: their conversation (if any) with its
/// messages and everything hanging off them, their labels, attributes and
/// the contact row (the search index follows by trigger). The one erasure
/// behind "Erase this customer" and deleting a contact.
pub(super) fn erase_contact(
    tx: &rusqlite::Transaction<'_>,
    contact: i64,
) -> Result<PurgeReport, StoreError> {
    let exists: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE id = ?1)",
        params![contact],
        |r| r.get(0),
    )?;
    if !exists {
        return Err(StoreError::NotFound);
    }
    let conversation: Option<i64> = tx
        .query_row("SELECT id FROM conversations WHERE contact_id = ?1", params![contact], |r| {
            r.get(0)
        })
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    let mut report = PurgeReport::default();
    if let Some(conversation) = conversation {
        report = delete_messages(tx, "conversation_id = ?1", &[&conversation])?;
        tx.execute("DELETE FROM conversations WHERE id = ?1", params![conversation])?;
    }
    tx.execute("DELETE FROM contact_labels WHERE contact_id = ?1", params![contact])?;
    tx.execute("DELETE FROM contact_attributes WHERE contact_id = ?1", params![contact])?;
    tx.execute("DELETE FROM contacts WHERE id = ?1", params![contact])?;
    Ok(report)
}

/// Conversations of one channel kind (`?2`).
const IN_CHANNEL: &str = "conversation_id IN (SELECT cv.id FROM conversations cv
     JOIN contacts ct ON ct.id = cv.contact_id
     JOIN channels ch ON ch.id = ct.channel_id WHERE ch.kind = ?2)";

impl Store {
    /// Delete every message sent before `cutoff_ms`, its media, reactions,
    /// statuses and index entries, and old unhandled events.
    pub fn purge_before(&self, cutoff_ms: i64) -> Result<PurgeReport, StoreError> {
        let reports =
            self.purge(&[("whatsapp", cutoff_ms), ("instagram", cutoff_ms)], cutoff_ms)?;
        Ok(reports.iter().fold(PurgeReport::default(), |a, r| PurgeReport {
            messages: a.messages + r.messages,
            media_files: a.media_files + r.media_files,
        }))
    }

    /// Per channel kind (`"whatsapp"`, `"instagram"`), delete the messages
    /// sent before its cutoff with everything hanging off them; then the
    /// reactions, statuses and unhandled events (which may name any
    /// channel) older than `other_cutoff_ms`. One transaction; one report
    /// per entry of `channels`.
    pub fn purge(
        &self,
        channels: &[(&str, i64)],
        other_cutoff_ms: i64,
    ) -> Result<Vec<PurgeReport>, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut reports = Vec::with_capacity(channels.len());
        for &(kind, cutoff) in channels {
            let filter = format!("sent_at < ?1 AND {IN_CHANNEL}");
            reports.push(delete_messages(&tx, &filter, &[&cutoff, &kind])?);
            // A preview may quote a deleted message.
            tx.execute(
                "UPDATE conversations SET last_preview = '' WHERE last_at < ?1 AND id IN (
                     SELECT cv.id FROM conversations cv JOIN contacts ct ON ct.id = cv.contact_id
                     JOIN channels ch ON ch.id = ct.channel_id WHERE ch.kind = ?2)",
                params![cutoff, kind],
            )?;
        }
        let other = other_cutoff_ms;
        tx.execute("DELETE FROM status_events WHERE at < ?1", params![other])?;
        tx.execute("DELETE FROM unhandled_events WHERE received_at < ?1", params![other])?;
        tx.execute("DELETE FROM reactions WHERE at < ?1", params![other])?;
        tx.execute("DELETE FROM sent_reactions WHERE at < ?1", params![other])?;
        tx.commit()?;
        if reports.iter().any(|r| r.messages > 0) {
            scrub(&conn)?;
        }
        Ok(reports)
    }

    /// Delete every conversation, contact and message (disconnecting
    /// without keeping the history). Settings and the relay cursor stay.
    pub fn delete_history(&self) -> Result<PurgeReport, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let report = delete_messages(&tx, "1 = 1", &[])?;
        tx.execute_batch(
            "DELETE FROM reactions; DELETE FROM status_events; DELETE FROM unhandled_events;
             DELETE FROM conversations; DELETE FROM contacts;",
        )?;
        tx.commit()?;
        scrub(&conn)?;
        Ok(report)
    }

    /// Erase one customer: their conversation, messages, media, contact
    /// record and search entries.
    pub fn delete_conversation_data(&self, conversation: i64) -> Result<PurgeReport, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let contact: i64 = tx
            .query_row(
                "SELECT contact_id FROM conversations WHERE id = ?1",
                params![conversation],
                |r| r.get(0),
            )
            .map_err(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
                e => e.into(),
            })?;
        let report = erase_contact(&tx, contact)?;
        tx.commit()?;
        scrub(&conn)?;
        Ok(report)
    }

    pub fn inventory(&self) -> Result<Inventory, StoreError> {
        let conn = self.reader();
        let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).map(|n| n as u64);
        Ok(Inventory {
            contacts: count("SELECT count(*) FROM contacts")?,
            conversations: count("SELECT count(*) FROM conversations")?,
            messages: count("SELECT count(*) FROM messages")?,
            media_files: count("SELECT count(*) FROM media WHERE state = 'stored'")?,
            media_bytes: count("SELECT coalesce(sum(size), 0) FROM media WHERE state = 'stored'")?,
        })
    }

    /// Write everything, or one conversation, to `dir` as CSV and JSON,
    /// with media files and a README. Rows are streamed from the database
    /// to the files, so memory stays flat however big the history is.
    pub fn export(
        &self,
        dir: &Path,
        conversation: Option<i64>,
    ) -> Result<ExportReport, ExportError> {
        self.export_with_progress(dir, conversation, &mut |_, _| {})
    }

    /// [`Store::export`], calling `progress(done, total)` (rows and files)
    /// every [`PROGRESS_EVERY`] items and once at the end.
    pub fn export_with_progress(
        &self,
        dir: &Path,
        conversation: Option<i64>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<ExportReport, ExportError> {
        std::fs::create_dir_all(dir.join("media")).map_err(ExportError::Io)?;
        let conn = self.reader();
        let scope = conversation.map_or(-1, |c| c);
        let total: i64 = conn.query_row(
            "SELECT (SELECT count(*) FROM contacts WHERE ?1 = -1 OR id = (SELECT contact_id FROM conversations WHERE id = ?1))
                  + (SELECT count(*) FROM conversations WHERE ?1 = -1 OR id = ?1)
                  + (SELECT count(*) FROM messages WHERE (?1 = -1 OR conversation_id = ?1) AND deleted = 0)
                  + (SELECT count(*) FROM media md JOIN messages m ON m.id = md.message_id
                     WHERE md.state = 'stored' AND (?1 = -1 OR m.conversation_id = ?1))",
            params![scope],
            |r| r.get(0),
        )?;
        let total = total as u64;
        let mut done = 0u64;
        progress(0, total);
        let mut tick = |n: u64| {
            done += n;
            if done.is_multiple_of(PROGRESS_EVERY) {
                progress(done.min(total), total);
            }
        };
        let contacts = export_table(
            &conn,
            dir,
            "contacts",
            &["id", "channel", "wa_id", "user_id", "name", "notes", "labels", "opted_out_at", "opted_out_by", "attributes"],
            "SELECT ct.id, ch.kind, ct.wa_id, ct.user_id, ct.name, ct.notes,
                    (SELECT group_concat(label, '; ') FROM contact_labels l WHERE l.contact_id = ct.id),
                    ct.opted_out_at, ct.opted_out_by,
                    (SELECT json_group_object(name, value) FROM contact_attributes a WHERE a.contact_id = ct.id)
             FROM contacts ct
             JOIN channels ch ON ch.id = ct.channel_id
             WHERE ?1 = -1 OR ct.id = (SELECT contact_id FROM conversations WHERE id = ?1) ORDER BY ct.id",
            scope,
            &mut tick,
        )?;
        let conversations = export_table(
            &conn,
            dir,
            "conversations",
            &["id", "contact_id", "unread", "last_at"],
            "SELECT id, contact_id, unread, last_at FROM conversations WHERE ?1 = -1 OR id = ?1 ORDER BY id",
            scope,
            &mut tick,
        )?;
        let messages = export_table(
            &conn,
            dir,
            "messages",
            &["id", "conversation_id", "provider_id", "direction", "kind", "body", "sent_at", "status", "error", "reply_to"],
            "SELECT id, conversation_id, provider_id, direction, kind, body, sent_at, status, error, reply_to
             FROM messages WHERE (?1 = -1 OR conversation_id = ?1) AND deleted = 0 ORDER BY id",
            scope,
            &mut tick,
        )?;
        let mut report = ExportReport { contacts, conversations, messages, media_files: 0 };
        let mut stmt = conn.prepare(
            "SELECT md.message_id, md.mime_type, md.filename, md.data FROM media md
             JOIN messages m ON m.id = md.message_id
             WHERE md.state = 'stored' AND (?1 = -1 OR m.conversation_id = ?1) ORDER BY md.message_id",
        )?;
        let mut rows = stmt.query(params![scope])?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let mime: Option<String> = row.get(1)?;
            let filename: Option<String> = row.get(2)?;
            let data: Vec<u8> = row.get(3)?;
            std::fs::write(
                dir.join("media").join(media_file_name(id, mime.as_deref(), filename.as_deref())),
                data,
            )
            .map_err(ExportError::Io)?;
            report.media_files += 1;
            tick(1);
        }
        std::fs::write(dir.join("README.txt"), EXPORT_README).map_err(ExportError::Io)?;
        progress(total, total);
        Ok(report)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the export could not be written: {0}")]
    Io(std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ExportError {
    fn from(e: rusqlite::Error) -> Self {
        ExportError::Store(e.into())
    }
}

const EXPORT_README: &str = "Parley export\n\
=============\n\n\
These files are NOT encrypted. Anyone who can read this folder can read your\n\
customers' messages. Keep it somewhere safe, and delete it when done.\n\n\
contacts.csv / contacts.json            one row per customer: channel, WhatsApp id,\n\
                                        business-scoped user id, name, your notes and\n\
                                        labels, and when and by whom (agent or the\n\
                                        customer's STOP) they opted out, and the\n\
                                        attributes imported for them (a JSON object)\n\
conversations.csv / conversations.json  one row per conversation with its contact\n\
messages.csv / messages.json            every message: direction (inbound = from the\n\
                                        customer), Meta's type, text, time (ms since\n\
                                        1970-01-01 UTC), delivery status and error\n\
media/                                  attached files, named <message id>.<ext>\n\n\
CSV files follow RFC 4180 (UTF-8, comma-separated, double quotes). A cell that\n\
a spreadsheet would run as a formula (starting with =, +, -, @, tab or carriage\n\
return) is prefixed with a single quote.\n";

/// A safe file name: the message id and an extension from the type or the
/// original name, never a path the sender chose.
fn media_file_name(id: i64, mime: Option<&str>, filename: Option<&str>) -> String {
    let from_name = filename
        .and_then(|f| f.rsplit_once('.'))
        .map(|(_, ext)| ext)
        .filter(|e| !e.is_empty() && e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()));
    let from_mime =
        mime.and_then(|m| m.split('/').nth(1)).map(|s| s.split([';', '+']).next().unwrap_or(s));
    let ext = from_name
        .or(from_mime.filter(|e| !e.is_empty() && e.chars().all(|c| c.is_ascii_alphanumeric())))
        .unwrap_or("bin");
    format!("{id}.{}", ext.to_ascii_lowercase())
}

/// One CSV cell: formula-looking text neutralised, then RFC 4180 quoting.
pub fn csv_cell(value: &str) -> String {
    let neutral = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if neutral.contains([',', '"', '\n', '\r']) || neutral != neutral.trim() {
        format!("\"{}\"", neutral.replace('"', "\"\""))
    } else {
        neutral
    }
}

/// Stream one query into `<name>.csv` and `<name>.json` (an array of
/// objects). Returns the row count.
fn export_table(
    conn: &Connection,
    dir: &Path,
    name: &str,
    columns: &[&str],
    sql: &str,
    scope: i64,
    tick: &mut dyn FnMut(u64),
) -> Result<u64, ExportError> {
    let io = ExportError::Io;
    let mut csv = std::io::BufWriter::new(
        std::fs::File::create(dir.join(format!("{name}.csv"))).map_err(io)?,
    );
    let mut json = std::io::BufWriter::new(
        std::fs::File::create(dir.join(format!("{name}.json"))).map_err(io)?,
    );
    let header: Vec<String> = columns.iter().map(|c| csv_cell(c)).collect();
    write!(csv, "{}\r\n", header.join(",")).map_err(io)?;
    json.write_all(b"[").map_err(io)?;
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query(params![scope])?;
    let mut count = 0u64;
    while let Some(row) = rows.next()? {
        let mut cells = Vec::with_capacity(columns.len());
        let mut object = serde_json::Map::new();
        for (i, column) in columns.iter().enumerate() {
            let value: rusqlite::types::Value = row.get(i)?;
            let (text, json_value) = match value {
                rusqlite::types::Value::Null => (String::new(), serde_json::Value::Null),
                rusqlite::types::Value::Integer(n) => (n.to_string(), serde_json::Value::from(n)),
                rusqlite::types::Value::Real(f) => (f.to_string(), serde_json::Value::from(f)),
                rusqlite::types::Value::Text(t) => (t.clone(), serde_json::Value::from(t)),
                rusqlite::types::Value::Blob(_) => (String::new(), serde_json::Value::Null),
            };
            cells.push(csv_cell(&text));
            object.insert((*column).to_owned(), json_value);
        }
        write!(csv, "{}\r\n", cells.join(",")).map_err(io)?;
        if count > 0 {
            json.write_all(b",").map_err(io)?;
        }
        json.write_all(b"\n").map_err(io)?;
        serde_json::to_writer(&mut json, &object).map_err(|e| io(e.into()))?;
        count += 1;
        tick(1);
    }
    json.write_all(b"\n]\n").map_err(io)?;
    csv.flush().map_err(io)?;
    json.flush().map_err(io)?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::{csv_cell, media_file_name};

    #[test]
    fn cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_cell("=HYPERLINK(\"http://evil\")"), "\"'=HYPERLINK(\"\"http://evil\"\")\"");
        assert_eq!(csv_cell("+1 555"), "'+1 555");
        assert_eq!(csv_cell("@cmd"), "'@cmd");
        assert_eq!(csv_cell("-2"), "'-2");
    }

    #[test]
    fn media_names_never_come_from_the_sender_path() {
        assert_eq!(media_file_name(7, Some("image/jpeg"), None), "7.jpeg");
        assert_eq!(media_file_name(7, None, Some("../../etc/passwd")), "7.bin");
        assert_eq!(media_file_name(7, Some("application/pdf"), Some("invoice.PDF")), "7.pdf");
        assert_eq!(media_file_name(7, Some("image/svg+xml"), None), "7.svg");
    }
}
