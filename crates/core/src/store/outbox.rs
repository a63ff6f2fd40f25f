//! The durable send queue, as rows.
//!
//! A send is two rows written in one transaction: the message (shown at once
//! as "sending") and its outbox entry. The worker takes the oldest queued
//! entry of each conversation, so order is strict per conversation, and marks
//! it `in_flight` *before* calling Meta. That mark is what prevents double
//! sends: an entry found `in_flight` after a crash may or may not have reached
//! Meta, so it is never retried blindly — it becomes a failed message whose
//! error tells the agent to check before resending.
//!
//! An entry is either a message or one of the agent's reactions. A reaction
//! is written into `reactions` when it is queued (so it shows at once) and
//! the entry remembers what it replaced; if the send fails, or may not have
//! happened, the previous reaction comes back.

use parley_types::{DeliveryStatus, Message, WINDOW_MILLIS};
use rusqlite::{params, OptionalExtension};

use super::ingest::apply_pending_statuses;
use super::{Store, StoreError};

/// What the worker needs to send one queued message. Its Debug output
/// leaves out the text and the address.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub outbox_id: i64,
    pub message_id: i64,
    pub conversation_id: i64,
    pub client_txn_id: String,
    /// The channel's phone_number_id (or Instagram account id).
    pub channel_external_id: String,
    /// The customer's address: wa_id, else the business-scoped user id.
    pub to: String,
    pub text: String,
    pub reply_to: Option<String>,
    pub attempts: u32,
    /// `whatsapp` or `instagram`.
    pub channel_kind: String,
    /// The customer's last message, for Instagram's reply windows.
    pub last_inbound_at: Option<i64>,
    /// `text`, `reaction`, or the media kind (`image`, `video`, `audio`,
    /// `document`, `sticker`) whose file waits in the media table.
    pub kind: String,
    /// Set when the entry is a reaction; `message_id` is then the local id of
    /// the reacted-to message and `text` is empty.
    pub reaction: Option<ReactionSend>,
}

/// The agent's reaction, as queued. Its Debug output leaves out the emoji.
#[derive(Clone, PartialEq, Eq)]
pub struct ReactionSend {
    /// The reacted-to message's provider id.
    pub target: String,
    /// Empty removes the agent's reaction.
    pub emoji: String,
    /// The agent's reaction before this one, restored if the send fails.
    pub previous: Option<String>,
    /// The time written into `reactions` when queued.
    pub at: i64,
}

impl std::fmt::Debug for ReactionSend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReactionSend")
            .field("removal", &self.emoji.is_empty())
            .finish_non_exhaustive()
    }
}

/// Meta refuses reactions to messages older than this (error 131009).
pub const REACTION_MAX_AGE_MILLIS: i64 = 30 * WINDOW_MILLIS;

impl std::fmt::Debug for OutboxItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxItem")
            .field("outbox_id", &self.outbox_id)
            .field("message_id", &self.message_id)
            .field("conversation_id", &self.conversation_id)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// How one send attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Accepted {
        provider_id: String,
    },
    /// Certainly not delivered to Meta (for example the connection was
    /// refused): safe to try again at `retry_at`.
    RetryAt {
        retry_at_ms: i64,
    },
    /// Meta refused, or the outcome is unknown: stop, and tell the agent.
    Failed {
        error: String,
    },
}

/// Why a send was refused before queueing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueueRefusal {
    #[error("this conversation does not exist")]
    NoConversation,
    #[error(
        "more than 24 hours have passed since the customer last wrote, so WhatsApp allows only \
         an approved template message until they write again"
    )]
    WindowClosed,
    #[error("replying on this channel is not supported")]
    ChannelNotSupported,
    #[error("files can be sent on WhatsApp only for now; send a text or a link instead")]
    FilesNotSupported,
    #[error(
        "more than 7 days have passed since the customer last wrote, so Instagram allows no \
         reply until they write again"
    )]
    InstagramWindowClosed,
    #[error("only a message you sent that failed can be retried or deleted")]
    NotRetryable,
    #[error("this message does not exist any more")]
    NoMessage,
    #[error(
        "reactions can be sent on WhatsApp only: Instagram offers no reaction to a chosen \
         message. Reply with a message instead"
    )]
    ReactionsNotSupported,
    #[error(
        "only a customer's message that has arrived can get a reaction; reply with a message \
         instead"
    )]
    NotReactable,
    #[error(
        "WhatsApp allows reactions only to messages from the last 30 days; reply with a message \
         instead"
    )]
    ReactionTooOld,
    #[error("message templates exist on WhatsApp only; send a text instead")]
    TemplatesNotSupported,
}

