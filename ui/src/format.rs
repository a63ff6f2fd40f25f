//! Pure text and presentation helpers. Nothing here reads the clock or the
//! DOM: "now" and the local UTC offset are parameters.
//!
//! Every string returned here is rendered by the view as a text node, never
//! as markup, so user content passes through unchanged (no escaping needed,
//! and none is done: escaping here would show `&lt;` to the agent).

use parley_types::{
    ChannelKind, ConversationSummary, DeliveryStatus, Direction, Forwarded, GeoPoint,
    MediaAttachment, MediaState, Message, Reaction, SyncState, UnixMillis, MAX_TEXT_CHARS,
};

pub const SECOND: i64 = 1_000;
pub const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

/// Shown instead of the composer when the customer-service window is closed.
/// Shown on Instagram between 24 hours and 7 days after the customer wrote.
pub const HUMAN_AGENT_NOTICE: &str = "More than 24 hours since they wrote: Instagram allows only \
    a person's reply now (sent with the HUMAN_AGENT tag), for 7 days. No automated messages.";

pub const WINDOW_CLOSED_NOTICE: &str =
    "More than 24 hours since the customer last wrote — only an approved template can be sent";

const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const MONTHS_LONG: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] =
    ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/// Days since the epoch in local time. `utc_offset_min` is what to add to UTC
/// to get local time (the negation of JS `getTimezoneOffset()`).
pub fn local_day(at: UnixMillis, utc_offset_min: i64) -> i64 {
    (at + utc_offset_min * MINUTE).div_euclid(DAY)
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01, proleptic
/// Gregorian calendar (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, usize, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as usize;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Compact age of a conversation's last activity for the list:
/// "now", "5 min", "3 h", "2 d", then a date ("12 Mar", "12 Mar 2024").
pub fn relative_time(at: UnixMillis, now: UnixMillis, utc_offset_min: i64) -> String {
    let age = now - at;
    if age < MINUTE {
        // Includes small clock skew into the future.
        "now".to_owned()
    } else if age < HOUR {
        format!("{} min", age / MINUTE)
    } else if age < DAY {
        format!("{} h", age / HOUR)
    } else if age < 7 * DAY {
        format!("{} d", age / DAY)
    } else {
        let (y, m, d) = civil_from_days(local_day(at, utc_offset_min));
        let (now_y, _, _) = civil_from_days(local_day(now, utc_offset_min));
        if y == now_y {
            format!("{d} {}", MONTHS[m - 1])
        } else {
            format!("{d} {} {y}", MONTHS[m - 1])
        }
    }
}

/// Local wall-clock time "HH:MM" (24 h).
pub fn clock_time(at: UnixMillis, utc_offset_min: i64) -> String {
    let ms_of_day = (at + utc_offset_min * MINUTE).rem_euclid(DAY);
    format!("{:02}:{:02}", ms_of_day / HOUR, (ms_of_day % HOUR) / MINUTE)
}

/// Label of the separator above the first message of a local day:
/// "Today", "Yesterday", a weekday within the last week, else a full date.
pub fn day_label(at: UnixMillis, now: UnixMillis, utc_offset_min: i64) -> String {
    let day = local_day(at, utc_offset_min);
    let today = local_day(now, utc_offset_min);
    let (y, m, d) = civil_from_days(day);
    match today - day {
        0 => "Today".to_owned(),
        1 => "Yesterday".to_owned(),
        2..=6 => WEEKDAYS[(day + 4).rem_euclid(7) as usize].to_owned(),
        _ => format!("{d} {} {y}", MONTHS_LONG[m - 1]),
    }
}

/// The customer-service window as of `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowState {
    /// Free text allowed for `remaining` more milliseconds.
    Open { remaining: i64 },
    /// Instagram, past 24 hours: a person may still reply, tagged
    /// HUMAN_AGENT, for `remaining` more milliseconds (7 days in all).
    HumanAgent { remaining: i64 },
    /// The customer never wrote, or wrote more than 24 h ago.
    Closed,
}

impl WindowState {
    pub fn of(expires_at: Option<UnixMillis>, now: UnixMillis) -> Self {
        match expires_at {
            Some(t) if t > now => WindowState::Open { remaining: t - now },
            _ => WindowState::Closed,
        }
    }

    /// The window of a conversation on its channel: on Instagram the
    /// 24 hours are followed by the human-agent days.
    pub fn for_conversation(c: &ConversationSummary, now: UnixMillis) -> Self {
        match (WindowState::of(c.window_expires_at, now), c.channel, c.window_expires_at) {
            (WindowState::Closed, ChannelKind::Instagram, Some(expires)) => {
                let human_until = expires - parley_types::WINDOW_MILLIS
                    + parley_types::INSTAGRAM_HUMAN_AGENT_MILLIS;
                if human_until > now {
                    WindowState::HumanAgent { remaining: human_until - now }
                } else {
                    WindowState::Closed
                }
            }
            (state, _, _) => state,
        }
    }

    pub fn is_open(self) -> bool {
        matches!(self, WindowState::Open { .. })
    }

    /// Whether the agent may type a free-form reply (perhaps as a human agent).
    pub fn allows_free_text(self) -> bool {
        matches!(self, WindowState::Open { .. } | WindowState::HumanAgent { .. })
    }

