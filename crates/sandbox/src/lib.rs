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
//! Beyond messages it serves media upload/look-up/download, message
//! templates (reviewed PENDING → APPROVED/REJECTED with the status webhook),
//! the business profile, the phone-number list, and Instagram sends with the
//! 24 h / `HUMAN_AGENT` rules. Limits answer with Meta's codes: 131047
//! outside the window, 130429 over the per-number rate, 131056 over the pair
//! rate, 132001 for an unknown template.
//!
//! Control endpoints under `/_sandbox/` let tests and the app make customers
//! (WhatsApp and Instagram) write any message type, inspect what the business
//! sent, and inject faults ([`Faults`]): failed statuses, duplicate,
//! delayed or out-of-order webhooks, 5xx answers, slow answers, and "fail the
//! next send with code Z". They have no authentication: the sandbox is a
//! local tool and listens on loopback by default.
//!
//! | control endpoint | does |
//! |---|---|
//! | `POST /_sandbox/customers/{wa_id}/messages` `{"text","name"}` | a customer texts; → `{"id"}` |
//! | `POST /_sandbox/customers/{wa_id}/send` [`CustomerMessage`] + `name`, `reply_to` | any WhatsApp type; → `{"id"}` |
//! | `POST /_sandbox/customers/{wa_id}/rewind` `{"secs"}` | age the 24 h window |
//! | `GET /_sandbox/customers` | the WhatsApp cast |
//! | `POST /_sandbox/instagram/{igsid}/send` [`IgCustomerMessage`] | any Instagram event; → `{"id"}` (the `mid`) |
//! | `POST /_sandbox/instagram/{igsid}/rewind` `{"secs"}` | age the Instagram window |
//! | `GET /_sandbox/instagram/customers` | the Instagram cast |
//! | `POST /_sandbox/burst` `{"count"}` | several customers in one batched webhook; → `{"ids"}` |
//! | `GET`/`POST /_sandbox/faults` [`Faults`] | read / replace the active faults |
//! | `POST /_sandbox/fail-next` `{"code","count"?}` | fail the next sends with Meta's code |
//! | `GET /_sandbox/limits` | how many sends 130429 and 131056 refused ([`LimitRefusals`]) |
//! | `GET /_sandbox/sent`, `GET /_sandbox/sent/since?since_ms=` | what the business sent ([`SentMessage`], with `reply_to` and `reaction`) |
//! | `GET /_sandbox/media/{id}/file` | a media file (bearer token unless it is an Instagram CDN link) |

pub mod cast;
pub mod content;
pub mod demo;
mod graph;
mod manage;
mod webhook;

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::Query;
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

pub use cast::{SimCustomer, SimIgCustomer};
pub use content::{CustomerMessage, IgCustomerMessage};
pub use graph::MAX_TEXT_CHARS;
use graph::{GraphError, IgOutbound, Outbound, Request};
use webhook::{Business, Status, StatusInfo, Who};

/// The Graph API version Parley targets; the sandbox accepts any `vNN.N`.
pub const DEFAULT_VERSION: &str = "v23.0";
pub const DEFAULT_APP_SECRET: &str = "sandbox-app-secret";
pub const DEFAULT_ACCESS_TOKEN: &str = "sandbox-access-token";
pub const DEFAULT_PHONE_NUMBER_ID: &str = "100000000000001";
pub const DEFAULT_DISPLAY_PHONE_NUMBER: &str = "15550001000";
pub const DEFAULT_WABA_ID: &str = "200000000000001";
/// The Meta app the sandbox's token belongs to (`GET /app`), which owns
/// uploaded template samples.
pub const DEFAULT_APP_ID: &str = "300000000000001";
pub const DEFAULT_INSTAGRAM_ACCOUNT_ID: &str = "17841400000000001";
pub const DEFAULT_SEED: u64 = 42;
/// Meta's default throughput per business number.
pub const DEFAULT_MSGS_PER_SEC: u32 = 80;
/// How long an Instagram human agent may still answer with `HUMAN_AGENT`.
pub const HUMAN_AGENT_WINDOW: Duration = Duration::from_secs(7 * 24 * 60 * 60);

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
    /// The Instagram professional account the business sends from.
    pub instagram_account_id: String,
    /// Messages per second per number before 130429.
    pub max_msgs_per_sec: u32,
    /// The per-customer limit behind 131056; `None` turns it off.
    pub pair_limit: Option<PairLimit>,
    /// How long template review takes before the status webhook.
    pub template_review_delay: Duration,
    /// Auto-chat customers on both channels send every message type, react
    /// and sometimes burst; otherwise they only write WhatsApp text.
    pub varied_chat: bool,
    /// Faults active from the start; change them later with
    /// [`SandboxControl::set_faults`].
    pub faults: Faults,
}

/// Sends refused by the rate limits since the sandbox started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitRefusals {
    /// Refused with 130429 (over the number's messages per second).
    pub rate_limited: u64,
    /// Refused with 131056 (too many to one customer).
    pub pair_limited: u64,
}

/// Meta's pair rate limit: a burst, then about one message per `every` to
/// the same customer (Meta documents roughly one per 6 seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairLimit {
    pub burst: u32,
    pub every: Duration,
}

impl Default for PairLimit {
    fn default() -> Self {
        PairLimit { burst: 45, every: Duration::from_secs(6) }
    }
}

