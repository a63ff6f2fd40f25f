//! `GET` and `POST /webhooks/meta`.
//!
//! The POST path goes strictly: raw bytes → signature → parse → route → seal
//! and store → 200. Nothing is parsed before the signature holds, and the
//! secret that verified travels with the body as [`Verified`], so routing can
//! refuse a part whose channel belongs to a tenant of another Meta app.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use parley_meta::routing::{split_by_channel, RoutingError};
use parley_meta::signature::{self, SignatureError, SIGNATURE_HEADER};

use crate::api::{blocking, AppError};
use crate::metrics::Reject;
use crate::storage::RelayStorage;
use crate::store::{now_ms, AppSecret, PreparedPart, Routing, StoreError};
use crate::AppState;

/// A body whose signature held, with the secret that made it hold.
pub(crate) struct Verified {
    pub secret: AppSecret,
    pub body: Bytes,
}

/// Check `header` against `body` with each candidate secret. Several tenants
/// may share one Meta app, so the candidates are the distinct secrets.
pub(crate) fn verify(
    secrets: &[AppSecret],
    body: Bytes,
    header: Option<&str>,
) -> Result<Verified, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut outcome = SignatureError::Mismatch;
    for secret in secrets {
        match signature::verify(secret.as_bytes(), &body, Some(header)) {
            Ok(()) => return Ok(Verified { secret: secret.clone(), body }),
            // A malformed header is malformed for every secret.
            Err(SignatureError::Malformed) => return Err(SignatureError::Malformed),
            Err(e) => outcome = e,
        }
    }
    Err(outcome)
}

/// Bodies up to this size are verified, parsed and sealed on the async
/// worker that received them (tens of microseconds for a typical webhook of
/// about 1 KB), saving a hop to the blocking pool and back. Larger ones, up
/// to Meta's 3 MB, go to the blocking pool so that no worker stalls.
const INLINE_BODY_BYTES: usize = 64 * 1024;

/// Verify, parse and prepare with the given routing data. CPU only.
fn process(
    storage: &dyn RelayStorage,
    routing: &Routing,
    body: Bytes,
    header: Option<&str>,
) -> Result<Outcome, StoreError> {
    let verified = match verify(&routing.secrets, body, header) {
        Ok(v) => v,
        Err(e) => return Ok(Outcome::BadSignature(e)),
    };
    // The common case, one channel's body as received, is routed without a
    // parse tree; anything else takes the general path.
    if let Some(route) = crate::subjects::route_whole(&verified.body) {
        let part =
            storage.prepare_whole(routing, route.key, &route.customer_ids, &verified.body)?;
        return Ok(Outcome::Prepared { secret: verified.secret, parts: vec![part], unroutable: 0 });
    }
    let split = match split_by_channel(&verified.body) {
        Ok(split) => split,
        Err(e) => return Ok(Outcome::Unparsable(e)),
    };
    let unroutable = split.unroutable;
    let whole = split.whole.then_some(&verified.body[..]);
    let parts = storage.prepare_parts_with(routing, split.parts, whole)?;
    Ok(Outcome::Prepared { secret: verified.secret, parts, unroutable })
}

