//! A stateful fake of Meta's WhatsApp Cloud Graph API, with simulated
//! customers.
//!
//! The product's demo mode, its tests and its benchmarks run against this
//! instead of Meta, because no machine here can reach Meta. It plays both of
//! Meta's roles:
//!
//! - the Graph API the desktop sends through (`POST /{version}/{phone_number_id}/messages`),
//!   with Meta's authentication, validation, error shapes and 24-hour
//!   customer-service window;
//! - the webhook sender: customer messages and `sent → delivered → read`
//!   statuses are POSTed to the relay, signed with the app secret exactly as
//!   Meta signs them, and retried when the relay does not answer 200.
//!
//! Control endpoints under `/_sandbox/` let tests and the app make customers
//! write and inspect what the business sent. They have no authentication:
//! the sandbox is a local tool and listens on loopback by default.

pub mod cast;
pub mod demo;
mod graph;
mod webhook;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use cast::SimCustomer;
pub use graph::MAX_TEXT_CHARS;
use graph::{GraphError, Outbound, Request};
use webhook::{Business, Inbound, Status, StatusInfo};

/// The Graph API version Parley targets; the sandbox accepts any `vNN.N`.
pub const DEFAULT_VERSION: &str = "v23.0";
pub const DEFAULT_APP_SECRET: &str = "sandbox-app-secret";
pub const DEFAULT_ACCESS_TOKEN: &str = "sandbox-access-token";
pub const DEFAULT_PHONE_NUMBER_ID: &str = "100000000000001";
pub const DEFAULT_DISPLAY_PHONE_NUMBER: &str = "15550001000";
pub const DEFAULT_WABA_ID: &str = "200000000000001";
pub const DEFAULT_SEED: u64 = 42;

/// The customer-service window: free-form messages are allowed this long
/// after the customer's last message.
pub const SERVICE_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid sandbox configuration: {0}")]
    Config(String),
    #[error("could not build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// Messages never carry the offending value: it may be a phone number.
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    #[error("webhook delivery failed after {attempts} attempts (last: {last})")]
    WebhookDelivery { attempts: u32, last: String },
    #[error("the sandbox has shut down")]
    ShutDown,
}

#[derive(Clone)]
pub struct SandboxConfig {
    pub listen: SocketAddr,
    /// Where signed webhooks go (the relay's `/webhooks/meta`). Without one
    /// the Graph API still works; events are simply not delivered anywhere.
    pub webhook_url: Option<String>,
    /// Signs webhooks (`X-Hub-Signature-256`).
    pub app_secret: String,
    /// The bearer token the Graph endpoints require.
    pub access_token: String,
    pub phone_number_id: String,
    pub display_phone_number: String,
    pub waba_id: String,
    /// Makes the simulated customers and what they say reproducible.
    pub seed: u64,
    /// If set, simulated customers write in about this often and sometimes
    /// answer the agent.
    pub auto_chat: Option<Duration>,
    /// Pause before `sent`, and between `sent`, `delivered` and `read`.
    pub status_delay: Duration,
}

impl SandboxConfig {
    /// Demo defaults: fixed ids and secrets, no auto chat, 300 ms statuses.
    pub fn new(listen: SocketAddr, webhook_url: Option<String>) -> Self {
        SandboxConfig {
            listen,
            webhook_url,
            app_secret: DEFAULT_APP_SECRET.into(),
            access_token: DEFAULT_ACCESS_TOKEN.into(),
            phone_number_id: DEFAULT_PHONE_NUMBER_ID.into(),
            display_phone_number: DEFAULT_DISPLAY_PHONE_NUMBER.into(),
            waba_id: DEFAULT_WABA_ID.into(),
            seed: DEFAULT_SEED,
            auto_chat: None,
            status_delay: Duration::from_millis(300),
        }
    }
}

/// Secrets stay out of debug output and therefore out of logs.
impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("listen", &self.listen)
            .field("webhook_url", &self.webhook_url.as_ref().map(|_| "<set>"))
            .field("app_secret", &"<redacted>")
            .field("access_token", &"<redacted>")
            .field("phone_number_id", &self.phone_number_id)
            .field("waba_id", &self.waba_id)
            .field("seed", &self.seed)
            .field("auto_chat", &self.auto_chat)
            .field("status_delay", &self.status_delay)
            .finish_non_exhaustive()
    }
}

