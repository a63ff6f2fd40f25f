//! The sync loop: long-poll the relay, open each sealed event, store it, and
//! only then acknowledge it.
//!
//! Order matters for "loses nothing": events and the new cursor are written
//! in one transaction before the ack, so a crash or a relay that vanishes
//! mid-sync at worst redelivers events, which ingest deduplicates.

use std::sync::Arc;
use std::time::Duration;

use parley_meta::webhook::{self, Unsupported, WebhookEvent};
use parley_protocol::{DeviceSecretKey, EventPayload, SealedEvent};
use parley_types::{
    ChannelKind, ConversationSummary, InboxEvent, Message, NotificationContent, SyncState,
};
use zeroize::Zeroizing;

use crate::relay_client::{RelayClient, RelayError};
use crate::secrets::SecretName;
use crate::store::{PeerSent, StoreError};
use crate::{now_ms, Core, CoreError, Notification};

/// How long one long-poll waits for new events at the relay.
const LONG_POLL: Duration = Duration::from_secs(25);
/// The longest wait between reconnect attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The shortest time between two rounds that found events but not a full
/// page. Under a steady stream (a campaign's statuses: hundreds a second)
/// a round per event would be two requests each and trip the relay's
/// per-device limit (20 a second); waiting this long lets events gather
/// into one page instead. A quiet inbox is not slowed: the long-poll
/// answers the first event at once.
const MIN_ROUND_GAP: Duration = Duration::from_millis(150);

/// The relay client and the key that opens its events.
pub(crate) struct RelayLink {
    pub(crate) client: RelayClient,
    key: DeviceSecretKey,
}

/// What one sync round did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SyncReport {
    /// Events received from the relay.
    pub events: usize,
    /// Messages stored or changed.
    pub messages: usize,
    /// The relay cursor after the round.
    pub cursor: u64,
    /// New media messages whose files are to be downloaded.
    pub new_media: usize,
}

#[derive(Debug, thiserror::Error)]
enum RoundError {
    #[error(transparent)]
    Relay(#[from] RelayError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl Core {
    pub(crate) fn relay_link(&self) -> Result<Arc<RelayLink>, CoreError> {
        let mut cached = self.inner.relay.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(link) = cached.as_ref() {
            return Ok(link.clone());
        }
        let base = self.config().relay_url.ok_or(CoreError::NotEnrolled)?;
        let token =
            self.inner.secrets.get(SecretName::RelayToken)?.ok_or(CoreError::NotEnrolled)?;
        let token = Zeroizing::new(
            String::from_utf8(token.to_vec()).map_err(|_| CoreError::BadSecret("relay token"))?,
        );
        let key_bytes =
            self.inner.secrets.get(SecretName::DeviceKey)?.ok_or(CoreError::NotEnrolled)?;
        let key = DeviceSecretKey::from_bytes(&key_bytes)
            .map_err(|_| CoreError::BadSecret("device key"))?;
        let link = Arc::new(RelayLink {
            client: RelayClient::new(self.inner.http.clone(), &base, token),
            key,
        });
        *cached = Some(link.clone());
        Ok(link)
    }

    /// One sync round without waiting for new events (for the CLI and tests).
    /// The files of new media messages are downloaded before it returns.
    pub async fn sync_once(&self) -> Result<SyncReport, CoreError> {
        let report = self.round(Duration::ZERO).await.map_err(|e| match e {
            RoundError::Relay(r) => CoreError::Relay(r),
            RoundError::Store(s) => CoreError::Store(s),
            RoundError::Core(c) => c,
        })?;
        self.fetch_media().await;
        Ok(report)
    }

    /// Poll, store, announce, acknowledge.
    async fn round(&self, wait: Duration) -> Result<SyncReport, RoundError> {
        let link = self.relay_link()?;
        let store = &self.inner.store;
        let after = store.relay_cursor()?;
        let batch = link.client.poll(after, wait).await?;
        // Re-enrolled (another relay or tenant) while this poll waited: its
        // events belong to a cursor that no longer exists. Leave them
        // unacknowledged at the old relay.
        let current = self.inner.relay.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if !current.is_some_and(|c| Arc::ptr_eq(&c, &link)) {
            return Ok(SyncReport { events: 0, messages: 0, cursor: after, new_media: 0 });
        }
        let Some(last) = batch.events.iter().map(|e| e.seq).max() else {
            return Ok(SyncReport { events: 0, messages: 0, cursor: after, new_media: 0 });
        };
        let mut events = Vec::new();
        let mut peers = Vec::new();
        for sealed in &batch.events {
            open_event(&link.key, sealed, &mut events, &mut peers);
        }
        // SQLCipher and FTS work is blocking: keep it off the async threads
        // that also serve the UI's commands.
        let writer = self.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            writer.inner.store.ingest_all(&events, &peers, Some(last), now_ms())
        })
        .await
        .map_err(|e| StoreError::Invalid(format!("the ingest task stopped: {e}")))??;
        for id in &outcome.messages {
            self.emit_message(*id);
        }
        for id in &outcome.conversations {
            self.emit_conversation(*id);
        }
        for &conversation_id in &outcome.removed_conversations {
            self.emit(InboxEvent::ConversationRemoved { conversation_id });
        }
        if !outcome.removed_conversations.is_empty() {
            self.emit(InboxEvent::ContactsChanged);
        }
        for (conversation_id, message_id, error) in &outcome.failed_reactions {
            self.emit(InboxEvent::ReactionFailed {
                conversation_id: *conversation_id,
                message_id: *message_id,
                error: error.clone(),
            });
        }
        if outcome.templates_changed {
            self.emit(InboxEvent::TemplatesChanged);
        }
        self.announce(&outcome.new_inbound);

