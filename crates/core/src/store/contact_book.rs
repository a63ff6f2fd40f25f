//! The Contacts screen's side of the store: the paged list, one contact,
//! creating and editing from the form, deleting (through the privacy
//! erasure), merging two contacts of one channel and finding likely
//! duplicates.
//!
//! A merge keeps one row: the other's conversation (or its messages, when
//! both have one), labels, notes, attributes and opt-out move to the kept
//! contact and the other row is deleted. Contacts of different channels
//! are never merged: the conversation belongs to its channel. The same
//! person on WhatsApp and Instagram is linked by the WhatsApp contact's
//! `Instagram` attribute (their handle).

use parley_types::contact::MAX_NOTES_CHARS;
use parley_types::contact_book::{
    CleanDraft, Contact, ContactCursor, ContactField, ContactPage, ContactQuery, DuplicatePair,
    FieldError,
};
use parley_types::contacts_csv::INSTAGRAM_ATTRIBUTE;
use parley_types::ChannelKind;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::contacts::opt_out_of;
use super::ingest::channel_id;
use super::privacy::{erase_contact, scrub, PurgeReport};
use super::queries::fts_prefix_query;
use super::{Store, StoreError};

/// After a merge: the kept contact's conversation, and the merged one's
/// conversation that is gone (both had one).
pub type MergedConversations = (Option<i64>, Option<i64>);

/// The list's order; `contacts_by_sort` (migration 9) indexes it.
const SORT_KEY: &str = "lower(coalesce(ct.name, ct.wa_id, ct.user_id))";

/// Same-name pairs of one channel; the join walks `contacts_by_name`
/// (migration 9).
const DUPLICATES: &str = "SELECT a.id, b.id FROM contacts a
     JOIN contacts b ON b.channel_id = a.channel_id
          AND lower(trim(b.name)) = lower(trim(a.name)) AND b.id > a.id
     WHERE a.name IS NOT NULL AND trim(a.name) <> ''
     ORDER BY a.id, b.id LIMIT ?1";

/// Why two contacts cannot be merged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MergeRefusal {
    #[error("a contact cannot be merged with itself: choose two different contacts")]
    SameContact,
    #[error(
        "these contacts are on different channels, and a conversation belongs to its channel: \
         keep both, and note the Instagram handle on the WhatsApp contact to link them"
    )]
    DifferentChannels,
    #[error(
        "the two contacts' notes together are longer than {MAX_NOTES_CHARS} characters: shorten \
         one of them, then merge"
    )]
    NotesTooLong,
}

fn contact_select(filter: &str) -> String {
    format!(
        "SELECT ct.id, ch.kind, ct.name, ct.wa_id, ct.user_id, ct.notes, ct.opted_out_at,
                ct.opted_out_by, ct.created_at,
                (SELECT id FROM conversations WHERE contact_id = ct.id),
                (SELECT json_group_array(label) FROM (SELECT label FROM contact_labels
                     WHERE contact_id = ct.id ORDER BY label COLLATE NOCASE)),
                (SELECT json_group_array(json_array(name, value)) FROM (SELECT name, value
                     FROM contact_attributes WHERE contact_id = ct.id ORDER BY name)),
                {SORT_KEY}
         FROM contacts ct JOIN channels ch ON ch.id = ct.channel_id
         {filter}"
    )
}

fn contact_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Contact, String)> {
    let kind: String = r.get(1)?;
    let opted_at: Option<i64> = r.get(6)?;
    let opted_by: Option<String> = r.get(7)?;
    let labels: String = r.get(10)?;
    let attributes: String = r.get(11)?;
    let labels: Vec<String> = serde_json::from_str(&labels).unwrap_or_default();
    let pairs: Vec<(String, String)> = serde_json::from_str(&attributes).unwrap_or_default();
    let (instagram, attributes): (Vec<_>, Vec<_>) =
        pairs.into_iter().partition(|(name, _)| name.eq_ignore_ascii_case(INSTAGRAM_ATTRIBUTE));
    Ok((
        Contact {
            id: r.get(0)?,
            channel: super::channel_kind(&kind),
            name: r.get(2)?,
            wa_id: r.get(3)?,
            user_id: r.get(4)?,
            instagram: instagram.into_iter().next().map(|(_, v)| v),
            labels,
            notes: r.get(5)?,
            attributes,
            opted_out: opt_out_of(opted_at, opted_by.as_deref()),
            conversation_id: r.get(9)?,
            created_at: r.get(8)?,
        },
        r.get::<_, Option<String>>(12)?.unwrap_or_default(),
    ))
}

