//! Types shared by the desktop core and the Yew UI.
//!
//! Architecture invariant: this crate does no I/O and depends on nothing but
//! `serde`, so it compiles for `wasm32-unknown-unknown` as well as the host.
//! Everything that crosses the Tauri IPC boundary is defined here, once.

use serde::{Deserialize, Serialize};

pub mod attachment;
pub mod campaign;
pub mod contact;
pub mod contact_book;
pub mod contacts_csv;
pub mod onboarding;
pub mod template;
pub mod template_builder;

/// Milliseconds since the Unix epoch, UTC.
pub type UnixMillis = i64;

/// The messaging network a channel or conversation belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Whatsapp,
    Instagram,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the customer to the business.
    Inbound,
    /// From the business (an agent) to the customer.
    Outbound,
}

/// Delivery state of an outbound message.
///
/// The order of the variants is the order of progress: a status never moves
/// backwards, and `Failed` is terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Queued locally, not yet accepted by Meta.
    Sending,
    /// Meta answered 200: accepted, outcome pending.
    Accepted,
    Sent,
    Delivered,
    Read,
    Failed,
}

impl DeliveryStatus {
    /// Stable lowercase name, as stored and as Meta spells the webhook states.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Accepted => "accepted",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Read => "read",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// Parse the stored or webhook spelling. `played` (voice messages) counts as read.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sending" => DeliveryStatus::Sending,
            "accepted" => DeliveryStatus::Accepted,
            "sent" => DeliveryStatus::Sent,
            "delivered" => DeliveryStatus::Delivered,
            "read" | "played" => DeliveryStatus::Read,
            "failed" => DeliveryStatus::Failed,
            _ => return None,
        })
    }

    /// Whether moving from `self` to `next` is progress. Failed is terminal;
    /// a late `delivered` never overrides `read`.
    pub fn may_advance_to(self, next: DeliveryStatus) -> bool {
        self != DeliveryStatus::Failed && next > self
    }
}

/// One row of the conversation list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub id: i64,
    pub channel: ChannelKind,
    /// The contact's display name, or their handle when no name is known.
    pub title: String,
    /// The customer's address on the channel (phone number or IGSID).
    pub handle: String,
    pub last_preview: String,
    pub last_at: UnixMillis,
    pub unread: u32,
    /// When the 24-hour customer-service window closes; `None` if the customer
    /// never wrote. Free-form messages are allowed only before this instant.
    pub window_expires_at: Option<UnixMillis>,
    /// The agent's unsent text in this conversation, if any.
    #[serde(default)]
    pub draft: Option<String>,
    /// An agent closed it (done); the customer writing again reopens it.
    #[serde(default)]
    pub closed: bool,
}

/// One message in a thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: i64,
    pub conversation_id: i64,
    /// Meta's id (`wamid…` or Instagram `mid`); `None` until Meta accepted it.
    pub provider_id: Option<String>,
    pub direction: Direction,
    /// Meta's message type (`text`, `image`, …).
    pub kind: String,
    /// The text, caption or a plain description of the content.
    pub body: String,
    pub sent_at: UnixMillis,
    /// Only meaningful for outbound messages.
    pub status: Option<DeliveryStatus>,
    /// A sentence the agent can act on when `status` is `Failed`.
    pub error: Option<String>,
    /// The provider id of the message this one quotes.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Current reactions, at most one per side.
    #[serde(default)]
    pub reactions: Vec<Reaction>,
    /// The sender unsent it: the content is gone, only the fact remains.
    #[serde(default)]
    pub deleted: bool,
    /// The attached file, for media messages.
    #[serde(default)]
    pub media: Option<MediaAttachment>,
    /// WhatsApp marks messages the customer forwarded.
    #[serde(default)]
    pub forwarded: Forwarded,
    /// Where a `location` message points.
    #[serde(default)]
    pub location: Option<GeoPoint>,
}

/// A point on the map, in degrees (WGS 84), as WhatsApp shares it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    pub latitude: f64,
    pub longitude: f64,
}

/// Whether a message was forwarded to the business, as WhatsApp reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Forwarded {
    #[default]
    No,
    /// "Forwarded".
    Once,
    /// "Forwarded many times" (WhatsApp's `frequently_forwarded`).
    Many,
}

/// A media file attached to a message. The bytes stay in the encrypted
/// database; the UI asks for them separately.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaAttachment {
    pub mime_type: Option<String>,
    pub filename: Option<String>,
    pub size: Option<u64>,
    pub state: MediaState,
    /// Why the download failed, in words, when `state` is `Failed`.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaState {
    /// Being downloaded from Meta.
    Pending,
    /// Downloaded, verified and stored encrypted.
    Stored,
    Failed,
}

/// An emoji reaction on a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub emoji: String,
    /// Who reacted: the customer, or the business (an agent).
    pub by: Direction,
}

