//! Parley's desktop engine.
//!
//! [`Core`] is the one entry point the Tauri shell and `parleyctl` use. It
//! owns a profile's encrypted store, its secrets (through [`SecretStore`]),
//! the sync loop that pulls sealed webhooks from the relay, and the outbox
//! worker that sends replies through the Graph API. Every change it makes is
//! also pushed as an [`InboxEvent`] to subscribers, so the UI never polls.

pub mod campaigns;
mod channels;
mod contact_book;
mod contacts_csv;
pub mod errors;
pub mod lock;
mod media_task;
pub mod notify;
pub mod privacy;
pub mod profile;
pub mod relay_client;
pub mod secrets;
pub mod store;
mod sync;
pub mod templates;
mod worker;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parley_meta::graph::{GraphClient, GraphConfig};
use parley_protocol::{DeviceSecretKey, EnrollRequest};
use parley_types::contact::{ContactDetails, ContactUpdate};
use parley_types::{
    AppInfo, ConversationSummary, InboxEvent, Message, NotificationContent, ReactRequest,
    SearchHit, SendTextRequest, SyncState, MAX_TEXT_CHARS,
};
use tokio::sync::{broadcast, watch, Notify};
use zeroize::Zeroizing;

pub use channels::{business_graph_settings, check_business, graph_refusal, ConnectError};
pub use errors::CoreError;
pub use notify::{DesktopNotifier, NoNotifier, Notification, Notifier, OpenHandler};
pub use profile::{GraphSettings, Profile, ProfileConfig, ProfileLock};
pub use relay_client::{RelayClient, RelayError};
pub use secrets::{InMemorySecretStore, KeyringStore, SecretName, SecretStore};
pub use store::{DbKey, ExportReport, Inventory, PurgeReport, Store};
pub use sync::SyncReport;

const SETTING_NOTIFICATIONS: &str = "notifications.content";

/// How many conversations the list shows at first.
pub use parley_types::CONVERSATION_PAGE;
/// How many messages of a thread are loaded at first.
pub use parley_types::MESSAGE_PAGE;
/// How many search hits are returned.
pub const SEARCH_PAGE: usize = 100;

/// The engine of one profile. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Core {
    inner: Arc<Inner>,
}

struct Inner {
    profile: Profile,
    config: Mutex<ProfileConfig>,
    secrets: Arc<dyn SecretStore>,
    notifier: Arc<dyn Notifier>,
    store: Store,
    http: reqwest::Client,
    events: broadcast::Sender<InboxEvent>,
    sync_state: watch::Sender<SyncState>,
    outbox_wake: Notify,
    /// Wakes the campaign sender (a campaign was created or resumed).
    campaign_wake: Notify,
    /// Bumped on every pause, resume and cancel, so a sending campaign
    /// re-reads its state before the next send.
    campaign_control: watch::Sender<u64>,
    /// Cuts the sync loop's backoff short ("Reconnect").
    sync_wake: Notify,
    /// Built on first use from the config and the keyring; dropped when
    /// either changes.
    graph: Mutex<Option<Arc<GraphClient>>>,
    relay: Mutex<Option<Arc<sync::RelayLink>>>,
    /// Held by the one media download run at a time.
    media_lock: tokio::sync::Mutex<()>,
    stop: watch::Sender<bool>,
    /// The app lock (see [`lock`]).
    gate: lock::Gate,
    _lock: profile::ProfileLock,
}

/// Far above any message Meta accepts (4,096 characters of text), so only a
/// runaway paste is refused.
pub const MAX_DRAFT_BYTES: usize = 64 * 1024;

pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Core {
    /// Open the profile in `dir` with the OS keyring as its secret store.
    pub fn open_with_keyring(dir: &Path, notifier: Arc<dyn Notifier>) -> Result<Core, CoreError> {
        let profile = Profile::open(dir)?;
        let secrets = Arc::new(KeyringStore::new(profile.id()));
        Core::open(profile, secrets, notifier)
    }

    /// Open a profile: fetch (or, on first run, create) the database key,
    /// open and migrate the database, and settle sends a crash interrupted.
    pub fn open(
        profile: Profile,
        secrets: Arc<dyn SecretStore>,
        notifier: Arc<dyn Notifier>,
    ) -> Result<Core, CoreError> {
        let lock = profile.lock()?;
        let config = profile.load_config()?;
        let key = database_key(&profile, secrets.as_ref())?;
        let store = Store::open(&profile.database_path(), &key)?;
        drop(key);
        let gate = lock::load(&store)?;
        let unconfirmed = store.recover_campaigns()?;
        if unconfirmed > 0 {
            tracing::warn!(count = unconfirmed, "campaign sends interrupted by a crash settled");
        }
        let interrupted = store.recover_outbox()?;
        if !interrupted.is_empty() {
            tracing::warn!(count = interrupted.len(), "sends interrupted by a crash marked failed");
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("parley/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CoreError::Http(e.to_string()))?;
        let (events, _) = broadcast::channel(1024);
        let (sync_state, _) = watch::channel(SyncState::Idle);
        let (stop, _) = watch::channel(false);
        Ok(Core {
            inner: Arc::new(Inner {
                profile,
                config: Mutex::new(config),
                secrets,
                notifier,
                store,
                http,
                events,
                sync_state,
                outbox_wake: Notify::new(),
                campaign_wake: Notify::new(),
                campaign_control: watch::channel(0).0,
                sync_wake: Notify::new(),
                graph: Mutex::new(None),
                relay: Mutex::new(None),
                media_lock: tokio::sync::Mutex::new(()),
                stop,
                gate,
                _lock: lock,
            }),
        })
    }

    pub fn profile(&self) -> &Profile {
        &self.inner.profile
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn config(&self) -> ProfileConfig {
        self.inner.config.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update_config(&self, change: impl FnOnce(&mut ProfileConfig)) -> Result<(), CoreError> {
        let mut config = self.inner.config.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = config.clone();
        change(&mut next);
        self.inner.profile.save_config(&next)?;
        *config = next;
        Ok(())
    }

    /// Mark this profile as the sandbox's (or not).
    pub fn set_sandbox(&self, sandbox: bool) -> Result<(), CoreError> {
        self.update_config(|c| c.sandbox = sandbox)
    }

    pub fn app_info(&self) -> AppInfo {
        let config = self.config();
        let profile = if config.sandbox { "Sandbox".to_owned() } else { "Parley".to_owned() };
        // An account connected before the welcome screen existed has chosen.
        let connected = !config.sandbox && config.relay_url.is_some() && config.graph.is_some();
        AppInfo { sandbox: config.sandbox, profile, first_run: !config.welcome_done && !connected }
    }

    /// True once the device has a relay and a Graph account to talk to.
    pub fn is_configured(&self) -> bool {
        self.config().is_configured()
    }

    /// Redeem an enrollment `code` at the relay. The device key and relay
    /// token go to the keyring; only the relay URL and ids go to disk.
    pub async fn enroll(
        &self,
        relay_url: &str,
        code: &str,
        device_name: &str,
    ) -> Result<(), CoreError> {
        relay_client::check_relay_url(relay_url).map_err(CoreError::InvalidInput)?;
        let key = DeviceSecretKey::generate();
        let request = EnrollRequest {
            code: code.trim().to_owned(),
            device_name: device_name.to_owned(),
            public_key: key.public_key().to_base64(),
        };
        let answer = RelayClient::enroll(&self.inner.http, relay_url, &request).await.map_err(
            |e| match e {
                RelayError::Refused(why) | RelayError::Rejected(why) => {
                    CoreError::EnrollRefused(why)
                }
                unreachable => CoreError::Relay(unreachable),
            },
        )?;
        let token = Zeroizing::new(answer.token.clone());
        if self.config().tenant_id.as_deref() != Some(answer.tenant_id.as_str()) {
            // Another tenant numbers its events from scratch.
            self.inner.store.reset_relay_cursor()?;
        }
        self.inner.secrets.set(SecretName::DeviceKey, &key.to_bytes()[..])?;
        self.inner.secrets.set(SecretName::RelayToken, token.as_bytes())?;
        self.update_config(|c| {
            c.relay_url = Some(relay_url.trim_end_matches('/').to_owned());
            c.device_id = Some(answer.device_id.clone());
            c.tenant_id = Some(answer.tenant_id.clone());
        })?;
        *self.inner.relay.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(())
    }

    /// Connect this profile to the in-process demo relay and sandbox. The
    /// demo relay keeps its database between runs, so a device enrolled
    /// before only learns the relay's new address; otherwise it enrolls.
    pub async fn attach_sandbox(&self, link: SandboxLink) -> Result<(), CoreError> {
        let config = self.config();
        let has = |name| self.inner.secrets.get(name).map(|v| v.is_some());
        let enrolled = config.tenant_id.as_deref() == Some(link.tenant_id.as_str())
            && has(SecretName::RelayToken)?
            && has(SecretName::DeviceKey)?;
        if enrolled {
            relay_client::check_relay_url(&link.relay_url).map_err(CoreError::InvalidInput)?;
            self.update_config(|c| c.relay_url = Some(link.relay_url.clone()))?;
            *self.inner.relay.lock().unwrap_or_else(|p| p.into_inner()) = None;
        } else {
            self.enroll(&link.relay_url, &link.enrollment_code, "Parley sandbox").await?;
        }
        self.configure_graph(link.graph, link.access_token)?;
        self.set_sandbox(true)
    }

    /// Connect the WhatsApp number replies are sent from.
    pub fn configure_graph(
        &self,
        settings: GraphSettings,
        token: Zeroizing<String>,
    ) -> Result<(), CoreError> {
        // Build once to validate the address and version before saving.
        GraphClient::new(
            GraphConfig { base_url: settings.base_url.clone(), version: settings.version.clone() },
            token.clone(),
        )
        .map_err(|e| CoreError::InvalidInput(e.user_message()))?;
        self.inner.secrets.set(SecretName::GraphToken, token.as_bytes())?;
        self.update_config(|c| c.graph = Some(settings))?;
        *self.inner.graph.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.inner.outbox_wake.notify_one();
        Ok(())
    }

    pub(crate) fn graph_client(&self) -> Result<Arc<GraphClient>, CoreError> {
        let mut cached = self.inner.graph.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = cached.as_ref() {
            return Ok(client.clone());
        }
        let settings = self.config().graph.ok_or(CoreError::NoGraphAccount)?;
        let token =
            self.inner.secrets.get(SecretName::GraphToken)?.ok_or(CoreError::NoGraphAccount)?;
        let token = Zeroizing::new(
            String::from_utf8(token.to_vec())
                .map_err(|_| CoreError::BadSecret("Meta access token"))?,
        );
        let client = GraphClient::new(
            GraphConfig { base_url: settings.base_url, version: settings.version },
            token,
        )
        .map_err(|e| CoreError::InvalidInput(e.user_message()))?;
        let client = Arc::new(client);
        *cached = Some(client.clone());
        Ok(client)
    }

    /// Receive every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<InboxEvent> {
        self.inner.events.subscribe()
    }

    pub(crate) fn emit(&self, event: InboxEvent) {
        // No subscriber is fine: the CLI has none.
        let _ = self.inner.events.send(event);
    }

    pub(crate) fn emit_conversation(&self, id: i64) {
        match self.inner.store.conversation(id) {
            Ok(conversation) => self.emit(InboxEvent::ConversationChanged { conversation }),
            Err(e) => {
                tracing::warn!(conversation = id, error = %e, "changed conversation not readable")
            }
        }
    }

    pub(crate) fn emit_message(&self, id: i64) {
        match self.inner.store.message(id) {
            Ok(message) => self.emit(InboxEvent::MessageChanged { message }),
            Err(e) => tracing::warn!(message = id, error = %e, "changed message not readable"),
        }
    }

    pub fn sync_state(&self) -> SyncState {
        self.inner.sync_state.borrow().clone()
    }

    pub(crate) fn set_sync_state(&self, state: SyncState) {
        let changed = self.inner.sync_state.send_if_modified(|current| {
            if *current == state {
                false
            } else {
                *current = state.clone();
                true
            }
        });
        if changed {
            self.emit(InboxEvent::SyncStateChanged { state });
        }
    }

    pub fn list_conversations(&self) -> Result<Vec<ConversationSummary>, CoreError> {
        self.gate()?;
        Ok(self.inner.store.list_conversations(CONVERSATION_PAGE)?)
    }

    /// The next page of the conversation list: the conversations that sort
    /// after (`last_at`, `id`), the last row the UI has.
    pub fn list_conversations_before(
        &self,
        last_at: i64,
        id: i64,
    ) -> Result<Vec<ConversationSummary>, CoreError> {
        self.gate()?;
        Ok(self.inner.store.list_conversations_before(last_at, id, CONVERSATION_PAGE)?)
    }

    pub fn list_messages(&self, conversation_id: i64) -> Result<Vec<Message>, CoreError> {
        self.gate()?;
        self.inner.store.conversation(conversation_id)?;
        Ok(self.inner.store.list_messages(conversation_id, MESSAGE_PAGE)?)
    }

    /// The page of older messages above `before_message_id`.
    pub fn list_messages_before(
        &self,
        conversation_id: i64,
        before_message_id: i64,
    ) -> Result<Vec<Message>, CoreError> {
        self.gate()?;
        Ok(self.inner.store.list_messages_before(
            conversation_id,
            before_message_id,
            MESSAGE_PAGE,
        )?)
    }

    /// The thread opened at one message (a search hit, however far back):
    /// [`parley_types::AROUND_BEFORE`] older messages, the message and up to
    /// [`parley_types::AROUND_AFTER`] newer ones.
    pub fn list_messages_around(
        &self,
        conversation_id: i64,
        message_id: i64,
    ) -> Result<Vec<Message>, CoreError> {
        self.gate()?;
        Ok(self.inner.store.list_messages_around(
            conversation_id,
            message_id,
            parley_types::AROUND_BEFORE,
            parley_types::AROUND_AFTER,
        )?)
    }

    /// The page of messages newer than `after_message_id`, oldest first.
    pub fn list_messages_after(
        &self,
        conversation_id: i64,
        after_message_id: i64,
    ) -> Result<Vec<Message>, CoreError> {
        self.gate()?;
        Ok(self.inner.store.list_messages_after(conversation_id, after_message_id, MESSAGE_PAGE)?)
    }

    /// Full-text search over every conversation, newest hits first.
    pub fn search(&self, query: &str) -> Result<Vec<SearchHit>, CoreError> {
        self.gate()?;
        let messages = self.inner.store.search(query, SEARCH_PAGE)?;
        let mut conversations = std::collections::HashMap::new();
        let mut hits = Vec::with_capacity(messages.len());
        for message in messages {
            let conversation = match conversations.get(&message.conversation_id) {
                Some(c) => ConversationSummary::clone(c),
                None => {
                    let c = self.inner.store.conversation(message.conversation_id)?;
                    conversations.insert(message.conversation_id, c.clone());
                    c
                }
            };
            hits.push(SearchHit {
                message,
                conversation_title: conversation.title.clone(),
                conversation: Some(conversation),
            });
        }
        Ok(hits)
    }

    /// A stored media file as a `data:` URL, which the UI's CSP allows for
    /// images and which never touches the disk.
    pub fn media_data_url(&self, message_id: i64) -> Result<String, CoreError> {
        self.gate()?;
        use base64::Engine;
        let (mime, bytes) = self.media(message_id)?;
        let mime = mime.filter(|m| m.split('/').count() == 2 && !m.contains([';', ',', ' ']));
        Ok(format!(
            "data:{};base64,{}",
            mime.as_deref().unwrap_or("application/octet-stream"),
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ))
    }

    /// Queue a reply. It is on disk (as "sending") before this returns, and
    /// the outbox worker sends it.
    pub fn send_text(&self, request: &SendTextRequest) -> Result<Message, CoreError> {
        self.gate()?;
        let text = request.text.trim_end();
        if text.trim().is_empty() {
            return Err(CoreError::InvalidInput("the message is empty".into()));
        }
        let chars = text.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(CoreError::InvalidInput(format!(
                "the message is {chars} characters long; WhatsApp allows at most {MAX_TEXT_CHARS}"
            )));
        }
        let conversation = self.inner.store.conversation(request.conversation_id)?;
        if conversation.channel == parley_types::ChannelKind::Instagram
            && text.len() > parley_meta::graph::MAX_INSTAGRAM_TEXT_BYTES
        {
            return Err(CoreError::InvalidInput(format!(
                "the message is {} bytes long; Instagram allows at most {}",
                text.len(),
                parley_meta::graph::MAX_INSTAGRAM_TEXT_BYTES
            )));
        }
        let reply_to = request.reply_to.as_deref().filter(|r| !r.is_empty());
        if conversation.channel == parley_types::ChannelKind::Instagram && reply_to.is_some() {
            // The Instagram send carries no quote yet: refuse rather than
            // show one the customer never sees.
            return Err(CoreError::InvalidInput(
                "quoting a message works on WhatsApp only for now; send the reply without the \
                 quote"
                    .into(),
            ));
        }
        let txn = new_client_txn_id();
        let message = self.inner.store.queue_text(
            request.conversation_id,
            text,
            &txn,
            reply_to,
            now_ms(),
        )??;
        self.emit(InboxEvent::MessageChanged { message: message.clone() });
        self.emit_conversation(request.conversation_id);
        self.inner.outbox_wake.notify_one();
        Ok(message)
    }

    /// React to a customer's message, or remove the agent's reaction (an
    /// empty emoji). The reaction shows at once and is sent by the outbox
    /// worker under the same rules as a reply; if Meta refuses it, the
    /// previous reaction comes back and an `InboxEvent::ReactionFailed`
    /// says why. Returns the message as it shows now.
    pub fn react(&self, request: &ReactRequest) -> Result<Message, CoreError> {
        self.gate()?;
        let emoji = request.emoji.trim();
        if emoji.chars().count() > 16
            || emoji
                .chars()
                .any(|c| c.is_ascii_alphanumeric() || c.is_control() || c.is_whitespace())
        {
            return Err(CoreError::InvalidInput(
                "a reaction is a single emoji; pick one from the list".into(),
            ));
        }
        let conversation =
            self.inner.store.queue_reaction(request.message_id, emoji, now_ms())??;
        let message = self.inner.store.message(request.message_id)?;
        self.emit(InboxEvent::MessageChanged { message: message.clone() });
        self.inner.outbox_wake.notify_one();
        tracing::debug!(conversation, message = request.message_id, "reaction queued");
        Ok(message)
    }

    /// What notifications reveal (see [`NotificationContent`]).
    pub fn notification_content(&self) -> NotificationContent {
        if self.is_locked() {
            // A locked app shows nothing of its messages, not even there.
            return NotificationContent::Hidden;
        }
        match self.inner.store.setting(SETTING_NOTIFICATIONS) {
            Ok(Some(value)) => NotificationContent::parse(&value).unwrap_or_default(),
            Ok(None) => NotificationContent::default(),
            Err(e) => {
                // Fail closed: reveal nothing when the setting is unreadable.
                tracing::warn!(error = %e, "notification setting unreadable; hiding content");
                NotificationContent::Hidden
            }
        }
    }

    pub fn set_notification_content(&self, content: NotificationContent) -> Result<(), CoreError> {
        self.gate()?;
        Ok(self.inner.store.set_setting(SETTING_NOTIFICATIONS, content.as_str())?)
    }

    /// Send a failed message again.
    pub fn retry_message(&self, message_id: i64) -> Result<Message, CoreError> {
        self.gate()?;
        let message =
            self.inner.store.retry_failed(message_id, &new_client_txn_id(), now_ms())??;
        self.emit(InboxEvent::MessageChanged { message: message.clone() });
        self.inner.outbox_wake.notify_one();
        Ok(message)
    }

    /// Remove a failed message.
    pub fn delete_message(&self, message_id: i64) -> Result<(), CoreError> {
        self.gate()?;
        let conversation_id = self.inner.store.delete_failed(message_id)??;
        self.emit(InboxEvent::MessageRemoved { conversation_id, message_id });
        self.emit_conversation(conversation_id);
        Ok(())
    }

    /// Queue a file for a conversation, with an optional caption. Its type
    /// decides how WhatsApp shows it, and the size limit is checked before
    /// anything is stored or uploaded.
    pub fn send_file(
        &self,
        conversation_id: i64,
        filename: &str,
        mime_type: &str,
        bytes: &[u8],
        caption: &str,
    ) -> Result<Message, CoreError> {
        self.gate()?;
        let mime = parley_types::attachment::essence(mime_type);
        if !parley_types::attachment::is_mime_type(&mime) {
            return Err(CoreError::InvalidInput(
                "Parley cannot tell what type of file this is; choose a file with a known type"
                    .into(),
            ));
        }
        if bytes.is_empty() {
            return Err(CoreError::InvalidInput("the file is empty; choose another file".into()));
        }
        let limit = parley_types::attachment::max_upload_bytes(&mime);
        if bytes.len() as u64 > limit {
            return Err(CoreError::InvalidInput(format!(
                "the file is {:.1} MB and WhatsApp takes at most {:.1} MB for this type; choose a smaller file",
                bytes.len() as f64 / 1_048_576.0,
                limit as f64 / 1_048_576.0
            )));
        }
        if caption.chars().count() > parley_types::attachment::MAX_CAPTION_CHARS {
            return Err(CoreError::InvalidInput(format!(
                "a caption may have at most {} characters; shorten it",
                parley_types::attachment::MAX_CAPTION_CHARS
            )));
        }
        let kind = parley_types::attachment::media_kind(&mime);
        // Only the last path component, and nothing a shell would mind.
        let name: String = filename
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or("file")
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        let name = if name.is_empty() { "file".to_owned() } else { name };
        let message = self.inner.store.queue_media(
            conversation_id,
            kind,
            caption.trim(),
            &name,
            &mime,
            bytes,
            &new_client_txn_id(),
            now_ms(),
        )??;
        self.emit(InboxEvent::MessageChanged { message: message.clone() });
        self.emit_conversation(conversation_id);
        self.inner.outbox_wake.notify_one();
        Ok(message)
    }

    /// The contact panel of a conversation: who the customer is, the
    /// agents' notes and labels, the opt-out and a summary of the history.
    pub fn contact_details(&self, conversation_id: i64) -> Result<ContactDetails, CoreError> {
        self.gate()?;
        Ok(self.inner.store.contact_details(conversation_id)?)
    }

    /// Save the agents' notes, labels and opt-out for a customer; returns
    /// the panel as saved (labels cleaned and sorted).
    pub fn update_contact(&self, update: &ContactUpdate) -> Result<ContactDetails, CoreError> {
        self.gate()?;
        parley_types::contact::check_notes(&update.notes).map_err(CoreError::InvalidInput)?;
        parley_types::contact::clean_labels(&update.labels).map_err(CoreError::InvalidInput)?;
        self.inner.store.update_contact(update, now_ms())?;
        Ok(self.inner.store.contact_details(update.conversation_id)?)
    }

    /// Close a conversation (the agent is done with it) or reopen it.
    pub fn set_conversation_closed(
        &self,
        conversation_id: i64,
        closed: bool,
    ) -> Result<(), CoreError> {
        self.gate()?;
        self.inner.store.set_closed(conversation_id, closed, now_ms())?;
        self.emit_conversation(conversation_id);
        Ok(())
    }

    /// Keep the agent's unsent text for a conversation (empty removes it), in
    /// the encrypted database, so it survives switching conversations and
    /// restarts. The conversation list shows it.
    pub fn save_draft(&self, conversation_id: i64, body: &str) -> Result<(), CoreError> {
        self.gate()?;
        if body.len() > MAX_DRAFT_BYTES {
            return Err(CoreError::InvalidInput(format!(
                "This draft is longer than Parley keeps ({} KB). Shorten it, or send it in parts.",
                MAX_DRAFT_BYTES / 1024
            )));
        }
        if self.inner.store.save_draft(conversation_id, body, now_ms())? {
            self.emit_conversation(conversation_id);
        }
        Ok(())
    }

    /// Clear the unread count and send Meta a read receipt in the background.
    pub fn mark_read(&self, conversation_id: i64) -> Result<(), CoreError> {
        self.gate()?;
        let newest = self.inner.store.mark_read(conversation_id)?;
        self.emit_conversation(conversation_id);
        if let (Some(provider_id), Ok(client), Some(settings)) =
            (newest, self.graph_client(), self.config().graph)
        {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    if let Err(e) = client.mark_read(&settings.phone_number_id, &provider_id).await
                    {
                        tracing::info!(code = e.code(), "read receipt not sent");
                    }
                });
            }
        }
        Ok(())
    }

    /// Start the sync loop and the outbox worker on the current Tokio
    /// runtime. They run until [`Core::shutdown`].
    pub fn start(&self) {
        let _ = self.inner.stop.send(false);
        // Files left pending by an earlier run.
        let media = self.clone();
        tokio::spawn(async move { media.fetch_media().await });
        tokio::spawn(self.clone().retention_loop());
        tokio::spawn(self.clone().idle_watch());
        tokio::spawn(sync::run(self.clone()));
        tokio::spawn(worker::run(self.clone()));
        tokio::spawn(campaigns::run(self.clone()));
    }

    /// Ask the background tasks to stop.
    pub fn shutdown(&self) {
        let _ = self.inner.stop.send(true);
        self.inner.outbox_wake.notify_one();
        self.inner.campaign_wake.notify_one();
    }

    /// Resolves once [`Core::shutdown`] was called (for tasks outside the
    /// core that hold a clone, such as the shell's event forwarding).
    pub async fn stopped(&self) {
        let mut stop = self.stop_signal();
        let _ = stop.wait_for(|stopped| *stopped).await;
    }

    /// How many handles to this engine exist (the profile stays locked and
    /// the database open until the last is dropped).
    pub fn handle_count(&self) -> usize {
        Arc::strong_count(&self.inner)
    }

    pub(crate) fn stop_signal(&self) -> watch::Receiver<bool> {
        self.inner.stop.subscribe()
    }

    /// Send every due queued message now, then return (for the CLI).
    pub async fn flush_outbox(&self) -> Result<usize, CoreError> {
        worker::drain(self).await
    }
}