    /// "19 h left", "45 min left" or "Template only".
    pub fn text(self) -> String {
        match self {
            WindowState::Open { remaining } if remaining >= HOUR => {
                format!("{} h left", remaining / HOUR)
            }
            // Round minutes up so the last seconds read "1 min left", not "0".
            WindowState::Open { remaining } => {
                format!("{} min left", (remaining + MINUTE - 1) / MINUTE)
            }
            WindowState::HumanAgent { remaining } if remaining >= DAY => {
                format!("Human agent · {} d left", remaining / DAY)
            }
            WindowState::HumanAgent { remaining } => {
                format!("Human agent · {} h left", (remaining + HOUR - 1) / HOUR)
            }
            WindowState::Closed => "Template only".to_owned(),
        }
    }

    /// CSS modifier: "open", "closing" (under an hour left) or "closed".
    pub fn class(self) -> &'static str {
        match self {
            WindowState::Open { remaining } if remaining >= HOUR => "open",
            WindowState::Open { .. } => "closing",
            WindowState::HumanAgent { .. } => "human",
            WindowState::Closed => "closed",
        }
    }
}

/// Shorthand for list rows and the thread header.
pub fn window_text(expires_at: Option<UnixMillis>, now: UnixMillis) -> String {
    WindowState::of(expires_at, now).text()
}

/// The delivery indicator next to an outbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    /// Sending: a clock.
    Clock,
    /// Accepted or sent: one tick.
    Single,
    /// Delivered: two grey ticks.
    Double,
    /// Read: two blue ticks.
    DoubleRead,
    /// Failed: a red "!".
    Failed,
}

impl Tick {
    pub fn for_status(status: DeliveryStatus) -> Self {
        match status {
            DeliveryStatus::Sending => Tick::Clock,
            DeliveryStatus::Accepted | DeliveryStatus::Sent => Tick::Single,
            DeliveryStatus::Delivered => Tick::Double,
            DeliveryStatus::Read => Tick::DoubleRead,
            DeliveryStatus::Failed => Tick::Failed,
        }
    }
}

/// Accessible name of a delivery status.
pub fn status_label(status: DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::Sending => "Sending",
        DeliveryStatus::Accepted => "Accepted",
        DeliveryStatus::Sent => "Sent",
        DeliveryStatus::Delivered => "Delivered",
        DeliveryStatus::Read => "Read",
        DeliveryStatus::Failed => "Not sent",
    }
}

/// Small label above non-text messages; `None` for plain text.
pub fn kind_label(kind: &str) -> Option<String> {
    let label = match kind {
        "" | "text" => return None,
        "image" => "Photo",
        "video" => "Video",
        "audio" | "voice" => "Voice message",
        "document" | "file" => "Document",
        "sticker" => "Sticker",
        "location" => "Location",
        "contacts" => "Contact",
        "interactive" => "Interactive",
        "button" => "Button reply",
        "reaction" => "Reaction",
        "template" => "Template",
        "unsupported" => "Unsupported message",
        other => {
            // Unknown Meta type: show it readably ("story_mention" → "Story mention").
            let spaced = other.replace('_', " ");
            let mut chars = spaced.chars();
            return chars.next().map(|first| first.to_uppercase().chain(chars).collect());
        }
    };
    Some(label.to_owned())
}

/// Everything a message bubble shows, as plain strings.
#[derive(Debug, Clone, PartialEq)]
pub struct BubbleView {
    /// "inbound" or "outbound" (the `data-direction` hook).
    pub direction: &'static str,
    /// The status's snake_case name for outbound messages (the `data-status` hook).
    pub status: Option<&'static str>,
    pub status_label: Option<&'static str>,
    pub tick: Option<Tick>,
    pub kind_label: Option<String>,
    /// The body exactly as received (a caption for media; empty when the
    /// attachment card says it all); the view renders it as text nodes.
    pub body: String,
    /// The sender unsent it: `body` is the deleted notice, shown in italics.
    pub deleted: bool,
    /// `kind`'s snake_case name (the `data-kind` hook).
    pub kind: String,
    /// Failed outbound messages can be retried or deleted.
    pub can_retry: bool,
    pub time: String,
    /// The actionable sentence of a failed message.
    pub error: Option<String>,
}

pub fn bubble_view(m: &Message, utc_offset_min: i64) -> BubbleView {
    let outbound = m.direction == Direction::Outbound;
    let status = if outbound { m.status } else { None };
    let error = match status {
        Some(DeliveryStatus::Failed) => Some(
            m.error
                .clone()
                .filter(|e| !e.trim().is_empty())
                .unwrap_or_else(|| "This message could not be sent.".to_owned()),
        ),
        _ => None,
    };
    BubbleView {
        direction: if outbound { "outbound" } else { "inbound" },
        status: status.map(DeliveryStatus::as_str),
        status_label: status.map(status_label),
        tick: status.map(Tick::for_status),
        kind_label: if m.deleted || is_media_kind(&m.kind) { None } else { kind_label(&m.kind) },
        body: if m.deleted {
            DELETED_TEXT.to_owned()
        } else if is_media_kind(&m.kind) && is_placeholder_body(m) {
            String::new()
        } else {
            m.body.clone()
        },
        deleted: m.deleted,
        kind: m.kind.clone(),
        can_retry: error.is_some(),
        time: clock_time(m.sent_at, utc_offset_min),
        error,
    }
}

/// Shown in place of a message the sender unsent.
pub const DELETED_TEXT: &str = "This message was deleted";

/// Kinds whose content is a file the core downloads.
pub fn is_media_kind(kind: &str) -> bool {
    matches!(kind, "image" | "video" | "audio" | "voice" | "document" | "sticker")
}

