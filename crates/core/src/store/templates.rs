//! The account's message templates, and queueing a template message.
//!
//! Templates are stored as Meta listed them, with their components JSON
//! whole, so a later template manager can show and edit everything. A
//! template message goes through the same outbox as a text: one message
//! row (its visible text is the rendered template, its `raw` the name,
//! language and components to send) and one outbox entry, written together.

use parley_types::Message;
use rusqlite::{params, OptionalExtension};

use super::outbox::{enqueue, QueueRefusal};
use super::{Store, StoreError};

/// One template as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTemplate {
    pub name: String,
    pub language: String,
    pub template_id: Option<String>,
    pub category: String,
    pub status: String,
    /// Meta's components array, as JSON text.
    pub components: String,
    pub rejected_reason: Option<String>,
    /// Meta's quality score (`GREEN`, `YELLOW`, `RED`, `UNKNOWN`).
    pub quality: Option<String>,
}

const TEMPLATE_SELECT: &str = "SELECT name, language, template_id, category, status, components,
    rejected_reason, quality FROM templates";

fn template_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredTemplate> {
    Ok(StoredTemplate {
        name: r.get(0)?,
        language: r.get(1)?,
        template_id: r.get(2)?,
        category: r.get(3)?,
        status: r.get(4)?,
        components: r.get(5)?,
        rejected_reason: r.get(6)?,
        quality: r.get(7)?,
    })
}