/// How much a desktop notification reveals. Notifications end up in the
/// desktop's notification history, outside the encrypted database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationContent {
    /// The sender's name and a preview of the message.
    #[default]
    Full,
    /// The sender's name only.
    SenderOnly,
    /// Only that a message arrived.
    Hidden,
}

impl NotificationContent {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationContent::Full => "full",
            NotificationContent::SenderOnly => "sender_only",
            NotificationContent::Hidden => "hidden",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "full" => Some(NotificationContent::Full),
            "sender_only" => Some(NotificationContent::SenderOnly),
            "hidden" => Some(NotificationContent::Hidden),
            _ => None,
        }
    }
}

/// The state of the connection to the relay, always visible in the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SyncState {
    Idle,
    Connecting,
    Running,
    /// Temporarily unreachable; retrying.
    Offline {
        reason: String,
        retry_in_secs: u64,
    },
    /// Needs the user's action (for example the device was revoked).
    Error {
        reason: String,
    },
}

/// Changes pushed from the core to the UI after it loaded a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InboxEvent {
    ConversationChanged {
        conversation: ConversationSummary,
    },
    MessageChanged {
        message: Message,
    },
    /// A failed message the agent deleted.
    MessageRemoved {
        conversation_id: i64,
        message_id: i64,
    },
    /// The agent's reaction on this message could not be sent; the message
    /// shows the reaction it had before again (a `MessageChanged` follows).
    ReactionFailed {
        conversation_id: i64,
        message_id: i64,
        /// A sentence the agent can act on.
        error: String,
    },
    /// The agent clicked a desktop notification: show this conversation.
    OpenConversation {
        conversation_id: i64,
    },
    SyncStateChanged {
        state: SyncState,
    },
    /// A customer's data was erased: the conversation is gone.
    ConversationRemoved {
        conversation_id: i64,
    },
    /// The app lock engaged (idle time passed, or the agent locked it).
    /// Every data command is refused until `unlock`.
    Locked,
    /// A running export wrote `done` of `total` rows and files.
    ExportProgress {
        done: u64,
        total: u64,
    },
    /// A campaign's state or totals changed (at most a few times a second
    /// while it sends).
    CampaignChanged {
        campaign: campaign::CampaignSummary,
    },
    /// A running contacts import saved `done` of `total` rows.
    ContactsImportProgress {
        done: u64,
        total: u64,
    },
    /// Contacts were created, changed, merged or deleted.
    ContactsChanged,
    /// A template's status, quality or category changed (Meta's review
    /// webhooks): lists of templates should be fetched again.
    TemplatesChanged,
}

/// The name of the single Tauri event that carries [`InboxEvent`]s.
pub const INBOX_EVENT: &str = "inbox";

/// One full-text search hit: the message and where it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub message: Message,
    /// The conversation's title, to show beside the hit.
    pub conversation_title: String,
    /// The hit's conversation, so it opens even when the list has not paged
    /// that far yet.
    #[serde(default)]
    pub conversation: Option<ConversationSummary>,
}

/// Request of the `send_text` command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendTextRequest {
    pub conversation_id: i64,
    pub text: String,
    /// Quote this message (its provider id) in the reply.
    #[serde(default)]
    pub reply_to: Option<String>,
}

/// Request of the `react` command: the agent's reaction on a customer's
/// message. An empty `emoji` removes the agent's reaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactRequest {
    /// The local id of the reacted-to message.
    pub message_id: i64,
    pub emoji: String,
}

/// The reactions the composer offers.
pub const QUICK_REACTIONS: [&str; 6] = ["👍", "❤️", "😂", "😮", "😢", "🙏"];

/// What the app is connected to, shown in the header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppInfo {
    /// True when talking to the built-in sandbox rather than Meta.
    pub sandbox: bool,
    pub profile: String,
    /// True until the user chose on the welcome screen ("Try the sandbox"
    /// or "Connect your business").
    #[serde(default)]
    pub first_run: bool,
}

/// Stable error codes the UI can branch on without matching strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    NotFound,
    InvalidInput,
    /// The 24-hour window is closed; only a template may be sent.
    WindowClosed,
    /// Meta or the network refused for now; retrying later may work.
    RetryLater,
    /// Credentials are missing or expired; the user must reconnect.
    Reconnect,
    Storage,
    Internal,
    /// The app lock is on: unlock with the passphrase first.
    Locked,
}

/// The only error type that crosses the IPC boundary: a code for the UI to
/// branch on and a sentence for the agent to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpcError {
    pub code: ErrorCode,
    pub message: String,
}

impl IpcError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        IpcError { code, message: message.into() }
    }
}

impl std::fmt::Display for IpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for IpcError {}

/// How long messages and media are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RetentionPeriod {
    Days { days: u32 },
    Forever,
}

