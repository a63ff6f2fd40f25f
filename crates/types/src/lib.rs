//! Types shared by the desktop core and the Yew UI.
//!
//! Architecture invariant: this crate does no I/O and depends on nothing but
//! `serde`, so it compiles for `wasm32-unknown-unknown` as well as the host.
//! Everything that crosses the Tauri IPC boundary is defined here, once.

use serde::{Deserialize, Serialize};

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
}

/// The name of the single Tauri event that carries [`InboxEvent`]s.
pub const INBOX_EVENT: &str = "inbox";

/// One full-text search hit: the message and where it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub message: Message,
    /// The conversation's title, to show beside the hit.
    pub conversation_title: String,
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

/// Maximum length of a WhatsApp text body, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;

/// The customer-service window length.
pub const WINDOW_MILLIS: i64 = 24 * 60 * 60 * 1000;

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
