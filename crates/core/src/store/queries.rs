//! Read paths for the UI and the CLI. They use the read-only connection so a
//! long sync transaction never blocks the conversation list.

use parley_types::{
    ConversationSummary, DeliveryStatus, Direction, Forwarded, GeoPoint, Message, Reaction,
    WINDOW_MILLIS,
};
use rusqlite::{params, OptionalExtension, Row};

use super::{Store, StoreError};

const CONVERSATION_SELECT: &str = "
    SELECT c.id, ch.kind, coalesce(ct.name, ct.wa_id, ct.user_id), coalesce(ct.wa_id, ct.user_id),
           c.last_preview, c.last_at, c.unread, c.last_inbound_at, d.body, c.closed_at
    FROM conversations c
    JOIN contacts ct ON ct.id = c.contact_id
    JOIN channels ch ON ch.id = ct.channel_id
    LEFT JOIN drafts d ON d.conversation_id = c.id";

const MESSAGE_SELECT: &str = "
    SELECT id, conversation_id, provider_id, direction, kind, body, sent_at, status, error,
           reply_to, deleted, forwarded,
           CASE WHEN kind = 'location' THEN json_extract(raw, '$.location.latitude') END,
           CASE WHEN kind = 'location' THEN json_extract(raw, '$.location.longitude') END
    FROM messages";

fn conversation_from_row(r: &Row<'_>) -> rusqlite::Result<ConversationSummary> {
    let kind: String = r.get(1)?;
    let last_inbound: Option<i64> = r.get(7)?;
    Ok(ConversationSummary {
        id: r.get(0)?,
        channel: super::channel_kind(&kind),
        title: r.get(2)?,
        handle: r.get(3)?,
        last_preview: r.get(4)?,
        last_at: r.get(5)?,
        unread: r.get::<_, i64>(6)?.clamp(0, u32::MAX as i64) as u32,
        window_expires_at: last_inbound.map(|t| t + WINDOW_MILLIS),
        draft: r.get(8)?,
        closed: r.get::<_, Option<i64>>(9)?.is_some(),
    })
}

fn message_from_row(r: &Row<'_>) -> rusqlite::Result<Message> {
    let direction: String = r.get(3)?;
    let status: Option<String> = r.get(7)?;
    Ok(Message {
        id: r.get(0)?,
        conversation_id: r.get(1)?,
        provider_id: r.get(2)?,
        direction: if direction == "outbound" { Direction::Outbound } else { Direction::Inbound },
        kind: r.get(4)?,
        body: r.get(5)?,
        sent_at: r.get(6)?,
        status: status.as_deref().and_then(DeliveryStatus::parse),
        error: r.get(8)?,
        reply_to: r.get(9)?,
        reactions: Vec::new(),
        deleted: r.get(10)?,
        media: None,
        forwarded: match r.get::<_, i64>(11)? {
            1 => Forwarded::Once,
            2 => Forwarded::Many,
            _ => Forwarded::No,
        },
        location: match (r.get::<_, Option<f64>>(12)?, r.get::<_, Option<f64>>(13)?) {
            (Some(latitude), Some(longitude)) => Some(GeoPoint { latitude, longitude }),
            _ => None,
        },
    })
}