/// One message the business sent through the Graph API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SentMessage {
    /// The `wamid.` the API answered with.
    pub id: String,
    /// The recipient's `wa_id` (digits only).
    pub to: String,
    /// The message `type` (`text`, `template`, `image`, …).
    pub kind: String,
    /// The body of a `text` message.
    pub text: Option<String>,
    /// `context.message_id`, when the message quotes another.
    pub reply_to: Option<String>,
    pub at_ms: i64,
    /// The request body as received.
    pub body: Value,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

const WINDOW_MS: i64 = SERVICE_WINDOW.as_millis() as i64;

struct Conversation {
    id: String,
    expires_ms: i64,
}

struct Customer {
    name: Option<String>,
    user_id: String,
    last_inbound_ms: Option<i64>,
    conversation: Option<Conversation>,
}

#[derive(Default)]
struct SandboxState {
    customers: HashMap<String, Customer>,
    sent: Vec<SentMessage>,
    /// Ids of customer messages, which are the only ones mark-as-read accepts.
    inbound: HashSet<String>,
    marked_read: Vec<String>,
}

struct Inner {
    config: SandboxConfig,
    biz: Business,
    http: reqwest::Client,
    cast: Vec<SimCustomer>,
    state: Mutex<SandboxState>,
    /// Draws for customers answering the agent, separate from the auto-chat
    /// stream so that one does not shift the other.
    reply_rng: Mutex<StdRng>,
    shutdown: watch::Receiver<bool>,
}

/// A poisoned lock only means another task panicked mid-update; the state is
/// plain data and still usable, and the sandbox must keep serving.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn valid_wa_id(wa_id: &str) -> bool {
    (7..=15).contains(&wa_id.len()) && wa_id.bytes().all(|b| b.is_ascii_digit())
}

impl Inner {
    fn is_shut_down(&self) -> bool {
        // A dropped handle (closed channel) stops the sandbox too.
        *self.shutdown.borrow() || self.shutdown.has_changed().is_err()
    }

    /// Run `fut` until it ends or the sandbox shuts down.
    fn spawn_bg(&self, fut: impl Future<Output = ()> + Send + 'static) {
        let mut stop = self.shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = fut => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        });
    }

    fn customer_entry<'s>(&self, st: &'s mut SandboxState, wa_id: &str) -> &'s mut Customer {
        st.customers.entry(wa_id.to_owned()).or_insert_with(|| Customer {
            name: self.cast.iter().find(|c| c.wa_id == wa_id).map(|c| c.name.clone()),
            user_id: cast::business_scoped_user_id(&self.config.waba_id, wa_id),
            last_inbound_ms: None,
            conversation: None,
        })
    }

    async fn post_webhook(&self, body: &Value) -> Result<(), SandboxError> {
        match &self.config.webhook_url {
            Some(url) => {
                // `Value`'s Display is infallible, and these are the exact
                // bytes that get signed and sent.
                let bytes = body.to_string().into_bytes();
                webhook::deliver(&self.http, url, &self.config.app_secret, bytes).await
            }
            None => Ok(()),
        }
    }

    /// A customer writes to the business: it opens (or extends) the service
    /// window at once, then the webhook goes out and is awaited.
    async fn customer_sends(
        &self,
        wa_id: &str,
        name: Option<&str>,
        text: &str,
        context_id: Option<&str>,
    ) -> Result<String, SandboxError> {
        if self.is_shut_down() {
            return Err(SandboxError::ShutDown);
        }
        if !valid_wa_id(wa_id) {
            return Err(SandboxError::InvalidInput("wa_id must be 7 to 15 digits"));
        }
        if text.trim().is_empty() {
            return Err(SandboxError::InvalidInput("text must not be empty"));
        }
        let wamid = cast::new_wamid();
        let now = now_ms();
        let (name, user_id) = {
            let mut st = lock(&self.state);
            let c = self.customer_entry(&mut st, wa_id);
            if let Some(n) = name.filter(|n| !n.trim().is_empty()) {
                c.name = Some(n.to_owned());
            }
            c.last_inbound_ms = Some(now);
            let out = (c.name.clone().unwrap_or_else(|| "WhatsApp user".into()), c.user_id.clone());
            st.inbound.insert(wamid.clone());
            out
        };
        let body = webhook::inbound_text(
            &self.biz,
            &Inbound {
                wamid: &wamid,
                wa_id,
                user_id: &user_id,
                name: &name,
                text,
                timestamp_s: now / 1000,
                context_id,
            },
        );
        self.post_webhook(&body).await?;
        tracing::info!(wamid = %wamid, reply = context_id.is_some(), "customer message delivered");
        Ok(wamid)
    }

    /// Accept an outbound message: window check, id, bookkeeping.
    fn accept(&self, out: Outbound) -> Result<(SentMessage, StatusJob), GraphError> {
        let now = now_ms();
        let mut st = lock(&self.state);
        let in_window = st
            .customers
            .get(&out.wa_id)
            .and_then(|c| c.last_inbound_ms)
            .is_some_and(|t| now - t < WINDOW_MS);
        if !out.is_template() && !in_window {
            return Err(GraphError::window_closed());
        }
        let is_template = out.is_template();
        let c = self.customer_entry(&mut st, &out.wa_id);
        let conversation = match c.conversation.take() {
            Some(conv) if conv.expires_ms > now => conv,
            _ => Conversation { id: cast::new_conversation_id(), expires_ms: now + WINDOW_MS },
        };
        let sent = SentMessage {
            id: cast::new_wamid(),
            to: out.wa_id.clone(),
            kind: out.kind,
            text: out.text,
            reply_to: out.reply_to,
            at_ms: now,
            body: out.body,
        };
        let job = StatusJob {
            wamid: sent.id.clone(),
            wa_id: out.wa_id,
            user_id: c.user_id.clone(),
            conversation_id: conversation.id.clone(),
            conversation_expires_s: conversation.expires_ms / 1000,
            is_template,
            customer_answers: c.last_inbound_ms.is_some(),
        };
        c.conversation = Some(conversation);
        st.sent.push(sent.clone());
        Ok((sent, job))
    }
}