/// The descriptions the core writes as the body of a media message without
/// a caption ("📷 Photo"). The attachment card already says what it is, so
/// these are not repeated as a caption.
fn is_placeholder_body(m: &Message) -> bool {
    let body = m.body.trim();
    let fixed = match m.kind.as_str() {
        "image" => body == "📷 Photo",
        "video" => body == "🎥 Video",
        "audio" | "voice" => body == "🎤 Voice message" || body == "🎵 Audio",
        "sticker" => body == "🏷️ Sticker",
        "document" => body == "📄 Document",
        _ => false,
    };
    let named_document = m.kind == "document"
        && m.media
            .as_ref()
            .and_then(|a| a.filename.as_deref())
            .is_some_and(|name| body.strip_prefix("📄 ").is_some_and(|rest| rest == name.trim()));
    fixed || named_document || body.is_empty()
}

/// "0 B", "900 B", "1.5 KB", "12 MB" (1 KB = 1024 B, one decimal under 10).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{} {}", value.round() as u64, UNITS[unit])
    }
}

/// A short name for a MIME type: "image/jpeg" → "JPEG", "application/pdf"
/// → "PDF", "audio/ogg; codecs=opus" → "OGG".
pub fn mime_label(mime: &str) -> Option<String> {
    let essence = mime.split(';').next()?.trim();
    let (_, sub) = essence.split_once('/')?;
    let sub = sub.rsplit(['.', '+']).next().unwrap_or(sub);
    let label = match sub.to_ascii_lowercase().as_str() {
        "" => return None,
        "jpeg" | "jpg" => "JPEG".to_owned(),
        "msword" => "Word".to_owned(),
        "document" | "wordprocessingml" => "Word".to_owned(),
        "sheet" | "spreadsheetml" | "ms-excel" => "Excel".to_owned(),
        "presentation" | "presentationml" | "ms-powerpoint" => "PowerPoint".to_owned(),
        "octet-stream" => "File".to_owned(),
        other => other.to_ascii_uppercase(),
    };
    Some(label)
}

/// What a message's attachment card shows.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachmentView {
    /// "Photo", "Document", ...
    pub label: String,
    pub filename: Option<String>,
    /// "PDF · 1.2 MB"; empty when nothing is known.
    pub details: String,
    pub state: MediaState,
    /// "Downloading…" while pending, the reason when the download failed.
    pub state_text: Option<String>,
    /// Whether the card shows the picture itself (images and stickers once
    /// stored); the bytes come from `media_data_url`.
    pub preview: bool,
    /// The `data-media-state` hook.
    pub state_name: &'static str,
}

pub fn attachment_view(m: &Message) -> Option<AttachmentView> {
    if m.deleted || !is_media_kind(&m.kind) {
        return None;
    }
    let fallback = MediaAttachment {
        mime_type: None,
        filename: None,
        size: None,
        // A media message the core has no file row for yet.
        state: MediaState::Pending,
        error: None,
    };
    let a = m.media.as_ref().unwrap_or(&fallback);
    let details: Vec<String> =
        [a.mime_type.as_deref().and_then(mime_label), a.size.map(human_size)]
            .into_iter()
            .flatten()
            .collect();
    let (state_text, state_name) = match a.state {
        MediaState::Pending => (Some("Downloading…".to_owned()), "pending"),
        MediaState::Stored => (None, "stored"),
        MediaState::Failed => (
            Some(
                a.error
                    .clone()
                    .filter(|e| !e.trim().is_empty())
                    .unwrap_or_else(|| "The file could not be downloaded.".to_owned()),
            ),
            "failed",
        ),
    };
    Some(AttachmentView {
        label: kind_label(&m.kind).unwrap_or_else(|| "File".to_owned()),
        filename: a.filename.clone().filter(|f| !f.trim().is_empty()),
        details: details.join(" · "),
        state: a.state,
        state_text,
        preview: matches!(m.kind.as_str(), "image" | "sticker") && a.state == MediaState::Stored,
        state_name,
    })
}

/// The quoted message above a reply.
#[derive(Debug, Clone, PartialEq)]
pub struct QuoteView {
    /// "You" for the business's own messages, else the contact's name.
    pub author: String,
    /// One line of the quoted text, or a note that it is not loaded.
    pub text: String,
    /// The quoted message's id, when it is in the loaded thread.
    pub target: Option<i64>,
}

/// Quoted replies point at a provider id. The quoted message is looked up
/// in the loaded part of the thread; older history may not be loaded yet.
pub fn quote_view(messages: &[Message], reply_to: &str, contact: &str) -> QuoteView {
    match messages.iter().find(|m| m.provider_id.as_deref() == Some(reply_to)) {
        Some(q) => QuoteView {
            author: match q.direction {
                Direction::Outbound => "You".to_owned(),
                Direction::Inbound => contact.to_owned(),
            },
            text: if q.deleted { DELETED_TEXT.to_owned() } else { preview_line(&q.body) },
            target: Some(q.id),
        },
        None => QuoteView {
            author: "Reply".to_owned(),
            text: "Quoted message not loaded".to_owned(),
            target: None,
        },
    }
}

/// A shared location as the bubble shows it: the coordinates (to about a
/// metre) and an OpenStreetMap link. `None` for coordinates off the globe.
pub fn location_view(p: GeoPoint) -> Option<(String, String)> {
    let (lat, lon) = (p.latitude, p.longitude);
    let valid = lat.is_finite()
        && lon.is_finite()
        && (-90.0..=90.0).contains(&lat)
        && (-180.0..=180.0).contains(&lon);
    valid.then(|| {
        (
            format!("{lat:.5}, {lon:.5}"),
            format!("https://www.openstreetmap.org/?mlat={lat:.6}&mlon={lon:.6}#map=17/{lat:.6}/{lon:.6}"),
        )
    })
}