const IN_FLIGHT_LOST: &str = "Parley stopped while this message was being sent, so it may or may \
    not have reached the customer. Check the conversation before sending it again.";

/// Instagram's human-agent window (see `parley_types`).
pub const INSTAGRAM_HUMAN_WINDOW_MILLIS: i64 = parley_types::INSTAGRAM_HUMAN_AGENT_MILLIS;

/// Why a free-form reply may not be sent now, by channel.
fn window_refusal(kind: &str, last_inbound: Option<i64>, now_ms: i64) -> Option<QueueRefusal> {
    match (kind, last_inbound) {
        ("whatsapp", Some(t)) if now_ms < t + WINDOW_MILLIS => None,
        ("whatsapp", _) => Some(QueueRefusal::WindowClosed),
        ("instagram", Some(t)) if now_ms < t + INSTAGRAM_HUMAN_WINDOW_MILLIS => None,
        ("instagram", _) => Some(QueueRefusal::InstagramWindowClosed),
        _ => Some(QueueRefusal::ChannelNotSupported),
    }
}

/// Whether a free-form message may go to `conversation` now. Returns the
/// channel kind when it may.
fn may_reply(
    tx: &rusqlite::Transaction<'_>,
    conversation: i64,
    now_ms: i64,
) -> Result<Result<String, QueueRefusal>, StoreError> {
    let found: Option<(Option<i64>, String)> = tx
        .query_row(
            "SELECT c.last_inbound_at, ch.kind FROM conversations c
             JOIN contacts ct ON ct.id = c.contact_id
             JOIN channels ch ON ch.id = ct.channel_id
             WHERE c.id = ?1",
            params![conversation],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(match found {
        None => Err(QueueRefusal::NoConversation),
        Some((last, kind)) => match window_refusal(&kind, last, now_ms) {
            Some(refusal) => Err(refusal),
            None => Ok(kind),
        },
    })
}

/// Put back the agent's reaction from before `reaction`, unless something
/// newer (another reaction of the agent) replaced it meanwhile.
pub(super) fn restore_reaction(
    tx: &rusqlite::Transaction<'_>,
    reaction: &ReactionSend,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE reactions SET emoji = ?2 WHERE provider_id = ?1 AND by_customer = 0 AND at = ?3",
        params![reaction.target, reaction.previous, reaction.at],
    )?;
    Ok(())
}

/// The conversation list shows one line: collapse whitespace, cut long text.
/// Put an outbound message on the outbox, due now.
fn queue(
    tx: &rusqlite::Transaction<'_>,
    conversation: i64,
    message: i64,
    now_ms: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO outbox (message_id, conversation_id, state, next_attempt_at)
         VALUES (?1, ?2, 'queued', ?3)",
        params![message, conversation, now_ms],
    )?;
    Ok(())
}

/// A new outbound message just inserted: queue it, and make it the
/// conversation's preview. Every kind of send (text, file, template) ends so.
pub(super) fn enqueue(
    tx: &rusqlite::Transaction<'_>,
    conversation: i64,
    message: i64,
    preview: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    queue(tx, conversation, message, now_ms)?;
    tx.execute(
        "UPDATE conversations SET last_preview = ?2, last_at = max(last_at, ?3) WHERE id = ?1",
        params![conversation, one_line_preview(preview), now_ms],
    )?;
    Ok(())
}

