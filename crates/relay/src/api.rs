//! The routes, the device API (enroll, long-poll, push stream, ack, peers,
//! fan-out), the data-deletion callback and status page, metrics, the admin
//! API, rate limiting, and [`AppError`], the one error every handler returns.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, Request, State};
use axum::http::header::{AUTHORIZATION, HOST, RETRY_AFTER};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use parley_meta::signature::SignatureError;
use parley_meta::signed_request::{self, SignedRequestError};
use parley_protocol::{
    AckRequest, ApiError, DataDeletionResponse, EnrollRequest, EnrollResponse, EventsResponse,
    FanoutRequest, FanoutResponse, PeersResponse, SealedEvent, ENVELOPE_EPOCH_BOX,
    ENVELOPE_SEALED_BOX, MAX_BATCH, MAX_CUSTOMER_ID_BYTES, MAX_FANOUT_CUSTOMER_IDS,
    MAX_FANOUT_SEALED_CHARS, MAX_WAIT_SECS, MIN_ENVELOPE_OVERHEAD, PATH_ACK, PATH_DATA_DELETION,
    PATH_DATA_DELETION_STATUS, PATH_DEREGISTER, PATH_ENROLL, PATH_EVENTS, PATH_FANOUT, PATH_HEALTH,
    PATH_METRICS, PATH_PEERS, PATH_STREAM, PATH_WEBHOOK, STREAM_EVENT_SEALED,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::metrics::Reject;
use crate::ratelimit::client_ip;
use crate::storage::RelayStorage;
use crate::store::{now_ms, AuthedDevice, DeletionStatus, StoreError};
use crate::{webhook, AppState};

/// The device API's bodies are a few hundred bytes; refusing more early
/// keeps a misbehaving client from making the relay buffer megabytes.
const DEVICE_API_BODY_LIMIT: usize = 64 * 1024;
/// A fan-out carries one sealed copy per peer.
const FANOUT_BODY_LIMIT: usize = 4 * 1024 * 1024;
/// Peers one fan-out may address.
const MAX_FANOUT_COPIES: usize = 64;
/// A push stream re-checks the queue and the device's standing this often
/// even without a wake, which bounds how long a revocation made by another
/// process (the admin CLI) takes to end a stream.
const STREAM_RECHECK: Duration = Duration::from_secs(15);
/// Admin routes live under this prefix and need the admin key.
const ADMIN_PREFIX: &str = "/admin/v1";

pub(crate) fn router(state: AppState) -> Router {
    let small = DefaultBodyLimit::max(DEVICE_API_BODY_LIMIT);
    Router::new()
        .route(
            PATH_WEBHOOK,
            get(webhook::handshake)
                .post(webhook::receive)
                // axum's default is 2 MB and Meta sends up to 3 MB.
                .layer(DefaultBodyLimit::max(state.max_body_bytes())),
        )
        .route(PATH_ENROLL, post(enroll).layer(small))
        .route(PATH_EVENTS, get(events))
        .route(PATH_ACK, post(ack).layer(small))
        .route(PATH_HEALTH, get(health))
        .route(PATH_STREAM, get(stream))
        .route(PATH_PEERS, get(peers))
        .route(PATH_DEREGISTER, post(deregister))
        .route(PATH_FANOUT, post(fanout).layer(DefaultBodyLimit::max(FANOUT_BODY_LIMIT)))
        .route(PATH_DATA_DELETION, post(data_deletion).layer(small))
        .route(PATH_DATA_DELETION_STATUS, get(deletion_status_page))
        .route(PATH_METRICS, get(metrics))
        .route(&format!("{ADMIN_PREFIX}/tenants/{{tenant}}/devices"), get(admin_devices))
        .route(
            &format!("{ADMIN_PREFIX}/tenants/{{tenant}}/enrollment-codes"),
            post(admin_enrollment_code),
        )
        .route(&format!("{ADMIN_PREFIX}/devices/{{device}}/revoke"), post(admin_revoke))
        .route(&format!("{ADMIN_PREFIX}/audit"), get(admin_audit))
        .fallback(|| async { AppError::NotFound })
        .layer(middleware::from_fn_with_state(state.clone(), limit_by_ip))
        .with_state(state)
}

/// Per-IP rate limit, before anything else runs. The webhook has its own,
/// larger budget so a flood of device or deletion requests cannot crowd out
/// Meta, and the other way round.
async fn limit_by_ip(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let ip = client_ip(&parts, state.inner.trust_forwarded_for);
    let key = ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let limiter = if parts.method == Method::POST && parts.uri.path() == PATH_WEBHOOK {
        &state.inner.webhook_limiter
    } else {
        &state.inner.ip_limiter
    };
    if let Err(wait) = limiter.check(&key) {
        state.metrics().rejected(Reject::RateLimited);
        return AppError::RateLimited { retry_after: wait }.into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Everything a handler can answer besides success. Rendered as
/// [`ApiError`] JSON with a stable `code`.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("a bearer token is required")]
    MissingToken,
    #[error("the device token is not valid")]
    Unauthorized,
    #[error("the device has been revoked")]
    Revoked,
    #[error(transparent)]
    Signature(SignatureError),
    #[error("the webhook verify token does not match")]
    VerifyTokenMismatch,
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("no such endpoint")]
    NotFound,
    #[error("too many requests; retry later")]
    RateLimited { retry_after: Duration },
    #[error("the admin key is missing or wrong")]
    AdminUnauthorized,
    #[error("the admin API is not enabled on this relay")]
    AdminDisabled,
    #[error("the signed_request is not valid")]
    BadSignedRequest,
    #[error("the metrics token is missing or wrong")]
    MetricsUnauthorized,
    #[error("metrics are served to loopback clients only unless a metrics token is configured")]
    MetricsLoopbackOnly,
    /// The detail is logged, never sent: it may name files or SQL.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::MissingToken | AppError::Unauthorized => {
                (StatusCode::UNAUTHORIZED, "unauthorized")
            }
            AppError::Revoked => (StatusCode::UNAUTHORIZED, "revoked"),
            AppError::Signature(SignatureError::Missing) => {
                (StatusCode::UNAUTHORIZED, "missing_signature")
            }
            AppError::Signature(SignatureError::Malformed) => {
                (StatusCode::UNAUTHORIZED, "malformed_signature")
            }
            AppError::Signature(SignatureError::Mismatch) => {
                (StatusCode::UNAUTHORIZED, "bad_signature")
            }
            AppError::VerifyTokenMismatch => (StatusCode::FORBIDDEN, "forbidden"),
            AppError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            AppError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            AppError::Forbidden { code, .. } => (StatusCode::FORBIDDEN, code),
            AppError::NotFound | AppError::AdminDisabled => (StatusCode::NOT_FOUND, "not_found"),
            AppError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            AppError::AdminUnauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AppError::BadSignedRequest => (StatusCode::UNAUTHORIZED, "bad_signed_request"),
            AppError::MetricsUnauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AppError::MetricsLoopbackOnly => (StatusCode::FORBIDDEN, "loopback_only"),
            AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            AppError::Internal(detail) => {
                tracing::error!(error = %detail, "request failed");
                "the relay could not complete the request".to_owned()
            }
            other => other.to_string(),
        };
        let mut resp = (status, Json(ApiError { code: code.to_owned(), message })).into_response();
        if let AppError::RateLimited { retry_after } = self {
            let secs = retry_after.as_secs().max(1).to_string();
            if let Ok(v) = HeaderValue::from_str(&secs) {
                resp.headers_mut().insert(RETRY_AFTER, v);
            }
        }
        resp
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        let forbidden = |code| AppError::Forbidden { code, message: e.to_string() };
        let bad = |code| AppError::BadRequest { code, message: e.to_string() };
        match e {
            StoreError::Unauthorized => AppError::Unauthorized,
            StoreError::Revoked => AppError::Revoked,
            StoreError::InvalidCode => forbidden("invalid_code"),
            StoreError::CodeUsed => forbidden("code_used"),
            StoreError::CodeExpired => forbidden("code_expired"),
            StoreError::InvalidPublicKey(_) => bad("invalid_public_key"),
            StoreError::InvalidDeviceName => bad("invalid_device_name"),
            StoreError::UnknownPeer(_) => forbidden("unknown_peer"),
            StoreError::InvalidFanout(_) => bad("invalid_fanout"),
            StoreError::UnknownTenant(_) => AppError::NotFound,
            // A device deleted with its tenant while its request was in flight.
            StoreError::UnknownDevice(_) => AppError::Unauthorized,
            other => AppError::Internal(other.to_string()),
        }
    }
}