fn read_contact(conn: &Connection, id: i64) -> Result<Contact, StoreError> {
    conn.prepare_cached(&contact_select("WHERE ct.id = ?1"))?
        .query_row(params![id], contact_from_row)
        .optional()?
        .map(|(c, _)| c)
        .ok_or(StoreError::NotFound)
}

fn conversation_of(tx: &Connection, contact: i64) -> Result<Option<i64>, StoreError> {
    Ok(tx
        .prepare_cached("SELECT id FROM conversations WHERE contact_id = ?1")?
        .query_row(params![contact], |r| r.get(0))
        .optional()?)
}

/// Whether a merge may cut the joined notes (ingest must not fail on
/// them) or must refuse (an agent can shorten them first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LongNotes {
    Cut,
    Refuse,
}

/// Move everything of `merge` onto `keep` (same channel) and delete
/// `merge`. Returns the conversation removed, when both had one.
/// Store `value` under `name`, or `name 2`, `name 3`… if taken, unless the
/// contact already holds that value under one of those names.
fn keep_attribute(
    tx: &Transaction<'_>,
    contact: i64,
    name: &str,
    value: &str,
) -> Result<(), StoreError> {
    for n in 1..=50 {
        let candidate = if n == 1 { name.to_owned() } else { format!("{name} {n}") };
        let existing: Option<String> = tx
            .query_row(
                "SELECT value FROM contact_attributes WHERE contact_id = ?1 AND name = ?2",
                params![contact, candidate],
                |r| r.get(0),
            )
            .optional()?;
        match existing {
            Some(v) if v == value => return Ok(()),
            Some(_) => continue,
            None => {
                tx.execute(
                    "INSERT INTO contact_attributes (contact_id, name, value) VALUES (?1, ?2, ?3)",
                    params![contact, candidate, value],
                )?;
                return Ok(());
            }
        }
    }
    Ok(())
}