impl Store {
    /// Replace the stored templates with `templates` (Meta's full list).
    pub fn replace_templates(
        &self,
        templates: &[StoredTemplate],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM templates", [])?;
        {
            let mut insert = tx.prepare(
                "INSERT OR REPLACE INTO templates (name, language, template_id, category, status,
                     components, rejected_reason, updated_at, quality)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for t in templates {
                insert.execute(params![
                    t.name,
                    t.language,
                    t.template_id,
                    t.category,
                    t.status,
                    t.components,
                    t.rejected_reason,
                    now_ms,
                    t.quality
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every stored template, by name then language.
    pub fn list_templates(&self) -> Result<Vec<StoredTemplate>, StoreError> {
        let conn = self.reader();
        let mut stmt =
            conn.prepare_cached(&format!("{TEMPLATE_SELECT} ORDER BY name, language"))?;
        let rows = stmt.query_map([], template_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn template(
        &self,
        name: &str,
        language: &str,
    ) -> Result<Option<StoredTemplate>, StoreError> {
        let conn = self.reader();
        let mut stmt =
            conn.prepare_cached(&format!("{TEMPLATE_SELECT} WHERE name = ?1 AND language = ?2"))?;
        Ok(stmt.query_row(params![name, language], template_from_row).optional()?)
    }

    /// Store one template (a new one, PENDING review), replacing the row of
    /// the same name and language.
    pub fn upsert_template(&self, t: &StoredTemplate, now_ms: i64) -> Result<(), StoreError> {
        self.writer().execute(
            "INSERT OR REPLACE INTO templates (name, language, template_id, category, status,
                 components, rejected_reason, updated_at, quality)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                t.name,
                t.language,
                t.template_id,
                t.category,
                t.status,
                t.components,
                t.rejected_reason,
                now_ms,
                t.quality
            ],
        )?;
        Ok(())
    }

    /// Remove every language of the template `name`; how many rows went.
    pub fn delete_templates_named(&self, name: &str) -> Result<usize, StoreError> {
        Ok(self.writer().execute("DELETE FROM templates WHERE name = ?1", params![name])?)
    }

    /// How many templates were submitted at or after `since_ms`.
    pub fn template_creations_since(&self, since_ms: i64) -> Result<u64, StoreError> {
        let n: i64 = self.reader().query_row(
            "SELECT count(*) FROM template_creations WHERE at >= ?1",
            params![since_ms],
            |r| r.get(0),
        )?;
        Ok(n.unsigned_abs())
    }

    /// Note a submission at `at_ms`, forgetting those before `forget_before_ms`.
    pub fn record_template_creation(
        &self,
        at_ms: i64,
        forget_before_ms: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM template_creations WHERE at < ?1", params![forget_before_ms])?;
        tx.execute("INSERT INTO template_creations (at) VALUES (?1)", params![at_ms])?;
        tx.commit()?;
        Ok(())
    }

    /// Queue a template message: `text` is what the thread shows, `send`
    /// the JSON the worker sends (`{name, language, components}`). Templates
    /// may open a conversation, so the 24-hour window is not checked; only
    /// WhatsApp has them.
    pub fn queue_template(
        &self,
        conversation: i64,
        text: &str,
        send: &str,
        client_txn_id: &str,
        now_ms: i64,
    ) -> Result<Result<Message, QueueRefusal>, StoreError> {
        let id = {
            let mut conn = self.writer();
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let kind: Option<String> = tx
                .query_row(
                    "SELECT ch.kind FROM conversations c
                     JOIN contacts ct ON ct.id = c.contact_id
                     JOIN channels ch ON ch.id = ct.channel_id
                     WHERE c.id = ?1",
                    params![conversation],
                    |r| r.get(0),
                )
                .optional()?;
            match kind.as_deref() {
                None => return Ok(Err(QueueRefusal::NoConversation)),
                Some("whatsapp") => {}
                Some(_) => return Ok(Err(QueueRefusal::TemplatesNotSupported)),
            }
            tx.execute(
                "INSERT INTO messages (conversation_id, client_txn_id, direction, kind, body, raw, sent_at, status)
                 VALUES (?1, ?2, 'outbound', 'template', ?3, ?4, ?5, 'sending')",
                params![conversation, client_txn_id, text, send, now_ms],
            )?;
            let id = tx.last_insert_rowid();
            enqueue(&tx, conversation, id, text, now_ms)?;
            tx.commit()?;
            id
        };
        Ok(Ok(self.message(id)?))
    }

    /// What a queued template message sends (`messages.raw`).
    pub fn template_send(&self, message: i64) -> Result<Option<String>, StoreError> {
        Ok(self
            .reader()
            .query_row(
                "SELECT raw FROM messages WHERE id = ?1 AND kind = 'template' AND direction = 'outbound'",
                params![message],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }
}

/// A `message_template_status_update`: the stored template's new status.
/// Whether a stored template changed.
pub(super) fn apply_template_status(
    tx: &rusqlite::Transaction<'_>,
    template_id: Option<&str>,
    name: Option<&str>,
    language: Option<&str>,
    status: &str,
    reason: Option<&str>,
) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached(
            "UPDATE templates SET status = ?4, rejected_reason = ?5
             WHERE template_id = ?1 OR (name = ?2 AND language = ?3)",
        )?
        .execute(params![template_id, name, language, status, reason])?
        > 0)
}

/// A `message_template_quality_update` (`column` = `quality`) or a
/// `template_category_update` (`column` = `category`): the stored
/// template's new value. Whether a stored template changed.
pub(super) fn apply_template_field(
    tx: &rusqlite::Transaction<'_>,
    template_id: Option<&str>,
    name: Option<&str>,
    language: Option<&str>,
    column: TemplateColumn,
    value: &str,
) -> Result<bool, StoreError> {
    let sql = match column {
        TemplateColumn::Quality => {
            "UPDATE templates SET quality = ?4
             WHERE template_id = ?1 OR (name = ?2 AND language = ?3)"
        }
        TemplateColumn::Category => {
            "UPDATE templates SET category = ?4
             WHERE template_id = ?1 OR (name = ?2 AND language = ?3)"
        }
    };
    Ok(tx.prepare_cached(sql)?.execute(params![template_id, name, language, value])? > 0)
}

/// Which stored value of a template a webhook changes.
#[derive(Debug, Clone, Copy)]
pub(super) enum TemplateColumn {
    Quality,
    Category,
}