/// "ok", or 503 with the reason once the relay can no longer acknowledge
/// anything (a failed fsync): a supervisor's health check then restarts it,
/// which is the way out.
async fn health(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state.storage().unhealthy() {
        None => (StatusCode::OK, "ok"),
        Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, reason),
    }
}

/// Run a store operation on the blocking pool: SQLite calls block, and
/// `synchronous=FULL` commits wait for the disk.
pub(crate) async fn blocking<T, F>(state: &AppState, f: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce(&dyn RelayStorage) -> Result<T, StoreError> + Send + 'static,
{
    let storage = Arc::clone(state.storage());
    tokio::task::spawn_blocking(move || f(&*storage))
        .await
        .map_err(|e| AppError::Internal(format!("store task failed: {e}")))?
        .map_err(AppError::from)
}

impl FromRequestParts<AppState> for AuthedDevice {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_owned())
            .filter(|token| !token.is_empty())
            .ok_or(AppError::MissingToken)?;
        let device = match blocking(state, move |store| store.authenticate(&token)).await {
            Ok(device) => device,
            Err(e) => {
                state.metrics().rejected(Reject::Unauthorized);
                return Err(e);
            }
        };
        if let Err(wait) = state.inner.device_limiter.check(&device.device_id) {
            state.metrics().rejected(Reject::RateLimited);
            return Err(AppError::RateLimited { retry_after: wait });
        }
        tracing::debug!(device = %device.device_id, tenant = %device.tenant_id, "device authenticated");
        let action = format!("device.access {} {}", parts.method, parts.uri.path());
        note_access(state, &device, action, false);
        Ok(device)
    }
}