/// Everything [`Core::attach_sandbox`] needs from a running demo.
pub struct SandboxLink {
    pub relay_url: String,
    pub tenant_id: String,
    /// Used only when this profile is not enrolled with that tenant yet.
    pub enrollment_code: String,
    pub graph: GraphSettings,
    pub access_token: Zeroizing<String>,
}

pub(crate) fn new_client_txn_id() -> String {
    let mut bytes = [0u8; 16];
    rand::Rng::fill(&mut rand::rngs::OsRng, &mut bytes[..]);
    format!("txn-{}", hex::encode(bytes))
}

/// The profile's database key. Created only when there is no database yet:
/// a database without its key is reported, never silently replaced, because
/// a new key would make every stored message unreadable.
fn database_key(profile: &Profile, secrets: &dyn SecretStore) -> Result<DbKey, CoreError> {
    match secrets.get(SecretName::DatabaseKey)? {
        Some(bytes) => DbKey::from_bytes(&bytes).ok_or(CoreError::BadSecret("database key")),
        None if profile.database_path().exists() => Err(CoreError::MissingDatabaseKey),
        None => {
            let key = DbKey::generate();
            secrets.set(SecretName::DatabaseKey, key.as_bytes())?;
            Ok(key)
        }
    }
}

#[cfg(test)]
mod tests;