impl RetentionPeriod {
    /// `None` for forever.
    pub fn days(self) -> Option<u32> {
        match self {
            RetentionPeriod::Days { days } => Some(days),
            RetentionPeriod::Forever => None,
        }
    }
}

/// The global retention period and the per-channel overrides (`None`
/// follows the global one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionSettings {
    pub global: RetentionPeriod,
    pub whatsapp: Option<RetentionPeriod>,
    pub instagram: Option<RetentionPeriod>,
}

impl RetentionSettings {
    /// The period that applies to `channel`.
    pub fn effective(&self, channel: ChannelKind) -> RetentionPeriod {
        match channel {
            ChannelKind::Whatsapp => self.whatsapp,
            ChannelKind::Instagram => self.instagram,
        }
        .unwrap_or(self.global)
    }
}

/// What a purge removed in one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelPurge {
    pub channel: ChannelKind,
    /// The period applied; `None` (forever) removes nothing.
    pub days: Option<u32>,
    pub messages: u64,
    pub media_files: u64,
}

/// What a retention purge removed, in total and per channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeOutcome {
    pub messages: u64,
    pub media_files: u64,
    pub channels: Vec<ChannelPurge>,
}

/// What an export wrote, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportSummary {
    pub dir: String,
    pub contacts: u64,
    pub conversations: u64,
    pub messages: u64,
    pub media_files: u64,
}

/// One line of the data inventory: what is kept, where, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryItem {
    pub what: String,
    pub location: String,
    pub protection: String,
    pub count: Option<u64>,
    pub bytes: Option<u64>,
}

/// The read-only data inventory of the Privacy & data screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataInventoryView {
    pub items: Vec<InventoryItem>,
}

/// The app lock as the UI needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockState {
    /// A passphrase is set.
    pub enabled: bool,
    /// Data commands are refused until `unlock`.
    pub locked: bool,
    /// Lock after this many idle minutes (0: only at start and on demand).
    pub idle_minutes: u32,
}

/// Everything the Privacy & data screen shows besides the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacySettings {
    pub retention: RetentionSettings,
    pub notifications: NotificationContent,
    pub lock: LockState,
    /// Where "Export everything" suggests writing.
    pub export_suggestion: String,
    /// A Meta account (WhatsApp/Instagram) is connected.
    pub connected: bool,
}

/// Maximum length of a WhatsApp text body, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;

/// The customer-service window length.
pub const WINDOW_MILLIS: i64 = 24 * 60 * 60 * 1000;

/// Instagram lets a person (not automation) reply up to 7 days after the
/// customer's last message, tagged HUMAN_AGENT after the first 24 hours.
pub const INSTAGRAM_HUMAN_AGENT_MILLIS: i64 = 7 * WINDOW_MILLIS;

/// Conversations per `list_conversations` / `list_conversations_before`
/// answer. A shorter page means the list is complete.
pub const CONVERSATION_PAGE: usize = 500;

/// Messages per `list_messages` / `list_messages_before` /
/// `list_messages_after` answer. A shorter page means that end is reached.
pub const MESSAGE_PAGE: usize = 500;

/// `list_messages_around` answers up to this many messages older than the
/// one asked for, the message itself, and up to [`AROUND_AFTER`] newer ones.
pub const AROUND_BEFORE: usize = 100;
pub const AROUND_AFTER: usize = 300;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_never_moves_backwards_and_failed_is_terminal() {
        use DeliveryStatus::*;
        assert!(Sent.may_advance_to(Delivered));
        assert!(Delivered.may_advance_to(Read));
        assert!(!Read.may_advance_to(Delivered));
        assert!(!Read.may_advance_to(Sent));
        assert!(Sent.may_advance_to(Failed));
        assert!(!Failed.may_advance_to(Read));
        assert!(!Delivered.may_advance_to(Delivered));
    }

    #[test]
    fn played_counts_as_read_and_names_round_trip() {
        assert_eq!(DeliveryStatus::parse("played"), Some(DeliveryStatus::Read));
        for s in [
            DeliveryStatus::Sending,
            DeliveryStatus::Accepted,
            DeliveryStatus::Sent,
            DeliveryStatus::Delivered,
            DeliveryStatus::Read,
            DeliveryStatus::Failed,
        ] {
            assert_eq!(DeliveryStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(DeliveryStatus::parse("bogus"), None);
    }

    #[test]
    fn events_are_tagged_for_the_ui() {
        let e = InboxEvent::SyncStateChanged {
            state: SyncState::Offline { reason: "relay unreachable".into(), retry_in_secs: 4 },
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["type"], "sync_state_changed");
        assert_eq!(json["state"]["state"], "offline");
        assert_eq!(json["state"]["retry_in_secs"], 4);
        let back: InboxEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, e);
    }
}