async fn enroll(
    State(state): State<AppState>,
    body: Result<Json<EnrollRequest>, JsonRejection>,
) -> Result<Json<EnrollResponse>, AppError> {
    let Json(req) = body.map_err(json_rejection)?;
    let resp =
        blocking(&state, move |store| store.enroll(&req.code, &req.device_name, &req.public_key))
            .await?;
    Ok(Json(resp))
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    after: Option<u64>,
    wait_secs: Option<u64>,
    limit: Option<usize>,
}

/// Long-poll: answer at once when events are queued, otherwise wait for the
/// tenant's next commit (or the deadline, or shutdown) and look again.
async fn events(
    State(state): State<AppState>,
    device: AuthedDevice,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<EventsResponse>, AppError> {
    let Query(query) =
        query.map_err(|e| AppError::BadRequest { code: "bad_query", message: e.body_text() })?;
    let after = query.after.unwrap_or(0);
    let limit = query.limit.unwrap_or(MAX_BATCH).clamp(1, MAX_BATCH);
    let wait = Duration::from_secs(query.wait_secs.unwrap_or(0).min(MAX_WAIT_SECS));
    let deadline = Instant::now() + wait;
    // Subscribing before the first query means a commit that lands between
    // the query and the wait still wakes this poll.
    let mut woken = state.subscribe(&device.tenant_id);
    let mut stop = state.shutdown_signal();
    loop {
        let device_id = device.device_id.clone();
        let events =
            blocking(&state, move |store| store.events_after(&device_id, after, limit)).await?;
        if !events.is_empty() || Instant::now() >= deadline || *stop.borrow() {
            served(&state, &events);
            tracing::debug!(device = %device.device_id, count = events.len(), "events served");
            return Ok(Json(EventsResponse { events }));
        }
        tokio::select! {
            changed = woken.changed() => {
                if changed.is_err() {
                    return Ok(Json(EventsResponse::default()));
                }
            }
            _ = stop.wait_for(|stopping| *stopping) => {
                return Ok(Json(EventsResponse::default()));
            }
            // The loop then queries one last time before answering.
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

async fn ack(
    State(state): State<AppState>,
    device: AuthedDevice,
    body: Result<Json<AckRequest>, JsonRejection>,
) -> Result<StatusCode, AppError> {
    let Json(req) = body.map_err(json_rejection)?;
    state
        .storage()
        .submit_ack(&device.device_id, req.up_to)
        .await
        .map_err(|_| AppError::Internal("the committer stopped".into()))??;
    tracing::debug!(device = %device.device_id, up_to = req.up_to, "events acknowledged");
    Ok(StatusCode::NO_CONTENT)
}

fn json_rejection(rejection: JsonRejection) -> AppError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return AppError::TooLarge { limit: DEVICE_API_BODY_LIMIT };
    }
    AppError::BadRequest { code: "bad_request", message: rejection.body_text() }
}

/// Audit-log a device's access: always for `force`, otherwise at most once
/// per device per `ACCESS_AUDIT_EVERY`. Off the request path.
fn note_access(state: &AppState, device: &AuthedDevice, action: String, force: bool) {
    if !force && !state.access_audit_due(&device.device_id) {
        return;
    }
    let storage = Arc::clone(state.storage());
    let device = device.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = storage.record_device_access(&device, &action) {
            tracing::warn!(error = %e, "could not audit-log a device access");
        }
    });
}