/// Faults to inject, for tests of the unhappy paths. All off by default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Deliver every webhook twice (Meta delivers at least once).
    pub duplicate_webhooks: bool,
    /// Send each message's statuses newest first (read, delivered, sent).
    pub out_of_order_statuses: bool,
    /// Hold every webhook this long before delivering it.
    pub webhook_delay_ms: u64,
    /// Answer every Graph API request this much later.
    pub slow_response_ms: u64,
    /// The next N Graph API requests answer HTTP 500 with Meta's code 131000.
    pub server_errors: u32,
    /// The next N Graph API requests answer HTTP 502 with an HTML page (a
    /// proxy in the way, no Meta error body).
    pub bare_server_errors: u32,
    /// The next sends fail with these Meta codes, in order.
    pub fail_next: VecDeque<i64>,
    /// Share (0..=1) of accepted messages that end in a `failed` status.
    pub status_failure_rate: f64,
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
            instagram_account_id: DEFAULT_INSTAGRAM_ACCOUNT_ID.into(),
            max_msgs_per_sec: DEFAULT_MSGS_PER_SEC,
            pair_limit: Some(PairLimit::default()),
            template_review_delay: Duration::from_secs(2),
            varied_chat: false,
            faults: Faults::default(),
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
            .field("instagram_account_id", &self.instagram_account_id)
            .field("max_msgs_per_sec", &self.max_msgs_per_sec)
            .field("pair_limit", &self.pair_limit)
            .field("varied_chat", &self.varied_chat)
            .field("faults", &self.faults)
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
    /// `whatsapp` or `instagram`; for Instagram, `to` is the IGSID.
    #[serde(default = "whatsapp_channel")]
    pub channel: String,
    /// For a `reaction`: the reacted-to message and the emoji (empty removes).
    #[serde(default)]
    pub reaction: Option<SentReaction>,
}

/// A reaction the business sent (`reaction.message_id`, `reaction.emoji`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SentReaction {
    pub message_id: String,
    pub emoji: String,
}

impl SentReaction {
    fn of(kind: &str, body: &Value) -> Option<SentReaction> {
        (kind == "reaction").then(|| SentReaction {
            message_id: body
                .pointer("/reaction/message_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            emoji: body
                .pointer("/reaction/emoji")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        })
    }
}

fn whatsapp_channel() -> String {
    "whatsapp".into()
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

struct IgCustomer {
    last_inbound_ms: Option<i64>,
}

/// A file the sandbox serves: uploaded by the business or sent by a customer.
struct StoredMedia {
    bytes: Vec<u8>,
    mime: String,
    sha256: String,
    /// Instagram attachment URLs are public CDN links; WhatsApp media needs
    /// the bearer token.
    public: bool,
}

#[derive(Default)]
struct SandboxState {
    customers: HashMap<String, Customer>,
    sent: Vec<SentMessage>,
    /// Ids of customer messages, which are the only ones mark-as-read accepts.
    inbound: HashSet<String>,
    marked_read: Vec<String>,
    /// When recent sends were accepted, for the per-number rate (130429).
    recent_sends: VecDeque<i64>,
    /// Sends refused for the per-number rate (130429) and the pair rate
    /// (131056), for tests of senders that must pace themselves.
    limits: LimitRefusals,
    /// Pair-limit buckets: (tokens, last refill ms) per customer.
    pair_buckets: HashMap<String, (f64, i64)>,
    media: HashMap<String, StoredMedia>,
    templates: Vec<manage::TemplateRecord>,
    /// Open Resumable Upload sessions: id → (declared length, type).
    upload_sessions: HashMap<String, (u64, String)>,
    /// Handles of uploaded template samples, which templates may use.
    sample_handles: HashSet<String>,
    profile: Value,
    ig_customers: HashMap<String, IgCustomer>,
    /// The business's latest message per customer, for simulated reactions.
    last_business_message: HashMap<String, String>,
    faults: Faults,
}

struct Inner {
    config: SandboxConfig,
    biz: Business,
    http: reqwest::Client,
    cast: Vec<SimCustomer>,
    ig_cast: Vec<SimIgCustomer>,
    /// This sandbox's own base URL, for the media URLs it hands out.
    self_url: String,
    /// Draws for failed statuses, seeded so failure runs are reproducible.
    fault_rng: Mutex<StdRng>,
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

    fn faults(&self) -> Faults {
        lock(&self.state).faults.clone()
    }

    async fn post_webhook(&self, body: &Value) -> Result<(), SandboxError> {
        let Some(url) = &self.config.webhook_url else { return Ok(()) };
        let faults = self.faults();
        if faults.webhook_delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(faults.webhook_delay_ms)).await;
        }
        // `Value`'s Display is infallible, and these are the exact bytes
        // that get signed and sent.
        let bytes = body.to_string().into_bytes();
        if faults.duplicate_webhooks {
            webhook::deliver(&self.http, url, &self.config.app_secret, bytes.clone()).await?;
        }
        webhook::deliver(&self.http, url, &self.config.app_secret, bytes).await
    }