pub(super) fn one_line_preview(text: &str) -> String {
    const MAX_CHARS: usize = 160;
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match collapsed.char_indices().nth(MAX_CHARS - 1) {
        Some((cut, _)) => format!("{}…", &collapsed[..cut]),
        None => collapsed,
    }
}

impl Store {
    /// Queue a text message. Returns the local echo in state `sending`.
    pub fn queue_text(
        &self,
        conversation: i64,
        text: &str,
        client_txn_id: &str,
        reply_to: Option<&str>,
        now_ms: i64,
    ) -> Result<Result<Message, QueueRefusal>, StoreError> {
        let id = {
            let mut conn = self.writer();
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            if let Err(refusal) = may_reply(&tx, conversation, now_ms)? {
                return Ok(Err(refusal));
            }
            tx.execute(
                "INSERT INTO messages (conversation_id, client_txn_id, direction, kind, body, sent_at, status, reply_to)
                 VALUES (?1, ?2, 'outbound', 'text', ?3, ?4, 'sending', ?5)",
                params![conversation, client_txn_id, text, now_ms, reply_to],
            )?;
            let id = tx.last_insert_rowid();
            enqueue(&tx, conversation, id, text, now_ms)?;
            tx.commit()?;
            id
        };
        Ok(Ok(self.message(id)?))
    }

