//! The Parley relay: receives Meta webhooks, verifies them, seals each
//! channel's part for every enrolled device of the channel's tenant, keeps
//! only the ciphertext, and hands it out to the devices with ack.
//!
//! - [`store`]: the SQLite database (tenants, channels, devices, the queue)
//!   and the admin operations the CLI uses.
//! - `commit`: the group committer, the one writer of the queue.
//! - `webhook`: signature check and routing of `POST /webhooks/meta`.
//! - `api`: the device API (enroll, long-poll, push stream, ack, peers,
//!   fan-out), the data-deletion callback, metrics, the admin API, and the
//!   one error type.
//! - [`storage`]: the trait the HTTP layer needs from a backend.
//! - `ratelimit`, `metrics`, [`tls`]: operations.
//!
//! Architecture invariant: a webhook's plaintext lives only in memory, for
//! the duration of its request. It is never written to the database, the
//! logs or an error message.
//!
//! Start it in-process with [`spawn`], or mount [`app`] for `oneshot` tests.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;

mod api;
mod commit;
mod epoch;
mod metrics;
mod packed;
pub mod ratelimit;
pub mod storage;
pub mod store;
mod subjects;
pub mod tls;
mod webhook;

pub use api::AppError;
pub use ratelimit::Limit;
pub use storage::RelayStorage;
pub use store::{Store, StoreError};
pub use tls::{ClientAddr, TlsFiles};

/// How long queued events are kept for a device that never acks them.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// Meta sends bodies of up to 3 MB; a little headroom on top.
pub const DEFAULT_MAX_BODY_BYTES: usize = 3 * 1024 * 1024;
/// How often an epoch key's age is checked; an epoch outlives its lifetime
/// by at most this much when the relay is idle.
const EPOCH_CHECK_EVERY: Duration = Duration::from_secs(30);
/// How often the retention purge runs.
const PURGE_EVERY: Duration = Duration::from_secs(60 * 60);
/// A device's routine accesses (poll, ack) are audit-logged at most this
/// often, so the audit log shows who used the relay when without one row per
/// long-poll.
const ACCESS_AUDIT_EVERY: Duration = Duration::from_secs(10 * 60);

/// Rate limits. A rate of 0 turns one off.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct Limits {
    /// Per source IP, every route but the webhook.
    pub per_ip: Limit,
    /// Per source IP, `POST /webhooks/meta`. Generous: Meta delivers bursts
    /// from few addresses, and a refused webhook is only retried later.
    pub webhook_per_ip: Limit,
    /// Per authenticated device.
    pub per_device: Limit,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_ip: Limit::new(50.0, 200.0),
            webhook_per_ip: Limit::new(1000.0, 4000.0),
            per_device: Limit::new(20.0, 100.0),
        }
    }
}

impl Limits {
    pub const OFF: Limits =
        Limits { per_ip: Limit::OFF, webhook_per_ip: Limit::OFF, per_device: Limit::OFF };
}

/// How to run a relay.
#[derive(Debug, Clone)]
pub struct Config {
    pub db_path: PathBuf,
    /// Port 0 picks a free port; see [`RelayHandle::addr`].
    pub listen: SocketAddr,
    pub retention: Duration,
    pub max_body_bytes: usize,
    /// The relay's public base URL (`https://relay.example.com`), for the
    /// data-deletion status links. Without it the request's Host is used.
    pub public_url: Option<String>,
    pub limits: Limits,
    /// Take the client address from the last `X-Forwarded-For` hop. Only for
    /// a relay reachable solely through a proxy that sets it.
    pub trust_forwarded_for: bool,
    /// Serve HTTPS with these files instead of plain HTTP.
    pub tls: Option<TlsFiles>,
    /// SHA-256 of the admin key; the admin API is off without it.
    pub admin_key_sha256: Option<[u8; 32]>,
    /// SHA-256 of the bearer token `/metrics` requires. Without it, metrics
    /// are served to loopback clients only.
    pub metrics_token_sha256: Option<[u8; 32]>,
}