    /// Keep a file to serve; returns (id, sha256).
    fn store_media(&self, bytes: Vec<u8>, mime: &str, public: bool) -> (String, String) {
        let id = cast::new_media_id();
        let sha256 = parley_meta::graph::sha256_hex(&bytes);
        let media = StoredMedia { bytes, mime: mime.to_owned(), sha256: sha256.clone(), public };
        lock(&self.state).media.insert(id.clone(), media);
        (id, sha256)
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
        let message = CustomerMessage::Text { text: text.to_owned() };
        self.customer_sends_message(wa_id, name, &message, context_id).await
    }

    /// Build one customer's `messages[]` object and record it (window,
    /// inbound id). Returns (wamid, contact, message object).
    fn customer_message(
        &self,
        wa_id: &str,
        name: Option<&str>,
        message: &CustomerMessage,
        context_id: Option<&str>,
    ) -> Result<(String, Value, Value), SandboxError> {
        if !valid_wa_id(wa_id) {
            return Err(SandboxError::InvalidInput("wa_id must be 7 to 15 digits"));
        }
        message.validate().map_err(SandboxError::InvalidInput)?;
        let media = message.media_kind().map(|(mime, _)| {
            let probe = cast::new_media_id();
            let (id, sha) = self.store_media(content::synthetic_file(mime, &probe), mime, false);
            (id, mime, sha)
        });
        let parts = message
            .to_webhook_parts(media.as_ref().map(|(id, m, sha)| (id.as_str(), *m, sha.as_str())));
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
        let who = Who { wa_id, user_id: &user_id, name: &name };
        let object =
            webhook::message_object(&self.biz, &who, &wamid, now / 1000, context_id, parts);
        Ok((wamid, webhook::contact(&who), object))
    }

    /// A customer sends any message type.
    async fn customer_sends_message(
        &self,
        wa_id: &str,
        name: Option<&str>,
        message: &CustomerMessage,
        context_id: Option<&str>,
    ) -> Result<String, SandboxError> {
        if self.is_shut_down() {
            return Err(SandboxError::ShutDown);
        }
        let (wamid, contact, object) = self.customer_message(wa_id, name, message, context_id)?;
        let body =
            self.biz.envelope(webhook::messages_value(&self.biz, vec![contact], vec![object]));
        self.post_webhook(&body).await?;
        tracing::info!(wamid = %wamid, kind = message.type_name(), reply = context_id.is_some(), "customer message delivered");
        Ok(wamid)
    }

    /// Several customers write at once, and Meta batches it: one POST with
    /// two entries, the first holding several messages in one change.
    async fn burst(&self, count: usize) -> Result<Vec<String>, SandboxError> {
        if self.is_shut_down() {
            return Err(SandboxError::ShutDown);
        }
        let count = count.clamp(1, 100);
        let mut ids = Vec::new();
        let mut changes: Vec<(Vec<Value>, Vec<Value>)> = vec![(Vec::new(), Vec::new()); 2];
        for i in 0..count {
            let who = &self.cast[i % self.cast.len()];
            let script = cast::SCRIPTS[who.script];
            let text = CustomerMessage::Text { text: script[i % script.len()].to_owned() };
            let (id, contact, object) =
                self.customer_message(&who.wa_id, Some(&who.name), &text, None)?;
            let slot = usize::from(i * 2 >= count && count > 1);
            if !changes[slot].0.contains(&contact) {
                changes[slot].0.push(contact);
            }
            changes[slot].1.push(object);
            ids.push(id);
        }
        let bodies: Vec<Value> = changes
            .into_iter()
            .filter(|(_, messages)| !messages.is_empty())
            .map(|(contacts, messages)| {
                self.biz.envelope(webhook::messages_value(&self.biz, contacts, messages))
            })
            .collect();
        self.post_webhook(&webhook::batch(&bodies)).await?;
        tracing::info!(count, "burst delivered in one webhook");
        Ok(ids)
    }

    /// An Instagram customer writes (or reacts, or unsends).
    async fn instagram_customer_sends(
        &self,
        igsid: &str,
        message: &IgCustomerMessage,
    ) -> Result<String, SandboxError> {
        self.instagram_customer_sends_at(igsid, message, now_ms()).await
    }

