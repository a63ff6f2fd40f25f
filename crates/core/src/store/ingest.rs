//! Applying webhook events to the store, idempotently.
//!
//! Delivery from the relay is at least once and in no particular order, so
//! every rule here must give the same rows whatever the order and however
//! often an event repeats:
//! - a message is stored once per provider id (`INSERT OR IGNORE` on the
//!   unique `provider_id`);
//! - a status is recorded once per (provider id, status) and only moves a
//!   message forward (`DeliveryStatus::may_advance_to`);
//! - a status that arrives before its message waits in `status_events` and is
//!   applied when the message is stored.

use parley_meta::webhook::{InboundMessage, MessageContent, StatusUpdate, WebhookEvent};
use std::collections::HashMap;

use parley_types::{ChannelKind, DeliveryStatus};
use rusqlite::{params, OptionalExtension, Transaction};

use super::{Store, StoreError};

/// What an ingest changed, for pushing diffs to the UI and notifying.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IngestOutcome {
    pub conversations: Vec<i64>,
    pub messages: Vec<i64>,
    /// Inbound messages seen for the first time (candidates for a notification).
    pub new_inbound: Vec<i64>,
    /// Messages whose file waits to be downloaded.
    pub new_media: Vec<i64>,
    /// The agent's reactions Meta reported failed after accepting them:
    /// (conversation, reacted-to message, the reason in words).
    pub failed_reactions: Vec<(i64, i64, String)>,
    /// Conversations that are gone because two contacts turned out to be
    /// one person (their messages moved to the kept contact's).
    pub removed_conversations: Vec<i64>,
    /// A stored template's status, quality or category changed.
    pub templates_changed: bool,
}

impl IngestOutcome {
    fn touch_conversation(&mut self, id: i64) {
        if !self.conversations.contains(&id) {
            self.conversations.push(id);
        }
    }

    fn touch_message(&mut self, id: i64) {
        if !self.messages.contains(&id) {
            self.messages.push(id);
        }
    }
}

fn kind_str(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Whatsapp => "whatsapp",
        ChannelKind::Instagram => "instagram",
    }
}

impl Store {
    /// Apply `events` and move the relay cursor to `cursor`, in one
    /// transaction: after a crash either both happened or neither did.
    pub fn ingest(
        &self,
        events: &[WebhookEvent],
        cursor: Option<u64>,
        now_ms: i64,
    ) -> Result<IngestOutcome, StoreError> {
        self.ingest_all(events, &[], cursor, now_ms)
    }

    /// [`Store::ingest`], plus messages other agents' devices sent.
    pub fn ingest_all(
        &self,
        events: &[WebhookEvent],
        peer_sent: &[PeerSent],
        cursor: Option<u64>,
        now_ms: i64,
    ) -> Result<IngestOutcome, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut out = IngestOutcome::default();
        let mut ids = IdCache::new();
        for event in events {
            match event {
                WebhookEvent::Message(m) => match &m.content {
                    MessageContent::Reaction { message_id, emoji } => ingest_reaction(
                        &tx,
                        message_id,
                        emoji.as_deref(),
                        !m.echo,
                        m.timestamp_ms,
                        &mut out,
                    )?,
                    _ => ingest_message(&tx, m, &mut ids, &mut out)?,
                },
                WebhookEvent::Status(s) => ingest_status(&tx, s, &mut out)?,
                WebhookEvent::Deleted(d) => {
                    ingest_deletion(&tx, &d.provider_id, d.timestamp_ms, &mut out)?
                }
                other => {
                    out.templates_changed |= ingest_template_change(&tx, other)?;
                    // Kept whole too.
                    keep_unhandled(&tx, other, now_ms)?
                }
            }
        }
        for sent in peer_sent {
            ingest_peer_sent(&tx, sent, &mut out)?;
        }
        if let Some(seq) = cursor {
            tx.prepare_cached("UPDATE relay_cursor SET seq = max(seq, ?1) WHERE id = 1")?
                .execute(params![seq as i64])?;
        }
        tx.commit()?;
        Ok(out)
    }

    /// Start over at the beginning of a relay's sequence: only after
    /// enrolling with a different tenant, whose numbers mean something else.
    pub fn reset_relay_cursor(&self) -> Result<(), StoreError> {
        self.writer().execute("UPDATE relay_cursor SET seq = 0 WHERE id = 1", [])?;
        Ok(())
    }

    /// The highest relay sequence number already stored.
    pub fn relay_cursor(&self) -> Result<u64, StoreError> {
        let seq: i64 =
            self.reader()
                .query_row("SELECT seq FROM relay_cursor WHERE id = 1", [], |r| r.get(0))?;
        Ok(seq as u64)
    }
}

