//! Broadcast campaigns in the encrypted store (migration 10).
//!
//! Each recipient is sent through a message row of its own conversation, so
//! the thread shows what the customer got and the ordinary status webhooks
//! (matched by wamid, or by our transaction id when Meta's answer was lost)
//! give the per-recipient outcome. A recipient is claimed ('sending') in the
//! same transaction that writes its message, before anything leaves: after
//! a crash a claimed recipient is never sent again (at most once), and the
//! status webhooks tell whether it went out.

use std::collections::{HashMap, HashSet};

use parley_types::campaign::{
    Audience, AudienceOptions, CampaignRecipient, CampaignState, CampaignSummary, CampaignTotals,
    Exclusion, RecipientState,
};
use rusqlite::{params, params_from_iter, OptionalExtension, Transaction};

use super::outbox::one_line_preview;
use super::{Store, StoreError};

/// A reply within this long after a campaign message counts as a reply to
/// the campaign.
pub const REPLY_WINDOW_MILLIS: i64 = 3 * 24 * 60 * 60 * 1000;
/// Meta stamps a reply in whole seconds, and our send time is this
/// machine's clock: a reply stamped up to this much "before" the send is
/// still after it.
const REPLY_CLOCK_SLACK_MILLIS: i64 = 5_000;

/// What the sender is told when a send interrupted by a crash is settled.
pub const CAMPAIGN_SEND_LOST: &str = "Parley stopped while this campaign message was being sent, \
    so it may or may not have reached the customer. It is not sent again; its status updates \
    arrive if it was sent.";

/// The reason of a recipient the campaign was cancelled before.
pub const CANCELLED_BEFORE_SEND: &str =
    "The campaign was cancelled before this message was sent, so the customer did not get it.";

/// A sent or failed recipient: its outcome is its message's from now on,
/// and its variable values (personal data) are no longer needed.
fn settle_done(tx: &Transaction<'_>, recipient: i64) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE campaign_recipients SET state = 'done', params = NULL WHERE id = ?1",
    )?
    .execute(params![recipient])?;
    Ok(())
}

/// Back in the queue (at `at_ms`, or as it was) unless the campaign was
/// cancelled meanwhile: then it is settled as not sent, and its message,
/// which Meta never took, says so.
fn requeue(tx: &Transaction<'_>, recipient: i64, at_ms: Option<i64>) -> Result<(), StoreError> {
    let cancelled: bool = tx
        .prepare_cached(
            "SELECT c.state = 'cancelled' FROM campaign_recipients r
             JOIN campaigns c ON c.id = r.campaign_id WHERE r.id = ?1",
        )?
        .query_row(params![recipient], |r| r.get(0))?;
    if cancelled {
        tx.prepare_cached(
            "UPDATE messages SET status = 'failed', error = ?2 WHERE provider_id IS NULL
             AND id = (SELECT message_id FROM campaign_recipients WHERE id = ?1)",
        )?
        .execute(params![recipient, CANCELLED_BEFORE_SEND])?;
        tx.prepare_cached(
            "UPDATE campaign_recipients SET state = 'not_sent', params = NULL WHERE id = ?1",
        )?
        .execute(params![recipient])?;
    } else {
        tx.prepare_cached(
            "UPDATE campaign_recipients SET state = 'queued',
                 next_attempt_at = coalesce(?2, next_attempt_at) WHERE id = ?1",
        )?
        .execute(params![recipient, at_ms])?;
    }
    Ok(())
}

/// A WhatsApp contact the audience may include.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub contact_id: i64,
    pub name: Option<String>,
    /// `None` for a contact known only by business-scoped user id.
    pub wa_id: Option<String>,
    pub opted_out: bool,
    pub last_inbound_at: Option<i64>,
    /// The attributes asked for, by name (lower-cased).
    pub attributes: HashMap<String, String>,
}

/// A recipient as decided when the campaign is confirmed.
#[derive(Debug, Clone)]
pub struct NewRecipient {
    pub contact_id: i64,
    pub exclusion: Option<Exclusion>,
    /// `{"header":[…],"body":[…]}`, for queued recipients.
    pub params: Option<String>,
}