/// What the status pipeline needs for one accepted message.
struct StatusJob {
    wamid: String,
    wa_id: String,
    user_id: String,
    conversation_id: String,
    conversation_expires_s: i64,
    is_template: bool,
    /// Only people who have written before answer back unprompted.
    customer_answers: bool,
}

/// Walk one message through `sent → delivered → read`, one webhook at a time,
/// so the relay sees them in order; then maybe have the customer answer.
async fn run_statuses(inner: Arc<Inner>, job: StatusJob) {
    for status in [Status::Sent, Status::Delivered, Status::Read] {
        tokio::time::sleep(inner.config.status_delay).await;
        let body = webhook::status(
            &inner.biz,
            status,
            &StatusInfo {
                wamid: &job.wamid,
                wa_id: &job.wa_id,
                user_id: &job.user_id,
                timestamp_s: now_ms() / 1000,
                conversation_id: &job.conversation_id,
                conversation_expires_s: job.conversation_expires_s,
                is_template: job.is_template,
            },
        );
        // A status the relay never took is lost, as it would be once Meta
        // gives up; the next one still goes out.
        if let Err(e) = inner.post_webhook(&body).await {
            tracing::warn!(wamid = %job.wamid, status = status.as_str(), error = %e, "status webhook dropped");
        }
    }
    if inner.config.auto_chat.is_some() && job.customer_answers {
        let pick = {
            let mut rng = lock(&inner.reply_rng);
            rng.gen_bool(0.6).then(|| {
                (
                    cast::REPLIES[rng.gen_range(0..cast::REPLIES.len())],
                    Duration::from_millis(rng.gen_range(800..2500)),
                )
            })
        };
        if let Some((text, after)) = pick {
            tokio::time::sleep(after).await;
            if let Err(e) = inner.customer_sends(&job.wa_id, None, text, Some(&job.wamid)).await {
                tracing::warn!(error = %e, "simulated reply not delivered");
            }
        }
    }
}

/// Simulated customers writing in on their own, deterministically per seed.
async fn run_auto_chat(inner: Arc<Inner>, every: Duration) {
    let mut rng = StdRng::seed_from_u64(inner.config.seed ^ 0x5eed_c4a7);
    let mut progress = vec![0usize; inner.cast.len()];
    // The first customer shows up sooner, so a fresh demo is not empty.
    let mut wait = every / 4;
    loop {
        tokio::time::sleep(wait).await;
        wait = every.mul_f64(rng.gen_range(0.5..1.5));
        let i = rng.gen_range(0..inner.cast.len());
        let who = &inner.cast[i];
        let script = cast::SCRIPTS[who.script];
        let line = script[progress[i] % script.len()];
        progress[i] += 1;
        if let Err(e) = inner.customer_sends(&who.wa_id, Some(&who.name), line, None).await {
            tracing::warn!(error = %e, "simulated customer message not delivered");
        }
    }
}