/// A template's review, quality or category webhook applied to the stored
/// template; whether one changed.
fn ingest_template_change(tx: &Transaction<'_>, event: &WebhookEvent) -> Result<bool, StoreError> {
    use super::templates::{apply_template_field, apply_template_status, TemplateColumn};
    use parley_meta::webhook::AccountEvent;
    Ok(match event.account_event() {
        Some(AccountEvent::TemplateStatus {
            template_id,
            name,
            language,
            event: Some(status),
            reason,
            ..
        }) => apply_template_status(
            tx,
            template_id.as_deref(),
            name.as_deref(),
            language.as_deref(),
            &status,
            reason.as_deref(),
        )?,
        Some(AccountEvent::TemplateQuality {
            template_id,
            name,
            language,
            new_score: Some(score),
            ..
        }) => apply_template_field(
            tx,
            template_id.as_deref(),
            name.as_deref(),
            language.as_deref(),
            TemplateColumn::Quality,
            &score,
        )?,
        Some(AccountEvent::TemplateCategory {
            template_id,
            name,
            language,
            new_category: Some(category),
            ..
        }) => apply_template_field(
            tx,
            template_id.as_deref(),
            name.as_deref(),
            language.as_deref(),
            TemplateColumn::Category,
            &category,
        )?,
        _ => false,
    })
}