/// A campaign row as the sender needs it.
#[derive(Debug, Clone)]
pub struct CampaignRow {
    pub id: i64,
    pub state: CampaignState,
    pub rate_per_sec: u32,
    pub start_at: Option<i64>,
    pub template_name: String,
    pub language: String,
    /// `{"category","components"}` as confirmed.
    pub template: String,
}

/// One recipient claimed for sending: its message row is written.
#[derive(Debug, Clone)]
pub struct ClaimedSend {
    pub recipient_id: i64,
    pub message_id: i64,
    pub conversation_id: i64,
    pub wa_id: String,
    pub client_txn_id: String,
    /// What `messages.raw` holds: name, language, components.
    pub send: String,
    /// Attempts including this one.
    pub attempts: u32,
}

/// Turns a recipient's stored values into its visible text and its send.
pub type Render<'a> = dyn Fn(&str) -> Result<(String, String), String> + 'a;

/// recipient, contact, values, message, attempts, wa_id
type DueRow = (i64, i64, Option<String>, Option<i64>, u32, Option<String>);

/// How one claimed send ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RecipientOutcome {
    Accepted {
        provider_id: String,
    },
    /// Meta certainly did not take it: queue it again.
    RetryAt {
        at_ms: i64,
    },
    Failed {
        error: String,
    },
}

fn state_of(s: &str) -> Result<CampaignState, StoreError> {
    CampaignState::parse(s).ok_or_else(|| StoreError::Invalid(format!("campaign state {s}")))
}

/// The per-recipient state, from the recipient row and its message.
const RECIPIENT_STATE_SQL: &str = "CASE r.state
        WHEN 'excluded' THEN 'excluded'
        WHEN 'queued' THEN 'queued'
        WHEN 'not_sent' THEN 'not_sent'
        WHEN 'sending' THEN 'sending'
        ELSE CASE coalesce(m.status, r.outcome, 'sent')
            WHEN 'accepted' THEN 'sent'
            ELSE coalesce(m.status, r.outcome, 'sent') END
    END";

fn recipient_state(s: &str) -> RecipientState {
    match s {
        "excluded" => RecipientState::Excluded,
        "queued" => RecipientState::Queued,
        "not_sent" => RecipientState::NotSent,
        "sending" => RecipientState::Sending,
        "delivered" => RecipientState::Delivered,
        "read" => RecipientState::Read,
        "failed" => RecipientState::Failed,
        _ => RecipientState::Sent,
    }
}

fn exclusion_of(s: &str) -> Option<Exclusion> {
    Some(match s {
        "opted_out" => Exclusion::OptedOut,
        "missing_value" => Exclusion::MissingValue,
        "no_number" => Exclusion::NoNumber,
        _ => return None,
    })
}

fn exclusion_str(e: Exclusion) -> &'static str {
    match e {
        Exclusion::OptedOut => "opted_out",
        Exclusion::MissingValue => "missing_value",
        Exclusion::NoNumber => "no_number",
    }
}

/// A reply arrived in `conversation` at `at`: the newest campaign message
/// there within [`REPLY_WINDOW_MILLIS`] before it gets the reply (once).
pub(super) fn attribute_reply(
    tx: &Transaction<'_>,
    conversation: i64,
    at: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE campaign_recipients SET replied_at = ?2
         WHERE replied_at IS NULL AND id = (
             SELECT r.id FROM messages m JOIN campaign_recipients r ON r.message_id = m.id
             WHERE m.conversation_id = ?1 AND m.direction = 'outbound' AND m.kind = 'template'
               AND m.status IS NOT 'failed'
               AND m.sent_at <= ?2 + ?4 AND m.sent_at > ?2 - ?3
             ORDER BY m.sent_at DESC, m.id DESC LIMIT 1)",
    )?
    .execute(params![conversation, at, REPLY_WINDOW_MILLIS, REPLY_CLOCK_SLACK_MILLIS])?;
    Ok(())
}