/// The label WhatsApp shows on a forwarded message.
pub fn forwarded_label(forwarded: Forwarded) -> Option<&'static str> {
    match forwarded {
        Forwarded::No => None,
        Forwarded::Once => Some("Forwarded"),
        Forwarded::Many => Some("Forwarded many times"),
    }
}

/// Reactions under a bubble: the emoji and who reacted, for its label.
pub fn reaction_views(reactions: &[Reaction], contact: &str) -> Vec<(String, String)> {
    reactions
        .iter()
        .filter(|r| !r.emoji.trim().is_empty())
        .map(|r| {
            let who = match r.by {
                Direction::Outbound => "You".to_owned(),
                Direction::Inbound => contact.to_owned(),
            };
            (r.emoji.clone(), format!("{who} reacted {}", r.emoji))
        })
        .collect()
}

/// One line of preview text: whitespace runs (including newlines) collapse to
/// a single space. Content is otherwise untouched.
pub fn preview_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Up to two initials for the avatar; "#" for phone numbers and handles
/// without letters.
pub fn initials(title: &str) -> String {
    let letters: String = title
        .split_whitespace()
        .filter_map(|w| w.chars().find(|c| c.is_alphanumeric()))
        .filter(|c| c.is_alphabetic())
        .take(2)
        .flat_map(char::to_uppercase)
        .collect();
    if letters.is_empty() {
        "#".to_owned()
    } else {
        letters
    }
}

pub fn channel_name(channel: ChannelKind) -> &'static str {
    match channel {
        ChannelKind::Whatsapp => "WhatsApp",
        ChannelKind::Instagram => "Instagram",
    }
}

pub fn channel_class(channel: ChannelKind) -> &'static str {
    match channel {
        ChannelKind::Whatsapp => "whatsapp",
        ChannelKind::Instagram => "instagram",
    }
}

/// The unread badge text; `None` hides the badge.
pub fn unread_badge(unread: u32) -> Option<String> {
    match unread {
        0 => None,
        1..=99 => Some(unread.to_string()),
        _ => Some("99+".to_owned()),
    }
}

/// Everything a conversation row shows, as plain strings.
#[derive(Debug, Clone, PartialEq)]
pub struct RowView {
    pub id: i64,
    pub channel: &'static str,
    pub channel_class: &'static str,
    pub initials: String,
    pub title: String,
    pub preview: String,
    /// The agent's unsent text, shown instead of the preview (one line).
    pub draft: Option<String>,
    pub closed: bool,
    pub time: String,
    pub unread: Option<String>,
    pub window: WindowState,
    pub window_text: String,
    /// Screen-reader summary of the row.
    pub aria_label: String,
}

pub fn row_view(c: &ConversationSummary, now: UnixMillis, utc_offset_min: i64) -> RowView {
    let window = WindowState::for_conversation(c, now);
    let time = relative_time(c.last_at, now, utc_offset_min);
    let unread = unread_badge(c.unread);
    let mut aria_label = format!("{}, {}", c.title, channel_name(c.channel));
    if c.unread > 0 {
        aria_label.push_str(&format!(", {} unread", c.unread));
    }
    aria_label.push_str(&format!(", {time}, {}", window.text()));
    let draft = c.draft.as_deref().map(preview_line).filter(|d| !d.is_empty());
    if draft.is_some() {
        aria_label.push_str(", unsent draft");
    }
    if c.closed {
        aria_label.push_str(", closed");
    }
    RowView {
        id: c.id,
        channel: channel_name(c.channel),
        channel_class: channel_class(c.channel),
        initials: initials(&c.title),
        title: c.title.clone(),
        preview: preview_line(&c.last_preview),
        draft,
        closed: c.closed,
        time,
        unread,
        window,
        window_text: window.text(),
        aria_label,
    }
}

/// The header's sync indicator: the `data-state` hook and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncView {
    pub state: &'static str,
    pub text: String,
}

/// `elapsed_secs` is the time since this state was received, so the offline
/// countdown keeps moving between events.
pub fn sync_view(state: &SyncState, elapsed_secs: u64) -> SyncView {
    fn with_reason(lead: String, reason: &str) -> String {
        let reason = reason.trim();
        if reason.is_empty() {
            lead
        } else {
            format!("{lead} — {reason}")
        }
    }
    match state {
        SyncState::Running => SyncView { state: "running", text: "Online".to_owned() },
        SyncState::Connecting => SyncView { state: "connecting", text: "Connecting…".to_owned() },
        SyncState::Idle => SyncView { state: "idle", text: "Not syncing".to_owned() },
        SyncState::Offline { reason, retry_in_secs } => {
            let left = retry_in_secs.saturating_sub(elapsed_secs);
            let lead = if left == 0 {
                "Reconnecting…".to_owned()
            } else {
                format!("Reconnecting in {left} s")
            };
            SyncView { state: "offline", text: with_reason(lead, reason) }
        }
        SyncState::Error { reason } => {
            SyncView { state: "error", text: with_reason("Sync stopped".to_owned(), reason) }
        }
    }
}

/// Length of a draft as WhatsApp counts it (characters, not bytes).
pub fn char_count(text: &str) -> usize {
    text.chars().count()
}