// ---------------------------------------------------------------- HTTP

async fn graph_messages(
    State(inner): State<Arc<Inner>>,
    Path((version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = graph::bearer(headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()));
    if token != Some(inner.config.access_token.as_str()) {
        tracing::info!("graph request rejected: bad or missing token");
        return GraphError::bad_token().into_response();
    }
    if !graph::is_version(&version) {
        return GraphError::unknown_path(&format!("{version}/")).into_response();
    }
    if phone_number_id != inner.config.phone_number_id {
        return GraphError::unknown_object(&phone_number_id).into_response();
    }
    let result = graph::parse(&body).and_then(|req| match req {
        Request::MarkRead { message_id } => {
            let mut st = lock(&inner.state);
            if !st.inbound.contains(&message_id) {
                return Err(GraphError::invalid_parameter(
                    "The parameter message_id does not name a message this number received.",
                ));
            }
            st.marked_read.push(message_id);
            Ok(Json(json!({ "success": true })).into_response())
        }
        Request::Send(out) => {
            let input = out.input.clone();
            let (sent, job) = inner.accept(out)?;
            tracing::info!(wamid = %sent.id, kind = %sent.kind, "outbound message accepted");
            let mut message = json!({ "id": sent.id });
            if sent.kind == "template" {
                message["message_status"] = json!("accepted");
            }
            inner.spawn_bg(run_statuses(Arc::clone(&inner), job));
            Ok(Json(json!({
                "messaging_product": "whatsapp",
                "contacts": [{ "input": input, "wa_id": sent.to }],
                "messages": [message],
            }))
            .into_response())
        }
    });
    result.unwrap_or_else(|e| {
        tracing::info!(code = e.code, "graph request rejected");
        e.into_response()
    })
}

async fn unknown_route(uri: Uri) -> GraphError {
    GraphError::unknown_path(uri.path().trim_start_matches('/'))
}

#[derive(Deserialize)]
struct CustomerMessage {
    text: String,
    name: Option<String>,
}

fn control_error(e: SandboxError) -> Response {
    let status = match e {
        SandboxError::InvalidInput(_) => StatusCode::BAD_REQUEST,
        SandboxError::ShutDown => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_GATEWAY,
    };
    (status, Json(json!({ "error": e.to_string() }))).into_response()
}

async fn control_customer_message(
    State(inner): State<Arc<Inner>>,
    Path(wa_id): Path<String>,
    Json(msg): Json<CustomerMessage>,
) -> Response {
    match inner.customer_sends(&wa_id, msg.name.as_deref(), &msg.text, None).await {
        Ok(id) => Json(json!({ "id": id })).into_response(),
        Err(e) => control_error(e),
    }
}

#[derive(Deserialize)]
struct Rewind {
    secs: u64,
}

async fn control_rewind(
    State(inner): State<Arc<Inner>>,
    Path(wa_id): Path<String>,
    Json(r): Json<Rewind>,
) -> Response {
    let control = SandboxControl { inner };
    if control.rewind_window(&wa_id, Duration::from_secs(r.secs)) {
        Json(json!({ "success": true })).into_response()
    } else {
        control_error(SandboxError::InvalidInput("no such customer"))
    }
}

async fn control_sent(State(inner): State<Arc<Inner>>) -> Json<Vec<SentMessage>> {
    Json(lock(&inner.state).sent.clone())
}

async fn control_customers(State(inner): State<Arc<Inner>>) -> Json<Vec<SimCustomer>> {
    Json(inner.cast.clone())
}

fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/{version}/{phone_number_id}/messages", post(graph_messages))
        .route("/_sandbox/customers", get(control_customers))
        .route("/_sandbox/customers/{wa_id}/messages", post(control_customer_message))
        .route("/_sandbox/customers/{wa_id}/rewind", post(control_rewind))
        .route("/_sandbox/sent", get(control_sent))
        .fallback(unknown_route)
        .with_state(inner)
}

// ---------------------------------------------------------------- public API