fn keep_unhandled(
    tx: &Transaction<'_>,
    event: &WebhookEvent,
    now_ms: i64,
) -> Result<(), StoreError> {
    let (field, reason) = match event {
        WebhookEvent::Unsupported(u) => (u.field.clone(), u.reason.clone()),
        _ => ("other".to_owned(), "not shown in the inbox yet".to_owned()),
    };
    let raw = serde_json::to_string(event).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let dedupe_key = {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        hash.update(field.as_bytes());
        hash.update([0]);
        hash.update(raw.as_bytes());
        hex::encode(hash.finalize())
    };
    tx.prepare_cached(
        "INSERT OR IGNORE INTO unhandled_events (dedupe_key, field, reason, raw, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![dedupe_key, field, reason, raw, now_ms])?;
    Ok(())
}

pub(super) fn channel_id(
    tx: &Transaction<'_>,
    kind: ChannelKind,
    external_id: &str,
) -> Result<i64, StoreError> {
    tx.prepare_cached("INSERT OR IGNORE INTO channels (kind, external_id) VALUES (?1, ?2)")?
        .execute(params![kind_str(kind), external_id])?;
    Ok(tx
        .prepare_cached("SELECT id FROM channels WHERE kind = ?1 AND external_id = ?2")?
        .query_row(params![kind_str(kind), external_id], |r| r.get(0))?)
}

/// Find or create the contact. The same person may first appear with only a
/// business-scoped `user_id` and later with a `wa_id` too: both ids then
/// point at one contact.
fn contact_id(
    tx: &Transaction<'_>,
    channel: i64,
    wa_id: Option<&str>,
    user_id: Option<&str>,
    name: Option<&str>,
    now_ms: i64,
    merged: &mut Vec<Option<i64>>,
) -> Result<i64, StoreError> {
    // Two indexed lookups; wa_id wins when both ids match different rows,
    // and the two rows are merged.
    let mut existing: Option<i64> = None;
    if let Some(wa_id) = wa_id {
        existing = tx
            .prepare_cached("SELECT id FROM contacts WHERE channel_id = ?1 AND wa_id = ?2")?
            .query_row(params![channel, wa_id], |r| r.get(0))
            .optional()?;
    }
    if let Some(user_id) = user_id {
        let by_user: Option<i64> = tx
            .prepare_cached("SELECT id FROM contacts WHERE channel_id = ?1 AND user_id = ?2")?
            .query_row(params![channel, user_id], |r| r.get(0))
            .optional()?;
        match (existing, by_user) {
            (None, found) => existing = found,
            // One person, two rows (one known by each id, say an imported
            // number and a user id Meta sent alone): this webhook names
            // both, so they become one, the wa_id's row kept.
            (Some(keep), Some(merge)) if keep != merge => {
                // Same channel by construction; notes too long are cut.
                let merge_outcome = super::contact_book::merge_in(
                    tx,
                    keep,
                    merge,
                    super::contact_book::LongNotes::Cut,
                )?;
                merged.push(merge_outcome.unwrap_or(None));
            }
            _ => {}
        }
    }
    match existing {
        Some(id) => {
            // Fill in ids and the name we did not know yet; never erase one.
            tx.prepare_cached(
                "UPDATE contacts SET wa_id = coalesce(wa_id, ?2), user_id = coalesce(user_id, ?3),
                        name = coalesce(?4, name)
                 WHERE id = ?1 AND ((wa_id IS NULL AND ?2 IS NOT NULL)
                                 OR (user_id IS NULL AND ?3 IS NOT NULL)
                                 OR (?4 IS NOT NULL AND name IS NOT ?4))",
            )?
            .execute(params![id, wa_id, user_id, name])
            .or_else(|e| match e.sqlite_error_code() {
                // Another contact already holds that id: leave both as they are.
                Some(rusqlite::ErrorCode::ConstraintViolation) => Ok(0),
                _ => Err(e),
            })?;
            Ok(id)
        }
        None => {
            tx.prepare_cached("INSERT INTO contacts (channel_id, wa_id, user_id, name, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")?.execute(params![channel, wa_id, user_id, name, now_ms],
            )?;
            Ok(tx.last_insert_rowid())
        }
    }
}

fn conversation_id(tx: &Transaction<'_>, contact: i64) -> Result<i64, StoreError> {
    tx.prepare_cached("INSERT OR IGNORE INTO conversations (contact_id) VALUES (?1)")?
        .execute(params![contact])?;
    Ok(tx
        .prepare_cached("SELECT id FROM conversations WHERE contact_id = ?1")?
        .query_row(params![contact], |r| r.get(0))?)
}

/// (channel kind, channel id, wa_id, user_id, name) → conversation id.
type IdCache = HashMap<(ChannelKind, String, Option<String>, Option<String>, Option<String>), i64>;

fn ingest_message(
    tx: &Transaction<'_>,
    m: &InboundMessage,
    ids: &mut IdCache,
    out: &mut IngestOutcome,
) -> Result<(), StoreError> {
    // A batch often holds many messages of one customer: resolve their
    // channel, contact and conversation once per transaction.
    let key = (
        m.channel.kind,
        m.channel.id.clone(),
        m.from.wa_id.clone(),
        m.from.user_id.clone(),
        m.from.name.clone(),
    );
    let conversation = match ids.get(&key) {
        Some(&conversation) => conversation,
        None => {
            let channel = channel_id(tx, m.channel.kind, &m.channel.id)?;
            let mut merged = Vec::new();
            let contact = contact_id(
                tx,
                channel,
                m.from.wa_id.as_deref(),
                m.from.user_id.as_deref(),
                m.from.name.as_deref(),
                m.timestamp_ms,
                &mut merged,
            )?;
            if !merged.is_empty() {
                // A cached conversation may be the merged, deleted one.
                ids.clear();
                for removed in merged.into_iter().flatten() {
                    out.conversations.retain(|c| *c != removed);
                    out.removed_conversations.push(removed);
                }
            }
            let conversation = conversation_id(tx, contact)?;
            ids.insert(key, conversation);
            conversation
        }
    };
    let direction = if m.echo { "outbound" } else { "inbound" };
    let status = m.echo.then_some(DeliveryStatus::Sent.as_str());
    let raw = serde_json::to_string(&m.raw).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let reply_to = m.context.as_ref().and_then(|c| c.message_id.clone());
    let forwarded = match &m.context {
        Some(c) if c.frequently_forwarded => 2,
        Some(c) if c.forwarded => 1,
        _ => 0,
    };
    let inserted = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO messages
            (conversation_id, provider_id, direction, kind, body, reply_to, raw, sent_at, status,
             forwarded)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![
            conversation,
            m.provider_id,
            direction,
            m.kind(),
            m.body(),
            reply_to,
            raw,
            m.timestamp_ms,
            status,
            forwarded
        ])?;
    if inserted == 0 {
        return Ok(()); // a repeat delivery: already stored
    }
    let message = tx.last_insert_rowid();
    // The unsend overtook the message itself.
    let unsent: bool = tx
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM status_events WHERE provider_id = ?1 AND status = 'deleted')")?
        .query_row(params![m.provider_id], |r| r.get(0))?;
    if unsent {
        erase_content(tx, message)?;
    } else if super::media::record_pending(tx, message, m)? {
        out.new_media.push(message);
    }
    let inbound = !m.echo;
    if inbound {
        out.new_inbound.push(message);
    } else {
        apply_pending_statuses(tx, message, &m.provider_id)?;
    }
    // One statement for the derived state. Only the customer's messages
    // count as unread, extend the window and reopen a closed conversation;
    // out-of-order arrival: only a newer message becomes the preview.
    tx.prepare_cached(
        "UPDATE conversations SET
             unread = unread + ?4,
             last_inbound_at = CASE WHEN ?4 = 1 THEN max(coalesce(last_inbound_at, 0), ?3)
                                    ELSE last_inbound_at END,
             closed_at = CASE WHEN ?4 = 1 THEN NULL ELSE closed_at END,
             last_preview = CASE WHEN last_at <= ?3 THEN ?2 ELSE last_preview END,
             last_at = max(last_at, ?3)
         WHERE id = ?1",
    )?
    .execute(params![conversation, m.preview(), m.timestamp_ms, inbound as i64])?;
    if inbound {
        super::campaigns::attribute_reply(tx, conversation, m.timestamp_ms)?;
    }
    if let (true, MessageContent::Text { body }) = (inbound, &m.content) {
        if let Some(opt_out) = parley_types::contact::opt_keyword(body) {
            super::contacts::keyword_opt_out(tx, conversation, opt_out, m.timestamp_ms)?;
        }
    }
    out.touch_message(message);
    out.touch_conversation(conversation);
    Ok(())
}