        // Stored: now the relay may forget them. A failed ack only means a
        // redelivery later, which ingest ignores.
        if let Err(e) = link.client.ack(last).await {
            tracing::info!(error = %e, "ack failed; events will be redelivered and deduplicated");
        }
        Ok(SyncReport {
            events: batch.events.len(),
            messages: outcome.messages.len(),
            cursor: last,
            new_media: outcome.new_media.len(),
        })
    }

    /// One desktop notification per conversation with new customer
    /// messages, so a burst after an outage does not flood the screen.
    fn announce(&self, new_inbound: &[i64]) {
        // (conversation, count, newest message id)
        let mut per_conversation: Vec<(i64, usize, i64)> = Vec::new();
        for id in new_inbound {
            let Ok(message) = self.inner.store.message(*id) else { continue };
            match per_conversation.iter_mut().find(|(c, _, _)| *c == message.conversation_id) {
                Some(entry) => {
                    entry.1 += 1;
                    entry.2 = *id;
                }
                None => per_conversation.push((message.conversation_id, 1, *id)),
            }
        }
        let reveal = self.notification_content();
        let mut notifications = Vec::new();
        for (conversation_id, count, newest) in per_conversation {
            let (Ok(conversation), Ok(message)) =
                (self.inner.store.conversation(conversation_id), self.inner.store.message(newest))
            else {
                continue;
            };
            notifications.push(notification_for(&conversation, &message, count, reveal));
        }
        if notifications.is_empty() {
            return;
        }
        // notify-rust makes a blocking D-Bus call.
        let notifier = self.inner.notifier.clone();
        tokio::task::spawn_blocking(move || {
            for n in &notifications {
                if let Err(e) = notifier.notify(n) {
                    tracing::info!(error = %e, "notification not shown");
                }
            }
        });
    }
}

/// The sender's name, never their phone number: notifications outlive the
/// encrypted database in the desktop's notification history.
fn notification_for(
    conversation: &ConversationSummary,
    newest: &Message,
    count: usize,
    reveal: NotificationContent,
) -> Notification {
    let generic = match conversation.channel {
        ChannelKind::Whatsapp => "New WhatsApp message",
        ChannelKind::Instagram => "New Instagram message",
    };
    let has_name = conversation.title != conversation.handle;
    let title = match reveal {
        NotificationContent::Full | NotificationContent::SenderOnly if has_name => {
            conversation.title.clone()
        }
        _ => generic.to_owned(),
    };
    let body = match reveal {
        NotificationContent::Full => {
            let preview = newest.body.split_whitespace().collect::<Vec<_>>().join(" ");
            if count == 1 {
                preview
            } else {
                format!("{count} new messages · {preview}")
            }
        }
        _ if count == 1 => "1 new message".to_owned(),
        _ => format!("{count} new messages"),
    };
    Notification { conversation_id: conversation.id, title, body }
}

/// Open one sealed event into webhook events. An event that cannot be
/// opened or read is kept as `Unsupported` with the reason, never dropped:
/// the cursor moves past it, so dropping it would lose it for good.
fn open_event(
    key: &DeviceSecretKey,
    sealed: &SealedEvent,
    out: &mut Vec<WebhookEvent>,
    peers: &mut Vec<PeerSent>,
) {
    let unsupported = |reason: String, raw: serde_json::Value| {
        WebhookEvent::Unsupported(Unsupported { channel: None, field: "relay".into(), reason, raw })
    };
    match key.open_payload(&sealed.sealed) {
        Ok(EventPayload::MetaWebhook { body }) => match webhook::parse_value(&body) {
            Ok(events) => out.extend(events),
            Err(e) => out.push(unsupported(format!("relay event {}: {e}", sealed.seq), body)),
        },
        Ok(EventPayload::AgentSent {
            client_txn_id,
            provider_id,
            channel_kind,
            channel_id,
            to,
            body,
            message_kind,
            sent_at_ms,
        }) => match channel_kind.as_str() {
            "whatsapp" | "instagram" => peers.push(PeerSent {
                client_txn_id,
                provider_id,
                channel_kind: crate::store::channel_kind(&channel_kind),
                channel_id,
                to,
                body,
                kind: message_kind,
                sent_at_ms,
            }),
            other => out.push(unsupported(
                format!(
                    "relay event {}: a message sent on an unknown channel kind {other:?}",
                    sealed.seq
                ),
                serde_json::json!({ "seq": sealed.seq }),
            )),
        },
        // A kind this build does not know yet: keep it, sealed, for a
        // later version to read.
        Ok(_) => out.push(unsupported(
            format!("relay event {} has a kind this version of Parley does not know", sealed.seq),
            serde_json::json!({ "seq": sealed.seq, "sealed": sealed.sealed }),
        )),
        Err(e) => out.push(unsupported(
            format!("relay event {} could not be opened with this device's key: {e}", sealed.seq),
            serde_json::json!({ "seq": sealed.seq, "sealed": sealed.sealed }),
        )),
    }
}