/// Whether the composer may send `text` now.
pub fn can_send(text: &str, window_open: bool) -> bool {
    window_open && !text.trim().is_empty() && char_count(text) <= MAX_TEXT_CHARS
}

/// The character counter, shown once a draft gets long; `None` hides it.
pub fn char_counter(text: &str) -> Option<String> {
    let n = char_count(text);
    (n * 10 >= MAX_TEXT_CHARS * 9).then(|| format!("{n} / {MAX_TEXT_CHARS}"))
}

/// Rows of the auto-growing textarea: one per line, 1 to 6.
pub fn composer_rows(text: &str) -> u32 {
    (text.split('\n').count() as u32).clamp(1, 6)
}

/// A day for a sentence: "today", "yesterday", "on Monday", "on 3 November 2026".
fn on_day(at: UnixMillis, now: UnixMillis, utc_offset_min: i64) -> String {
    match day_label(at, now, utc_offset_min).as_str() {
        label @ ("Today" | "Yesterday") => label.to_lowercase(),
        label => format!("on {label}"),
    }
}

/// The contact panel's opt-out line.
pub fn opt_out_text(
    opt_out: Option<&parley_types::contact::OptOut>,
    now: UnixMillis,
    utc_offset_min: i64,
) -> String {
    use parley_types::contact::OptOutSource;
    match opt_out {
        None => "Marketing templates may be sent to this customer.".to_owned(),
        Some(o) => {
            let who = match o.by {
                OptOutSource::Agent => "an agent opted them out",
                OptOutSource::Keyword => "they wrote STOP",
            };
            format!(
                "Opted out: marketing templates are not sent to this customer ({who} {}).",
                on_day(o.at, now, utc_offset_min)
            )
        }
    }
}