fn ingest_status(
    tx: &Transaction<'_>,
    s: &StatusUpdate,
    out: &mut IngestOutcome,
) -> Result<(), StoreError> {
    let error = s.errors.first().map(|e| {
        parley_meta::graph::explain_delivery_failure(
            e.code,
            e.title.as_deref().or(e.message.as_deref()),
            e.details.as_deref(),
        )
    });
    if ingest_reaction_status(tx, s, error.as_deref(), out)? {
        return Ok(());
    }
    let inserted = tx.prepare_cached("INSERT OR IGNORE INTO status_events (provider_id, status, at, error) VALUES (?1, ?2, ?3, ?4)")?.execute(params![s.provider_id, s.status, s.timestamp_ms, error],
    )?;
    if inserted == 0 {
        return Ok(());
    }
    let mut target: Option<(i64, i64)> = tx
        .prepare_cached("SELECT id, conversation_id FROM messages WHERE provider_id = ?1")?
        .query_row(params![s.provider_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if target.is_none() {
        target = reconcile_lost_send(tx, s)?;
    }
    if let Some((message, conversation)) = target {
        if apply_pending_statuses(tx, message, &s.provider_id)? {
            out.touch_message(message);
            out.touch_conversation(conversation);
        }
    }
    Ok(())
}

/// A status of one of the agent's reactions (Meta reports only `sent`, or
/// `failed`, for them). A failure puts the previous reaction back. Returns
/// whether the status was a reaction's.
fn ingest_reaction_status(
    tx: &Transaction<'_>,
    s: &StatusUpdate,
    error: Option<&str>,
    out: &mut IngestOutcome,
) -> Result<bool, StoreError> {
    let sent: Option<super::ReactionSend> = tx
        .prepare_cached("SELECT target, previous, at FROM sent_reactions WHERE provider_id = ?1")?
        .query_row(params![s.provider_id], |r| {
            Ok(super::ReactionSend {
                target: r.get(0)?,
                emoji: String::new(),
                previous: r.get(1)?,
                at: r.get(2)?,
            })
        })
        .optional()?;
    let Some(reaction) = sent else { return Ok(false) };
    if DeliveryStatus::parse(&s.status) == Some(DeliveryStatus::Failed) {
        super::outbox::restore_reaction(tx, &reaction)?;
        tx.prepare_cached("DELETE FROM sent_reactions WHERE provider_id = ?1")?
            .execute(params![s.provider_id])?;
        let target: Option<(i64, i64)> = tx
            .prepare_cached("SELECT id, conversation_id FROM messages WHERE provider_id = ?1")?
            .query_row(params![reaction.target], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((message, conversation)) = target {
            out.touch_message(message);
            let reason = error.unwrap_or("Meta did not deliver it.");
            out.failed_reactions.push((
                conversation,
                message,
                format!("Your reaction was not delivered. {reason}"),
            ));
        }
    }
    Ok(true)
}

/// A status for a message whose send answer never reached us (a timeout, a
/// crash mid-send). We sent our client transaction id as
/// `biz_opaque_callback_data`, and Meta echoes it here: the message did go
/// out, so it gets its provider id and leaves the "may or may not have been
/// sent" failure behind.
fn reconcile_lost_send(
    tx: &Transaction<'_>,
    s: &StatusUpdate,
) -> Result<Option<(i64, i64)>, StoreError> {
    let Some(txn) = s.biz_opaque_callback_data.as_deref() else { return Ok(None) };
    let lost: Option<(i64, i64)> = tx
        .prepare_cached(
            "SELECT id, conversation_id FROM messages
             WHERE client_txn_id = ?1 AND provider_id IS NULL AND direction = 'outbound'",
        )?
        .query_row(params![txn], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some((message, _)) = lost {
        tx.prepare_cached(
            "UPDATE messages SET provider_id = ?2, status = 'accepted', error = NULL WHERE id = ?1",
        )?
        .execute(params![message, s.provider_id])?;
        // The send is settled: nothing may send it again.
        tx.prepare_cached("DELETE FROM outbox WHERE message_id = ?1")?.execute(params![message])?;
    }
    Ok(lost)
}

/// Move `message` to the furthest status recorded for `provider_id`.
/// Returns whether it changed.
pub(super) fn apply_pending_statuses(
    tx: &Transaction<'_>,
    message: i64,
    provider_id: &str,
) -> Result<bool, StoreError> {
    let current: Option<String> = tx
        .prepare_cached("SELECT status FROM messages WHERE id = ?1")?
        .query_row(params![message], |r| r.get(0))?;
    let mut best =
        current.as_deref().and_then(DeliveryStatus::parse).unwrap_or(DeliveryStatus::Sending);
    let mut best_error: Option<String> = None;
    let mut stmt =
        tx.prepare_cached("SELECT status, error FROM status_events WHERE provider_id = ?1")?;
    let rows = stmt.query_map(params![provider_id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
    })?;
    let mut changed = false;
    for row in rows {
        let (name, error) = row?;
        let Some(status) = DeliveryStatus::parse(&name) else { continue };
        if best.may_advance_to(status) {
            best = status;
            best_error = error;
            changed = true;
        }
    }
    if changed {
        tx.prepare_cached(
            "UPDATE messages SET status = ?2, error = coalesce(?3, error) WHERE id = ?1",
        )?
        .execute(params![message, best.as_str(), best_error])?;
    }
    Ok(changed)
}

/// A reaction replaces that side's previous one, unless it is older (Meta
/// does not promise order). It never becomes a message of its own.
fn ingest_reaction(
    tx: &Transaction<'_>,
    target: &str,
    emoji: Option<&str>,
    by_customer: bool,
    at: i64,
    out: &mut IngestOutcome,
) -> Result<(), StoreError> {
    let emoji = emoji.filter(|e| !e.is_empty());
    let changed = tx
        .prepare_cached(
            "INSERT INTO reactions (provider_id, by_customer, emoji, at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (provider_id, by_customer) DO UPDATE SET emoji = excluded.emoji, at = excluded.at
             WHERE excluded.at >= reactions.at AND excluded.emoji IS NOT reactions.emoji",
        )?
        .execute(params![target, by_customer, emoji, at])?;
    if changed > 0 {
        touch_target(tx, target, out)?;
    }
    Ok(())
}

/// The sender unsent a message: drop its content and keep the fact. If the
/// message has not arrived yet, a tombstone waits for it.
fn ingest_deletion(
    tx: &Transaction<'_>,
    target: &str,
    at: i64,
    out: &mut IngestOutcome,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO status_events (provider_id, status, at) VALUES (?1, 'deleted', ?2)",
    )?
    .execute(params![target, at])?;
    let message: Option<i64> = tx
        .prepare_cached("SELECT id FROM messages WHERE provider_id = ?1 AND deleted = 0")?
        .query_row(params![target], |r| r.get(0))
        .optional()?;
    if let Some(id) = message {
        erase_content(tx, id)?;
        touch_target(tx, target, out)?;
    }
    Ok(())
}

fn erase_content(tx: &Transaction<'_>, message: i64) -> Result<(), StoreError> {
    // secure_delete zeroes the freed bytes; the FTS trigger drops the text.
    tx.prepare_cached("UPDATE messages SET deleted = 1, body = '', raw = NULL WHERE id = ?1")?
        .execute(params![message])?;
    tx.prepare_cached("DELETE FROM media WHERE message_id = ?1")?.execute(params![message])?;
    Ok(())
}

fn touch_target(
    tx: &Transaction<'_>,
    provider_id: &str,
    out: &mut IngestOutcome,
) -> Result<(), StoreError> {
    let target: Option<(i64, i64)> = tx
        .prepare_cached("SELECT id, conversation_id FROM messages WHERE provider_id = ?1")?
        .query_row(params![provider_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some((message, conversation)) = target {
        out.touch_message(message);
        out.touch_conversation(conversation);
    }
    Ok(())
}

/// A message another agent of the tenant sent from their device, fanned out
/// through the relay so every agent sees the whole thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSent {
    pub client_txn_id: String,
    pub provider_id: String,
    pub channel_kind: ChannelKind,
    pub channel_id: String,
    /// The customer's address the message went to.
    pub to: String,
    pub body: String,
    pub kind: String,
    pub sent_at_ms: i64,
}

fn ingest_peer_sent(
    tx: &Transaction<'_>,
    p: &PeerSent,
    out: &mut IngestOutcome,
) -> Result<(), StoreError> {
    let channel = channel_id(tx, p.channel_kind, &p.channel_id)?;
    // The address is a wa_id on WhatsApp (or a business-scoped user id,
    // which never looks like a phone number), an IGSID on Instagram.
    let is_wa_id =
        p.channel_kind == ChannelKind::Whatsapp && p.to.chars().all(|c| c.is_ascii_digit());
    let (wa_id, user_id) =
        if is_wa_id { (Some(p.to.as_str()), None) } else { (None, Some(p.to.as_str())) };
    let contact = contact_id(tx, channel, wa_id, user_id, None, p.sent_at_ms, &mut Vec::new())?;
    let conversation = conversation_id(tx, contact)?;
    let inserted = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO messages
                (conversation_id, provider_id, client_txn_id, direction, kind, body, sent_at, status)
             VALUES (?1, ?2, ?3, 'outbound', ?4, ?5, ?6, 'accepted')",
        )?
        .execute(params![conversation, p.provider_id, p.client_txn_id, p.kind, p.body, p.sent_at_ms])?;
    if inserted == 0 {
        return Ok(());
    }
    let message = tx.last_insert_rowid();
    // Its statuses reached every device already, maybe before this.
    apply_pending_statuses(tx, message, &p.provider_id)?;
    let preview = p.body.split_whitespace().collect::<Vec<_>>().join(" ");
    tx.prepare_cached(
        "UPDATE conversations SET last_preview = CASE WHEN last_at <= ?3 THEN ?2 ELSE last_preview END,
                last_at = max(last_at, ?3) WHERE id = ?1",
    )?
    .execute(params![conversation, preview, p.sent_at_ms])?;
    out.touch_message(message);
    out.touch_conversation(conversation);
    Ok(())
}