impl Store {
    /// The WhatsApp contacts matching `audience`, with the attributes named
    /// in `attributes`. Opted-out contacts are included (marked): the
    /// summary shows them as excluded.
    pub fn campaign_candidates(
        &self,
        audience: &Audience,
        attributes: &[String],
    ) -> Result<Vec<Candidate>, StoreError> {
        let conn = self.reader();
        let labelled: Option<HashSet<i64>> = if audience.labels.is_empty() {
            None
        } else {
            let marks = vec!["?"; audience.labels.len()].join(",");
            let mut stmt = conn.prepare(&format!(
                "SELECT DISTINCT contact_id FROM contact_labels WHERE label IN ({marks})"
            ))?;
            let ids = stmt
                .query_map(params_from_iter(audience.labels.iter().map(|l| l.trim())), |r| {
                    r.get(0)
                })?
                .collect::<Result<_, _>>()?;
            Some(ids)
        };
        let matching: Option<HashSet<i64>> = match &audience.attribute {
            None => None,
            Some(filter) => {
                let mut stmt = conn.prepare(
                    "SELECT contact_id FROM contact_attributes
                     WHERE name = ?1 AND lower(trim(value)) = lower(trim(?2))",
                )?;
                let ids = stmt
                    .query_map(params![filter.name.trim(), filter.value], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                Some(ids)
            }
        };
        let picked: Option<HashSet<i64>> =
            audience.contact_ids.as_ref().map(|ids| ids.iter().copied().collect());
        let mut values: HashMap<String, HashMap<i64, String>> = HashMap::new();
        for name in attributes {
            let key = name.trim().to_lowercase();
            if values.contains_key(&key) {
                continue;
            }
            let mut stmt = conn.prepare_cached(
                "SELECT contact_id, value FROM contact_attributes WHERE name = ?1",
            )?;
            let map = stmt
                .query_map(params![name.trim()], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            values.insert(key, map);
        }
        let mut stmt = conn.prepare(
            "SELECT ct.id, ct.name, ct.wa_id, ct.opted_out_at IS NOT NULL, c.last_inbound_at
             FROM contacts ct JOIN channels ch ON ch.id = ct.channel_id
             LEFT JOIN conversations c ON c.contact_id = ct.id
             WHERE ch.kind = 'whatsapp' ORDER BY ct.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, bool>(3)?,
                r.get::<_, Option<i64>>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (contact_id, name, wa_id, opted_out, last_inbound_at) = row?;
            let included =
                |set: &Option<HashSet<i64>>| set.as_ref().is_none_or(|s| s.contains(&contact_id));
            if !(included(&labelled) && included(&matching) && included(&picked)) {
                continue;
            }
            let attributes = values
                .iter()
                .filter_map(|(k, m)| m.get(&contact_id).map(|v| (k.clone(), v.clone())))
                .collect();
            out.push(Candidate { contact_id, name, wa_id, opted_out, last_inbound_at, attributes });
        }
        Ok(out)
    }

    /// The labels (with their contact counts) and attribute names in use.
    pub fn audience_options(&self) -> Result<AudienceOptions, StoreError> {
        let conn = self.reader();
        let labels = conn
            .prepare(
                "SELECT label, count(*) FROM contact_labels GROUP BY label COLLATE NOCASE
                 ORDER BY label COLLATE NOCASE",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
            .collect::<Result<_, _>>()?;
        let attributes = conn
            .prepare("SELECT DISTINCT name FROM contact_attributes ORDER BY name COLLATE NOCASE")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(AudienceOptions { labels, attributes })
    }

    /// Write a confirmed campaign and its recipients in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_campaign(
        &self,
        name: &str,
        template_name: &str,
        language: &str,
        template: &str,
        draft: &str,
        rate_per_sec: u32,
        start_at: Option<i64>,
        recipients: &[NewRecipient],
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let state = if start_at.is_some_and(|at| at > now_ms) {
            CampaignState::Scheduled
        } else {
            CampaignState::Running
        };
        tx.execute(
            "INSERT INTO campaigns (name, template_name, language, template, draft, state,
                 rate_per_sec, created_at, start_at, started_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                name,
                template_name,
                language,
                template,
                draft,
                state.as_str(),
                rate_per_sec,
                now_ms,
                start_at,
                (state == CampaignState::Running).then_some(now_ms),
            ],
        )?;
        let id = tx.last_insert_rowid();
        {
            let mut stmt = tx.prepare(
                "INSERT INTO campaign_recipients (campaign_id, contact_id, state, exclusion, params)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for r in recipients {
                let state = if r.exclusion.is_some() { "excluded" } else { "queued" };
                stmt.execute(params![
                    id,
                    r.contact_id,
                    state,
                    r.exclusion.map(exclusion_str),
                    r.params
                ])?;
            }
        }
        tx.commit()?;
        Ok(id)
    }

    pub fn campaign_row(&self, id: i64) -> Result<CampaignRow, StoreError> {
        let conn = self.reader();
        let row = conn
            .query_row(
                "SELECT id, state, rate_per_sec, start_at, template_name, language, template
                 FROM campaigns WHERE id = ?1",
                params![id],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, u32>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                    ))
                },
            )
            .optional()?
            .ok_or(StoreError::NotFound)?;
        Ok(CampaignRow {
            id: row.0,
            state: state_of(&row.1)?,
            rate_per_sec: row.2,
            start_at: row.3,
            template_name: row.4,
            language: row.5,
            template: row.6,
        })
    }

    /// Start scheduled campaigns whose time came; returns the oldest running
    /// campaign (campaigns of one number send one after another) and the
    /// earliest start still ahead.
    pub fn next_campaign(&self, now_ms: i64) -> Result<(Option<i64>, Option<i64>), StoreError> {
        let conn = self.writer();
        conn.execute(
            "UPDATE campaigns SET state = 'running', started_at = coalesce(started_at, ?1)
             WHERE state = 'scheduled' AND start_at <= ?1",
            params![now_ms],
        )?;
        let running = conn
            .query_row(
                "SELECT id FROM campaigns WHERE state = 'running' ORDER BY id LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let scheduled = conn.query_row(
            "SELECT min(start_at) FROM campaigns WHERE state = 'scheduled'",
            [],
            |r| r.get(0),
        )?;
        Ok((running, scheduled))
    }

    /// Claim the next due recipient of `campaign` and write its message
    /// (creating the conversation if the contact has none), in one
    /// transaction. `render` turns the stored values into the visible text
    /// and what is sent; a render failure fails that recipient. Returns
    /// `None` when none is due now.
    pub fn claim_campaign_send(
        &self,
        campaign: i64,
        now_ms: i64,
        new_txn: &dyn Fn() -> String,
        render: &Render<'_>,
    ) -> Result<Option<ClaimedSend>, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        loop {
            let next: Option<DueRow> = tx
                .prepare_cached(
                    "SELECT r.id, r.contact_id, r.params, r.message_id, r.attempts, ct.wa_id
                     FROM campaign_recipients r JOIN contacts ct ON ct.id = r.contact_id
                     WHERE r.campaign_id = ?1 AND r.state = 'queued' AND r.next_attempt_at <= ?2
                       -- A pause or cancel committed since the sender looked wins.
                       AND (SELECT state FROM campaigns WHERE id = ?1) = 'running'
                     ORDER BY r.next_attempt_at, r.id LIMIT 1",
                )?
                .query_row(params![campaign, now_ms], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
                })
                .optional()?;
            let Some((recipient, contact, values, message, attempts, wa_id)) = next else {
                tx.commit()?;
                return Ok(None);
            };
            let Some(wa_id) = wa_id else {
                tx.execute(
                    "UPDATE campaign_recipients SET state = 'excluded', exclusion = 'no_number'
                     WHERE id = ?1",
                    params![recipient],
                )?;
                continue;
            };
            let (text, send) = match render(values.as_deref().unwrap_or("{}")) {
                Ok(rendered) => rendered,
                Err(error) => {
                    // Nothing to send: the recipient fails with the reason,
                    // through a message row so it shows like any failure.
                    let conversation = conversation_of(&tx, contact, now_ms)?;
                    tx.execute(
                        "INSERT INTO messages (conversation_id, client_txn_id, direction, kind, body,
                             sent_at, status, error)
                         VALUES (?1, ?2, 'outbound', 'template', '', ?3, 'failed', ?4)",
                        params![conversation, new_txn(), now_ms, error],
                    )?;
                    tx.execute(
                        "UPDATE campaign_recipients SET state = 'done', message_id = ?2 WHERE id = ?1",
                        params![recipient, tx.last_insert_rowid()],
                    )?;
                    continue;
                }
            };
            let conversation = conversation_of(&tx, contact, now_ms)?;
            let (message, txn) = match message {
                Some(id) => {
                    let txn: String = tx.query_row(
                        "SELECT client_txn_id FROM messages WHERE id = ?1",
                        params![id],
                        |r| r.get(0),
                    )?;
                    (id, txn)
                }
                None => {
                    let txn = new_txn();
                    tx.prepare_cached(
                        "INSERT INTO messages (conversation_id, client_txn_id, direction, kind, body,
                             raw, sent_at, status)
                         VALUES (?1, ?2, 'outbound', 'template', ?3, ?4, ?5, 'sending')",
                    )?
                    .execute(params![conversation, txn, text, send, now_ms])?;
                    let id = tx.last_insert_rowid();
                    tx.prepare_cached(
                        "UPDATE conversations SET last_preview = ?2, last_at = max(last_at, ?3)
                         WHERE id = ?1",
                    )?
                    .execute(params![
                        conversation,
                        one_line_preview(&text),
                        now_ms
                    ])?;
                    (id, txn)
                }
            };
            tx.prepare_cached(
                "UPDATE campaign_recipients SET state = 'sending', message_id = ?2,
                     attempts = attempts + 1 WHERE id = ?1",
            )?
            .execute(params![recipient, message])?;
            tx.commit()?;
            return Ok(Some(ClaimedSend {
                recipient_id: recipient,
                message_id: message,
                conversation_id: conversation,
                wa_id,
                client_txn_id: txn,
                send,
                attempts: attempts + 1,
            }));
        }
    }

    /// Save how a claimed send ended.
    pub fn finish_campaign_send(
        &self,
        send: &ClaimedSend,
        outcome: &RecipientOutcome,
    ) -> Result<(), StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        match outcome {
            RecipientOutcome::Accepted { provider_id } => {
                tx.prepare_cached(
                    "UPDATE messages SET provider_id = ?2, status = 'accepted', error = NULL
                     WHERE id = ?1",
                )?
                .execute(params![send.message_id, provider_id])?;
                super::ingest::apply_pending_statuses(&tx, send.message_id, provider_id)?;
                settle_done(&tx, send.recipient_id)?;
            }
            RecipientOutcome::RetryAt { at_ms } => {
                requeue(&tx, send.recipient_id, Some(*at_ms))?;
            }
            RecipientOutcome::Failed { error } => {
                // A status webhook may already have proven it went out.
                tx.prepare_cached(
                    "UPDATE messages SET status = 'failed', error = ?2
                     WHERE id = ?1 AND provider_id IS NULL",
                )?
                .execute(params![send.message_id, error])?;
                settle_done(&tx, send.recipient_id)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Put a claimed send back in the queue untouched (the campaign paused
    /// before it left).
    pub fn unclaim_campaign_send(&self, send: &ClaimedSend) -> Result<(), StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE campaign_recipients SET attempts = max(attempts - 1, 0) WHERE id = ?1",
            params![send.recipient_id],
        )?;
        requeue(&tx, send.recipient_id, None)?;
        tx.commit()?;
        Ok(())
    }

    /// After a crash: claimed recipients whose answer never came are
    /// settled, never sent again. Their message says it may have gone out;
    /// a status webhook proves it if it did. Returns how many.
    pub fn recover_campaigns(&self) -> Result<usize, StoreError> {
        self.settle_lost_sends(None)
    }

    /// Claimed recipients of `campaign` (or of every campaign) whose send
    /// has no task any more: settled as maybe sent, never sent again. The
    /// sender calls this as it starts a campaign (it is the only sender, so
    /// anything still claimed was orphaned by an error or a crash).
    pub fn settle_lost_sends(&self, campaign: Option<i64>) -> Result<usize, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE messages SET status = 'failed', error = ?1
             WHERE provider_id IS NULL AND status = 'sending' AND id IN
                 (SELECT message_id FROM campaign_recipients
                  WHERE state = 'sending' AND (?2 IS NULL OR campaign_id = ?2))",
            params![CAMPAIGN_SEND_LOST, campaign],
        )?;
        let n = tx.execute(
            "UPDATE campaign_recipients SET state = 'done', params = NULL
             WHERE state = 'sending' AND (?1 IS NULL OR campaign_id = ?1)",
            params![campaign],
        )?;
        tx.commit()?;
        Ok(n)
    }

    /// Whether `campaign` still has recipients to send or in flight.
    pub fn campaign_pending(&self, campaign: i64) -> Result<(u64, u64, Option<i64>), StoreError> {
        let conn = self.reader();
        Ok(conn.query_row(
            "SELECT count(*) FILTER (WHERE state = 'queued'),
                    count(*) FILTER (WHERE state = 'sending'),
                    min(next_attempt_at) FILTER (WHERE state = 'queued')
             FROM campaign_recipients WHERE campaign_id = ?1",
            params![campaign],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64, r.get(2)?)),
        )?)
    }

    /// Move a campaign to `to` if it is in one of `from`. Cancelling also
    /// settles every queued recipient as not sent; completing stamps the
    /// end. Returns whether it changed.
    pub fn set_campaign_state(
        &self,
        campaign: i64,
        from: &[CampaignState],
        to: CampaignState,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let current: String = tx
            .query_row("SELECT state FROM campaigns WHERE id = ?1", params![campaign], |r| r.get(0))
            .optional()?
            .ok_or(StoreError::NotFound)?;
        if !from.contains(&state_of(&current)?) {
            return Ok(false);
        }
        tx.execute(
            "UPDATE campaigns SET state = ?2,
                 started_at = CASE WHEN ?2 = 'running' THEN coalesce(started_at, ?3) ELSE started_at END,
                 finished_at = CASE WHEN ?2 IN ('cancelled', 'completed') THEN ?3 ELSE finished_at END
             WHERE id = ?1",
            params![campaign, to.as_str(), now_ms],
        )?;
        if to == CampaignState::Cancelled {
            // Recipients waiting to retry have a message Meta never took.
            tx.execute(
                "UPDATE messages SET status = 'failed', error = ?2
                 WHERE provider_id IS NULL AND status = 'sending' AND id IN
                     (SELECT message_id FROM campaign_recipients
                      WHERE campaign_id = ?1 AND state = 'queued')",
                params![campaign, CANCELLED_BEFORE_SEND],
            )?;
            tx.execute(
                "UPDATE campaign_recipients SET state = 'not_sent', params = NULL
                 WHERE campaign_id = ?1 AND state = 'queued'",
                params![campaign],
            )?;
        }
        tx.commit()?;
        Ok(true)
    }

    /// Say why the sender waits or paused itself; `None` clears it.
    pub fn set_campaign_note(&self, campaign: i64, note: Option<&str>) -> Result<(), StoreError> {
        self.writer().execute(
            "UPDATE campaigns SET note = ?2 WHERE id = ?1 AND note IS NOT ?2",
            params![campaign, note],
        )?;
        Ok(())
    }

    pub fn campaign_summary(&self, campaign: i64) -> Result<CampaignSummary, StoreError> {
        let conn = self.reader();
        summary(&conn, campaign)
    }

    /// Every campaign, newest first.
    pub fn campaigns(&self) -> Result<Vec<CampaignSummary>, StoreError> {
        let conn = self.reader();
        let ids: Vec<i64> = conn
            .prepare("SELECT id FROM campaigns ORDER BY id DESC")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        ids.into_iter().map(|id| summary(&conn, id)).collect()
    }

    /// A page of recipients after `after`, optionally in one state only.
    pub fn campaign_recipients(
        &self,
        campaign: i64,
        after: Option<i64>,
        only: Option<RecipientState>,
        limit: usize,
    ) -> Result<Vec<CampaignRecipient>, StoreError> {
        let conn = self.reader();
        let sql = format!(
            "SELECT * FROM (
                 SELECT r.id, r.contact_id, ct.name, coalesce(ct.wa_id, ct.user_id),
                        {RECIPIENT_STATE_SQL} AS st, r.exclusion, coalesce(m.error, r.reason),
                        m.sent_at, r.replied_at, m.conversation_id
                 FROM campaign_recipients r JOIN contacts ct ON ct.id = r.contact_id
                 LEFT JOIN messages m ON m.id = r.message_id
                 WHERE r.campaign_id = ?1 AND r.id > ?2)
             WHERE ?3 IS NULL OR st = ?3 ORDER BY id LIMIT ?4"
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![campaign, after.unwrap_or(0), only.map(|s| s.as_str()), limit as i64],
            |r| {
                let state = recipient_state(&r.get::<_, String>(4)?);
                let exclusion: Option<String> = r.get(5)?;
                let error: Option<String> = r.get(6)?;
                let reason = match state {
                    RecipientState::Excluded => {
                        exclusion.as_deref().and_then(exclusion_of).map(|e| e.sentence().to_owned())
                    }
                    RecipientState::NotSent => Some(CANCELLED_BEFORE_SEND.to_owned()),
                    _ => error,
                };
                let sending = matches!(
                    state,
                    RecipientState::Excluded | RecipientState::Queued | RecipientState::NotSent
                );
                Ok(CampaignRecipient {
                    id: r.get(0)?,
                    contact_id: r.get(1)?,
                    name: r.get(2)?,
                    handle: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                    state,
                    reason,
                    sent_at: if sending { None } else { r.get(7)? },
                    replied_at: r.get(8)?,
                    conversation_id: if sending { None } else { r.get(9)? },
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every recipient of a campaign, for the results export.
    pub fn all_campaign_recipients(
        &self,
        campaign: i64,
    ) -> Result<Vec<CampaignRecipient>, StoreError> {
        let mut out = Vec::new();
        loop {
            let page = self.campaign_recipients(
                campaign,
                out.last().map(|r: &CampaignRecipient| r.id),
                None,
                5_000,
            )?;
            if page.is_empty() {
                return Ok(out);
            }
            out.extend(page);
        }
    }
}

fn summary(conn: &rusqlite::Connection, campaign: i64) -> Result<CampaignSummary, StoreError> {
    let row = conn
        .query_row(
            "SELECT id, name, template_name, language, state, rate_per_sec, created_at, start_at,
                    started_at, finished_at, note FROM campaigns WHERE id = ?1",
            params![campaign],
            |r| {
                Ok((
                    (r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?),
                    (r.get::<_, String>(3)?, r.get::<_, String>(4)?, r.get::<_, u32>(5)?),
                    (r.get::<_, i64>(6)?, r.get(7)?, r.get(8)?, r.get(9)?),
                    r.get::<_, Option<String>>(10)?,
                ))
            },
        )
        .optional()?
        .ok_or(StoreError::NotFound)?;
    let (
        (id, name, template_name),
        (language, state, rate_per_sec),
        (created_at, start_at, started_at, finished_at),
        note,
    ) = row;
    let mut totals = CampaignTotals::default();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RECIPIENT_STATE_SQL} AS st, count(*), count(r.replied_at)
         FROM campaign_recipients r LEFT JOIN messages m ON m.id = r.message_id
         WHERE r.campaign_id = ?1 GROUP BY st"
    ))?;
    let rows = stmt.query_map(params![campaign], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64))
    })?;
    for row in rows {
        let (state, n, replied) = row?;
        totals.recipients += n;
        totals.replied += replied;
        let slot = match recipient_state(&state) {
            RecipientState::Excluded => &mut totals.excluded,
            RecipientState::Queued => &mut totals.queued,
            RecipientState::Sending => &mut totals.sending,
            RecipientState::Sent => &mut totals.sent,
            RecipientState::Delivered => &mut totals.delivered,
            RecipientState::Read => &mut totals.read,
            RecipientState::Failed => &mut totals.failed,
            RecipientState::NotSent => &mut totals.not_sent,
        };
        *slot += n;
    }
    // `recipients` counts those meant to be sent, not the excluded.
    totals.recipients -= totals.excluded;
    Ok(CampaignSummary {
        id,
        name,
        template_name,
        language,
        state: state_of(&state)?,
        rate_per_sec,
        created_at,
        start_at,
        started_at,
        finished_at,
        totals,
        note,
    })
}

/// The conversation of `contact`, created (empty) if it has none.
fn conversation_of(tx: &Transaction<'_>, contact: i64, now_ms: i64) -> Result<i64, StoreError> {
    if let Some(id) = tx
        .prepare_cached("SELECT id FROM conversations WHERE contact_id = ?1")?
        .query_row(params![contact], |r| r.get(0))
        .optional()?
    {
        return Ok(id);
    }
    tx.prepare_cached("INSERT INTO conversations (contact_id, last_at) VALUES (?1, ?2)")?
        .execute(params![contact, now_ms])?;
    Ok(tx.last_insert_rowid())
}