impl Config {
    pub fn new(db_path: PathBuf, listen: SocketAddr) -> Self {
        Config {
            db_path,
            listen,
            retention: DEFAULT_RETENTION,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            public_url: None,
            limits: Limits::default(),
            trust_forwarded_for: false,
            tls: None,
            admin_key_sha256: None,
            metrics_token_sha256: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("the relay's startup task failed: {0}")]
    Startup(String),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    storage: Arc<dyn RelayStorage>,
    /// The SQLite store when that is the backend, for [`AppState::store`].
    sqlite: Option<Store>,
    max_body_bytes: usize,
    public_url: Option<String>,
    https: bool,
    trust_forwarded_for: bool,
    admin_key_sha256: Option<[u8; 32]>,
    metrics_token_sha256: Option<[u8; 32]>,
    metrics: metrics::Metrics,
    ip_limiter: ratelimit::RateLimiter,
    webhook_limiter: ratelimit::RateLimiter,
    device_limiter: ratelimit::RateLimiter,
    /// When each device's routine access was last audit-logged.
    last_access_audit: Mutex<HashMap<String, Instant>>,
    /// One counter per tenant, bumped after each commit of new events, so
    /// that long-polls and streams of that tenant re-query. A `watch` cannot
    /// lose a wake that happens between a poll's query and its wait.
    wakers: Mutex<HashMap<String, watch::Sender<u64>>>,
    /// Flips to true on shutdown so that long-polls and streams return at
    /// once instead of holding graceful shutdown.
    shutdown: watch::Sender<bool>,
}

impl AppState {
    /// State over the SQLite store with no rate limits and no admin API, as
    /// in-process tests want it. [`spawn`] uses [`AppState::from_config`].
    pub fn new(store: Store, max_body_bytes: usize) -> Self {
        let mut config = Config::new(PathBuf::new(), SocketAddr::from(([127, 0, 0, 1], 0)));
        config.max_body_bytes = max_body_bytes;
        config.limits = Limits::OFF;
        Self::from_config(store, &config)
    }

    /// State over the SQLite store, with `config`'s limits and settings.
    pub fn from_config(store: Store, config: &Config) -> Self {
        Self::build(Arc::new(store.clone()), Some(store), config)
    }

    /// State over any storage backend.
    pub fn with_storage(storage: Arc<dyn RelayStorage>, config: &Config) -> Self {
        Self::build(storage, None, config)
    }

    fn build(storage: Arc<dyn RelayStorage>, sqlite: Option<Store>, config: &Config) -> Self {
        AppState {
            inner: Arc::new(Inner {
                storage,
                sqlite,
                max_body_bytes: config.max_body_bytes,
                public_url: config.public_url.as_ref().map(|u| u.trim_end_matches('/').to_owned()),
                https: config.tls.is_some(),
                trust_forwarded_for: config.trust_forwarded_for,
                admin_key_sha256: config.admin_key_sha256,
                metrics_token_sha256: config.metrics_token_sha256,
                metrics: metrics::Metrics::default(),
                ip_limiter: ratelimit::RateLimiter::new(config.limits.per_ip),
                webhook_limiter: ratelimit::RateLimiter::new(config.limits.webhook_per_ip),
                device_limiter: ratelimit::RateLimiter::new(config.limits.per_device),
                last_access_audit: Mutex::new(HashMap::new()),
                wakers: Mutex::new(HashMap::new()),
                shutdown: watch::Sender::new(false),
            }),
        }
    }

    /// The storage backend.
    pub fn storage(&self) -> &Arc<dyn RelayStorage> {
        &self.inner.storage
    }

    /// The SQLite store, when that is the backend.
    pub fn store(&self) -> Option<&Store> {
        self.inner.sqlite.as_ref()
    }

    pub(crate) fn max_body_bytes(&self) -> usize {
        self.inner.max_body_bytes
    }

    pub(crate) fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }

    /// A receiver that sees every later wake of `tenant_id`.
    pub(crate) fn subscribe(&self, tenant_id: &str) -> watch::Receiver<u64> {
        let mut wakers = store::lock(&self.inner.wakers);
        wakers.entry(tenant_id.to_owned()).or_insert_with(|| watch::Sender::new(0)).subscribe()
    }