impl Store {
    /// The newest `limit` conversations, most recent first.
    pub fn list_conversations(&self, limit: usize) -> Result<Vec<ConversationSummary>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&format!(
            "{CONVERSATION_SELECT} ORDER BY c.last_at DESC, c.id DESC LIMIT ?1"
        ))?;
        let rows = stmt.query_map(params![limit as i64], conversation_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn conversation(&self, id: i64) -> Result<ConversationSummary, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&format!("{CONVERSATION_SELECT} WHERE c.id = ?1"))?;
        stmt.query_row(params![id], conversation_from_row).optional()?.ok_or(StoreError::NotFound)
    }

    /// The `limit` conversations that come after (`last_at`, `id`) in list
    /// order: a keyset page, so page 100 of 50,000 costs what page 1 does.
    pub fn list_conversations_before(
        &self,
        last_at: i64,
        id: i64,
        limit: usize,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&format!(
            "{CONVERSATION_SELECT} WHERE (c.last_at, c.id) < (?1, ?2)
             ORDER BY c.last_at DESC, c.id DESC LIMIT ?3"
        ))?;
        let rows = stmt.query_map(params![last_at, id, limit as i64], conversation_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Close (or reopen) a conversation. Closing is the agent's "done"; the
    /// customer's next message reopens it (see ingest).
    pub fn set_closed(
        &self,
        conversation: i64,
        closed: bool,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let changed = self.writer().execute(
            "UPDATE conversations SET closed_at = CASE WHEN ?2 THEN coalesce(closed_at, ?3) END
             WHERE id = ?1",
            params![conversation, closed, now_ms],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Keep the agent's unsent `body` for a conversation; an empty or
    /// whitespace-only one removes it. Returns false if the conversation is
    /// gone (erased meanwhile): the draft has nothing to belong to.
    pub fn save_draft(
        &self,
        conversation: i64,
        body: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let conn = self.writer();
        if body.trim().is_empty() {
            conn.execute("DELETE FROM drafts WHERE conversation_id = ?1", params![conversation])?;
            return Ok(true);
        }
        let saved = conn.execute(
            "INSERT INTO drafts (conversation_id, body, updated_at)
             SELECT id, ?2, ?3 FROM conversations WHERE id = ?1
             ON CONFLICT (conversation_id) DO UPDATE SET body = ?2, updated_at = ?3",
            params![conversation, body, now_ms],
        )?;
        Ok(saved == 1)
    }

    /// The newest `limit` messages of a conversation, oldest first.
    pub fn list_messages(
        &self,
        conversation: i64,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT * FROM ({MESSAGE_SELECT} WHERE conversation_id = ?1
               ORDER BY sent_at DESC, id DESC LIMIT ?2) ORDER BY sent_at ASC, id ASC"
        ))?;
        let rows = stmt.query_map(params![conversation, limit as i64], message_from_row)?;
        let mut messages: Vec<Message> = rows.collect::<Result<_, _>>()?;
        attach_reactions(&conn, &mut messages)?;
        Ok(messages)
    }

    /// Up to `limit` messages sent before `before` (a message id of this
    /// conversation), oldest first: the page above the one shown.
    pub fn list_messages_before(
        &self,
        conversation: i64,
        before: i64,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT * FROM ({MESSAGE_SELECT} WHERE conversation_id = ?1
               AND (sent_at, id) < (SELECT sent_at, id FROM messages WHERE id = ?2)
               ORDER BY sent_at DESC, id DESC LIMIT ?3) ORDER BY sent_at ASC, id ASC"
        ))?;
        let rows = stmt.query_map(params![conversation, before, limit as i64], message_from_row)?;
        let mut messages: Vec<Message> = rows.collect::<Result<_, _>>()?;
        attach_reactions(&conn, &mut messages)?;
        Ok(messages)
    }

    /// A thread opened at `target` (a search hit far back): up to `before`
    /// older messages, the target, and up to `after` newer ones, oldest
    /// first. One page, wherever the target is.
    pub fn list_messages_around(
        &self,
        conversation: i64,
        target: i64,
        before: usize,
        after: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let mut messages = self.list_messages_before(conversation, target, before)?;
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&format!(
            "{MESSAGE_SELECT} WHERE conversation_id = ?1
               AND (sent_at, id) >= (SELECT sent_at, id FROM messages
                                     WHERE id = ?2 AND conversation_id = ?1)
             ORDER BY sent_at ASC, id ASC LIMIT ?3"
        ))?;
        let rows =
            stmt.query_map(params![conversation, target, after as i64 + 1], message_from_row)?;
        let mut from_target: Vec<Message> = rows.collect::<Result<_, _>>()?;
        if from_target.first().map(|m| m.id) != Some(target) {
            return Err(StoreError::NotFound);
        }
        attach_reactions(&conn, &mut from_target)?;
        messages.extend(from_target);
        Ok(messages)
    }

    /// The `limit` messages after `after` (newer), oldest first.
    pub fn list_messages_after(
        &self,
        conversation: i64,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&format!(
            "{MESSAGE_SELECT} WHERE conversation_id = ?1
               AND (sent_at, id) > (SELECT sent_at, id FROM messages WHERE id = ?2)
             ORDER BY sent_at ASC, id ASC LIMIT ?3"
        ))?;
        let rows = stmt.query_map(params![conversation, after, limit as i64], message_from_row)?;
        let mut messages: Vec<Message> = rows.collect::<Result<_, _>>()?;
        attach_reactions(&conn, &mut messages)?;
        Ok(messages)
    }

    pub fn message(&self, id: i64) -> Result<Message, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&format!("{MESSAGE_SELECT} WHERE id = ?1"))?;
        let mut message = stmt
            .query_row(params![id], message_from_row)
            .optional()?
            .ok_or(StoreError::NotFound)?;
        attach_reactions(&conn, std::slice::from_mut(&mut message))?;
        Ok(message)
    }

    /// A setting's stored value, if it was ever set.
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .reader()
            .query_row("SELECT value FROM settings WHERE key = ?1", params![key], |r| r.get(0))
            .optional()?)
    }

    pub fn delete_setting(&self, key: &str) -> Result<(), StoreError> {
        self.writer().execute("DELETE FROM settings WHERE key = ?1", params![key])?;
        Ok(())
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.writer().execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Conversations whose contact's name matches `query`, most recent first.
    pub fn search_contacts(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        let Some(fts_query) = fts_prefix_query(query) else { return Ok(Vec::new()) };
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&format!(
            "{CONVERSATION_SELECT} WHERE ct.id IN (SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH ?1)
             ORDER BY c.last_at DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![fts_query, limit as i64], conversation_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Clear the unread count. Returns the newest inbound provider id, to
    /// send Meta a read receipt for, when there was anything unread.
    pub fn mark_read(&self, conversation: i64) -> Result<Option<String>, StoreError> {
        let conn = self.writer();
        let n = conn
            .execute("UPDATE conversations SET unread = 0 WHERE id = ?1", params![conversation])?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(conn
            .query_row(
                "SELECT provider_id FROM messages WHERE conversation_id = ?1 AND direction = 'inbound'
                 ORDER BY sent_at DESC, id DESC LIMIT 1",
                params![conversation],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// Full-text search over message bodies: the `limit` most recently
    /// stored hits, newest first. FTS5 walks its index in rowid order and
    /// stops at the limit, so a common word costs no more than a rare one.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Message>, StoreError> {
        let conn = self.reader();
        // Quote every term so user input is never FTS5 syntax.
        let fts_query = query
            .split_whitespace()
            .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(" ");
        if fts_query.is_empty() {
            return Ok(Vec::new());
        }
        let mut stmt = conn.prepare_cached(&format!(
            "{MESSAGE_SELECT} WHERE id IN (
                 SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1 ORDER BY rowid DESC LIMIT ?2)
             ORDER BY sent_at DESC, id DESC"
        ))?;
        let rows = stmt.query_map(params![fts_query, limit as i64], message_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Each term quoted (so input is never FTS5 syntax) and prefix-matched.
pub(super) fn fts_prefix_query(query: &str) -> Option<String> {
    let terms: Vec<String> =
        query.split_whitespace().map(|t| format!("\"{}\"*", t.replace('"', "\"\""))).collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// Reactions and media details, which live in their own tables.
fn attach_reactions(
    conn: &rusqlite::Connection,
    messages: &mut [Message],
) -> Result<(), StoreError> {
    for message in messages.iter_mut() {
        if matches!(message.kind.as_str(), "image" | "video" | "audio" | "document" | "sticker") {
            message.media = super::media::attachment(conn, message.id)?;
        }
    }
    let mut stmt = conn.prepare_cached(
        "SELECT emoji, by_customer FROM reactions WHERE provider_id = ?1 AND emoji IS NOT NULL ORDER BY by_customer DESC",
    )?;
    for message in messages.iter_mut() {
        let Some(provider_id) = message.provider_id.as_deref() else { continue };
        let rows = stmt.query_map(params![provider_id], |r| {
            let by_customer: bool = r.get(1)?;
            Ok(Reaction {
                emoji: r.get(0)?,
                by: if by_customer { Direction::Inbound } else { Direction::Outbound },
            })
        })?;
        message.reactions = rows.collect::<Result<_, _>>()?;
    }
    Ok(())
}