    /// Queue a file (with an optional caption). The bytes go into the
    /// encrypted media table at once; the worker uploads them when sending.
    #[allow(clippy::too_many_arguments)]
    pub fn queue_media(
        &self,
        conversation: i64,
        kind: &str,
        caption: &str,
        filename: &str,
        mime_type: &str,
        bytes: &[u8],
        client_txn_id: &str,
        now_ms: i64,
    ) -> Result<Result<Message, QueueRefusal>, StoreError> {
        let id = {
            let mut conn = self.writer();
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            match may_reply(&tx, conversation, now_ms)? {
                Err(refusal) => return Ok(Err(refusal)),
                Ok(kind) if kind != "whatsapp" => return Ok(Err(QueueRefusal::FilesNotSupported)),
                Ok(_) => {}
            }
            tx.execute(
                "INSERT INTO messages (conversation_id, client_txn_id, direction, kind, body, sent_at, status)
                 VALUES (?1, ?2, 'outbound', ?3, ?4, ?5, 'sending')",
                params![conversation, client_txn_id, kind, caption, now_ms],
            )?;
            let id = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO media (message_id, mime_type, filename, state, size, data)
                 VALUES (?1, ?2, ?3, 'stored', ?4, ?5)",
                params![id, mime_type, filename, bytes.len() as i64, bytes],
            )?;
            let preview = if caption.trim().is_empty() {
                format!("📎 {filename}")
            } else {
                caption.to_owned()
            };
            enqueue(&tx, conversation, id, &preview, now_ms)?;
            tx.commit()?;
            id
        };
        Ok(Ok(self.message(id)?))
    }

    /// Queue the agent's reaction on message `message` (its local id); an
    /// empty `emoji` removes the agent's reaction. The reaction shows at
    /// once. Meta accepts reactions only to a customer's message it
    /// delivered, within the customer-service window, up to 30 days old.
    /// Returns the message's conversation; asking for the reaction already
    /// shown queues nothing.
    pub fn queue_reaction(
        &self,
        message: i64,
        emoji: &str,
        now_ms: i64,
    ) -> Result<Result<i64, QueueRefusal>, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        type Target = (i64, String, Option<String>, bool, i64, Option<i64>, String);
        let found: Option<Target> = tx
            .query_row(
                "SELECT m.conversation_id, m.direction, m.provider_id, m.deleted, m.sent_at,
                        c.last_inbound_at, ch.kind
                 FROM messages m
                 JOIN conversations c ON c.id = m.conversation_id
                 JOIN contacts ct ON ct.id = c.contact_id
                 JOIN channels ch ON ch.id = ct.channel_id
                 WHERE m.id = ?1",
                params![message],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                },
            )
            .optional()?;
        let Some((conversation, direction, provider_id, deleted, sent_at, last_inbound, kind)) =
            found
        else {
            return Ok(Err(QueueRefusal::NoMessage));
        };
        if kind != "whatsapp" {
            return Ok(Err(QueueRefusal::ReactionsNotSupported));
        }
        let target = match provider_id {
            Some(id) if direction == "inbound" && !deleted => id,
            _ => return Ok(Err(QueueRefusal::NotReactable)),
        };
        if sent_at + REACTION_MAX_AGE_MILLIS <= now_ms {
            return Ok(Err(QueueRefusal::ReactionTooOld));
        }
        if let Some(refusal) = window_refusal(&kind, last_inbound, now_ms) {
            return Ok(Err(refusal));
        }
        let previous: Option<String> = tx
            .query_row(
                "SELECT emoji FROM reactions WHERE provider_id = ?1 AND by_customer = 0",
                params![target],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        let wanted = Some(emoji).filter(|e| !e.is_empty());
        if previous.as_deref() == wanted {
            return Ok(Ok(conversation));
        }
        tx.execute(
            "INSERT INTO reactions (provider_id, by_customer, emoji, at) VALUES (?1, 0, ?2, ?3)
             ON CONFLICT (provider_id, by_customer) DO UPDATE SET emoji = excluded.emoji, at = excluded.at",
            params![target, wanted, now_ms],
        )?;
        tx.execute(
            "INSERT INTO outbox (conversation_id, state, next_attempt_at, reaction_target,
                                 reaction_emoji, reaction_prev, reaction_at)
             VALUES (?1, 'queued', ?2, ?3, ?4, ?5, ?2)",
            params![conversation, now_ms, target, emoji, previous],
        )?;
        tx.commit()?;
        Ok(Ok(conversation))
    }

    /// Entries left `in_flight` by a crash become failed messages (see the
    /// module doc); interrupted reactions give way to the previous one.
    /// Returns the affected message ids.
    pub fn recover_outbox(&self) -> Result<Vec<i64>, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        let reactions: Vec<(i64, ReactionSend)> = {
            let mut stmt = tx.prepare(
                "SELECT id, reaction_target, reaction_emoji, reaction_prev, reaction_at FROM outbox
                 WHERE state = 'in_flight' AND reaction_target IS NOT NULL",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    ReactionSend {
                        target: r.get(1)?,
                        emoji: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                        previous: r.get(3)?,
                        at: r.get::<_, Option<i64>>(4)?.unwrap_or_default(),
                    },
                ))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        for (outbox_id, reaction) in &reactions {
            restore_reaction(&tx, reaction)?;
            tx.execute("DELETE FROM outbox WHERE id = ?1", params![outbox_id])?;
        }
        let ids: Vec<i64> = {
            let mut stmt = tx.prepare(
                "SELECT message_id FROM outbox WHERE state = 'in_flight' AND message_id IS NOT NULL",
            )?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        for id in &ids {
            tx.execute(
                "UPDATE messages SET status = 'failed', error = ?2 WHERE id = ?1",
                params![id, IN_FLIGHT_LOST],
            )?;
            tx.execute("DELETE FROM outbox WHERE message_id = ?1", params![id])?;
        }
        let mut ids = ids;
        for (_, reaction) in &reactions {
            let target: Option<i64> = tx
                .query_row(
                    "SELECT id FROM messages WHERE provider_id = ?1",
                    params![reaction.target],
                    |r| r.get(0),
                )
                .optional()?;
            ids.extend(target);
        }
        tx.commit()?;
        Ok(ids)
    }

    /// The next entry due, oldest first, never overtaking an earlier entry of
    /// the same conversation. Marks it `in_flight` before returning it.
    pub fn take_due(&self, now_ms: i64) -> Result<Option<OutboxItem>, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let item = tx
            .query_row(
                "SELECT o.id, coalesce(o.message_id, t.id, 0), o.conversation_id,
                        coalesce(m.client_txn_id, ''), ch.external_id,
                        coalesce(ct.wa_id, ct.user_id), coalesce(m.body, ''), m.reply_to,
                        o.attempts, ch.kind, c.last_inbound_at, coalesce(m.kind, 'reaction'),
                        o.reaction_target, o.reaction_emoji, o.reaction_prev, o.reaction_at
                 FROM outbox o
                 LEFT JOIN messages m ON m.id = o.message_id
                 LEFT JOIN messages t ON t.provider_id = o.reaction_target
                 JOIN conversations c ON c.id = o.conversation_id
                 JOIN contacts ct ON ct.id = c.contact_id
                 JOIN channels ch ON ch.id = ct.channel_id
                 WHERE o.state = 'queued' AND o.next_attempt_at <= ?1
                   AND NOT EXISTS (
                       SELECT 1 FROM outbox o2
                       WHERE o2.conversation_id = o.conversation_id AND o2.id < o.id)
                 ORDER BY o.id LIMIT 1",
                params![now_ms],
                |r| {
                    Ok(OutboxItem {
                        outbox_id: r.get(0)?,
                        message_id: r.get(1)?,
                        conversation_id: r.get(2)?,
                        client_txn_id: r.get(3)?,
                        channel_external_id: r.get(4)?,
                        to: r.get(5)?,
                        text: r.get(6)?,
                        reply_to: r.get(7)?,
                        attempts: r.get::<_, i64>(8)? as u32,
                        channel_kind: r.get(9)?,
                        last_inbound_at: r.get(10)?,
                        kind: r.get(11)?,
                        reaction: match r.get::<_, Option<String>>(12)? {
                            None => None,
                            Some(target) => Some(ReactionSend {
                                target,
                                emoji: r.get::<_, Option<String>>(13)?.unwrap_or_default(),
                                previous: r.get(14)?,
                                at: r.get::<_, Option<i64>>(15)?.unwrap_or_default(),
                            }),
                        },
                    })
                },
            )
            .optional()?;
        if let Some(item) = &item {
            tx.execute(
                "UPDATE outbox SET state = 'in_flight', attempts = attempts + 1 WHERE id = ?1",
                params![item.outbox_id],
            )?;
        }
        tx.commit()?;
        Ok(item)
    }

    /// When the next queued entry becomes due, if any.
    pub fn next_due_at(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.reader().query_row(
            "SELECT min(next_attempt_at) FROM outbox WHERE state = 'queued'",
            [],
            |r| r.get(0),
        )?)
    }

    /// Record how a send attempt ended.
    pub fn finish_send(&self, item: &OutboxItem, outcome: &SendOutcome) -> Result<(), StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        if let Some(reaction) = &item.reaction {
            match outcome {
                SendOutcome::Accepted { provider_id } => {
                    tx.execute(
                        "INSERT OR IGNORE INTO sent_reactions (provider_id, target, previous, at)
                         VALUES (?1, ?2, ?3, ?4)",
                        params![provider_id, reaction.target, reaction.previous, reaction.at],
                    )?;
                    // Its failed status may have overtaken Meta's 200.
                    let failed: bool = tx.query_row(
                        "SELECT EXISTS(SELECT 1 FROM status_events WHERE provider_id = ?1 AND status = 'failed')",
                        params![provider_id],
                        |r| r.get(0),
                    )?;
                    if failed {
                        restore_reaction(&tx, reaction)?;
                    }
                    tx.execute(
                        "DELETE FROM status_events WHERE provider_id = ?1",
                        params![provider_id],
                    )?;
                    tx.execute("DELETE FROM outbox WHERE id = ?1", params![item.outbox_id])?;
                }
                SendOutcome::RetryAt { retry_at_ms } => {
                    tx.execute(
                        "UPDATE outbox SET state = 'queued', next_attempt_at = ?2 WHERE id = ?1",
                        params![item.outbox_id, retry_at_ms],
                    )?;
                }
                SendOutcome::Failed { .. } => {
                    restore_reaction(&tx, reaction)?;
                    tx.execute("DELETE FROM outbox WHERE id = ?1", params![item.outbox_id])?;
                }
            }
            tx.commit()?;
            return Ok(());
        }
        match outcome {
            SendOutcome::Accepted { provider_id } => {
                tx.execute(
                    "UPDATE messages SET provider_id = ?2, status = ?3 WHERE id = ?1",
                    params![item.message_id, provider_id, DeliveryStatus::Accepted.as_str()],
                )?;
                // Status webhooks may have overtaken Meta's 200.
                apply_pending_statuses(&tx, item.message_id, provider_id)?;
                tx.execute("DELETE FROM outbox WHERE id = ?1", params![item.outbox_id])?;
            }
            SendOutcome::RetryAt { retry_at_ms } => {
                tx.execute(
                    "UPDATE outbox SET state = 'queued', next_attempt_at = ?2 WHERE id = ?1",
                    params![item.outbox_id, retry_at_ms],
                )?;
            }
            SendOutcome::Failed { error } => {
                // A status webhook may already have proven it went out
                // (see reconcile_lost_send): then it is not a failure.
                tx.execute(
                    "UPDATE messages SET status = 'failed', error = ?2 WHERE id = ?1 AND provider_id IS NULL",
                    params![item.message_id, error],
                )?;
                tx.execute("DELETE FROM outbox WHERE id = ?1", params![item.outbox_id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Send a failed message again, as the agent asked. It gets a new
    /// transaction id, so a late status of the earlier attempt cannot be
    /// mistaken for this one. The window is checked again.
    pub fn retry_failed(
        &self,
        message: i64,
        client_txn_id: &str,
        now_ms: i64,
    ) -> Result<Result<Message, QueueRefusal>, StoreError> {
        {
            let mut conn = self.writer();
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let found: Option<(i64, Option<i64>, String, bool)> = tx
                .query_row(
                    "SELECT m.conversation_id, c.last_inbound_at, ch.kind, m.kind = 'template'
                     FROM messages m
                     JOIN conversations c ON c.id = m.conversation_id
                     JOIN contacts ct ON ct.id = c.contact_id
                     JOIN channels ch ON ch.id = ct.channel_id
                     WHERE m.id = ?1 AND m.direction = 'outbound' AND m.status = 'failed'",
                    params![message],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let conversation = match found {
                None => return Ok(Err(QueueRefusal::NotRetryable)),
                Some((_, _, kind, _)) if kind != "whatsapp" => {
                    return Ok(Err(QueueRefusal::ChannelNotSupported))
                }
                // A template may be sent whenever: no window applies.
                Some((conversation, _, _, true)) => conversation,
                Some((_, None, _, _)) => return Ok(Err(QueueRefusal::WindowClosed)),
                Some((_, Some(t), _, _)) if t + WINDOW_MILLIS <= now_ms => {
                    return Ok(Err(QueueRefusal::WindowClosed))
                }
                Some((conversation, Some(_), _, _)) => conversation,
            };
            tx.execute(
                "UPDATE messages SET status = 'sending', error = NULL, provider_id = NULL,
                        client_txn_id = ?2, sent_at = ?3 WHERE id = ?1",
                params![message, client_txn_id, now_ms],
            )?;
            queue(&tx, conversation, message, now_ms)?;
            tx.commit()?;
        }
        Ok(Ok(self.message(message)?))
    }

    /// Remove a failed message the agent gave up on. Returns its
    /// conversation. Only failed outbound messages can be removed: the
    /// history of what was said stays whole.
    pub fn delete_failed(&self, message: i64) -> Result<Result<i64, QueueRefusal>, StoreError> {
        let conn = self.writer();
        let conversation: Option<i64> = conn
            .query_row(
                "SELECT conversation_id FROM messages WHERE id = ?1 AND direction = 'outbound' AND status = 'failed'",
                params![message],
                |r| r.get(0),
            )
            .optional()?;
        let Some(conversation) = conversation else { return Ok(Err(QueueRefusal::NotRetryable)) };
        conn.execute("DELETE FROM messages WHERE id = ?1", params![message])?;
        Ok(Ok(conversation))
    }
}