    /// Wake every long-poll and stream waiting on `tenant_id`.
    pub(crate) fn wake(&self, tenant_id: &str) {
        let wakers = store::lock(&self.inner.wakers);
        if let Some(tx) = wakers.get(tenant_id) {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    fn begin_shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Whether a routine access by `device_id` is due for an audit row.
    pub(crate) fn access_audit_due(&self, device_id: &str) -> bool {
        let mut last = store::lock(&self.inner.last_access_audit);
        let now = Instant::now();
        match last.get(device_id) {
            Some(at) if now.duration_since(*at) < ACCESS_AUDIT_EVERY => false,
            _ => {
                last.insert(device_id.to_owned(), now);
                true
            }
        }
    }
}

/// The relay's routes, for serving or for `tower::ServiceExt::oneshot`.
pub fn app(state: AppState) -> Router {
    api::router(state)
}

/// A relay running in the background.
pub struct RelayHandle {
    addr: SocketAddr,
    https: bool,
    store: Store,
    state: AppState,
    server: Option<JoinHandle<()>>,
    purger: Option<JoinHandle<()>>,
    rotator: Option<JoinHandle<()>>,
}

impl RelayHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL of the relay, for example `http://127.0.0.1:8080`.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The relay's store, for in-process administration (tests, the demo).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Stop accepting connections, let in-flight requests finish (waiting
    /// long-polls and streams end at once), then return. Every webhook that
    /// got its 200 was committed before the answer, so nothing is lost.
    pub async fn shutdown(mut self) {
        self.state.begin_shutdown();
        if let Some(purger) = self.purger.take() {
            purger.abort();
        }
        if let Some(rotator) = self.rotator.take() {
            rotator.abort();
        }
        if let Some(server) = self.server.take() {
            if let Err(e) = server.await {
                tracing::error!(error = %e, "relay server task failed");
            }
        }
        tracing::info!(addr = %self.addr, "relay stopped");
    }
}

impl Drop for RelayHandle {
    /// Dropping the handle stops the relay too, so a test that forgets to
    /// call `shutdown` does not leave a server holding the database.
    fn drop(&mut self) {
        self.state.begin_shutdown();
        if let Some(purger) = self.purger.take() {
            purger.abort();
        }
        if let Some(rotator) = self.rotator.take() {
            rotator.abort();
        }
    }
}

/// Open the store, bind `config.listen` and serve in a background task.
pub async fn spawn(config: Config) -> Result<RelayHandle, RelayError> {
    let db_path = config.db_path.clone();
    let store = tokio::task::spawn_blocking(move || Store::open_serving(db_path))
        .await
        .map_err(|e| RelayError::Startup(e.to_string()))??;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| RelayError::Bind { addr: config.listen, source })?;
    let addr =
        listener.local_addr().map_err(|source| RelayError::Bind { addr: config.listen, source })?;
    let state = AppState::from_config(store.clone(), &config);
    let purger = tokio::spawn(purge_loop(store.clone(), config.retention));
    let rotator = tokio::spawn(rotate_loop(store.clone()));
    let mut stop = state.shutdown_signal();
    let shutdown = async move {
        // An error means the state was dropped: stop as well.
        let _ = stop.wait_for(|stopping| *stopping).await;
    };
    let service = app(state.clone()).into_make_service_with_connect_info::<ClientAddr>();
    let server = match &config.tls {
        Some(files) => {
            let listener = tls::TlsListener::new(listener, files)?;
            tokio::spawn(async move {
                let serve = axum::serve(listener, service).with_graceful_shutdown(shutdown);
                if let Err(e) = serve.await {
                    tracing::error!(error = %e, "relay server stopped with an error");
                }
            })
        }
        None => tokio::spawn(async move {
            let listener = tls::NoDelayListener(listener);
            let serve = axum::serve(listener, service).with_graceful_shutdown(shutdown);
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "relay server stopped with an error");
            }
        }),
    };
    tracing::info!(%addr, https = config.tls.is_some(), "relay listening");
    Ok(RelayHandle {
        addr,
        https: config.tls.is_some(),
        store,
        state,
        server: Some(server),
        purger: Some(purger),
        rotator: Some(rotator),
    })
}

/// End epoch keys on time even when no webhook arrives to notice, so an idle
/// relay does not keep an old epoch secret in memory (see `epoch`).
async fn rotate_loop(store: Store) {
    let mut every = tokio::time::interval(EPOCH_CHECK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        store.rotate_epoch_if_due();
    }
}

/// Delete queued events older than `retention`, at start and then hourly.
async fn purge_loop(store: Store, retention: Duration) {
    let mut every = tokio::time::interval(PURGE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let store = store.clone();
        let cutoff = store::now_ms()
            .saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
        match tokio::task::spawn_blocking(move || store.purge_received_before(cutoff)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(purged)) => tracing::info!(purged, "expired events purged"),
            Ok(Err(e)) => tracing::error!(error = %e, "retention purge failed"),
            Err(e) => tracing::error!(error = %e, "retention purge task failed"),
        }
    }
}