    /// [`Inner::instagram_customer_sends`] as of `now` (ms), which may be in
    /// the past.
    async fn instagram_customer_sends_at(
        &self,
        igsid: &str,
        message: &IgCustomerMessage,
        now: i64,
    ) -> Result<String, SandboxError> {
        if self.is_shut_down() {
            return Err(SandboxError::ShutDown);
        }
        if igsid.is_empty() || !igsid.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SandboxError::InvalidInput("an IGSID is digits"));
        }
        if let IgCustomerMessage::Text { text } | IgCustomerMessage::StoryReply { text } = message {
            if text.trim().is_empty() {
                return Err(SandboxError::InvalidInput("text must not be empty"));
            }
        }
        let mid = match message {
            IgCustomerMessage::Delete { mid } => mid.clone(),
            _ => cast::new_ig_mid(),
        };
        let media_url = message.media_kind().map(|(mime, _)| {
            let (id, _) = self.store_media(content::synthetic_file(mime, &mid), mime, true);
            format!("{}/_sandbox/media/{id}/file", self.self_url)
        });
        let story_url = format!("{}/_sandbox/media/story/file", self.self_url);
        if !matches!(message, IgCustomerMessage::Delete { .. }) {
            let mut st = lock(&self.state);
            st.ig_customers
                .entry(igsid.to_owned())
                .or_insert(IgCustomer { last_inbound_ms: None })
                .last_inbound_ms = Some(now);
        }
        let parts = message.to_item_parts(&mid, media_url.as_deref(), &story_url);
        let item = webhook::instagram_item(igsid, &self.config.instagram_account_id, now, parts);
        let body = webhook::instagram(&self.config.instagram_account_id, now, vec![item]);
        self.post_webhook(&body).await?;
        tracing::info!(mid = %mid, "instagram customer event delivered");
        Ok(mid)
    }

    /// Accept an outbound message: window check, id, bookkeeping.
    fn accept(&self, mut out: Outbound) -> Result<(SentMessage, StatusJob), GraphError> {
        let now = now_ms();
        let mut st = lock(&self.state);
        if let Some(bsuid) = &out.user_id {
            out.wa_id = st
                .customers
                .iter()
                .find(|(_, c)| &c.user_id == bsuid)
                .map(|(wa_id, _)| wa_id.clone())
                .ok_or_else(|| {
                    GraphError::invalid_parameter(
                        "The parameter recipient does not name a user of this business.",
                    )
                })?;
        }
        while st.recent_sends.front().is_some_and(|t| now - t >= 1000) {
            st.recent_sends.pop_front();
        }
        if st.recent_sends.len() >= self.config.max_msgs_per_sec as usize {
            st.limits.rate_limited += 1;
            return Err(GraphError::rate_limited(self.config.max_msgs_per_sec));
        }
        if out.is_template() {
            manage::check_template(&st.templates, &out.body)?;
        }
        let in_window = st
            .customers
            .get(&out.wa_id)
            .and_then(|c| c.last_inbound_ms)
            .is_some_and(|t| now - t < WINDOW_MS);
        if !out.is_template() && !in_window {
            return Err(GraphError::window_closed());
        }
        if let Some(limit) = self.config.pair_limit {
            let burst = f64::from(limit.burst.max(1));
            let every_ms = limit.every.as_millis().max(1) as f64;
            let (tokens, last) = st.pair_buckets.entry(out.wa_id.clone()).or_insert((burst, now));
            *tokens = (*tokens + (now - *last) as f64 / every_ms).min(burst);
            *last = now;
            if *tokens < 1.0 {
                st.limits.pair_limited += 1;
                return Err(GraphError::pair_limited());
            }
            *tokens -= 1.0;
        }
        st.recent_sends.push_back(now);
        let is_template = out.is_template();
        let is_audio = out.kind == "audio";
        let callback_data =
            out.body.get("biz_opaque_callback_data").and_then(Value::as_str).map(str::to_owned);
        let reaction = SentReaction::of(&out.kind, &out.body);
        // Meta delivers reactions only to messages the number received.
        let undeliverable_reaction =
            reaction.as_ref().is_some_and(|r| !st.inbound.contains(&r.message_id));
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
            channel: whatsapp_channel(),
            reaction,
        };
        let job = StatusJob {
            wamid: sent.id.clone(),
            wa_id: out.wa_id,
            user_id: c.user_id.clone(),
            conversation_id: conversation.id.clone(),
            conversation_expires_s: conversation.expires_ms / 1000,
            is_template,
            is_audio,
            is_reaction: sent.reaction.is_some(),
            undeliverable_reaction,
            customer_answers: c.last_inbound_ms.is_some() && sent.reaction.is_none(),
            callback_data: callback_data.clone(),
        };
        c.conversation = Some(conversation);
        // Simulated customers react to the business's messages, not to its
        // reactions.
        if sent.reaction.is_none() {
            st.last_business_message.insert(sent.to.clone(), sent.id.clone());
        }
        st.sent.push(sent.clone());
        Ok((sent, job))
    }

    /// Accept an Instagram send: the 24 h window, or 7 days for a human
    /// agent with the `HUMAN_AGENT` tag.
    fn accept_instagram(&self, out: IgOutbound) -> Result<SentMessage, GraphError> {
        let now = now_ms();
        let mut st = lock(&self.state);
        let last =
            st.ig_customers.get(&out.igsid).and_then(|c| c.last_inbound_ms).ok_or_else(|| {
                // Businesses cannot start Instagram conversations.
                GraphError::invalid_parameter(
                    "No matching user found: this person has not messaged the account.",
                )
            })?;
        let since = now - last;
        let allowed =
            since < WINDOW_MS || (out.human_agent && since < HUMAN_AGENT_WINDOW.as_millis() as i64);
        if !allowed {
            return Err(GraphError::ig_outside_window());
        }
        let sent = SentMessage {
            id: cast::new_ig_mid(),
            to: out.igsid,
            kind: out.kind,
            text: out.text,
            reply_to: None,
            at_ms: now,
            body: out.body,
            channel: "instagram".into(),
            reaction: None,
        };
        st.last_business_message.insert(sent.to.clone(), sent.id.clone());
        st.sent.push(sent.clone());
        Ok(sent)
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
    is_audio: bool,
    /// Meta reports only `sent` for a reaction, never delivered or read.
    is_reaction: bool,
    /// A reaction to a message the customer did not send: accepted, then
    /// reported failed with error 131009, as Meta does.
    undeliverable_reaction: bool,
    /// Only people who have written before answer back unprompted.
    customer_answers: bool,
    /// Echoed in every status, as Meta does.
    callback_data: Option<String>,
}