/// Count events handed out, with their delivery lag.
fn served(state: &AppState, events: &[SealedEvent]) {
    let now = now_ms();
    for e in events {
        state.metrics().served(now.saturating_sub(e.received_at_ms));
    }
}

#[derive(Debug, Deserialize)]
struct StreamQuery {
    after: Option<u64>,
}

/// Server-sent events: every queued event after the cursor, then each new
/// one as it is committed. The SSE id is the seq, so a reconnecting client's
/// `Last-Event-ID` resumes exactly where it stopped; acking stays explicit.
async fn stream(
    State(state): State<AppState>,
    device: AuthedDevice,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, QueryRejection>,
) -> Result<impl IntoResponse, AppError> {
    let Query(query) =
        query.map_err(|e| AppError::BadRequest { code: "bad_query", message: e.body_text() })?;
    let last_event_id = match headers.get("last-event-id").map(|v| v.to_str()) {
        None => None,
        Some(Ok(v)) if v.trim().is_empty() => None,
        Some(Ok(v)) => Some(v.trim().parse::<u64>().map_err(|_| AppError::BadRequest {
            code: "bad_last_event_id",
            message: "Last-Event-ID must be an event seq".into(),
        })?),
        Some(Err(_)) => {
            return Err(AppError::BadRequest {
                code: "bad_last_event_id",
                message: "Last-Event-ID must be an event seq".into(),
            })
        }
    };
    // The header wins: it is what the client actually received last.
    let cursor = last_event_id.or(query.after).unwrap_or(0);
    note_access(&state, &device, "device.stream.open".into(), true);
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(pump(state, device, cursor, tx));
    Ok(Sse::new(tokio_stream::wrappers::ReceiverStream::new(rx))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(20))))
}

/// Feed one push stream until the client leaves, the device is revoked or
/// the relay shuts down.
async fn pump(
    state: AppState,
    device: AuthedDevice,
    mut cursor: u64,
    tx: mpsc::Sender<Result<Event, Infallible>>,
) {
    struct Open<'a>(&'a AppState);
    impl Drop for Open<'_> {
        fn drop(&mut self) {
            self.0.metrics().stream_closed();
        }
    }
    state.metrics().stream_opened();
    let _open = Open(&state);
    let mut woken = state.subscribe(&device.tenant_id);
    let mut stop = state.shutdown_signal();
    loop {
        if *stop.borrow() {
            return;
        }
        let id = device.device_id.clone();
        let active = blocking(&state, move |s| s.device_active(&id)).await;
        if !matches!(active, Ok(true)) {
            tracing::info!(device = %device.device_id, "push stream ended: device no longer active");
            return;
        }
        let id = device.device_id.clone();
        let events = match blocking(&state, move |s| s.events_after(&id, cursor, MAX_BATCH)).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "push stream query failed");
                return;
            }
        };
        let full = events.len() == MAX_BATCH;
        served(&state, &events);
        for e in events {
            cursor = e.seq;
            let event = match Event::default()
                .event(STREAM_EVENT_SEALED)
                .id(e.seq.to_string())
                .json_data(&e)
            {
                Ok(event) => event,
                Err(err) => {
                    tracing::error!(error = %err, "could not encode a stream event");
                    return;
                }
            };
            // A stalled client with a full channel must not hold the
            // stream (and the store) past shutdown.
            tokio::select! {
                sent = tx.send(Ok(event)) => if sent.is_err() { return },
                _ = stop.wait_for(|stopping| *stopping) => return,
            }
        }
        if full {
            continue;
        }
        tokio::select! {
            changed = woken.changed() => if changed.is_err() { return },
            _ = stop.wait_for(|stopping| *stopping) => return,
            _ = tx.closed() => return,
            _ = tokio::time::sleep(STREAM_RECHECK) => {}
        }
    }
}