/// Meta's subscription handshake: echo the challenge only to whoever knows a
/// tenant's verify token.
pub(crate) async fn handshake(
    State(state): State<AppState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<String, AppError> {
    // A query that does not even decode cannot carry a valid token.
    let Ok(Query(query)) = query else {
        return Err(AppError::VerifyTokenMismatch);
    };
    let mode = query.get("hub.mode").map(String::as_str);
    let token = query.get("hub.verify_token").cloned().unwrap_or_default();
    let challenge = query.get("hub.challenge").cloned().unwrap_or_default();
    if mode != Some("subscribe") || token.is_empty() {
        return Err(AppError::VerifyTokenMismatch);
    }
    if blocking(&state, move |store| store.verify_token_matches(&token)).await? {
        tracing::info!("webhook subscription verified");
        Ok(challenge)
    } else {
        tracing::warn!("webhook subscription attempt with an unknown verify token");
        Err(AppError::VerifyTokenMismatch)
    }
}

/// Receive one webhook POST. Answers 200 only after everything it accepted
/// is committed, since Meta will not resend what it saw acknowledged.
pub(crate) async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, AppError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            state.metrics().rejected(Reject::TooLarge);
            tracing::warn!(limit = state.max_body_bytes(), "webhook body over the limit refused");
            AppError::TooLarge { limit: state.max_body_bytes() }
        } else {
            AppError::BadRequest { code: "bad_body", message: rejection.body_text() }
        }
    })?;
    let header = match headers.get(SIGNATURE_HEADER).map(|v| v.to_str()) {
        None => None,
        // Non-ASCII bytes cannot be `sha256=<hex>`.
        Some(Err(_)) => {
            state.metrics().rejected(Reject::MalformedSignature);
            return Err(AppError::Signature(SignatureError::Malformed));
        }
        Some(Ok(v)) => Some(v.to_owned()),
    };
    let size = body.len();
    let received_at = now_ms();
    // Verification, parsing and sealing are CPU work with no I/O once the
    // routing data is at hand (cached for a second; see store::ROUTING_TTL).
    // The durable write then goes to the group committer, awaited without
    // holding a thread.
    let cached = state.storage().cached_routing();
    let inline = match &cached {
        Some(routing) if size <= INLINE_BODY_BYTES => {
            match process(&**state.storage(), routing, body.clone(), header.as_deref()) {
                // A mismatch against cached secrets is checked again against
                // fresh ones below: the tenant may be minutes old.
                Ok(Outcome::BadSignature(SignatureError::Mismatch)) => None,
                other => Some(other.map_err(AppError::from)?),
            }
        }
        _ => None,
    };
    let outcome = match inline {
        Some(outcome) => outcome,
        None => {
            blocking(&state, move |store| {
                let routing = store.load_routing()?;
                process(store, &routing, body, header.as_deref())
            })
            .await?
        }
    };
    let (secret, parts, unroutable) = match outcome {
        Outcome::Prepared { secret, parts, unroutable } => (secret, parts, unroutable),
        Outcome::BadSignature(e) => {
            state.metrics().rejected(e.into());
            tracing::warn!(bytes = size, reason = %e, "webhook with a bad signature refused");
            return Err(AppError::Signature(e));
        }
        Outcome::Unparsable(e) => return unparsable(&state, e, size),
    };
    let part_count = parts.len();
    let report = state
        .storage()
        .submit_ingest(secret, parts, received_at)
        .await
        .map_err(|_| AppError::Internal("the committer stopped".into()))??;
    let parts = part_count;
    state.metrics().ingested(&report, unroutable);
    for tenant in &report.tenants {
        state.wake(tenant);
    }
    tracing::info!(
        bytes = size,
        parts,
        accepted = report.accepted,
        deliveries = report.deliveries,
        unknown_channel = report.unknown_channel,
        wrong_app = report.wrong_app,
        unroutable,
        "webhook ingested"
    );
    Ok(StatusCode::OK)
}

enum Outcome {
    Prepared { secret: AppSecret, parts: Vec<PreparedPart>, unroutable: usize },
    BadSignature(SignatureError),
    Unparsable(RoutingError),
}

/// The answer to a correctly signed body that cannot be routed.
fn unparsable(state: &AppState, e: RoutingError, size: usize) -> Result<StatusCode, AppError> {
    state.metrics().rejected(match &e {
        RoutingError::UnknownObject(_) => Reject::UnknownObject,
        _ => Reject::InvalidBody,
    });
    match e {
        // Meta retries every non-200 for days; an object type Parley does
        // not handle will never become handleable, so take it and drop it.
        RoutingError::UnknownObject(object) => {
            let object: String = object.chars().take(64).collect();
            tracing::warn!(bytes = size, %object, "webhook for an unhandled object dropped");
            Ok(StatusCode::OK)
        }
        RoutingError::NotJson(_) => {
            tracing::warn!(bytes = size, "signed webhook that is not JSON refused");
            Err(AppError::BadRequest {
                code: "invalid_json",
                message: "the webhook body is signed correctly but is not valid JSON".into(),
            })
        }
        RoutingError::NoObject => {
            tracing::warn!(bytes = size, "signed webhook without an object refused");
            Err(AppError::BadRequest {
                code: "invalid_webhook",
                message: "the webhook body has no \"object\" field".into(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    fn secrets(list: &[&str]) -> Vec<AppSecret> {
        list.iter().map(|s| Zeroizing::new(s.to_string())).collect()
    }

    #[test]
    fn the_secret_that_signed_is_the_one_returned() {
        let body = Bytes::from_static(b"{}");
        let header = signature::sign(b"two", &body);
        let v = verify(&secrets(&["one", "two", "three"]), body, Some(&header)).unwrap();
        assert_eq!(v.secret.as_str(), "two");
    }

    #[test]
    fn missing_malformed_and_forged_headers_fail() {
        let body = Bytes::from_static(b"{}");
        assert_eq!(
            verify(&secrets(&["a"]), body.clone(), None).err(),
            Some(SignatureError::Missing)
        );
        assert_eq!(
            verify(&secrets(&["a"]), body.clone(), Some("sha256=xyz")).err(),
            Some(SignatureError::Malformed)
        );
        let forged = signature::sign(b"b", &body);
        assert_eq!(
            verify(&secrets(&["a"]), body.clone(), Some(&forged)).err(),
            Some(SignatureError::Mismatch)
        );
        // With no tenant at all nothing verifies, not even an empty-key MAC.
        let empty_key = signature::sign(b"", &body);
        assert_eq!(verify(&[], body, Some(&empty_key)).err(), Some(SignatureError::Mismatch));
    }
}