/// A running sandbox. Dropping it stops the sandbox as [`Self::shutdown`]
/// does, without waiting.
pub struct SandboxHandle {
    addr: SocketAddr,
    control: SandboxControl,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
}

/// Drives the simulation from outside: tests, the app's demo mode, the CLI.
#[derive(Clone)]
pub struct SandboxControl {
    inner: Arc<Inner>,
}

/// Start the sandbox: bind, serve, and (if configured) let customers chat.
pub async fn spawn(config: SandboxConfig) -> Result<SandboxHandle, SandboxError> {
    if let Some(url) = &config.webhook_url {
        let parsed = reqwest::Url::parse(url)
            .map_err(|_| SandboxError::Config("webhook_url is not a valid URL".into()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(SandboxError::Config("webhook_url must be http or https".into()));
        }
    }
    if config.auto_chat.is_some_and(|d| d.is_zero()) {
        return Err(SandboxError::Config("auto_chat must be longer than zero".into()));
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .user_agent("facebookexternalua")
        .build()
        .map_err(SandboxError::Client)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| SandboxError::Bind { addr: config.listen, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| SandboxError::Bind { addr: config.listen, source })?;
    let (stop, stopped) = watch::channel(false);
    let inner = Arc::new(Inner {
        biz: Business {
            waba_id: config.waba_id.clone(),
            phone_number_id: config.phone_number_id.clone(),
            display_phone_number: config.display_phone_number.clone(),
        },
        cast: cast::cast(config.seed, &config.waba_id),
        reply_rng: Mutex::new(StdRng::seed_from_u64(config.seed.rotate_left(17))),
        state: Mutex::new(SandboxState::default()),
        http,
        shutdown: stopped.clone(),
        config,
    });
    let mut server_stop = stopped;
    let app = router(Arc::clone(&inner));
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            // Also ends when the handle is dropped (the sender goes away).
            let _ = server_stop.wait_for(|s| *s).await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "sandbox server stopped with an error");
        }
    });
    if let Some(every) = inner.config.auto_chat {
        inner.spawn_bg(run_auto_chat(Arc::clone(&inner), every));
    }
    tracing::info!(%addr, "sandbox listening");
    Ok(SandboxHandle { addr, control: SandboxControl { inner }, stop, server })
}

impl SandboxHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What to use as the Graph API base URL (instead of
    /// `https://graph.facebook.com`). A wildcard listen address is reached
    /// through loopback.
    pub fn graph_base_url(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    pub fn control(&self) -> SandboxControl {
        self.control.clone()
    }

    /// Stop serving, stop the simulated customers and pending status
    /// webhooks, and wait (briefly) for in-flight requests to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let mut server = self.server;
        if tokio::time::timeout(Duration::from_secs(5), &mut server).await.is_err() {
            // A client holding a request open must not hang the caller.
            server.abort();
        }
    }
}

impl SandboxControl {
    /// A customer writes `text`. Builds Meta's signed `messages` webhook and
    /// returns its `wamid` once the relay answered 200 (immediately when no
    /// webhook URL is configured). `name` is the profile name; empty keeps
    /// the one already known.
    pub async fn customer_sends_text(
        &self,
        wa_id: &str,
        name: &str,
        text: &str,
    ) -> Result<String, SandboxError> {
        self.inner.customer_sends(wa_id, Some(name), text, None).await
    }

    /// What the business sent, in the order the API accepted it.
    pub fn sent(&self) -> Vec<SentMessage> {
        lock(&self.inner.state).sent.clone()
    }

    /// The simulated cast for this seed.
    pub fn customers(&self) -> Vec<SimCustomer> {
        self.inner.cast.clone()
    }

    /// Customer message ids the business marked as read, in order.
    pub fn marked_read(&self) -> Vec<String> {
        lock(&self.inner.state).marked_read.clone()
    }

    /// Pretend the customer's last message is `by` older than it is, to test
    /// the 24-hour window without waiting a day. False for a customer who
    /// never wrote.
    pub fn rewind_window(&self, wa_id: &str, by: Duration) -> bool {
        let mut st = lock(&self.inner.state);
        match st.customers.get_mut(wa_id).and_then(|c| c.last_inbound_ms.as_mut()) {
            Some(t) => {
                *t -= by.as_millis() as i64;
                true
            }
            None => false,
        }
    }
}