/// Walk one message through `sent → delivered → read` (or `sent → failed`),
/// one webhook at a time, so the relay sees them in order unless the
/// out-of-order fault is on; then maybe have the customer answer.
async fn run_statuses(inner: Arc<Inner>, job: StatusJob) {
    let faults = inner.faults();
    let failed = faults.status_failure_rate > 0.0
        && lock(&inner.fault_rng).gen_bool(faults.status_failure_rate.clamp(0.0, 1.0));
    let mut steps: Vec<Status> = if failed {
        vec![Status::Sent, Status::Failed]
    } else if job.undeliverable_reaction {
        vec![Status::Failed]
    } else if job.is_reaction {
        vec![Status::Sent]
    } else if job.is_audio {
        // Voice messages report being played after being read.
        vec![Status::Sent, Status::Delivered, Status::Read, Status::Played]
    } else {
        vec![Status::Sent, Status::Delivered, Status::Read]
    };
    let mut bodies = Vec::new();
    for status in &steps {
        tokio::time::sleep(inner.config.status_delay).await;
        let mut body = webhook::status(
            &inner.biz,
            *status,
            &StatusInfo {
                wamid: &job.wamid,
                wa_id: &job.wa_id,
                user_id: &job.user_id,
                timestamp_s: now_ms() / 1000,
                conversation_id: &job.conversation_id,
                conversation_expires_s: job.conversation_expires_s,
                is_template: job.is_template,
                callback_data: job.callback_data.as_deref(),
            },
        );
        if job.undeliverable_reaction {
            if let Some(errors) = body.pointer_mut("/entry/0/changes/0/value/statuses/0/errors") {
                *errors = json!([{
                    "code": 131009,
                    "title": "Parameter value is not valid",
                    "message": "Parameter value is not valid",
                    "error_data": { "details": "The reacted-to message is not one this number received." },
                }]);
            }
        }
        bodies.push(body);
        if !faults.out_of_order_statuses {
            post_status(&inner, &job.wamid, *status, bodies.pop().as_ref()).await;
        }
    }
    if faults.out_of_order_statuses {
        // Newest first: the core must never move a status backwards.
        steps.reverse();
        bodies.reverse();
        for (status, body) in steps.iter().zip(&bodies) {
            post_status(&inner, &job.wamid, *status, Some(body)).await;
        }
    }
    if failed {
        return;
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

async fn post_status(inner: &Inner, wamid: &str, status: Status, body: Option<&Value>) {
    let Some(body) = body else { return };
    // A status the relay never took is lost, as it would be once Meta
    // gives up; the next one still goes out.
    if let Err(e) = inner.post_webhook(body).await {
        tracing::warn!(wamid = %wamid, status = status.as_str(), error = %e, "status webhook dropped");
    }
}

/// Instagram has no delivery statuses; the customer reading the message is
/// the one receipt, sent as a `read` messaging item.
async fn run_instagram_read(inner: Arc<Inner>, igsid: String, mid: String) {
    tokio::time::sleep(inner.config.status_delay * 2).await;
    let now = now_ms();
    let item = webhook::instagram_item(
        &igsid,
        &inner.config.instagram_account_id,
        now,
        json!({ "read": { "mid": mid } }),
    );
    let body = webhook::instagram(&inner.config.instagram_account_id, now, vec![item]);
    if let Err(e) = inner.post_webhook(&body).await {
        tracing::warn!(error = %e, "instagram read webhook dropped");
    }
}

/// Simulated customers writing in on their own, deterministically per seed.
async fn run_auto_chat(inner: Arc<Inner>, every: Duration) {
    let mut rng = StdRng::seed_from_u64(inner.config.seed ^ 0x5eed_c4a7);
    let mut progress = vec![0usize; inner.cast.len()];
    let mut ig_progress = vec![0usize; inner.ig_cast.len()];
    // The first customer shows up sooner, so a fresh demo is not empty.
    let mut wait = every / 4;
    let mut tick = 0u64;
    loop {
        tokio::time::sleep(wait).await;
        wait = every.mul_f64(rng.gen_range(0.5..1.5));
        tick += 1;
        if inner.config.varied_chat && !inner.ig_cast.is_empty() && rng.gen_bool(0.3) {
            let i = rng.gen_range(0..inner.ig_cast.len());
            let who = &inner.ig_cast[i];
            let script = cast::SCRIPTS[who.script];
            let line = script[ig_progress[i] % script.len()].to_owned();
            ig_progress[i] += 1;
            let last = lock(&inner.state).last_business_message.get(&who.igsid).cloned();
            let message = varied_instagram(&mut rng, line, last);
            if let Err(e) = inner.instagram_customer_sends(&who.igsid, &message).await {
                tracing::warn!(error = %e, "simulated instagram message not delivered");
            }
            continue;
        }
        if inner.config.varied_chat && tick.is_multiple_of(9) {
            if let Err(e) = inner.burst(3).await {
                tracing::warn!(error = %e, "simulated burst not delivered");
            }
            continue;
        }
        let i = rng.gen_range(0..inner.cast.len());
        let who = &inner.cast[i];
        let script = cast::SCRIPTS[who.script];
        let line = script[progress[i] % script.len()];
        progress[i] += 1;
        let message = if inner.config.varied_chat {
            let last = lock(&inner.state).last_business_message.get(&who.wa_id).cloned();
            varied_whatsapp(&mut rng, line.to_owned(), last)
        } else {
            CustomerMessage::Text { text: line.to_owned() }
        };
        if let Err(e) =
            inner.customer_sends_message(&who.wa_id, Some(&who.name), &message, None).await
        {
            tracing::warn!(error = %e, "simulated customer message not delivered");
        }
    }
}

/// Mostly the script's text, sometimes every other kind of message.
fn varied_whatsapp(
    rng: &mut StdRng,
    line: String,
    last_business: Option<String>,
) -> CustomerMessage {
    match rng.gen_range(0..20) {
        0 | 1 => CustomerMessage::Image { caption: Some("Here is a photo".into()) },
        2 => CustomerMessage::Voice,
        3 => CustomerMessage::Location {
            latitude: -23.5614,
            longitude: -46.6559,
            name: Some("Avenida Paulista".into()),
            address: Some("Av. Paulista, 1578, São Paulo".into()),
        },
        4 => CustomerMessage::Document { filename: "receipt.pdf".into(), caption: None },
        5 => CustomerMessage::Sticker { animated: rng.gen_bool(0.5) },
        6 => {
            CustomerMessage::Contacts { name: "Marta Lima".into(), phone: "+1 555 010 2000".into() }
        }
        7 => match last_business {
            Some(id) => CustomerMessage::Reaction { message_id: id, emoji: Some("👍".into()) },
            None => CustomerMessage::Text { text: line },
        },
        8 => CustomerMessage::Video { caption: None },
        9 => CustomerMessage::ButtonReply { id: "yes".into(), title: "Yes, please".into() },
        10 => CustomerMessage::Order {
            catalog_id: "300000000000001".into(),
            product_retailer_id: "jacket-blue-m".into(),
            quantity: 1,
            price: 79.9,
        },
        11 => CustomerMessage::Unsupported,
        _ => CustomerMessage::Text { text: line },
    }
}

fn varied_instagram(
    rng: &mut StdRng,
    line: String,
    last_business: Option<String>,
) -> IgCustomerMessage {
    match rng.gen_range(0..10) {
        0 | 1 => IgCustomerMessage::Image,
        2 => IgCustomerMessage::StoryReply { text: "Love this! Is it still available?".into() },
        3 => match last_business {
            Some(mid) => IgCustomerMessage::Reaction { mid, emoji: Some("❤️".into()) },
            None => IgCustomerMessage::Text { text: line },
        },
        4 => IgCustomerMessage::Video,
        _ => IgCustomerMessage::Text { text: line },
    }
}

// ---------------------------------------------------------------- HTTP

/// Shared start of every Graph endpoint: token, version, then the faults
/// that hit any request (slowness, 5xx).
// The error is the finished answer, returned by the handler at once; boxing
// it would buy nothing.
#[allow(clippy::result_large_err)]
async fn graph_gate(inner: &Inner, headers: &HeaderMap, version: &str) -> Result<(), Response> {
    let token = graph::bearer(headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()));
    if token != Some(inner.config.access_token.as_str()) {
        tracing::info!("graph request rejected: bad or missing token");
        return Err(GraphError::bad_token().into_response());
    }
    if !graph::is_version(version) {
        return Err(GraphError::unknown_path(&format!("{version}/")).into_response());
    }
    let (slow, bare, meta) = {
        let mut st = lock(&inner.state);
        let f = &mut st.faults;
        let bare = f.bare_server_errors > 0;
        let meta = !bare && f.server_errors > 0;
        if bare {
            f.bare_server_errors -= 1;
        } else if meta {
            f.server_errors -= 1;
        }
        (f.slow_response_ms, bare, meta)
    };
    if slow > 0 {
        tokio::time::sleep(Duration::from_millis(slow)).await;
    }
    if bare {
        return Err((
            StatusCode::BAD_GATEWAY,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>502 Bad Gateway</body></html>",
        )
            .into_response());
    }
    if meta {
        return Err(GraphError::simulated(131000).into_response());
    }
    Ok(())
}

/// The next "fail with code Z" fault, if one is queued.
fn take_fail_next(inner: &Inner) -> Option<GraphError> {
    lock(&inner.state).faults.fail_next.pop_front().map(GraphError::simulated)
}

async fn graph_messages(
    State(inner): State<Arc<Inner>>,
    Path((version, account_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(answer) = graph_gate(&inner, &headers, &version).await {
        return answer;
    }
    if account_id == inner.config.instagram_account_id {
        return instagram_send(&inner, &body).unwrap_or_else(|e| {
            tracing::info!(code = e.code, "instagram send rejected");
            e.into_response()
        });
    }
    if account_id != inner.config.phone_number_id {
        return GraphError::unknown_object(&account_id).into_response();
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
            if let Some(e) = take_fail_next(&inner) {
                return Err(e);
            }
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

fn instagram_send(inner: &Arc<Inner>, body: &[u8]) -> Result<Response, GraphError> {
    let out = graph::parse_instagram(body)?;
    if let Some(e) = take_fail_next(inner) {
        return Err(e);
    }
    let sent = inner.accept_instagram(out)?;
    tracing::info!(mid = %sent.id, kind = %sent.kind, "instagram message accepted");
    inner.spawn_bg(run_instagram_read(Arc::clone(inner), sent.to.clone(), sent.id.clone()));
    Ok(Json(json!({ "recipient_id": sent.to, "message_id": sent.id })).into_response())
}

async fn unknown_route(uri: Uri) -> GraphError {
    GraphError::unknown_path(uri.path().trim_start_matches('/'))
}

#[derive(Deserialize)]
struct CustomerText {
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
    Json(msg): Json<CustomerText>,
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

async fn control_limits(State(inner): State<Arc<Inner>>) -> Json<LimitRefusals> {
    Json(lock(&inner.state).limits)
}

async fn control_sent(State(inner): State<Arc<Inner>>) -> Json<Vec<SentMessage>> {
    Json(lock(&inner.state).sent.clone())
}

async fn control_customers(State(inner): State<Arc<Inner>>) -> Json<Vec<SimCustomer>> {
    Json(inner.cast.clone())
}

/// `POST /_sandbox/customers/{wa_id}/send`: any message type, e.g.
/// `{"type":"image","caption":"hi"}` or `{"type":"reaction","message_id":"wamid…","emoji":"👍"}`.
#[derive(Deserialize)]
struct CustomerSend {
    #[serde(flatten)]
    message: CustomerMessage,
    name: Option<String>,
    /// Quote this (business) message.
    reply_to: Option<String>,
}

async fn control_customer_send(
    State(inner): State<Arc<Inner>>,
    Path(wa_id): Path<String>,
    Json(send): Json<CustomerSend>,
) -> Response {
    match inner
        .customer_sends_message(
            &wa_id,
            send.name.as_deref(),
            &send.message,
            send.reply_to.as_deref(),
        )
        .await
    {
        Ok(id) => Json(json!({ "id": id })).into_response(),
        Err(e) => control_error(e),
    }
}

/// `?ago_secs=N`: the customer wrote N seconds ago (the webhook's
/// timestamps and the sandbox's own window both say so), for tests of a
/// conversation past Instagram's 24 hours.
#[derive(Deserialize, Default)]
struct Ago {
    #[serde(default)]
    ago_secs: u64,
}

async fn control_instagram_send(
    State(inner): State<Arc<Inner>>,
    Path(igsid): Path<String>,
    Query(ago): Query<Ago>,
    Json(message): Json<IgCustomerMessage>,
) -> Response {
    let at = now_ms() - (ago.ago_secs.min(30 * 24 * 3600) * 1000) as i64;
    match inner.instagram_customer_sends_at(&igsid, &message, at).await {
        Ok(id) => Json(json!({ "id": id })).into_response(),
        Err(e) => control_error(e),
    }
}

async fn control_instagram_customers(State(inner): State<Arc<Inner>>) -> Json<Vec<SimIgCustomer>> {
    Json(inner.ig_cast.clone())
}

async fn control_instagram_rewind(
    State(inner): State<Arc<Inner>>,
    Path(igsid): Path<String>,
    Json(r): Json<Rewind>,
) -> Response {
    let control = SandboxControl { inner };
    if control.rewind_instagram_window(&igsid, Duration::from_secs(r.secs)) {
        Json(json!({ "success": true })).into_response()
    } else {
        control_error(SandboxError::InvalidInput("no such customer"))
    }
}

#[derive(Deserialize)]
struct Burst {
    count: usize,
}

async fn control_burst(State(inner): State<Arc<Inner>>, Json(b): Json<Burst>) -> Response {
    match inner.burst(b.count).await {
        Ok(ids) => Json(json!({ "ids": ids })).into_response(),
        Err(e) => control_error(e),
    }
}

async fn control_get_faults(State(inner): State<Arc<Inner>>) -> Json<Faults> {
    Json(inner.faults())
}

async fn control_set_faults(
    State(inner): State<Arc<Inner>>,
    Json(f): Json<Faults>,
) -> Json<Faults> {
    lock(&inner.state).faults = f.clone();
    Json(f)
}

#[derive(Deserialize)]
struct FailNext {
    code: i64,
    #[serde(default = "one")]
    count: u32,
}

fn one() -> u32 {
    1
}

async fn control_fail_next(
    State(inner): State<Arc<Inner>>,
    Json(f): Json<FailNext>,
) -> Json<Faults> {
    SandboxControl { inner: Arc::clone(&inner) }.fail_next(f.code, f.count);
    Json(inner.faults())
}

#[derive(Deserialize)]
struct SinceMs {
    since_ms: Option<i64>,
}

async fn control_sent_since(
    State(inner): State<Arc<Inner>>,
    Query(q): Query<SinceMs>,
) -> Json<Vec<SentMessage>> {
    let since = q.since_ms.unwrap_or(i64::MIN);
    Json(lock(&inner.state).sent.iter().filter(|m| m.at_ms >= since).cloned().collect())
}

#[derive(Deserialize)]
struct QualityBody {
    language: String,
    score: String,
}

async fn control_template_quality(
    State(inner): State<Arc<Inner>>,
    Path(name): Path<String>,
    Json(q): Json<QualityBody>,
) -> StatusCode {
    if manage::set_quality(&inner, &name, &q.language, &q.score).await {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/{version}/{account_id}/messages", post(graph_messages))
        .route("/{version}/{account_id}/media", post(manage::upload_media))
        .route("/{version}/{object_id}", get(manage::media_info).post(manage::upload_data))
        .route("/{version}/{app_id}/uploads", post(manage::upload_session))
        .route(
            "/{version}/{waba_id}/message_templates",
            get(manage::list_templates)
                .post(manage::create_template)
                .delete(manage::delete_template),
        )
        .route(
            "/{version}/{phone_number_id}/whatsapp_business_profile",
            get(manage::get_profile).post(manage::update_profile),
        )
        .route("/{version}/{waba_id}/phone_numbers", get(manage::phone_numbers))
        .route("/_sandbox/media/{id}/file", get(manage::media_file))
        .route("/_sandbox/customers", get(control_customers))
        .route("/_sandbox/customers/{wa_id}/messages", post(control_customer_message))
        .route("/_sandbox/customers/{wa_id}/send", post(control_customer_send))
        .route("/_sandbox/customers/{wa_id}/rewind", post(control_rewind))
        .route("/_sandbox/instagram/customers", get(control_instagram_customers))
        .route("/_sandbox/instagram/{igsid}/send", post(control_instagram_send))
        .route("/_sandbox/instagram/{igsid}/rewind", post(control_instagram_rewind))
        .route("/_sandbox/burst", post(control_burst))
        .route("/_sandbox/faults", get(control_get_faults).post(control_set_faults))
        .route("/_sandbox/fail-next", post(control_fail_next))
        .route("/_sandbox/sent", get(control_sent))
        .route("/_sandbox/limits", get(control_limits))
        .route("/_sandbox/sent/since", get(control_sent_since))
        .route("/_sandbox/templates/{name}/quality", post(control_template_quality))
        .fallback(unknown_route)
        .with_state(inner)
}

// ---------------------------------------------------------------- public API

fn base_url_for(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

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
    let self_url = base_url_for(addr);
    let state = SandboxState {
        faults: config.faults.clone(),
        templates: manage::seed_templates(),
        profile: manage::seed_profile(),
        ..SandboxState::default()
    };
    let inner = Arc::new(Inner {
        biz: Business {
            waba_id: config.waba_id.clone(),
            phone_number_id: config.phone_number_id.clone(),
            display_phone_number: config.display_phone_number.clone(),
        },
        cast: cast::cast(config.seed, &config.waba_id),
        ig_cast: cast::instagram_cast(config.seed),
        self_url,
        fault_rng: Mutex::new(StdRng::seed_from_u64(config.seed.rotate_left(29))),
        reply_rng: Mutex::new(StdRng::seed_from_u64(config.seed.rotate_left(17))),
        state: Mutex::new(state),
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
        base_url_for(self.addr)
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

    /// How many sends the rate limits refused so far.
    pub fn limit_refusals(&self) -> LimitRefusals {
        lock(&self.inner.state).limits
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

    /// A customer sends any message type; `reply_to` quotes a business message.
    pub async fn customer_sends(
        &self,
        wa_id: &str,
        message: &CustomerMessage,
        reply_to: Option<&str>,
    ) -> Result<String, SandboxError> {
        self.inner.customer_sends_message(wa_id, None, message, reply_to).await
    }

    /// `count` cast members write at once, delivered as one batched webhook
    /// (several entries, several messages per change). Returns the wamids.
    pub async fn burst(&self, count: usize) -> Result<Vec<String>, SandboxError> {
        self.inner.burst(count).await
    }

    /// An Instagram customer writes, reacts or unsends. Returns the `mid`.
    pub async fn instagram_customer_sends(
        &self,
        igsid: &str,
        message: &IgCustomerMessage,
    ) -> Result<String, SandboxError> {
        self.inner.instagram_customer_sends(igsid, message).await
    }

    /// The simulated Instagram customers for this seed.
    pub fn instagram_customers(&self) -> Vec<SimIgCustomer> {
        self.inner.ig_cast.clone()
    }

    pub fn faults(&self) -> Faults {
        self.inner.faults()
    }

    /// Replace the active faults.
    pub fn set_faults(&self, faults: Faults) {
        lock(&self.inner.state).faults = faults;
    }

    /// Fail the next `count` sends (WhatsApp or Instagram) with Meta's `code`.
    pub fn fail_next(&self, code: i64, count: u32) {
        let mut st = lock(&self.inner.state);
        st.faults.fail_next.extend(std::iter::repeat_n(code, count as usize));
    }

    /// Templates as the sandbox holds them: (name, language, status).
    pub fn templates(&self) -> Vec<(String, String, String)> {
        lock(&self.inner.state)
            .templates
            .iter()
            .map(|t| (t.name.clone(), t.language.clone(), t.status.clone()))
            .collect()
    }

    /// Change a template's quality score and send Meta's
    /// `message_template_quality_update`; `false` if there is no such template.
    pub async fn set_template_quality(&self, name: &str, language: &str, score: &str) -> bool {
        manage::set_quality(&self.inner, name, language, score).await
    }

    /// The bytes of a stored media file (uploads and customer media).
    pub fn media(&self, id: &str) -> Option<Vec<u8>> {
        lock(&self.inner.state).media.get(id).map(|m| m.bytes.clone())
    }

    /// Like [`Self::rewind_window`], for an Instagram customer.
    pub fn rewind_instagram_window(&self, igsid: &str, by: Duration) -> bool {
        let mut st = lock(&self.inner.state);
        match st.ig_customers.get_mut(igsid).and_then(|c| c.last_inbound_ms.as_mut()) {
            Some(t) => {
                *t -= by.as_millis() as i64;
                true
            }
            None => false,
        }
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