/// The contact panel's history line: since when, and how many messages.
pub fn contact_history_text(
    d: &parley_types::contact::ContactDetails,
    now: UnixMillis,
    utc_offset_min: i64,
) -> String {
    let messages = |n: u64| if n == 1 { "1 message".to_owned() } else { format!("{n} messages") };
    format!(
        "First wrote {} · {} from them, {} to them{}",
        on_day(d.first_seen_at, now, utc_offset_min),
        messages(d.messages_from_customer),
        messages(d.messages_to_customer),
        if d.closed { " · closed" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-03-12 10:30:00 UTC, a Thursday.
    const NOW: i64 = 1_773_311_400_000;

    fn msg(
        direction: Direction,
        kind: &str,
        body: &str,
        status: Option<DeliveryStatus>,
    ) -> Message {
        Message {
            id: 1,
            conversation_id: 7,
            provider_id: None,
            direction,
            kind: kind.into(),
            body: body.into(),
            sent_at: NOW,
            status,
            error: None,
            reply_to: None,
            reactions: Vec::new(),
            deleted: false,
            media: None,
            forwarded: Default::default(),
            location: None,
        }
    }

    #[test]
    fn calendar_conversion_matches_known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(local_day(NOW, 0)), (2026, 3, 12));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        // 2024-02-29 (leap day) is day 19782.
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn relative_time_steps() {
        assert_eq!(relative_time(NOW, NOW, 0), "now");
        assert_eq!(relative_time(NOW + 5 * SECOND, NOW, 0), "now", "clock skew");
        assert_eq!(relative_time(NOW - 59 * SECOND, NOW, 0), "now");
        assert_eq!(relative_time(NOW - 5 * MINUTE, NOW, 0), "5 min");
        assert_eq!(relative_time(NOW - 3 * HOUR - 59 * MINUTE, NOW, 0), "3 h");
        assert_eq!(relative_time(NOW - 2 * DAY, NOW, 0), "2 d");
        assert_eq!(relative_time(NOW - 10 * DAY, NOW, 0), "2 Mar");
        assert_eq!(relative_time(NOW - 400 * DAY, NOW, 0), "5 Feb 2025");
    }

    #[test]
    fn clock_and_day_labels_use_the_local_offset() {
        assert_eq!(clock_time(NOW, 0), "10:30");
        assert_eq!(clock_time(NOW, 120), "12:30");
        assert_eq!(clock_time(NOW, -11 * 60), "23:30");
        assert_eq!(day_label(NOW, NOW, 0), "Today");
        assert_eq!(day_label(NOW - DAY, NOW, 0), "Yesterday");
        // In UTC-11 "now" is still Wednesday the 11th.
        assert_eq!(day_label(NOW - DAY, NOW, -11 * 60), "Yesterday");
        assert_eq!(day_label(NOW - 3 * DAY, NOW, 0), "Monday");
        assert_eq!(day_label(NOW - 30 * DAY, NOW, 0), "10 February 2026");
    }

    #[test]
    fn window_text_open_closing_and_closed() {
        assert_eq!(window_text(Some(NOW + 19 * HOUR + 59 * MINUTE), NOW), "19 h left");
        assert_eq!(window_text(Some(NOW + 24 * HOUR), NOW), "24 h left");
        assert_eq!(window_text(Some(NOW + HOUR), NOW), "1 h left");
        assert_eq!(window_text(Some(NOW + 45 * MINUTE), NOW), "45 min left");
        assert_eq!(window_text(Some(NOW + 10 * SECOND), NOW), "1 min left");
        assert_eq!(window_text(Some(NOW), NOW), "Template only", "expires exactly now");
        assert_eq!(window_text(Some(NOW - HOUR), NOW), "Template only");
        assert_eq!(window_text(None, NOW), "Template only", "customer never wrote");
        assert_eq!(WindowState::of(Some(NOW + 30 * MINUTE), NOW).class(), "closing");
        assert_eq!(WindowState::of(Some(NOW + 3 * HOUR), NOW).class(), "open");
        assert!(!WindowState::of(None, NOW).is_open());
    }

    #[test]
    fn ticks_for_every_status() {
        use DeliveryStatus::*;
        assert_eq!(Tick::for_status(Sending), Tick::Clock);
        assert_eq!(Tick::for_status(Accepted), Tick::Single);
        assert_eq!(Tick::for_status(Sent), Tick::Single);
        assert_eq!(Tick::for_status(Delivered), Tick::Double);
        assert_eq!(Tick::for_status(Read), Tick::DoubleRead);
        assert_eq!(Tick::for_status(Failed), Tick::Failed);
    }

    #[test]
    fn bubble_hooks_and_failed_error_sentence() {
        let inbound = bubble_view(&msg(Direction::Inbound, "text", "hi", None), 0);
        assert_eq!(inbound.direction, "inbound");
        assert_eq!(inbound.status, None);
        assert_eq!(inbound.tick, None);
        assert_eq!(inbound.kind_label, None);

        let mut failed = msg(Direction::Outbound, "text", "hi", Some(DeliveryStatus::Failed));
        failed.error = Some("The customer's 24-hour window has closed.".into());
        let v = bubble_view(&failed, 0);
        assert_eq!(v.direction, "outbound");
        assert_eq!(v.status, Some("failed"));
        assert_eq!(v.tick, Some(Tick::Failed));
        assert_eq!(v.error.as_deref(), Some("The customer's 24-hour window has closed."));

        failed.error = None;
        assert!(bubble_view(&failed, 0).error.is_some(), "a failure always says something");

        let delivered = msg(Direction::Outbound, "text", "x", Some(DeliveryStatus::Delivered));
        assert_eq!(bubble_view(&delivered, 0).error, None);
        assert_eq!(bubble_view(&delivered, 0).status, Some("delivered"));
    }

    #[test]
    fn markup_in_user_content_stays_a_plain_string() {
        let evil = "<script>alert('x')</script><img src=x onerror=alert(1)> & &amp;";
        let v = bubble_view(&msg(Direction::Inbound, "text", evil, None), 0);
        assert_eq!(v.body, evil, "passed through verbatim, to be rendered as a text node");

        let c = ConversationSummary {
            id: 1,
            channel: ChannelKind::Whatsapp,
            title: "<b>Mallory</b>".into(),
            handle: "+1".into(),
            last_preview: "<script>\nalert(1)</script>".into(),
            last_at: NOW,
            unread: 0,
            window_expires_at: None,
            draft: None,
            closed: false,
        };
        let r = row_view(&c, NOW, 0);
        assert_eq!(r.title, "<b>Mallory</b>");
        assert_eq!(r.preview, "<script> alert(1)</script>");
    }

    #[test]
    fn kind_labels() {
        assert_eq!(kind_label("text"), None);
        assert_eq!(kind_label("image").as_deref(), Some("Photo"));
        assert_eq!(kind_label("audio").as_deref(), Some("Voice message"));
        assert_eq!(kind_label("story_mention").as_deref(), Some("Story mention"));
        let v = bubble_view(&msg(Direction::Inbound, "location", "Pinned location: Shop", None), 0);
        assert_eq!(v.kind_label.as_deref(), Some("Location"));
        assert_eq!(v.body, "Pinned location: Shop");
    }

    #[test]
    fn sync_sentences() {
        let off = SyncState::Offline { reason: "relay unreachable".into(), retry_in_secs: 4 };
        assert_eq!(
            sync_view(&off, 0),
            SyncView { state: "offline", text: "Reconnecting in 4 s — relay unreachable".into() }
        );
        assert_eq!(sync_view(&off, 3).text, "Reconnecting in 1 s — relay unreachable");
        assert_eq!(sync_view(&off, 9).text, "Reconnecting… — relay unreachable");
        assert_eq!(sync_view(&SyncState::Running, 0).text, "Online");
        assert_eq!(sync_view(&SyncState::Running, 0).state, "running");
        assert_eq!(sync_view(&SyncState::Connecting, 0).state, "connecting");
        assert_eq!(sync_view(&SyncState::Idle, 0).state, "idle");
        let err = SyncState::Error { reason: "This device was revoked.".into() };
        assert_eq!(sync_view(&err, 0).state, "error");
        assert_eq!(sync_view(&err, 0).text, "Sync stopped — This device was revoked.");
    }

    #[test]
    fn composer_rules() {
        assert!(!can_send("", true));
        assert!(!can_send("  \n ", true));
        assert!(can_send("hi", true));
        assert!(!can_send("hi", false), "closed window");
        let max = "é".repeat(MAX_TEXT_CHARS);
        assert!(can_send(&max, true), "limit counts characters, not bytes");
        assert!(!can_send(&format!("{max}x"), true));
        assert_eq!(char_counter("short"), None);
        assert_eq!(char_counter(&max).as_deref(), Some("4096 / 4096"));
        assert_eq!(composer_rows("a"), 1);
        assert_eq!(composer_rows("a\nb\nc"), 3);
        assert_eq!(composer_rows(&"\n".repeat(20)), 6);
    }

    #[test]
    fn row_view_fields() {
        let c = ConversationSummary {
            id: 42,
            channel: ChannelKind::Instagram,
            title: "ana lima".into(),
            handle: "1789".into(),
            last_preview: "hello\nthere".into(),
            last_at: NOW - 5 * MINUTE,
            unread: 150,
            window_expires_at: Some(NOW + 19 * HOUR + 10 * MINUTE),
            draft: None,
            closed: false,
        };
        let r = row_view(&c, NOW, 0);
        assert_eq!(r.initials, "AL");
        assert_eq!(r.preview, "hello there");
        assert_eq!(r.time, "5 min");
        assert_eq!(r.unread.as_deref(), Some("99+"));
        assert_eq!(r.window_text, "19 h left");
        assert_eq!(r.channel, "Instagram");
        assert!(r.aria_label.contains("150 unread"));
        assert_eq!(initials("+44 7700 900123"), "#");
        assert_eq!(unread_badge(0), None);
    }

    #[test]
    fn a_draft_replaces_the_preview_on_one_line() {
        let mut c = ConversationSummary {
            id: 1,
            channel: ChannelKind::Whatsapp,
            title: "Ana".into(),
            handle: "15551234567".into(),
            last_preview: "hello".into(),
            last_at: NOW,
            unread: 0,
            window_expires_at: None,
            draft: Some("Your order\nships <b>tomorrow</b>".into()),
            closed: false,
        };
        let r = row_view(&c, NOW, 0);
        assert_eq!(r.draft.as_deref(), Some("Your order ships <b>tomorrow</b>"));
        assert!(r.aria_label.ends_with(", unsent draft"), "{}", r.aria_label);
        c.draft = Some(" \n ".into());
        assert_eq!(row_view(&c, NOW, 0).draft, None, "a blank draft is no draft");
    }

    fn media(state: MediaState, mime: &str, size: u64, filename: Option<&str>) -> MediaAttachment {
        MediaAttachment {
            mime_type: Some(mime.into()),
            filename: filename.map(Into::into),
            size: Some(size),
            state,
            error: None,
        }
    }

    #[test]
    fn sizes_and_mime_labels() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KB");
        assert_eq!(human_size(12 * 1024 * 1024 + 300_000), "12 MB");
        assert_eq!(human_size(5 * 1024 * 1024 * 1024), "5.0 GB");
        assert_eq!(mime_label("image/jpeg").as_deref(), Some("JPEG"));
        assert_eq!(mime_label("application/pdf").as_deref(), Some("PDF"));
        assert_eq!(mime_label("audio/ogg; codecs=opus").as_deref(), Some("OGG"));
        assert_eq!(
            mime_label("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
                .as_deref(),
            Some("Word")
        );
        assert_eq!(mime_label("nonsense"), None);
    }

    #[test]
    fn attachments_by_state() {
        let mut m = msg(Direction::Inbound, "image", "📷 Photo", None);
        m.media = Some(media(MediaState::Stored, "image/png", 2048, None));
        let a = attachment_view(&m).unwrap();
        assert_eq!(a.label, "Photo");
        assert_eq!(a.details, "PNG · 2.0 KB");
        assert!(a.preview);
        assert_eq!(a.state_text, None);
        let v = bubble_view(&m, 0);
        assert_eq!(v.body, "", "the placeholder description is not repeated as a caption");
        assert_eq!(v.kind_label, None, "the card carries the label");

        m.media.as_mut().unwrap().state = MediaState::Pending;
        let a = attachment_view(&m).unwrap();
        assert!(!a.preview);
        assert_eq!(a.state_text.as_deref(), Some("Downloading…"));
        assert_eq!(a.state_name, "pending");

        m.media = Some(MediaAttachment {
            error: Some("The file is larger than 100 MB.".into()),
            ..media(MediaState::Failed, "video/mp4", 1, None)
        });
        m.kind = "video".into();
        m.body = "Look at this <b>".into();
        let a = attachment_view(&m).unwrap();
        assert_eq!(a.state_text.as_deref(), Some("The file is larger than 100 MB."));
        assert!(!a.preview, "only images and stickers preview");
        assert_eq!(bubble_view(&m, 0).body, "Look at this <b>", "a real caption stays");

        m.media.as_mut().unwrap().error = None;
        assert!(
            attachment_view(&m).unwrap().state_text.is_some(),
            "a failure always says something"
        );

        let mut doc = msg(Direction::Inbound, "document", "📄 invoice.pdf", None);
        doc.media =
            Some(media(MediaState::Stored, "application/pdf", 300_000, Some("invoice.pdf")));
        let a = attachment_view(&doc).unwrap();
        assert_eq!(a.filename.as_deref(), Some("invoice.pdf"));
        assert_eq!(a.details, "PDF · 293 KB");
        assert_eq!(bubble_view(&doc, 0).body, "");

        // No media row yet: pending, not a crash.
        let bare = msg(Direction::Inbound, "sticker", "🏷️ Sticker", None);
        assert_eq!(attachment_view(&bare).unwrap().state, MediaState::Pending);
        assert!(attachment_view(&msg(Direction::Inbound, "location", "📍 Shop", None)).is_none());
    }

    #[test]
    fn deleted_messages_show_the_notice_only() {
        let mut m = msg(Direction::Inbound, "image", "", None);
        m.deleted = true;
        m.media = Some(media(MediaState::Stored, "image/png", 1, None));
        let v = bubble_view(&m, 0);
        assert!(v.deleted);
        assert_eq!(v.body, DELETED_TEXT);
        assert!(attachment_view(&m).is_none());
        assert_eq!(v.kind_label, None);
    }

    #[test]
    fn quotes_are_found_by_provider_id() {
        let mut original = msg(Direction::Outbound, "text", "Your order\nshipped", None);
        original.id = 3;
        original.provider_id = Some("wamid.A".into());
        let mut theirs = msg(Direction::Inbound, "text", "Where is it?", None);
        theirs.id = 4;
        theirs.provider_id = Some("wamid.B".into());
        let thread = vec![original, theirs];
        let q = quote_view(&thread, "wamid.A", "Ana");
        assert_eq!(
            q,
            QuoteView { author: "You".into(), text: "Your order shipped".into(), target: Some(3) }
        );
        assert_eq!(quote_view(&thread, "wamid.B", "Ana").author, "Ana");
        let missing = quote_view(&thread, "wamid.OLD", "Ana");
        assert_eq!(missing.target, None);
        assert_eq!(missing.text, "Quoted message not loaded");
    }

    #[test]
    fn reactions_name_who_reacted() {
        let r = vec![
            Reaction { emoji: "👍".into(), by: Direction::Inbound },
            Reaction { emoji: "❤️".into(), by: Direction::Outbound },
            Reaction { emoji: " ".into(), by: Direction::Outbound },
        ];
        assert_eq!(
            reaction_views(&r, "Ana"),
            vec![("👍".into(), "Ana reacted 👍".into()), ("❤️".into(), "You reacted ❤️".into())]
        );
    }

    #[test]
    fn locations_show_coordinates_and_a_map_link() {
        let (coords, url) =
            location_view(GeoPoint { latitude: -23.5614, longitude: -46.6559 }).unwrap();
        assert_eq!(coords, "-23.56140, -46.65590");
        assert_eq!(
            url,
            "https://www.openstreetmap.org/?mlat=-23.561400&mlon=-46.655900#map=17/-23.561400/-46.655900"
        );
        assert_eq!(location_view(GeoPoint { latitude: 91.0, longitude: 0.0 }), None);
        assert_eq!(location_view(GeoPoint { latitude: f64::NAN, longitude: 0.0 }), None);
        assert_eq!(location_view(GeoPoint { latitude: 0.0, longitude: -180.5 }), None);
    }

    #[test]
    fn forwarded_messages_say_so() {
        assert_eq!(forwarded_label(Forwarded::No), None);
        assert_eq!(forwarded_label(Forwarded::Once), Some("Forwarded"));
        assert_eq!(forwarded_label(Forwarded::Many), Some("Forwarded many times"));
    }

    #[test]
    fn failed_outbound_offers_retry() {
        let failed = msg(Direction::Outbound, "text", "hi", Some(DeliveryStatus::Failed));
        assert!(bubble_view(&failed, 0).can_retry);
        let sent = msg(Direction::Outbound, "text", "hi", Some(DeliveryStatus::Sent));
        assert!(!bubble_view(&sent, 0).can_retry);
    }

    #[test]
    fn contact_panel_lines() {
        use parley_types::contact::{ContactDetails, OptOut, OptOutSource};
        assert_eq!(opt_out_text(None, NOW, 0), "Marketing templates may be sent to this customer.");
        let o = OptOut { at: NOW, by: OptOutSource::Keyword };
        assert_eq!(
            opt_out_text(Some(&o), NOW, 0),
            "Opted out: marketing templates are not sent to this customer (they wrote STOP today)."
        );
        let o = OptOut { at: NOW - 30 * DAY, by: OptOutSource::Agent };
        assert!(opt_out_text(Some(&o), NOW, 0).contains("(an agent opted them out on "));
        let d = ContactDetails {
            conversation_id: 1,
            channel: ChannelKind::Whatsapp,
            name: None,
            handle: "1555".into(),
            notes: String::new(),
            labels: vec![],
            opted_out: None,
            first_seen_at: NOW,
            messages_from_customer: 1,
            messages_to_customer: 12,
            last_inbound_at: None,
            closed: true,
            attributes: vec![],
        };
        assert_eq!(
            contact_history_text(&d, NOW, 0),
            "First wrote today · 1 message from them, 12 messages to them · closed"
        );
    }

    #[test]
    fn instagram_allows_a_human_agent_for_seven_days() {
        let mut c = ConversationSummary {
            id: 1,
            channel: ChannelKind::Instagram,
            title: "ig".into(),
            handle: "1789".into(),
            last_preview: String::new(),
            last_at: NOW,
            unread: 0,
            window_expires_at: Some(NOW - 2 * DAY + parley_types::WINDOW_MILLIS),
            draft: None,
            closed: false,
        };
        // The customer wrote 2 days ago: 5 days of human-agent replies left.
        let w = WindowState::for_conversation(&c, NOW);
        assert_eq!(w, WindowState::HumanAgent { remaining: 5 * DAY });
        assert!(w.allows_free_text() && !w.is_open());
        assert_eq!(w.text(), "Human agent · 5 d left");
        assert_eq!(w.class(), "human");
        // 7 days and more: closed (Instagram has no templates to fall back on).
        c.window_expires_at = Some(NOW - 7 * DAY + parley_types::WINDOW_MILLIS);
        assert_eq!(WindowState::for_conversation(&c, NOW), WindowState::Closed);
        // WhatsApp never has it.
        c.channel = ChannelKind::Whatsapp;
        c.window_expires_at = Some(NOW - 2 * DAY + parley_types::WINDOW_MILLIS);
        assert_eq!(WindowState::for_conversation(&c, NOW), WindowState::Closed);
        assert_eq!(row_view(&c, NOW, 0).window_text, "Template only");
    }
}
