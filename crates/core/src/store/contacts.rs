//! What agents keep about a customer: notes, labels and the opt-out from
//! marketing messages (set by an agent, or by the customer writing STOP).

use parley_types::contact::{
    check_notes, clean_labels, ContactDetails, ContactUpdate, OptOut, OptOutSource,
};
use rusqlite::{params, OptionalExtension, Transaction};

use super::{Store, StoreError};

/// A customer's bare STOP (`opt_out`) or START, sent at `at`, arrived in
/// `conversation`. Only the newest keyword counts (webhooks can arrive out
/// of order), and a START only undoes an opt-out the customer made
/// themselves: an agent's decision (say, at the customer's request on the
/// phone) stays.
pub(super) fn keyword_opt_out(
    tx: &Transaction<'_>,
    conversation: i64,
    opt_out: bool,
    at: i64,
) -> Result<(), StoreError> {
    let contact = "(SELECT contact_id FROM conversations WHERE id = ?1)";
    // Not strictly newer: WhatsApp timestamps are whole seconds, and a STOP
    // then START sent within one second arrive in order (a webhook carries
    // them in order), so the one applied last wins a tie.
    let newer = "(opt_keyword_at IS NULL OR opt_keyword_at <= ?2)";
    let sql = if opt_out {
        format!(
            "UPDATE contacts SET opt_keyword_at = ?2,
                 opted_out_at = coalesce(opted_out_at, ?2),
                 opted_out_by = coalesce(opted_out_by, 'keyword')
             WHERE id = {contact} AND {newer}"
        )
    } else {
        format!(
            "UPDATE contacts SET opt_keyword_at = ?2,
                 opted_out_at = CASE WHEN opted_out_by = 'agent' THEN opted_out_at END,
                 opted_out_by = CASE WHEN opted_out_by = 'agent' THEN opted_out_by END
             WHERE id = {contact} AND {newer}"
        )
    };
    tx.execute(&sql, params![conversation, at])?;
    Ok(())
}

/// The opt-out as stored (`opted_out_at`, `opted_out_by`).
pub(super) fn opt_out_of(at: Option<i64>, by: Option<&str>) -> Option<OptOut> {
    at.map(|at| OptOut {
        at,
        by: if by == Some("keyword") { OptOutSource::Keyword } else { OptOutSource::Agent },
    })
}

/// Whether the customer of `conversation` opted out of marketing.
pub(super) fn opted_out(
    conn: &rusqlite::Connection,
    conversation: i64,
) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT ct.opted_out_at IS NOT NULL FROM conversations c
         JOIN contacts ct ON ct.id = c.contact_id WHERE c.id = ?1",
        params![conversation],
        |r| r.get(0),
    )
    .optional()?
    .ok_or(StoreError::NotFound)
}

impl Store {
    /// Whether the customer of `conversation` opted out of marketing.
    pub fn opted_out(&self, conversation: i64) -> Result<bool, StoreError> {
        opted_out(&self.reader(), conversation)
    }

    /// The contact panel of a conversation.
    pub fn contact_details(&self, conversation: i64) -> Result<ContactDetails, StoreError> {
        let conn = self.reader();
        let row = conn
            .query_row(
                "SELECT ct.id, ch.kind, ct.name, coalesce(ct.wa_id, ct.user_id), ct.notes,
                        ct.opted_out_at, ct.opted_out_by, ct.created_at,
                        c.last_inbound_at, c.closed_at IS NOT NULL
                 FROM conversations c
                 JOIN contacts ct ON ct.id = c.contact_id
                 JOIN channels ch ON ch.id = ct.channel_id
                 WHERE c.id = ?1",
                params![conversation],
                |r| {
                    let kind: String = r.get(1)?;
                    let opted_at: Option<i64> = r.get(5)?;
                    let opted_by: Option<String> = r.get(6)?;
                    Ok((
                        r.get::<_, i64>(0)?,
                        ContactDetails {
                            conversation_id: conversation,
                            channel: super::channel_kind(&kind),
                            name: r.get(2)?,
                            handle: r.get(3)?,
                            notes: r.get(4)?,
                            labels: Vec::new(),
                            opted_out: opt_out_of(opted_at, opted_by.as_deref()),
                            first_seen_at: r.get(7)?,
                            messages_from_customer: 0,
                            messages_to_customer: 0,
                            last_inbound_at: r.get(8)?,
                            closed: r.get(9)?,
                            attributes: Vec::new(),
                        },
                    ))
                },
            )
            .optional()?;
        let (contact, mut details) = row.ok_or(StoreError::NotFound)?;
        let mut labels = conn.prepare_cached(
            "SELECT label FROM contact_labels WHERE contact_id = ?1 ORDER BY label COLLATE NOCASE",
        )?;
        details.labels =
            labels.query_map(params![contact], |r| r.get(0))?.collect::<Result<_, _>>()?;
        let mut attributes = conn.prepare_cached(
            "SELECT name, value FROM contact_attributes WHERE contact_id = ?1
             ORDER BY name COLLATE NOCASE",
        )?;
        details.attributes = attributes
            .query_map(params![contact], |r| {
                Ok(parley_types::contact::ContactAttribute { name: r.get(0)?, value: r.get(1)? })
            })?
            .collect::<Result<_, _>>()?;
        let (from, to): (i64, i64) = conn.query_row(
            "SELECT count(*) FILTER (WHERE direction = 'inbound'),
                    count(*) FILTER (WHERE direction = 'outbound')
             FROM messages WHERE conversation_id = ?1 AND deleted = 0",
            params![conversation],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        details.messages_from_customer = from as u64;
        details.messages_to_customer = to as u64;
        Ok(details)
    }

    /// Save what an agent changed. Labels and notes are checked with the
    /// same rules the UI shows; an opt-out keeps its original time and
    /// source when it was already set.
    pub fn update_contact(&self, update: &ContactUpdate, now_ms: i64) -> Result<(), StoreError> {
        check_notes(&update.notes).map_err(StoreError::Invalid)?;
        let labels = clean_labels(&update.labels).map_err(StoreError::Invalid)?;
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let contact: i64 = tx
            .query_row(
                "SELECT contact_id FROM conversations WHERE id = ?1",
                params![update.conversation_id],
                |r| r.get(0),
            )
            .optional()?
            .ok_or(StoreError::NotFound)?;
        tx.execute("UPDATE contacts SET notes = ?2 WHERE id = ?1", params![contact, update.notes])?;
        match update.opted_out {
            None => {}
            // Kept as it was when already out (its time and source stay).
            Some(true) => {
                tx.execute(
                    "UPDATE contacts SET opted_out_at = coalesce(opted_out_at, ?2),
                         opted_out_by = coalesce(opted_out_by, 'agent')
                     WHERE id = ?1",
                    params![contact, now_ms],
                )?;
            }
            Some(false) => {
                tx.execute(
                    "UPDATE contacts SET opted_out_at = NULL, opted_out_by = NULL WHERE id = ?1",
                    params![contact],
                )?;
            }
        }
        tx.execute("DELETE FROM contact_labels WHERE contact_id = ?1", params![contact])?;
        let mut insert =
            tx.prepare_cached("INSERT INTO contact_labels (contact_id, label) VALUES (?1, ?2)")?;
        for label in &labels {
            insert.execute(params![contact, label])?;
        }
        drop(insert);
        tx.commit()?;
        Ok(())
    }
}
