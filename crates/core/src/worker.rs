//! The outbox worker: sends queued replies through the Graph API, one
//! conversation's messages strictly in order.
//!
//! Retrying is only safe when Meta certainly did not accept the message
//! (it answered with a refusal, or no connection was made). When the answer
//! was lost, Meta may have accepted it, and the Cloud API has no idempotency
//! key, so the message is marked failed with words that say so instead of
//! risking a double send.

use std::time::Duration;

use parley_meta::graph::{
    GraphError, InstagramBody, MediaSource, OutgoingBody, OutgoingMessage, Recipient, RetryClass,
};

use crate::errors::capitalise;
use parley_protocol::{DevicePublicKey, EventPayload, FanoutCopy, FanoutRequest};
use parley_types::InboxEvent;

use crate::store::{OutboxItem, SendOutcome};
use crate::{now_ms, Core, CoreError};

/// Give up on a retryable error after this many attempts.
const MAX_ATTEMPTS: u32 = 8;

/// Send everything due now. Returns how many sends were attempted.
pub(crate) async fn drain(core: &Core) -> Result<usize, CoreError> {
    let mut attempted = 0;
    while let Some(item) = core.inner.store.take_due(now_ms())? {
        attempted += 1;
        let outcome = send(core, &item).await;
        record(core, &item, &outcome).await?;
        if item.reaction.is_some() {
            // A reaction shows on its target; peers are not told (yet).
            if let SendOutcome::Failed { error } = &outcome {
                core.emit_message(item.message_id);
                core.emit(InboxEvent::ReactionFailed {
                    conversation_id: item.conversation_id,
                    message_id: item.message_id,
                    error: format!("Your reaction could not be sent. {error}"),
                });
            }
            continue;
        }
        if let SendOutcome::Accepted { provider_id } = &outcome {
            tell_peers(core, &item, provider_id).await;
        }
        core.emit_message(item.message_id);
        core.emit_conversation(item.conversation_id);
    }
    Ok(attempted)
}

/// Save how a send ended. Meta has answered by now, so giving up here would
/// leave the entry `in_flight` (blocking its conversation) and lose the
/// `wamid`: keep trying until it is saved or the app stops.
async fn record(core: &Core, item: &OutboxItem, outcome: &SendOutcome) -> Result<(), CoreError> {
    save_until_saved(core, || core.inner.store.finish_send(item, outcome)).await
}