/// The background loop behind [`Core::start`].
pub(crate) async fn run(core: Core) {
    let mut stop = core.stop_signal();
    let mut failures: u32 = 0;
    // The first round after (re)connecting does not wait for new events, so
    // the state turns "running" as soon as the relay answers instead of
    // after a whole empty long-poll.
    let mut wait = Duration::ZERO;
    core.set_sync_state(SyncState::Connecting);
    loop {
        if *stop.borrow() {
            break;
        }
        let started = tokio::time::Instant::now();
        let round = tokio::select! {
            r = core.round(wait) => r,
            _ = stop.changed() => break,
        };
        let pause = match round {
            Ok(report) => {
                if report.new_media > 0 {
                    let media = core.clone();
                    tokio::spawn(async move { media.fetch_media().await });
                }
                failures = 0;
                wait = LONG_POLL;
                core.set_sync_state(SyncState::Running);
                // A partial page: more are trickling in; gather them.
                if report.events > 0 && (report.events as u64) < crate::relay_client::POLL_LIMIT {
                    tokio::select! {
                        _ = tokio::time::sleep_until(started + MIN_ROUND_GAP) => {}
                        _ = stop.changed() => break,
                    }
                }
                continue;
            }
            // Disconnected on purpose: keep the words `disconnect` chose.
            Err(RoundError::Core(CoreError::NotEnrolled))
                if matches!(core.sync_state(), SyncState::Error { .. }) =>
            {
                MAX_BACKOFF
            }
            Err(RoundError::Relay(RelayError::Unreachable(reason))) => {
                let pause = backoff(failures);
                failures = failures.saturating_add(1);
                core.set_sync_state(SyncState::Offline {
                    reason: format!("The relay is unreachable ({reason}). Messages will arrive when it is back."),
                    retry_in_secs: pause.as_secs().max(1),
                });
                pause
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let reason = match &e {
                    RoundError::Store(StoreError::DiskFull) => {
                        "The disk is full, so new messages cannot be saved. Free some space; \
                         nothing has been lost, and sync resumes by itself."
                            .to_owned()
                    }
                    other => crate::errors::capitalise(&other.to_string()),
                };
                core.set_sync_state(SyncState::Error { reason });
                MAX_BACKOFF
            }
        };
        wait = Duration::ZERO;
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = core.inner.sync_wake.notified() => failures = 0,
            _ = stop.changed() => break,
        }
    }
    core.set_sync_state(SyncState::Idle);
}

/// 1 s, 2 s, 4 s, ... up to a minute.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.min(6)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_types::{DeliveryStatus, Direction};

    fn conversation(title: &str) -> ConversationSummary {
        ConversationSummary {
            id: 7,
            channel: ChannelKind::Whatsapp,
            title: title.into(),
            handle: "15551234567".into(),
            last_preview: String::new(),
            last_at: 0,
            unread: 1,
            window_expires_at: None,
            draft: None,
            closed: false,
        }
    }

    fn message(body: &str) -> Message {
        Message {
            id: 1,
            conversation_id: 7,
            provider_id: None,
            direction: Direction::Inbound,
            kind: "text".into(),
            body: body.into(),
            sent_at: 0,
            status: None::<DeliveryStatus>,
            error: None,
            reply_to: None,
            reactions: Vec::new(),
            deleted: false,
            media: None,
            forwarded: Default::default(),
            location: None,
        }
    }

    #[test]
    fn notifications_reveal_only_what_the_setting_allows() {
        let ana = conversation("Ana");
        let text = message("my card ends\n in 4242");
        let full = notification_for(&ana, &text, 1, NotificationContent::Full);
        assert_eq!((full.title.as_str(), full.body.as_str()), ("Ana", "my card ends in 4242"));
        let burst = notification_for(&ana, &text, 3, NotificationContent::Full);
        assert_eq!(burst.body, "3 new messages · my card ends in 4242");
        let sender = notification_for(&ana, &text, 1, NotificationContent::SenderOnly);
        assert_eq!((sender.title.as_str(), sender.body.as_str()), ("Ana", "1 new message"));
        let hidden = notification_for(&ana, &text, 2, NotificationContent::Hidden);
        assert_eq!(
            (hidden.title.as_str(), hidden.body.as_str()),
            ("New WhatsApp message", "2 new messages")
        );
        // No name known: the phone number is never shown.
        let unnamed =
            notification_for(&conversation("15551234567"), &text, 1, NotificationContent::Full);
        assert_eq!(unnamed.title, "New WhatsApp message");
    }
}
