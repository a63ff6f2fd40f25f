//! The routes, the device API (enroll, long-poll, ack) and [`AppError`], the
//! one error every handler returns.

use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Query, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parley_meta::signature::SignatureError;
use parley_protocol::{
    AckRequest, ApiError, EnrollRequest, EnrollResponse, EventsResponse, MAX_BATCH, MAX_WAIT_SECS,
    PATH_ACK, PATH_ENROLL, PATH_EVENTS, PATH_HEALTH, PATH_WEBHOOK,
};
use serde::Deserialize;
use tokio::time::Instant;

use crate::store::{AuthedDevice, Store, StoreError};
use crate::{webhook, AppState};

/// The device API's bodies are a few hundred bytes; refusing more early
/// keeps a misbehaving client from making the relay buffer megabytes.
const DEVICE_API_BODY_LIMIT: usize = 64 * 1024;

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
        .route(PATH_HEALTH, get(|| async { "ok" }))
        .fallback(|| async { AppError::NotFound })
        .with_state(state)
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
            AppError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
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
        (status, Json(ApiError { code: code.to_owned(), message })).into_response()
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
            // A device deleted with its tenant while its request was in flight.
            StoreError::UnknownDevice(_) => AppError::Unauthorized,
            other => AppError::Internal(other.to_string()),
        }
    }
}

/// Run a store operation on the blocking pool: SQLite calls block, and
/// `synchronous=FULL` commits wait for the disk.
pub(crate) async fn blocking<T, F>(state: &AppState, f: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = state.store().clone();
    tokio::task::spawn_blocking(move || f(&store))
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
        let device = blocking(state, move |store| store.authenticate(&token)).await?;
        tracing::debug!(device = %device.device_id, tenant = %device.tenant_id, "device authenticated");
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
    let device_id = device.device_id.clone();
    blocking(&state, move |store| store.ack(&device_id, req.up_to)).await?;
    tracing::debug!(device = %device.device_id, up_to = req.up_to, "events acknowledged");
    Ok(StatusCode::NO_CONTENT)
}

fn json_rejection(rejection: JsonRejection) -> AppError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return AppError::TooLarge { limit: DEVICE_API_BODY_LIMIT };
    }
    AppError::BadRequest { code: "bad_request", message: rejection.body_text() }
}