/// Run `save` until it succeeds or the app stops: used where Meta has
/// already answered, so giving up would lose what it said.
pub(crate) async fn save_until_saved(
    core: &Core,
    mut save: impl FnMut() -> Result<(), crate::store::StoreError>,
) -> Result<(), CoreError> {
    let mut stop = core.stop_signal();
    let mut pause = Duration::from_millis(200);
    loop {
        match save() {
            Ok(()) => return Ok(()),
            Err(e) if *stop.borrow() => return Err(e.into()),
            Err(e) => {
                tracing::warn!(error = %e, "could not save a send's outcome; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.changed() => {}
                }
                pause = (pause * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Let the tenant's other devices show this reply too. Sealed for each
/// peer on this device, so the relay never sees its text. Best effort: a
/// failure leaves the other agents without this reply, never this one.
async fn tell_peers(core: &Core, item: &OutboxItem, provider_id: &str) {
    let Ok(link) = core.relay_link() else { return };
    let payload = EventPayload::AgentSent {
        client_txn_id: item.client_txn_id.clone(),
        provider_id: provider_id.to_owned(),
        channel_kind: item.channel_kind.clone(),
        channel_id: item.channel_external_id.clone(),
        to: item.to.clone(),
        body: item.text.clone(),
        message_kind: item.kind.clone(),
        sent_at_ms: now_ms(),
    };
    // Twice at most: the second time for peers that enrolled meanwhile.
    let mut only: Option<Vec<String>> = None;
    for _ in 0..2 {
        let peers = match link.client.peers().await {
            Ok(peers) => peers.peers,
            Err(e) => {
                tracing::info!(error = %e, "peers unknown; reply not shared");
                return;
            }
        };
        let copies: Vec<FanoutCopy> = peers
            .iter()
            .filter(|p| only.as_ref().is_none_or(|ids| ids.contains(&p.device_id)))
            .filter_map(|p| {
                let sealed = DevicePublicKey::from_base64(&p.public_key)
                    .ok()?
                    .seal_payload(&payload)
                    .ok()?;
                Some(FanoutCopy { device_id: p.device_id.clone(), sealed })
            })
            .collect();
        if copies.is_empty() {
            return;
        }
        // The customer's id rides along (over TLS) so the relay can record
        // its keyed hash: Meta's data-deletion callback for this customer
        // then purges the peers' copies too, which the relay cannot read.
        let request = FanoutRequest { copies, customer_ids: vec![item.to.clone()] };
        match link.client.fanout(&request).await {
            Ok(answer) if answer.missing.is_empty() => return,
            Ok(answer) => only = Some(answer.missing),
            Err(e) => {
                tracing::info!(error = %e, "reply not shared with the other devices");
                return;
            }
        }
    }
}

async fn send(core: &Core, item: &OutboxItem) -> SendOutcome {
    let client = match core.graph_client() {
        Ok(client) => client,
        // A locked or unreachable keyring passes: keep the message queued.
        Err(CoreError::Secrets(e)) => {
            tracing::info!(error = %e, "send waits for the keyring");
            return SendOutcome::RetryAt { retry_at_ms: now_ms() + 30_000 };
        }
        Err(e) => {
            return SendOutcome::Failed {
                error: format!(
                    "{}. Connect a WhatsApp number, then send the message again.",
                    capitalise(&e.to_string())
                ),
            }
        }
    };
    // Our transaction id rides along and comes back in every status webhook
    // of this message: if Meta's answer is lost, the statuses still tell us
    // the message went out (see Store::ingest).
    let result = if let Some(reaction) = &item.reaction {
        // Reactions point at their message themselves: no context. Meta
        // removes the business's reaction when the emoji is empty.
        let body = OutgoingBody::Reaction {
            message_id: reaction.target.clone(),
            emoji: Some(reaction.emoji.clone()).filter(|e| !e.is_empty()),
        };
        let message = OutgoingMessage::new(Recipient::from_address(&item.to), body);
        client.send(&item.channel_external_id, &message).await
    } else if item.channel_kind == "instagram" {
        // An agent typed this, so a reply between 24 hours and 7 days is a
        // HUMAN_AGENT one; the client picks the tag from the elapsed time.
        let since =
            Duration::from_millis((now_ms() - item.last_inbound_at.unwrap_or(0)).max(0) as u64);
        let body = InstagramBody::Text(item.text.clone());
        client.send_instagram(&item.channel_external_id, &item.to, &body, since, true).await
    } else if item.kind == "template" {
        let body = match template_body(core, item) {
            Ok(body) => body,
            Err(error) => return SendOutcome::Failed { error },
        };
        let mut message = OutgoingMessage::new(Recipient::from_address(&item.to), body);
        message.biz_opaque_callback_data = Some(item.client_txn_id.clone());
        client.send(&item.channel_external_id, &message).await
    } else if item.kind != "text" {
        let media_id = match upload(core, &client, item).await {
            Ok(id) => id,
            Err(outcome) => return outcome,
        };
        let media = MediaSource::Id(media_id);
        let caption = Some(item.text.clone()).filter(|c| !c.trim().is_empty());
        let body = match item.kind.as_str() {
            "image" => OutgoingBody::Image { media, caption },
            "video" => OutgoingBody::Video { media, caption },
            "audio" => OutgoingBody::Audio { media },
            "sticker" => OutgoingBody::Sticker { media },
            _ => OutgoingBody::Document {
                media,
                caption,
                filename: core.inner.store.media_filename(item.message_id).ok().flatten(),
            },
        };
        let mut message = OutgoingMessage::new(Recipient::from_address(&item.to), body);
        message.reply_to = item.reply_to.clone();
        message.biz_opaque_callback_data = Some(item.client_txn_id.clone());
        client.send(&item.channel_external_id, &message).await
    } else {
        let mut message = OutgoingMessage::text(&item.to, &item.text);
        message.reply_to = item.reply_to.clone();
        message.biz_opaque_callback_data = Some(item.client_txn_id.clone());
        client.send(&item.channel_external_id, &message).await
    };
    match result {
        Ok(accepted) => SendOutcome::Accepted { provider_id: accepted.message_id },
        Err(e) => outcome_of_failure(&e, item.attempts),
    }
}

/// The template a queued template message sends, from `messages.raw`.
fn template_body(core: &Core, item: &OutboxItem) -> Result<OutgoingBody, String> {
    let raw = core.inner.store.template_send(item.message_id).ok().flatten();
    raw.as_deref().and_then(template_body_of).ok_or_else(|| UNREADABLE_TEMPLATE.to_owned())
}

/// Why a stored template send cannot go out.
pub(crate) const UNREADABLE_TEMPLATE: &str = "The template to send could not be read from the \
    database, so it was not sent. Send the template again from the conversation.";

/// A template send (`{"name","language","components"}`, as kept in
/// `messages.raw`) as Meta's message body; `None` if it is not one.
pub(crate) fn template_body_of(raw: &str) -> Option<OutgoingBody> {
    let v: serde_json::Value = serde_json::from_str(raw).ok()?;
    let field =
        |k: &str| v.get(k).and_then(|s| s.as_str()).filter(|s| !s.is_empty()).map(str::to_owned);
    Some(OutgoingBody::Template {
        name: field("name")?,
        language: field("language")?,
        components: v.get("components").and_then(|c| c.as_array()).cloned().unwrap_or_default(),
    })
}

/// Upload the queued file. An upload delivers nothing to the customer, so
/// any temporary failure is safe to retry.
async fn upload(
    core: &Core,
    client: &parley_meta::graph::GraphClient,
    item: &OutboxItem,
) -> Result<String, SendOutcome> {
    let (mime, bytes) =
        core.inner.store.media_bytes(item.message_id).map_err(|e| SendOutcome::Failed {
            error: format!("The file to send could not be read from the database ({e})."),
        })?;
    let filename = core
        .inner
        .store
        .media_filename(item.message_id)
        .ok()
        .flatten()
        .unwrap_or_else(|| "file".into());
    let mime = mime.unwrap_or_else(|| "application/octet-stream".into());
    client.upload_media(&item.channel_external_id, &filename, &mime, &bytes).await.map_err(|e| {
        if e.retry_class() == RetryClass::RetryLater && item.attempts < MAX_ATTEMPTS {
            let wait =
                e.retry_after(item.attempts.saturating_sub(1)).unwrap_or(Duration::from_secs(5));
            SendOutcome::RetryAt { retry_at_ms: now_ms() + wait.as_millis() as i64 }
        } else {
            SendOutcome::Failed {
                error: format!("The file could not be uploaded to Meta: {}", e.user_message()),
            }
        }
    })
}

/// Decide between retrying and failing. `attempts` counts this attempt.
pub(crate) fn outcome_of_failure(e: &GraphError, attempts: u32) -> SendOutcome {
    let retryable = e.retry_class() == RetryClass::RetryLater && e.certainly_not_accepted();
    tracing::info!(code = e.code(), attempts, retryable, "send failed");
    if e.retry_class() == RetryClass::RetryLater && !e.certainly_not_accepted() {
        // Meta may have taken it: never resend blindly, say so instead.
        return SendOutcome::Failed {
            error: match e {
                GraphError::Http { status } => format!(
                    "Meta did not confirm this message (HTTP {status}), so it may or may not have \
                     been sent. Check the conversation before sending it again."
                ),
                other => other.user_message(),
            },
        };
    }
    if retryable && attempts < MAX_ATTEMPTS {
        let wait = e.retry_after(attempts.saturating_sub(1)).unwrap_or(Duration::from_secs(5));
        return SendOutcome::RetryAt { retry_at_ms: now_ms() + wait.as_millis() as i64 };
    }
    if retryable {
        // user_message() promises a retry; this is the last one.
        return SendOutcome::Failed {
            error: format!(
                "Parley tried {attempts} times and Meta still would not take the message{}. \
                 Send it again later.",
                e.code().map(|c| format!(" (error {c})")).unwrap_or_default()
            ),
        };
    }
    SendOutcome::Failed { error: e.user_message() }
}

/// The background loop behind [`Core::start`].
pub(crate) async fn run(core: Core) {
    let mut stop = core.stop_signal();
    loop {
        if *stop.borrow() {
            break;
        }
        if let Err(e) = drain(&core).await {
            tracing::warn!(error = %e, "outbox could not be processed");
        }
        let wait = match core.inner.store.next_due_at() {
            Ok(Some(at)) => Duration::from_millis((at - now_ms()).clamp(0, 60_000) as u64),
            Ok(None) => Duration::from_secs(60),
            Err(_) => Duration::from_secs(5),
        };
        tokio::select! {
            _ = core.inner.outbox_wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_meta::graph::MetaApiError;

    fn meta(code: i64, status: u16) -> GraphError {
        GraphError::Meta(MetaApiError {
            http_status: status,
            code,
            subcode: None,
            message: "m".into(),
            details: None,
            fbtrace_id: None,
        })
    }

    #[test]
    fn rate_limits_retry_and_refusals_fail() {
        assert!(matches!(outcome_of_failure(&meta(130429, 400), 1), SendOutcome::RetryAt { .. }));
        assert!(matches!(
            outcome_of_failure(&GraphError::NotSent("refused".into()), 1),
            SendOutcome::RetryAt { .. }
        ));
        assert!(matches!(outcome_of_failure(&meta(131047, 400), 1), SendOutcome::Failed { .. }));
        assert!(matches!(outcome_of_failure(&meta(190, 401), 1), SendOutcome::Failed { .. }));
        // Retries stop eventually.
        assert!(matches!(
            outcome_of_failure(&meta(130429, 400), MAX_ATTEMPTS),
            SendOutcome::Failed { .. }
        ));
    }

    #[test]
    fn a_lost_answer_is_never_retried() {
        let SendOutcome::Failed { error } =
            outcome_of_failure(&GraphError::Transport("timed out".into()), 1)
        else {
            panic!("a lost answer must not be retried")
        };
        assert!(error.contains("may or may not"), "{error}");
        assert!(matches!(
            outcome_of_failure(&GraphError::Decode("x".into()), 1),
            SendOutcome::Failed { .. }
        ));
    }
}