/// The device revokes itself: the desktop deleted its data or disconnected.
async fn deregister(
    State(state): State<AppState>,
    device: AuthedDevice,
) -> Result<StatusCode, AppError> {
    blocking(&state, move |s| s.revoke_device(&device.device_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn peers(
    State(state): State<AppState>,
    device: AuthedDevice,
) -> Result<Json<PeersResponse>, AppError> {
    let peers = blocking(&state, move |s| s.peers(&device)).await?;
    Ok(Json(PeersResponse { peers }))
}

/// Queue a device's own sealed event for its peers. The relay cannot read
/// the copies; it checks only that each names an active device of the same
/// tenant and is a plausible sealed box.
async fn fanout(
    State(state): State<AppState>,
    device: AuthedDevice,
    body: Result<Json<FanoutRequest>, JsonRejection>,
) -> Result<Json<FanoutResponse>, AppError> {
    let Json(req) = body.map_err(json_rejection)?;
    if req.copies.len() > MAX_FANOUT_COPIES {
        return Err(AppError::BadRequest {
            code: "invalid_fanout",
            message: format!("at most {MAX_FANOUT_COPIES} copies per fan-out"),
        });
    }
    if req.customer_ids.len() > MAX_FANOUT_CUSTOMER_IDS
        || req.customer_ids.iter().any(|id| id.len() > MAX_CUSTOMER_ID_BYTES)
    {
        return Err(AppError::BadRequest {
            code: "invalid_fanout",
            message: format!(
                "at most {MAX_FANOUT_CUSTOMER_IDS} customer ids of at most \
                 {MAX_CUSTOMER_ID_BYTES} bytes each"
            ),
        });
    }
    let mut copies = Vec::with_capacity(req.copies.len());
    for copy in req.copies {
        // A versioned envelope (see parley_protocol): a known version byte,
        // then at least the sealed box's key and tag.
        let raw = (copy.sealed.len() <= MAX_FANOUT_SEALED_CHARS)
            .then(|| B64.decode(copy.sealed.trim()).ok())
            .flatten()
            .filter(|raw| {
                raw.len() > MIN_ENVELOPE_OVERHEAD
                    && matches!(raw[0], ENVELOPE_SEALED_BOX | ENVELOPE_EPOCH_BOX)
            })
            .ok_or_else(|| AppError::BadRequest {
                code: "invalid_fanout",
                message: "each copy must be a base64 sealed envelope of at most 128 KiB".into(),
            })?;
        copies.push((copy.device_id, raw));
    }
    let tenant = device.tenant_id.clone();
    let report = state
        .storage()
        .submit_fanout(device.clone(), copies, &req.customer_ids, now_ms())
        .await
        .map_err(|_| AppError::Internal("the committer stopped".into()))??;
    if report.seq.is_some() {
        state.metrics().fanout(report.queued.len());
        state.wake(&tenant);
    }
    note_access(&state, &device, "device.fanout".into(), true);
    Ok(Json(FanoutResponse { seq: report.seq, queued: report.queued, missing: report.missing }))
}

/// The public base URL for links the relay hands out.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.inner.public_url {
        return url.clone();
    }
    let host = headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let forwarded_https = state.inner.trust_forwarded_for
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let scheme = if state.inner.https || forwarded_https { "https" } else { "http" };
    format!("{scheme}://{host}")
}

/// Meta's data-deletion callback: verify the `signed_request` against every
/// tenant's app secret, purge what the relay holds for that user, answer
/// `{url, confirmation_code}`.
async fn data_deletion(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Result<Json<DataDeletionResponse>, AppError> {
    let Form(form) = form.map_err(|e| AppError::BadRequest {
        code: "bad_request",
        message: format!("expected a form with signed_request: {}", e.body_text()),
    })?;
    let signed = form.get("signed_request").cloned().ok_or_else(|| AppError::BadRequest {
        code: "bad_request",
        message: "the signed_request field is missing".into(),
    })?;
    let status = blocking(&state, move |store| {
        let parsed = match signed_request::parse(&signed) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let Some(secret) =
            store.app_secrets()?.into_iter().find(|s| parsed.signed_by(s.as_bytes()))
        else {
            return Ok(Err(SignedRequestError::Mismatch));
        };
        let request = match parsed.payload() {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        store.delete_user_data(&secret, &request.user_id).map(Ok)
    })
    .await?;
    let status = status.map_err(|e| {
        tracing::warn!(reason = %e, "data-deletion request refused");
        AppError::BadSignedRequest
    })?;
    state.metrics().deletion();
    let url =
        format!("{}{PATH_DATA_DELETION_STATUS}?code={}", base_url(&state, &headers), status.code);
    Ok(Json(DataDeletionResponse { url, confirmation_code: status.code }))
}

#[derive(Debug, Deserialize)]
struct StatusQuery {
    code: Option<String>,
}

/// The human-readable status page of a deletion request.
async fn deletion_status_page(
    State(state): State<AppState>,
    query: Result<Query<StatusQuery>, QueryRejection>,
) -> Response {
    let code = query.ok().and_then(|Query(q)| q.code).unwrap_or_default();
    // Codes are hex; anything else cannot exist and is not looked up.
    let lookup =
        (!code.is_empty() && code.len() <= 64 && code.bytes().all(|b| b.is_ascii_hexdigit()))
            .then_some(code);
    let found = match lookup {
        Some(code) => blocking(&state, move |s| s.deletion_status(&code)).await,
        None => Ok(None),
    };
    match found {
        Ok(Some(status)) => Html(status_html(&status)).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Html(page(
                "Deletion request not found",
                "<p>No data-deletion request has this confirmation code. Check that the link \
                 is complete.</p>",
            )),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

fn status_html(status: &DeletionStatus) -> String {
    let when = |ms: i64| {
        let secs = ms / 1000;
        format!("{} (Unix time, UTC)", secs)
    };
    let state = match status.completed_at_ms {
        Some(at) => format!("<p><strong>Completed</strong> at {}.</p>", when(at)),
        None => "<p><strong>In progress.</strong></p>".to_owned(),
    };
    let body = format!(
        "<p>Confirmation code: <code>{code}</code></p>\
         <p>Received at {requested}.</p>{state}\
         <p>This relay only forwards messages, encrypted, to the business's own devices, and \
         holds them only until those devices have received them. It removed every such \
         message that was still waiting and that names you: {purged} encrypted \
         cop{plural} removed.</p>\
         <p>Conversations the business has already received are kept on the business's own \
         devices, under its control and its privacy policy; contact the business to have \
         those deleted.</p>",
        code = status.code,
        requested = when(status.requested_at_ms),
        purged = status.events_purged,
        plural = if status.events_purged == 1 { "y" } else { "ies" },
    );
    page("Data deletion request", &body)
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>"
    )
}

async fn metrics(State(state): State<AppState>, req: Request) -> Response {
    if let Err(e) = metrics_access(&state, &req) {
        state.metrics().rejected(Reject::Unauthorized);
        return e.into_response();
    }
    let queue = blocking(&state, |s| s.queue_stats()).await.ok();
    let text = state.metrics().render(queue, now_ms());
    ([("content-type", "text/plain; version=0.0.4")], text).into_response()
}

/// Who may read `/metrics`. The figures carry no content, but queue depths,
/// device counts and rejection rates tell an outsider about the business and
/// about how an attack is going, so they are not public.
///
/// - With `metrics_token_sha256` configured: a bearer token whose SHA-256
///   matches, compared in constant time (a random 256-bit token, so a fast
///   hash is enough, as for the admin key).
/// - Without: only a client on the relay's own host, that is a loopback
///   socket peer carrying no `X-Forwarded-For` / `Forwarded` header. A
///   reverse proxy on the same host also connects from loopback, but it
///   adds those headers, which is how its clients are told apart; a proxy
///   that adds neither must not forward `/metrics` (see README).
fn metrics_access(state: &AppState, req: &Request) -> Result<(), AppError> {
    let headers = req.headers();
    if let Some(expected) = state.inner.metrics_token_sha256 {
        let token = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .unwrap_or_default();
        let given: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        return if !token.is_empty() && bool::from(given.ct_eq(&expected)) {
            Ok(())
        } else {
            Err(AppError::MetricsUnauthorized)
        };
    }
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<crate::ClientAddr>>()
        .map(|c| c.0 .0.ip().to_canonical());
    let proxied = headers.contains_key("x-forwarded-for") || headers.contains_key("forwarded");
    if peer.is_some_and(|ip| ip.is_loopback()) && !proxied {
        Ok(())
    } else {
        Err(AppError::MetricsLoopbackOnly)
    }
}

/// The admin key: a random 256-bit secret the operator keeps in a file.
/// Only its SHA-256 is configured, and a fast hash is enough for a key of
/// that entropy (unlike a password, it cannot be guessed offline).
struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let Some(expected) = state.inner.admin_key_sha256 else {
            return Err(AppError::AdminDisabled);
        };
        let key = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key.trim().to_owned())
            .unwrap_or_default();
        let given: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        if key.is_empty() || !bool::from(given.ct_eq(&expected)) {
            let path = parts.uri.path().to_owned();
            let _ =
                blocking(state, move |s| s.audit_event("admin.denied", None, Some(&path))).await;
            return Err(AppError::AdminUnauthorized);
        }
        Ok(Admin)
    }
}

async fn admin_devices(
    State(state): State<AppState>,
    _admin: Admin,
    Path(tenant): Path<String>,
) -> Result<Json<serde_json::Value>, AppError> {
    let audit_tenant = tenant.clone();
    let devices = blocking(&state, move |s| {
        let devices = s.list_devices(&tenant)?;
        s.audit_event("admin.devices.list", Some(&audit_tenant), None)?;
        Ok(devices)
    })
    .await?;
    let rows: Vec<_> = devices
        .into_iter()
        .map(|d| {
            serde_json::json!({
                "id": d.id, "name": d.name, "created_at": d.created_at_ms,
                "revoked": d.revoked, "acked_seq": d.acked_seq, "queue_depth": d.queue_depth,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "devices": rows })))
}

#[derive(Debug, Deserialize, Default)]
struct CodeRequest {
    ttl_mins: Option<u64>,
}

async fn admin_enrollment_code(
    State(state): State<AppState>,
    _admin: Admin,
    Path(tenant): Path<String>,
    body: Option<Json<CodeRequest>>,
) -> Result<Json<serde_json::Value>, AppError> {
    let ttl =
        Duration::from_secs(body.and_then(|b| b.0.ttl_mins).unwrap_or(60).min(7 * 24 * 60) * 60);
    let code = blocking(&state, move |s| s.issue_enrollment_code(&tenant, ttl)).await?;
    Ok(Json(serde_json::json!({ "code": code })))
}

async fn admin_revoke(
    State(state): State<AppState>,
    _admin: Admin,
    Path(device): Path<String>,
) -> Result<StatusCode, AppError> {
    let tenant = blocking(&state, move |s| {
        s.revoke_device(&device)?;
        Ok(device)
    })
    .await
    .map_err(|e| match e {
        AppError::Unauthorized => AppError::NotFound,
        other => other,
    })?;
    // Streams re-check their device on a wake; waking every tenant would be
    // wasteful, and the device id alone does not name its tenant, so the
    // periodic re-check ends that device's stream.
    let _ = tenant;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct AuditQuery {
    limit: Option<usize>,
}

async fn admin_audit(
    State(state): State<AppState>,
    _admin: Admin,
    Query(q): Query<AuditQuery>,
) -> Result<Json<serde_json::Value>, AppError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    let rows = blocking(&state, move |s| s.audit_log(limit)).await?;
    let rows: Vec<_> = rows
        .into_iter()
        .map(|r| {
            serde_json::json!({
                "id": r.id, "at": r.at_ms, "action": r.action,
                "tenant_id": r.tenant_id, "subject": r.subject,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "entries": rows })))
}