pub(super) fn merge_in(
    tx: &Transaction<'_>,
    keep: i64,
    merge: i64,
    long_notes: LongNotes,
) -> Result<Result<Option<i64>, MergeRefusal>, StoreError> {
    if keep == merge {
        return Ok(Err(MergeRefusal::SameContact));
    }
    type Row = (i64, Option<String>, Option<String>, Option<String>, String, i64);
    let read = |id: i64| -> Result<Row, StoreError> {
        tx.query_row(
            "SELECT channel_id, wa_id, user_id, name, notes, created_at FROM contacts WHERE id = ?1",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
        .optional()?
        .ok_or(StoreError::NotFound)
    };
    let (k_channel, k_wa, _, _, k_notes, _) = read(keep)?;
    let (m_channel, m_wa, m_user, m_name, m_notes, m_created) = read(merge)?;
    if k_channel != m_channel {
        return Ok(Err(MergeRefusal::DifferentChannels));
    }
    let (k_notes_whole, m_notes_whole) = (k_notes.clone(), m_notes.clone());
    let notes = if k_notes.trim().is_empty() {
        m_notes
    } else if m_notes.trim().is_empty() || m_notes.trim() == k_notes.trim() {
        k_notes
    } else {
        format!("{k_notes}\n\n{m_notes}")
    };
    // Cut (an automatic merge at ingest, nobody to ask): the kept contact's
    // notes stay whole and the merged one's are kept as an attribute, so no
    // agent's text is lost.
    let mut merged_notes: Option<String> = None;
    let notes = if notes.chars().count() > MAX_NOTES_CHARS {
        match long_notes {
            LongNotes::Refuse => return Ok(Err(MergeRefusal::NotesTooLong)),
            LongNotes::Cut => {
                merged_notes = Some(m_notes_whole);
                k_notes_whole
            }
        }
    } else {
        notes
    };
    let mut removed = None;
    match (conversation_of(tx, keep)?, conversation_of(tx, merge)?) {
        (Some(k), Some(m)) => {
            tx.execute(
                "UPDATE messages SET conversation_id = ?1 WHERE conversation_id = ?2",
                params![k, m],
            )?;
            tx.execute(
                "UPDATE outbox SET conversation_id = ?1 WHERE conversation_id = ?2",
                params![k, m],
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO drafts (conversation_id, body, updated_at)
                 SELECT ?1, body, updated_at FROM drafts WHERE conversation_id = ?2",
                params![k, m],
            )?;
            tx.execute(
                "UPDATE conversations SET
                     last_preview = CASE WHEN m.last_at > conversations.last_at THEN m.last_preview
                                         ELSE conversations.last_preview END,
                     last_at = max(conversations.last_at, m.last_at),
                     unread = conversations.unread + m.unread,
                     last_inbound_at = CASE
                         WHEN conversations.last_inbound_at IS NULL THEN m.last_inbound_at
                         WHEN m.last_inbound_at IS NULL THEN conversations.last_inbound_at
                         ELSE max(conversations.last_inbound_at, m.last_inbound_at) END,
                     closed_at = CASE
                         WHEN conversations.closed_at IS NOT NULL AND m.closed_at IS NOT NULL
                         THEN max(conversations.closed_at, m.closed_at) END
                 FROM (SELECT last_preview, last_at, unread, last_inbound_at, closed_at
                       FROM conversations WHERE id = ?2) AS m
                 WHERE conversations.id = ?1",
                params![k, m],
            )?;
            tx.execute("DELETE FROM conversations WHERE id = ?1", params![m])?;
            removed = Some(m);
        }
        (None, Some(m)) => {
            tx.execute("UPDATE conversations SET contact_id = ?1 WHERE id = ?2", params![keep, m])?;
        }
        _ => {}
    }
    tx.execute(
        "INSERT OR IGNORE INTO contact_labels (contact_id, label)
         SELECT ?1, label FROM contact_labels WHERE contact_id = ?2",
        params![keep, merge],
    )?;
    tx.execute(
        "INSERT OR IGNORE INTO contact_attributes (contact_id, name, value)
         SELECT ?1, name, value FROM contact_attributes WHERE contact_id = ?2",
        params![keep, merge],
    )?;
    // The merged contact's own number stays known when the kept one has
    // another: their messages came from it. A second one gets the next
    // free name rather than being dropped.
    if let (Some(k), Some(m)) = (&k_wa, &m_wa) {
        if k != m {
            keep_attribute(tx, keep, "Other WhatsApp", &format!("+{m}"))?;
        }
    }
    if let Some(text) = merged_notes {
        keep_attribute(tx, keep, "Notes from merged contact", &text)?;
    }
    tx.execute(
        "UPDATE contacts SET
             opted_out_at = coalesce(contacts.opted_out_at, m.opted_out_at),
             opted_out_by = CASE WHEN contacts.opted_out_at IS NULL THEN m.opted_out_by
                                 ELSE contacts.opted_out_by END,
             opt_keyword_at = CASE
                 WHEN contacts.opt_keyword_at IS NULL THEN m.opt_keyword_at
                 WHEN m.opt_keyword_at IS NULL THEN contacts.opt_keyword_at
                 ELSE max(contacts.opt_keyword_at, m.opt_keyword_at) END
         FROM (SELECT opted_out_at, opted_out_by, opt_keyword_at FROM contacts WHERE id = ?2) AS m
         WHERE contacts.id = ?1",
        params![keep, merge],
    )?;
    tx.execute("DELETE FROM contact_labels WHERE contact_id = ?1", params![merge])?;
    tx.execute("DELETE FROM contact_attributes WHERE contact_id = ?1", params![merge])?;
    // Campaign history follows the person (their messages moved above).
    // Where both were in one campaign, the row furthest along stays: a
    // merged contact who was sent it must not be sent it again as the kept
    // one (still queued), nor lose the record of it.
    tx.execute(
        "DELETE FROM campaign_recipients AS k
         WHERE k.contact_id = ?1 AND EXISTS (
             SELECT 1 FROM campaign_recipients m
             WHERE m.contact_id = ?2 AND m.campaign_id = k.campaign_id
               AND (CASE m.state WHEN 'done' THEN 3 WHEN 'sending' THEN 2 WHEN 'queued' THEN 1
                    ELSE 0 END)
                 > (CASE k.state WHEN 'done' THEN 3 WHEN 'sending' THEN 2 WHEN 'queued' THEN 1
                    ELSE 0 END))",
        params![keep, merge],
    )?;
    tx.execute(
        "UPDATE OR IGNORE campaign_recipients SET contact_id = ?1 WHERE contact_id = ?2",
        params![keep, merge],
    )?;
    tx.execute("DELETE FROM campaign_recipients WHERE contact_id = ?1", params![merge])?;
    tx.execute("DELETE FROM contacts WHERE id = ?1", params![merge])?;
    // Its ids are free now: the kept contact takes those it lacks.
    tx.execute(
        "UPDATE contacts SET wa_id = coalesce(wa_id, ?2), user_id = coalesce(user_id, ?3),
                name = coalesce(name, ?4), notes = ?5, created_at = min(created_at, ?6)
         WHERE id = ?1",
        params![keep, m_wa, m_user, m_name, notes, m_created],
    )?;
    Ok(Ok(removed))
}

/// The sentence for a number that another contact of the channel holds.
fn number_taken(
    tx: &Transaction<'_>,
    channel: i64,
    wa_id: &str,
    me: Option<i64>,
) -> Result<Option<String>, StoreError> {
    let other: Option<(i64, Option<String>)> = tx
        .prepare_cached("SELECT id, name FROM contacts WHERE channel_id = ?1 AND wa_id = ?2")?
        .query_row(params![channel, wa_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match other {
        Some((id, _)) if Some(id) == me => None,
        Some((_, name)) => Some(format!(
            "This number already belongs to {}. Open that contact instead, or merge the two.",
            name.map_or_else(|| "another contact".to_owned(), |n| format!("the contact \"{n}\""))
        )),
        None => None,
    })
}

impl Store {
    /// One page of the contacts `query` selects, ordered by name, at most
    /// `limit`.
    pub fn list_contacts(
        &self,
        query: &ContactQuery,
        limit: u32,
    ) -> Result<ContactPage, StoreError> {
        let search = query.search.trim();
        let fts = fts_prefix_query(search);
        let digits: String = search.chars().filter(char::is_ascii_digit).collect();
        // A search that is a number (digits, +, spaces, dashes...) matches numbers only.
        let numeric = !digits.is_empty()
            && search.chars().all(|c| c.is_ascii_digit() || " +-.()".contains(c));
        let handle = search.strip_prefix('@').unwrap_or(search).to_lowercase();
        let mut conditions = vec!["1 = 1".to_owned()];
        if !search.is_empty() {
            if numeric {
                conditions.push("(instr(ct.wa_id, ?1) > 0 OR instr(ct.user_id, ?1) > 0)".into());
            } else {
                conditions.push(format!(
                    "(ct.id IN (SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH ?2)
                      OR EXISTS (SELECT 1 FROM contact_attributes a WHERE a.contact_id = ct.id
                                 AND a.name = '{INSTAGRAM_ATTRIBUTE}'
                                 AND substr(lower(a.value), 1, length(?3)) = ?3)
                      OR ct.user_id = ?4)"
                ));
            }
        }
        if query.label.is_some() {
            conditions.push(
                "EXISTS (SELECT 1 FROM contact_labels l WHERE l.contact_id = ct.id AND l.label = ?5)"
                    .into(),
            );
        }
        if query.opted_out.is_some() {
            conditions.push("(ct.opted_out_at IS NOT NULL) = ?6".into());
        }
        if query.after.is_some() {
            conditions.push(format!("({SORT_KEY}, ct.id) > (?7, ?8)"));
        }
        let sql = contact_select(&format!(
            "WHERE {} ORDER BY {SORT_KEY}, ct.id LIMIT ?9",
            conditions.join(" AND ")
        ));
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&sql)?;
        let after = query.after.clone().unwrap_or(ContactCursor { key: String::new(), id: 0 });
        let rows = stmt.query_map(
            params![
                digits,
                fts.unwrap_or_default(),
                handle,
                search,
                query.label,
                query.opted_out,
                after.key,
                after.id,
                limit as i64 + 1
            ],
            contact_from_row,
        )?;
        let mut rows: Vec<(Contact, String)> = rows.collect::<Result<_, _>>()?;
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|(c, key)| ContactCursor { key: key.clone(), id: c.id })
        } else {
            None
        };
        Ok(ContactPage { contacts: rows.into_iter().map(|(c, _)| c).collect(), next })
    }

    /// The query plan of the unfiltered first page (for a test that the
    /// sort index is used).
    #[cfg(test)]
    pub(crate) fn list_contacts_plan(&self) -> Result<String, StoreError> {
        let conn = self.reader();
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT ct.id FROM contacts ct WHERE ({SORT_KEY}, ct.id) > ('', 0)
             ORDER BY {SORT_KEY}, ct.id LIMIT 101"
        );
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(3))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?.join("; "))
    }

    /// The query plan of the duplicate search (for a test that the name
    /// index is used for the join).
    #[cfg(test)]
    pub(crate) fn duplicate_contacts_plan(&self) -> Result<String, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {DUPLICATES}"))?;
        let rows = stmt.query_map(params![50], |r| r.get::<_, String>(3))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?.join("; "))
    }

    pub fn contact(&self, id: i64) -> Result<Contact, StoreError> {
        read_contact(&self.reader(), id)
    }

    /// Create (on the WhatsApp channel `phone_number_id`) or edit a
    /// contact from a checked draft. `Err` inside: refusals per field (the
    /// number taken by another contact, a number changed under a
    /// conversation).
    pub fn save_contact(
        &self,
        id: Option<i64>,
        draft: &CleanDraft,
        opted_out: Option<bool>,
        phone_number_id: Option<&str>,
        now_ms: i64,
    ) -> Result<Result<i64, Vec<FieldError>>, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let refuse =
            |message: String| Ok(Err(vec![FieldError { field: ContactField::Whatsapp, message }]));
        let contact = match id {
            None => {
                let Some(phone_number_id) = phone_number_id else {
                    return refuse(
                        "Connect a WhatsApp number first: contacts are created on it.".into(),
                    );
                };
                let channel = channel_id(&tx, ChannelKind::Whatsapp, phone_number_id)?;
                let wa_id = draft.wa_id.as_deref().unwrap_or_default();
                if let Some(sentence) = number_taken(&tx, channel, wa_id, None)? {
                    return refuse(sentence);
                }
                tx.execute(
                    "INSERT INTO contacts (channel_id, wa_id, name, notes, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![channel, wa_id, draft.name, draft.notes, now_ms],
                )?;
                tx.last_insert_rowid()
            }
            Some(id) => {
                let (channel, kind, wa_id): (i64, String, Option<String>) = tx
                    .query_row(
                        "SELECT ct.channel_id, ch.kind, ct.wa_id FROM contacts ct
                         JOIN channels ch ON ch.id = ct.channel_id WHERE ct.id = ?1",
                        params![id],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()?
                    .ok_or(StoreError::NotFound)?;
                if draft.wa_id != wa_id && draft.wa_id.is_some() {
                    if kind != "whatsapp" {
                        return refuse(
                            "An Instagram contact has no WhatsApp number; leave this empty.".into(),
                        );
                    }
                    if conversation_of(&tx, id)?.is_some() {
                        return refuse(
                            "This customer's conversation is with their current number, which \
                             cannot change. Create a new contact for the new number."
                                .into(),
                        );
                    }
                    if let Some(sentence) = number_taken(
                        &tx,
                        channel,
                        draft.wa_id.as_deref().unwrap_or_default(),
                        Some(id),
                    )? {
                        return refuse(sentence);
                    }
                } else if draft.wa_id.is_none() && wa_id.is_some() {
                    return refuse("A WhatsApp contact keeps its number: enter it again.".into());
                }
                tx.execute(
                    "UPDATE contacts SET wa_id = coalesce(?2, wa_id), name = ?3, notes = ?4
                     WHERE id = ?1",
                    params![id, draft.wa_id, draft.name, draft.notes],
                )?;
                tx.execute("DELETE FROM contact_labels WHERE contact_id = ?1", params![id])?;
                tx.execute("DELETE FROM contact_attributes WHERE contact_id = ?1", params![id])?;
                id
            }
        };
        match opted_out {
            Some(true) => {
                tx.execute(
                    "UPDATE contacts SET opted_out_at = coalesce(opted_out_at, ?2),
                         opted_out_by = coalesce(opted_out_by, 'agent') WHERE id = ?1",
                    params![contact, now_ms],
                )?;
            }
            Some(false) => {
                tx.execute(
                    "UPDATE contacts SET opted_out_at = NULL, opted_out_by = NULL WHERE id = ?1",
                    params![contact],
                )?;
            }
            None => {}
        }
        let mut label = tx.prepare_cached(
            "INSERT OR IGNORE INTO contact_labels (contact_id, label) VALUES (?1, ?2)",
        )?;
        for l in &draft.labels {
            label.execute(params![contact, l])?;
        }
        drop(label);
        let mut attribute = tx.prepare_cached(
            "INSERT OR REPLACE INTO contact_attributes (contact_id, name, value) VALUES (?1, ?2, ?3)",
        )?;
        if let Some(handle) = &draft.instagram {
            attribute.execute(params![contact, INSTAGRAM_ATTRIBUTE, handle])?;
        }
        for (name, value) in &draft.attributes {
            attribute.execute(params![contact, name, value])?;
        }
        drop(attribute);
        tx.commit()?;
        Ok(Ok(contact))
    }

    /// Delete a contact with its conversation, messages, media, labels and
    /// attributes (the same erasure as "Erase this customer"). Returns what
    /// was removed and the conversation that is gone, if any.
    pub fn delete_contact(&self, id: i64) -> Result<(PurgeReport, Option<i64>), StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let conversation = conversation_of(&tx, id)?;
        let report = erase_contact(&tx, id)?;
        tx.commit()?;
        scrub(&conn)?;
        Ok((report, conversation))
    }

    /// Merge `merge` into `keep` (see [`merge_in`]). Returns the kept
    /// contact's conversation and the conversation that was removed.
    pub fn merge_contacts(
        &self,
        keep: i64,
        merge: i64,
    ) -> Result<Result<MergedConversations, MergeRefusal>, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let removed = match merge_in(&tx, keep, merge, LongNotes::Refuse)? {
            Ok(removed) => removed,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let kept = conversation_of(&tx, keep)?;
        tx.commit()?;
        Ok(Ok((kept, removed)))
    }

    /// Pairs of contacts on one channel with the same name (ignoring case
    /// and surrounding spaces), at most `limit`. The same number or user id
    /// cannot be two contacts of one channel (unique indexes), and a
    /// webhook naming both ids of two contacts merges them at ingest; what
    /// is left to an agent is one customer with two numbers, or known by a
    /// number and by a user id Meta never sent together.
    pub fn duplicate_contacts(&self, limit: u32) -> Result<Vec<DuplicatePair>, StoreError> {
        let conn = self.reader();
        let pairs: Vec<(i64, i64)> = conn
            .prepare_cached(DUPLICATES)?
            .query_map(params![limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        pairs
            .into_iter()
            .map(|(a, b)| {
                Ok(DuplicatePair {
                    first: read_contact(&conn, a)?,
                    second: read_contact(&conn, b)?,
                    reason: "Same name on the same channel.".into(),
                })
            })
            .collect()
    }
}
