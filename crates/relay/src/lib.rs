//! The Parley relay: receives Meta webhooks, verifies them, seals each
//! channel's part for every enrolled device of the channel's tenant, keeps
//! only the ciphertext, and hands it out to the devices with ack.
//!
//! - [`store`]: the SQLite database (tenants, channels, devices, the queue)
//!   and the admin operations the CLI uses.
//! - `webhook`: signature check and routing of `POST /webhooks/meta`.
//! - `api`: the device API (enroll, long-poll, ack) and the one error type.
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
use std::time::Duration;

use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;

mod api;
pub mod store;
mod webhook;

pub use api::AppError;
pub use store::{Store, StoreError};

/// How long queued events are kept for a device that never acks them.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// Meta sends bodies of up to 3 MB; a little headroom on top.
pub const DEFAULT_MAX_BODY_BYTES: usize = 3 * 1024 * 1024;
/// How often the retention purge runs.
const PURGE_EVERY: Duration = Duration::from_secs(60 * 60);

/// How to run a relay.
#[derive(Debug, Clone)]
pub struct Config {
    pub db_path: PathBuf,
    /// Port 0 picks a free port; see [`RelayHandle::addr`].
    pub listen: SocketAddr,
    pub retention: Duration,
    pub max_body_bytes: usize,
}

impl Config {
    pub fn new(db_path: PathBuf, listen: SocketAddr) -> Self {
        Config {
            db_path,
            listen,
            retention: DEFAULT_RETENTION,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
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
}

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    max_body_bytes: usize,
    /// One counter per tenant, bumped after each commit of new events, so
    /// that long-polls of that tenant re-query. A `watch` cannot lose a wake
    /// that happens between a poll's query and its wait.
    wakers: Mutex<HashMap<String, watch::Sender<u64>>>,
    /// Flips to true on shutdown so that long-polls return at once instead
    /// of holding graceful shutdown for up to [`parley_protocol::MAX_WAIT_SECS`].
    shutdown: watch::Sender<bool>,
}

impl AppState {
    pub fn new(store: Store, max_body_bytes: usize) -> Self {
        AppState {
            inner: Arc::new(Inner {
                store,
                max_body_bytes,
                wakers: Mutex::new(HashMap::new()),
                shutdown: watch::Sender::new(false),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn max_body_bytes(&self) -> usize {
        self.inner.max_body_bytes
    }

    /// A receiver that sees every later wake of `tenant_id`.
    pub(crate) fn subscribe(&self, tenant_id: &str) -> watch::Receiver<u64> {
        let mut wakers = self.inner.wakers.lock().unwrap_or_else(|p| p.into_inner());
        wakers.entry(tenant_id.to_owned()).or_insert_with(|| watch::Sender::new(0)).subscribe()
    }

    /// Wake every long-poll waiting on `tenant_id`.
    pub(crate) fn wake(&self, tenant_id: &str) {
        let wakers = self.inner.wakers.lock().unwrap_or_else(|p| p.into_inner());
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
}

/// The relay's routes, for serving or for `tower::ServiceExt::oneshot`.
pub fn app(state: AppState) -> Router {
    api::router(state)
}

/// A relay running in the background.
pub struct RelayHandle {
    addr: SocketAddr,
    state: AppState,
    server: Option<JoinHandle<()>>,
    purger: Option<JoinHandle<()>>,
}

impl RelayHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL of the relay, for example `http://127.0.0.1:8080`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The relay's store, for in-process administration (tests, the demo).
    pub fn store(&self) -> &Store {
        self.state.store()
    }

    /// Stop accepting connections, let in-flight requests finish (waiting
    /// long-polls return empty at once), then return.
    pub async fn shutdown(mut self) {
        self.state.begin_shutdown();
        if let Some(purger) = self.purger.take() {
            purger.abort();
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
    }
}

/// Open the store, bind `config.listen` and serve in a background task.
pub async fn spawn(config: Config) -> Result<RelayHandle, RelayError> {
    let db_path = config.db_path.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(db_path))
        .await
        .map_err(|e| RelayError::Startup(e.to_string()))??;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| RelayError::Bind { addr: config.listen, source })?;
    let addr =
        listener.local_addr().map_err(|source| RelayError::Bind { addr: config.listen, source })?;
    let state = AppState::new(store, config.max_body_bytes);
    let purger = tokio::spawn(purge_loop(state.store().clone(), config.retention));
    let mut stop = state.shutdown_signal();
    let router = app(state.clone());
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
            // An error means the state was dropped: stop as well.
            let _ = stop.wait_for(|stopping| *stopping).await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "relay server stopped with an error");
        }
    });
    tracing::info!(%addr, "relay listening");
    Ok(RelayHandle { addr, state, server: Some(server), purger: Some(purger) })
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
