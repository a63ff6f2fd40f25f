//! The inbox view state and its reducer.
//!
//! The UI loads a snapshot once and then applies [`InboxEvent`] diffs. Events
//! may arrive before the snapshot they race with, repeated, or out of order;
//! `reduce` merges them so that:
//! - conversations stay unique by id and sorted newest first;
//! - messages stay unique by id and sorted oldest first;
//! - a delivery status shown in the view never moves backwards.
//!
//! `reduce` does no I/O. It returns the [`Effect`]s (IPC calls) the component
//! must run, which keeps "opening a conversation marks it read" testable.

use std::cmp::Ordering;

use parley_types::{
    AppInfo, ChannelKind, ConversationSummary, DeliveryStatus, Direction, ErrorCode, InboxEvent,
    IpcError, LockState, Message, Reaction, SearchHit, SyncState, UnixMillis, AROUND_AFTER,
    AROUND_BEFORE, CONVERSATION_PAGE, MESSAGE_PAGE,
};

/// The messages of the open conversation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Thread {
    pub conversation_id: Option<i64>,
    /// Oldest first.
    pub messages: Vec<Message>,
    /// False until `list_messages` answered for this conversation.
    pub loaded: bool,
    /// `list_messages` failed; the view offers a retry.
    pub failed: bool,
    /// The core may have messages older than the first loaded one. Cleared
    /// once a page before the first message comes back empty.
    pub has_older: bool,
    /// A `list_messages_before` call is in flight.
    pub loading_older: bool,
    /// The thread was opened at a message far back: the core has messages
    /// newer than the last loaded one, loaded as the agent scrolls down.
    pub has_newer: bool,
    /// A `list_messages_after` call is in flight.
    pub loading_newer: bool,
    /// A message to scroll to once it is loaded (a search hit).
    pub focus: Option<i64>,
    /// Whether the thread was already asked to open around `focus`.
    pub focus_jumped: bool,
    /// The message shown highlighted (the last search hit opened).
    pub highlight: Option<i64>,
    /// The message the composer quotes (its local id), shown above the box.
    pub reply_to: Option<i64>,
    /// The message whose emoji picker is open.
    pub picker: Option<i64>,
}

impl Thread {
    fn find(&self, id: i64) -> Option<&Message> {
        self.messages.iter().find(|m| m.id == id)
    }

    /// The message the composer quotes, while it is loaded.
    pub fn reply_target(&self) -> Option<&Message> {
        self.reply_to.and_then(|id| self.find(id))
    }
}

/// Whether a message can be quoted: Meta must know it (a provider id), its
/// content must still be there, and the channel must carry the quote (the
/// core sends `context.message_id` on WhatsApp only).
pub fn can_reply(m: &Message, channel: ChannelKind) -> bool {
    channel == ChannelKind::Whatsapp && m.provider_id.is_some() && !m.deleted
}

/// Whether the agent may react to a message: WhatsApp takes reactions only
/// on a customer's message it delivered (the core enforces the window and
/// the 30-day limit and says so).
pub fn can_react(m: &Message, channel: ChannelKind) -> bool {
    m.direction == Direction::Inbound && can_reply(m, channel)
}

/// The agent's own reaction on a message, if any.
pub fn our_reaction(m: &Message) -> Option<&str> {
    m.reactions
        .iter()
        .find(|r| r.by == Direction::Outbound && !r.emoji.is_empty())
        .map(|r| r.emoji.as_str())
}

/// What picking `picked` asks for: picking the reaction already shown
/// removes it (an empty emoji), anything else replaces it.
pub fn reaction_after_pick(current: Option<&str>, picked: &str) -> String {
    if current == Some(picked) {
        String::new()
    } else {
        picked.to_owned()
    }
}

/// Shows `emoji` as the agent's reaction on `m` (empty: none).
fn set_our_reaction(m: &mut Message, emoji: Option<&str>) {
    m.reactions.retain(|r| r.by != Direction::Outbound);
    if let Some(e) = emoji.filter(|e| !e.is_empty()) {
        m.reactions.push(Reaction { emoji: e.to_owned(), by: Direction::Outbound });
    }
}

/// Which conversations the list shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ListFilter {
    #[default]
    All,
    Unread,
    /// Not closed by an agent: what still needs attention.
    Open,
    Closed,
    Channel(ChannelKind),
}

impl ListFilter {
    pub const ALL: [ListFilter; 6] = [
        ListFilter::All,
        ListFilter::Unread,
        ListFilter::Open,
        ListFilter::Closed,
        ListFilter::Channel(ChannelKind::Whatsapp),
        ListFilter::Channel(ChannelKind::Instagram),
    ];

    pub fn label(self) -> &'static str {
        match self {
            ListFilter::All => "All",
            ListFilter::Unread => "Unread",
            ListFilter::Open => "Open",
            ListFilter::Closed => "Closed",
            ListFilter::Channel(ChannelKind::Whatsapp) => "WhatsApp",
            ListFilter::Channel(ChannelKind::Instagram) => "Instagram",
        }
    }

    /// The `data-filter` hook.
    pub fn key(self) -> &'static str {
        match self {
            ListFilter::All => "all",
            ListFilter::Unread => "unread",
            ListFilter::Open => "open",
            ListFilter::Closed => "closed",
            ListFilter::Channel(ChannelKind::Whatsapp) => "whatsapp",
            ListFilter::Channel(ChannelKind::Instagram) => "instagram",
        }
    }

    /// The open conversation always stays in the list, so reading it (which
    /// clears its unread count) does not make it vanish under "Unread".
    pub fn keeps(self, c: &ConversationSummary, selected: Option<i64>) -> bool {
        Some(c.id) == selected
            || match self {
                ListFilter::All => true,
                ListFilter::Unread => c.unread > 0,
                ListFilter::Open => !c.closed,
                ListFilter::Closed => c.closed,
                ListFilter::Channel(kind) => c.channel == kind,
            }
    }
}

/// Full-text search across conversations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Search {
    /// The results panel replaces the conversation list while open.
    pub open: bool,
    pub query: String,
    /// Bumped on every query change; answers for an older one are dropped.
    pub seq: u64,
    pub loading: bool,
    /// Newest first, for `searched`.
    pub hits: Vec<SearchHit>,
    /// The query `hits` answer.
    pub searched: Option<String>,
    /// The last search failed; the error is in the banner.
    pub failed: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Inbox {
    pub app_info: Option<AppInfo>,
    pub sync: SyncState,
    /// An event already told us the sync state, so a slower snapshot answer
    /// must not overwrite it.
    sync_from_event: bool,
    /// Newest first (`last_at` desc, then `id` desc).
    pub conversations: Vec<ConversationSummary>,
    pub conversations_loaded: bool,
    /// `list_conversations` failed; the view offers a retry.
    pub conversations_failed: bool,
    /// The core may hold conversations older than the last loaded one (the
    /// last page was full); the list loads them when scrolled to its end.
    pub more_conversations: bool,
    /// A `list_conversations_before` is in flight.
    pub loading_more_conversations: bool,
    /// Where the next page starts: the (`last_at`, `id`) of the last row the
    /// core listed. Not the last row held: events also bring in older
    /// conversations, and paging after one of them would skip those between.
    conversations_cursor: Option<(i64, i64)>,
    pub filter: ListFilter,
    /// Indices into `conversations` that pass `filter`, in list order.
    /// Recomputed whenever either changes.
    pub visible: Vec<usize>,
    pub selected: Option<i64>,
    pub search: Search,
    /// The keyboard shortcuts overlay.
    pub help_open: bool,
    /// The contact side panel of the open conversation.
    pub contact_open: bool,
    pub thread: Thread,
    /// The last command error, shown until dismissed.
    pub error: Option<IpcError>,
    /// Whether the window has focus: new messages in the open conversation
    /// are marked read only while the agent can see them.
    pub focused: bool,
    /// Bumped whenever `conversations` changes, so the list re-renders only
    /// when it must.
    pub list_rev: u64,
    /// Bumped whenever `thread` changes.
    pub thread_rev: u64,
    /// Bumped whenever a sync state arrives, even an equal one: the header
    /// restarts its reconnect countdown from it.
    pub sync_rev: u64,
    /// The Privacy & data screen is open; `Some(id)` when opened for one
    /// conversation's data.
    pub privacy: Option<Option<i64>>,
    /// The app lock, as the core last said. While `locked`, the view shows
    /// only the lock screen and holds no conversation in memory.
    pub lock: LockState,
    /// False until the core said whether the app is locked; nothing is
    /// loaded before.
    pub lock_known: bool,
    /// The last export's (done, total), from the core's progress events
    /// (`total` 0 until the first arrives). Kept after it ends, so a late
    /// event still lands and the bar shows where it finished.
    pub export_progress: Option<(u64, u64)>,
    /// An export is running.
    pub exporting: bool,
    /// The app information arrived (or failed): the welcome screen's
    /// question is settled.
    pub app_info_known: bool,
    /// The welcome screen shows (on first run, or asked for again).
    pub welcome: Option<crate::onboarding::WelcomeStep>,
    /// The Channels screen shows.
    pub channels_open: bool,
    /// The Campaigns screen is open.
    pub campaigns_open: bool,
    /// The Contacts screen is shown.
    pub contacts_open: bool,
    /// The Templates screen shows.
    pub templates_open: bool,
    /// Bumped when Meta changed a template (status, quality, category): the
    /// Templates screen loads the list again.
    pub templates_rev: u64,
}

impl Default for Inbox {
    fn default() -> Self {
        Inbox {
            app_info: None,
            sync: SyncState::Connecting,
            sync_from_event: false,
            conversations: Vec::new(),
            conversations_loaded: false,
            conversations_failed: false,
            filter: ListFilter::All,
            visible: Vec::new(),
            selected: None,
            search: Search::default(),
            help_open: false,
            contact_open: false,
            thread: Thread::default(),
            error: None,
            focused: true,
            list_rev: 0,
            more_conversations: false,
            loading_more_conversations: false,
            conversations_cursor: None,
            thread_rev: 0,
            sync_rev: 0,
            privacy: None,
            lock: LockState { enabled: false, locked: false, idle_minutes: 0 },
            lock_known: false,
            app_info_known: false,
            welcome: None,
            channels_open: false,
            campaigns_open: false,
            contacts_open: false,
            templates_open: false,
            templates_rev: 0,
            export_progress: None,
            exporting: false,
        }
    }
}

impl Inbox {
    pub fn conversation(&self, id: i64) -> Option<&ConversationSummary> {
        self.conversations.iter().find(|c| c.id == id)
    }

    pub fn selected_conversation(&self) -> Option<&ConversationSummary> {
        self.selected.and_then(|id| self.conversation(id))
    }

    pub fn index_of(&self, id: i64) -> Option<usize> {
        self.conversations.iter().position(|c| c.id == id)
    }

    /// Position of conversation `id` among the filtered rows.
    pub fn visible_index_of(&self, id: i64) -> Option<usize> {
        self.visible.iter().position(|&i| self.conversations[i].id == id)
    }

    /// Count of conversations with unread messages per filter, for the
    /// filter tabs.
    pub fn unread_count(&self) -> usize {
        self.conversations.iter().filter(|c| c.unread > 0).count()
    }

    fn refresh_visible(&mut self) {
        let (filter, selected) = (self.filter, self.selected);
        self.visible = self
            .conversations
            .iter()
            .enumerate()
            .filter(|(_, c)| filter.keeps(c, selected))
            .map(|(i, _)| i)
            .collect();
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    AppInfoLoaded(AppInfo),
    AppInfoFailed(IpcError),
    /// Show the welcome screen at this step.
    ShowWelcome(crate::onboarding::WelcomeStep),
    /// "Try the sandbox" was saved (or the welcome screen was closed).
    WelcomeDone,
    OpenChannels,
    CloseChannels,
    OpenCampaigns,
    CloseCampaigns,
    OpenContacts,
    CloseContacts,
    OpenTemplates,
    CloseTemplates,
    SyncStateLoaded(SyncState),
    /// `sync_state` failed: the state is unknown, so say sync is stopped
    /// rather than "connecting" forever.
    SyncStateFailed(IpcError),
    ConversationsLoaded(Vec<ConversationSummary>),
    ConversationsFailed(IpcError),
    /// The list was scrolled to its end.
    LoadMoreConversations,
    MoreConversationsLoaded(Vec<ConversationSummary>),
    MoreConversationsFailed(IpcError),
    RetryConversations,
    MessagesLoaded {
        conversation_id: i64,
        messages: Vec<Message>,
    },
    MessagesFailed {
        conversation_id: i64,
        error: IpcError,
    },
    RetryMessages,
    /// The agent scrolled to the top of the loaded thread.
    LoadOlder,
    /// The agent scrolled to the bottom of a thread opened far back.
    LoadNewer,
    AroundLoaded {
        conversation_id: i64,
        target: i64,
        messages: Vec<Message>,
    },
    NewerLoaded {
        conversation_id: i64,
        after: i64,
        messages: Vec<Message>,
    },
    NewerFailed {
        conversation_id: i64,
        error: IpcError,
    },
    OlderLoaded {
        conversation_id: i64,
        before: i64,
        messages: Vec<Message>,
    },
    OlderFailed {
        conversation_id: i64,
        error: IpcError,
    },
    /// The view scrolled `focus` into sight.
    FocusShown,
    SetFilter(ListFilter),
    OpenSearch,
    CloseSearch,
    SearchQuery(String),
    SearchResults {
        seq: u64,
        hits: Vec<SearchHit>,
    },
    SearchFailed {
        seq: u64,
        error: IpcError,
    },
    /// Open the conversation of `search.hits[index]` at that message.
    OpenHit(usize),
    ToggleHelp,
    /// Show or hide the contact side panel.
    ToggleContact,
    /// Escape: closes the topmost overlay.
    Escape,
    /// Resend a failed message. The view shows it as sending at once: the
    /// core's next report (which may beat the command's answer) then moves
    /// it on as usual, including to a new failure.
    Retry(i64),
    /// The answer to `retry_message`: merged like any other report.
    Retried(Message),
    /// `retry_message` was refused: the message is failed as before.
    RetryRefused {
        message_id: i64,
        error: IpcError,
    },
    /// Delete a failed message.
    Delete(i64),
    /// Quote this message in the next reply.
    ReplyTo(i64),
    /// Stop quoting (the × on the preview, Escape, or the reply was sent).
    CancelReply,
    /// Open or close the emoji picker of a message.
    TogglePicker(i64),
    /// The agent picked `emoji` for a message: shown at once, sent by the
    /// core; picking the reaction already shown removes it.
    React {
        message_id: i64,
        emoji: String,
    },
    /// The answer to `react`: merged like any other report.
    Reacted(Message),
    /// `react` was refused: the reaction shown before comes back.
    ReactRefused {
        message_id: i64,
        previous: Option<String>,
        error: IpcError,
    },
    /// A pushed diff from the core.
    Event(InboxEvent),
    /// The local echo returned by `send_text`.
    MessageSent(Message),
    Select(i64),
    SelectNext,
    SelectPrevious,
    FocusChanged(bool),
    Failed(IpcError),
    DismissError,
    /// Open the Privacy & data screen, for everything or one conversation.
    OpenPrivacy(Option<i64>),
    /// Close (done) or reopen a conversation.
    SetClosed {
        conversation_id: i64,
        closed: bool,
    },
    ClosePrivacy,
    /// The core's answer to `lock_state`, or to a lock command.
    LockStateLoaded(LockState),
    /// `unlock` succeeded.
    Unlocked(LockState),
    /// An export started (progress from zero) or ended.
    ExportStarted,
    ExportEnded,
}

/// IPC calls the component runs on the reducer's behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    LoadConversations,
    /// The page after this (`last_at`, `id`), the oldest loaded row.
    LoadConversationsBefore {
        last_at: i64,
        id: i64,
    },
    LoadMessages(i64),
    MarkRead(i64),
    LoadOlder {
        conversation_id: i64,
        before: i64,
    },
    /// The thread opened at `target` (a search hit not loaded).
    LoadAround {
        conversation_id: i64,
        target: i64,
    },
    /// The page after `after`, the newest loaded message.
    LoadNewer {
        conversation_id: i64,
        after: i64,
    },
    Search {
        seq: u64,
    },
    Retry(i64),
    Delete(i64),
    SetClosed {
        conversation_id: i64,
        closed: bool,
    },
    /// Send the agent's reaction (`emoji` empty removes it); `previous` is
    /// what to show again if the core refuses.
    React {
        message_id: i64,
        emoji: String,
        previous: Option<String>,
    },
}

/// Conversation order: newest `last_at` first, ties broken by id (desc) so the
/// order is total and stable across reloads.
pub fn conversation_order(a: &ConversationSummary, b: &ConversationSummary) -> Ordering {
    b.last_at.cmp(&a.last_at).then(b.id.cmp(&a.id))
}

/// Message order: oldest first, ties by id.
pub fn message_order(a: &Message, b: &Message) -> Ordering {
    a.sent_at.cmp(&b.sent_at).then(a.id.cmp(&b.id))
}

/// Inserts or replaces `c` in a list sorted by [`conversation_order`], keeping
/// it sorted. A change older than what is shown (`last_at` went backwards:
/// a stale event racing the snapshot) is ignored. Returns whether anything
/// changed.
pub fn upsert_conversation(list: &mut Vec<ConversationSummary>, c: ConversationSummary) -> bool {
    let before = |x: &ConversationSummary| conversation_order(x, &c) == Ordering::Less;
    let Some(i) = list.iter().position(|x| x.id == c.id) else {
        let at = list.partition_point(before);
        list.insert(at, c);
        return true;
    };
    if c.last_at < list[i].last_at || list[i] == c {
        return false;
    }
    // Move the row from `i` to its new place by rotating only the rows in
    // between: with 50,000 conversations this touches a handful, not all.
    let ahead = list[..i].partition_point(before);
    let target = if ahead < i { ahead } else { i + list[i + 1..].partition_point(before) };
    list[i] = c;
    match target.cmp(&i) {
        Ordering::Less => list[target..=i].rotate_right(1),
        Ordering::Greater => list[i..=target].rotate_left(1),
        Ordering::Equal => {}
    }
    true
}

/// Combines what the view shows for a message with a newer report of it.
/// Content and ids follow `new`; the delivery status only moves forward
/// (`sending < accepted < sent < delivered < read`, `failed` terminal), so a
/// late `sent` never hides a `read`, and the echo returned by `send_text`
/// never hides the `accepted` an event already brought.
pub fn merge_message(old: &Message, new: Message) -> Message {
    let mut merged = new;
    let keep_old_status = match (old.status, merged.status) {
        (Some(a), Some(b)) => a != b && !a.may_advance_to(b),
        (Some(_), None) => true,
        _ => false,
    };
    if keep_old_status {
        merged.status = old.status;
        merged.error = old.error.clone();
    }
    if merged.provider_id.is_none() {
        merged.provider_id = old.provider_id.clone();
    }
    merged
}

/// Inserts or merges `m` into a list sorted by [`message_order`]. Returns
/// whether anything changed.
pub fn upsert_message(list: &mut Vec<Message>, m: Message) -> bool {
    match list.iter().rposition(|x| x.id == m.id) {
        Some(i) => {
            let merged = merge_message(&list[i], m);
            if merged == list[i] {
                return false;
            }
            let resort = merged.sent_at != list[i].sent_at;
            list[i] = merged;
            if resort {
                list.sort_by(message_order);
            }
        }
        None => {
            let at = list.partition_point(|x| message_order(x, &m) == Ordering::Less);
            list.insert(at, m);
        }
    }
    true
}

/// Applies `action` to `state` and returns the IPC calls to make.
pub fn reduce(state: &mut Inbox, action: Action) -> Vec<Effect> {
    let list_rev = state.list_rev;
    let effects = reduce_inner(state, action);
    if state.list_rev != list_rev {
        state.refresh_visible();
    }
    effects
}

fn reduce_inner(state: &mut Inbox, action: Action) -> Vec<Effect> {
    let mut effects = Vec::new();
    match action {
        Action::AppInfoLoaded(info) => {
            if info.first_run && !state.app_info_known {
                state.welcome = Some(crate::onboarding::WelcomeStep::Choose);
            }
            state.app_info_known = true;
            state.app_info = Some(info);
        }
        Action::AppInfoFailed(error) => {
            state.app_info_known = true;
            state.error = Some(error);
        }
        Action::ShowWelcome(step) => {
            close_screens(state);
            state.welcome = Some(step);
        }
        Action::WelcomeDone => {
            state.welcome = None;
            if let Some(info) = state.app_info.as_mut() {
                info.first_run = false;
            }
        }
        Action::OpenChannels => {
            close_screens(state);
            state.welcome = None;
            state.channels_open = true;
        }
        Action::CloseChannels => state.channels_open = false,
        Action::OpenCampaigns => {
            close_screens(state);
            state.welcome = None;
            state.campaigns_open = true;
        }
        Action::CloseCampaigns => state.campaigns_open = false,
        Action::OpenContacts => {
            close_screens(state);
            state.welcome = None;
            state.contacts_open = true;
        }
        Action::CloseContacts => state.contacts_open = false,
        Action::OpenTemplates => {
            close_screens(state);
            state.welcome = None;
            state.templates_open = true;
        }
        Action::CloseTemplates => state.templates_open = false,
        Action::Event(InboxEvent::TemplatesChanged) => state.templates_rev += 1,
        Action::SyncStateLoaded(sync) => {
            if !state.sync_from_event {
                state.sync = sync;
                state.sync_rev += 1;
            }
        }
        Action::SyncStateFailed(error) => {
            if !state.sync_from_event {
                state.sync = SyncState::Error { reason: error.message.clone() };
                state.sync_rev += 1;
            }
            state.error = Some(error);
        }
        Action::ConversationsLoaded(mut snapshot) => {
            state.more_conversations = snapshot.len() >= CONVERSATION_PAGE;
            // A page asked for before this snapshot is stale: dropped.
            state.loading_more_conversations = false;
            snapshot.sort_by(conversation_order);
            state.conversations_cursor = snapshot.last().map(|c| (c.last_at, c.id));
            snapshot.dedup_by_key(|c| c.id);
            // Changes pushed while the snapshot was in flight win over it
            // unless they are older.
            let early = std::mem::replace(&mut state.conversations, snapshot);
            for c in early {
                upsert_conversation(&mut state.conversations, c);
            }
            state.conversations_loaded = true;
            state.conversations_failed = false;
            state.list_rev += 1;
        }
        Action::ConversationsFailed(error) if error.code == ErrorCode::Locked => {
            locked(state);
        }
        Action::ConversationsFailed(error) => {
            state.conversations_failed = !state.conversations_loaded;
            state.error = Some(error);
            state.list_rev += 1;
        }
        Action::LoadMoreConversations => {
            if let (true, false, Some((last_at, id))) = (
                state.more_conversations,
                state.loading_more_conversations,
                state.conversations_cursor,
            ) {
                state.loading_more_conversations = true;
                effects.push(Effect::LoadConversationsBefore { last_at, id });
            }
        }
        Action::MoreConversationsLoaded(page) => {
            if !state.loading_more_conversations {
                return effects; // asked for before a reload or the lock
            }
            state.loading_more_conversations = false;
            state.more_conversations = page.len() >= CONVERSATION_PAGE;
            if let Some(last) = page.iter().min_by(|a, b| conversation_order(b, a)) {
                state.conversations_cursor = Some((last.last_at, last.id));
            }
            // A conversation already listed came from an event or an earlier
            // page, never older than this answer: it stays as it is.
            let known: std::collections::HashSet<i64> =
                state.conversations.iter().map(|c| c.id).collect();
            let before = state.conversations.len();
            state.conversations.extend(page.into_iter().filter(|c| !known.contains(&c.id)));
            if state.conversations.len() != before {
                // Stable and nearly sorted already: a linear pass.
                state.conversations.sort_by(conversation_order);
                state.list_rev += 1;
            }
        }
        Action::MoreConversationsFailed(error) if error.code == ErrorCode::Locked => {
            locked(state);
        }
        Action::MoreConversationsFailed(error) => {
            // Scrolling to the end again retries.
            state.loading_more_conversations = false;
            state.error = Some(error);
        }
        Action::RetryConversations => {
            state.conversations_failed = false;
            state.list_rev += 1;
            effects.push(Effect::LoadConversations);
        }
        Action::MessagesLoaded { conversation_id, mut messages } => {
            if state.thread.conversation_id != Some(conversation_id) || state.thread.has_newer {
                // The agent moved on, or opened an old stretch at a search
                // hit meanwhile: a stale answer.
                return effects;
            }
            messages.sort_by(message_order);
            state.thread.has_older = !messages.is_empty();
            state.thread.loading_newer = false;
            let early = std::mem::replace(&mut state.thread.messages, messages);
            for m in early {
                upsert_message(&mut state.thread.messages, m);
            }
            state.thread.loaded = true;
            state.thread.failed = false;
            state.thread_rev += 1;
            seek_focus(state, &mut effects);
        }
        Action::LoadOlder => load_older(state, &mut effects),
        Action::AroundLoaded { conversation_id, target, mut messages } => {
            let t = &mut state.thread;
            if t.conversation_id != Some(conversation_id) || t.focus != Some(target) {
                t.loading_older = false;
                if t.conversation_id == Some(conversation_id) {
                    // Another hit of this conversation was opened meanwhile.
                    t.focus_jumped = false;
                    seek_focus(state, &mut effects);
                }
                return effects;
            }
            messages.sort_by(message_order);
            messages.dedup_by_key(|m| m.id);
            let at = messages.iter().position(|m| m.id == target);
            t.loading_older = false;
            if at.is_none() && !t.loaded {
                // The hit is gone (deleted or purged): the newest messages.
                effects.push(Effect::LoadMessages(conversation_id));
            }
            if let Some(at) = at {
                // A full side means more of the thread lies that way.
                t.has_older = at >= AROUND_BEFORE;
                t.has_newer = messages.len() - at > AROUND_AFTER;
                t.messages = messages;
                t.loaded = true;
                t.failed = false;
            }
            state.thread_rev += 1;
            seek_focus(state, &mut effects);
        }
        Action::LoadNewer => {
            let t = &mut state.thread;
            if let (Some(conversation_id), Some(last), true, false) =
                (t.conversation_id, t.messages.last(), t.has_newer, t.loading_newer)
            {
                t.loading_newer = true;
                effects.push(Effect::LoadNewer { conversation_id, after: last.id });
            }
        }
        Action::NewerLoaded { conversation_id, after, messages } => {
            let t = &mut state.thread;
            if t.conversation_id != Some(conversation_id)
                || t.messages.last().map(|m| m.id) != Some(after)
            {
                t.loading_newer = false;
                return effects; // reloaded meanwhile
            }
            t.loading_newer = false;
            t.has_newer = messages.len() >= MESSAGE_PAGE;
            let known: std::collections::HashSet<i64> = t.messages.iter().map(|m| m.id).collect();
            t.messages.extend(messages.into_iter().filter(|m| !known.contains(&m.id)));
            t.messages.sort_by(message_order);
            state.thread_rev += 1;
        }
        Action::NewerFailed { conversation_id, error } => {
            if state.thread.conversation_id == Some(conversation_id) {
                state.thread.loading_newer = false;
            }
            state.error = Some(error);
        }
        Action::OlderLoaded { conversation_id, before, messages } => {
            if state.thread.conversation_id != Some(conversation_id)
                || state.thread.messages.first().map(|m| m.id) != Some(before)
            {
                // Another conversation, or the thread was reloaded meanwhile.
                state.thread.loading_older = false;
                return effects;
            }
            state.thread.loading_older = false;
            state.thread.has_older = !messages.is_empty();
            merge_older(&mut state.thread.messages, messages);
            state.thread_rev += 1;
            seek_focus(state, &mut effects);
        }
        Action::OlderFailed { conversation_id, error } => {
            if state.thread.conversation_id == Some(conversation_id) {
                state.thread.loading_older = false;
                state.thread.focus = None;
                state.thread_rev += 1;
                if !state.thread.loaded {
                    // Opened at a hit that could not be loaded: show the
                    // newest messages instead of a spinner.
                    effects.push(Effect::LoadMessages(conversation_id));
                }
            }
            state.error = Some(error);
        }
        Action::FocusShown => {
            if state.thread.focus.take().is_some() {
                state.thread_rev += 1;
            }
        }
        Action::SetFilter(filter) => {
            if state.filter != filter {
                state.filter = filter;
                state.list_rev += 1;
            }
        }
        Action::OpenSearch => {
            if !state.search.open {
                state.search.open = true;
                state.list_rev += 1;
            }
        }
        Action::CloseSearch => {
            if state.search.open {
                state.search = Search::default();
                state.list_rev += 1;
            }
        }
        Action::SearchQuery(query) => {
            let search = &mut state.search;
            search.open = true;
            search.seq += 1;
            search.failed = false;
            if query.trim().is_empty() {
                search.hits.clear();
                search.searched = None;
                search.loading = false;
            } else {
                search.loading = true;
                effects.push(Effect::Search { seq: search.seq });
            }
            search.query = query;
            state.list_rev += 1;
        }
        Action::SearchResults { seq, hits } => {
            if seq == state.search.seq {
                let search = &mut state.search;
                search.hits = hits;
                search.searched = Some(search.query.clone());
                search.loading = false;
                state.list_rev += 1;
            }
        }
        Action::SearchFailed { seq, error } => {
            if seq == state.search.seq {
                state.search.loading = false;
                state.search.failed = true;
                state.list_rev += 1;
                state.error = Some(error);
            }
        }
        Action::OpenHit(index) => {
            let Some(hit) = state.search.hits.get(index).cloned() else { return effects };
            let (conversation_id, message_id) = (hit.message.conversation_id, hit.message.id);
            if state.conversation(conversation_id).is_none() && hit.conversation.is_none() {
                state.error = Some(IpcError::new(
                    parley_types::ErrorCode::NotFound,
                    "That conversation is not in the loaded list. Scroll the list or narrow the search.",
                ));
                return effects;
            }
            if let (None, Some(c)) = (state.conversation(conversation_id), hit.conversation.clone())
            {
                // Beyond the pages the list has loaded: list it now.
                upsert_conversation(&mut state.conversations, c);
                state.list_rev += 1;
            }
            select(state, conversation_id, &mut effects);
            state.thread.focus = Some(message_id);
            state.thread.focus_jumped = false;
            state.thread.highlight = Some(message_id);
            state.thread_rev += 1;
            state.list_rev += 1;
            if !state.thread.loaded {
                // Opened at the hit in one request, not the newest page first.
                effects.retain(|e| *e != Effect::LoadMessages(conversation_id));
            }
            seek_focus(state, &mut effects);
        }
        Action::ToggleHelp => state.help_open = !state.help_open,
        Action::ToggleContact => {
            state.contact_open = !state.contact_open;
            state.thread_rev += 1;
        }
        Action::Escape => {
            if state.help_open {
                state.help_open = false;
            } else if state.privacy.is_some() {
                state.privacy = None;
            } else if state.campaigns_open {
                state.campaigns_open = false;
            } else if state.channels_open {
                state.channels_open = false;
            } else if state.contacts_open {
                state.contacts_open = false;
            } else if state.templates_open {
                state.templates_open = false;
            } else if state.welcome.is_some()
                && !state.app_info.as_ref().is_some_and(|i| i.first_run)
            {
                // Asked for again from Channels: Escape goes back. On first
                // run the user must choose.
                state.welcome = None;
            } else if state.contact_open {
                state.contact_open = false;
                state.thread_rev += 1;
            } else if state.search.open {
                state.search = Search::default();
                state.list_rev += 1;
            } else if state.thread.picker.take().is_some() || state.thread.reply_to.take().is_some()
            {
                state.thread_rev += 1;
            }
        }
        Action::ReplyTo(id) => {
            let channel = state.selected_conversation().map(|c| c.channel);
            if channel.is_some_and(|ch| state.thread.find(id).is_some_and(|m| can_reply(m, ch))) {
                state.thread.reply_to = Some(id);
                state.thread.picker = None;
                state.thread_rev += 1;
            }
        }
        Action::CancelReply => {
            if state.thread.reply_to.take().is_some() {
                state.thread_rev += 1;
            }
        }
        Action::TogglePicker(id) => {
            let t = &mut state.thread;
            t.picker = if t.picker == Some(id) || t.find(id).is_none() { None } else { Some(id) };
            state.thread_rev += 1;
        }
        Action::React { message_id, emoji } => {
            state.thread.picker = None;
            state.thread_rev += 1;
            let Some(channel) = state.selected_conversation().map(|c| c.channel) else {
                return effects;
            };
            let m = state.thread.messages.iter_mut().find(|m| m.id == message_id);
            let Some(m) = m.filter(|m| can_react(m, channel)) else {
                return effects;
            };
            let previous = our_reaction(m).map(str::to_owned);
            let emoji = reaction_after_pick(previous.as_deref(), &emoji);
            set_our_reaction(m, Some(&emoji));
            effects.push(Effect::React { message_id, emoji, previous });
        }
        Action::Reacted(message) => {
            if state.thread.conversation_id == Some(message.conversation_id)
                && upsert_message(&mut state.thread.messages, message)
            {
                state.thread_rev += 1;
            }
        }
        Action::ReactRefused { message_id, previous, error } => {
            if let Some(m) = state.thread.messages.iter_mut().find(|m| m.id == message_id) {
                set_our_reaction(m, previous.as_deref());
                state.thread_rev += 1;
            }
            state.error = Some(error);
        }
        Action::Retry(id) => {
            let m = state.thread.messages.iter_mut().find(|m| m.id == id);
            if let Some(m) = m.filter(|m| m.status == Some(DeliveryStatus::Failed)) {
                // The only step back a status may take; the old sentence is
                // kept (hidden) for a refused retry.
                m.status = Some(DeliveryStatus::Sending);
                state.thread_rev += 1;
                effects.push(Effect::Retry(id));
            }
        }
        Action::Retried(message) => {
            if state.thread.conversation_id == Some(message.conversation_id)
                && upsert_message(&mut state.thread.messages, message)
            {
                state.thread_rev += 1;
            }
        }
        Action::RetryRefused { message_id, error } => {
            let m = state.thread.messages.iter_mut().find(|m| m.id == message_id);
            if let Some(m) = m.filter(|m| m.status == Some(DeliveryStatus::Sending)) {
                m.status = Some(DeliveryStatus::Failed);
                state.thread_rev += 1;
            }
            state.error = Some(error);
        }
        Action::Delete(id) => effects.push(Effect::Delete(id)),
        Action::MessagesFailed { conversation_id, error } => {
            if state.thread.conversation_id == Some(conversation_id) {
                state.thread.failed = true;
                state.thread_rev += 1;
            }
            state.error = Some(error);
        }
        Action::RetryMessages => {
            if let Some(id) = state.thread.conversation_id {
                state.thread.failed = false;
                state.thread_rev += 1;
                effects.push(Effect::LoadMessages(id));
            }
        }
        Action::Event(InboxEvent::ConversationChanged { conversation }) => {
            let id = conversation.id;
            if upsert_conversation(&mut state.conversations, conversation) {
                state.list_rev += 1;
            }
            if state.selected == Some(id) && state.focused {
                mark_read(state, id, &mut effects);
            }
        }
        Action::MessageSent(message)
            if state.thread.has_newer
                && state.thread.conversation_id == Some(message.conversation_id) =>
        {
            // The thread shows an old stretch: go to the newest, where the
            // agent's message is.
            let id = message.conversation_id;
            state.thread = Thread { conversation_id: Some(id), ..Thread::default() };
            state.thread_rev += 1;
            effects.push(Effect::LoadMessages(id));
        }
        Action::Event(InboxEvent::MessageChanged { message })
            if state.thread.has_newer
                && state.thread.conversation_id == Some(message.conversation_id) =>
        {
            // Only what is shown is updated: a new message belongs past the
            // loaded stretch and arrives with the newer pages.
            if let Some(m) = state.thread.messages.iter_mut().find(|m| m.id == message.id) {
                *m = merge_message(m, message);
                state.thread_rev += 1;
            }
        }
        Action::Event(InboxEvent::MessageChanged { message }) | Action::MessageSent(message) => {
            if state.thread.conversation_id == Some(message.conversation_id)
                && upsert_message(&mut state.thread.messages, message)
            {
                state.thread_rev += 1;
            }
        }
        Action::Event(InboxEvent::MessageRemoved { conversation_id, message_id }) => {
            if state.thread.conversation_id == Some(conversation_id) {
                let before = state.thread.messages.len();
                state.thread.messages.retain(|m| m.id != message_id);
                if state.thread.reply_to == Some(message_id) {
                    state.thread.reply_to = None;
                }
                if state.thread.messages.len() != before {
                    state.thread_rev += 1;
                }
            }
        }
        Action::Event(InboxEvent::ReactionFailed { error, .. }) => {
            // The core restored the reaction from before and reports the
            // message itself; the reason goes to the banner.
            state.error = Some(IpcError::new(ErrorCode::RetryLater, error));
        }
        Action::Event(InboxEvent::OpenConversation { conversation_id }) => {
            select(state, conversation_id, &mut effects)
        }
        Action::Event(InboxEvent::SyncStateChanged { state: sync }) => {
            state.sync = sync;
            state.sync_from_event = true;
            state.sync_rev += 1;
        }
        Action::Select(id) => select(state, id, &mut effects),
        Action::SelectNext | Action::SelectPrevious => {
            // Follows the filtered list the agent sees.
            let len = state.visible.len();
            if len == 0 {
                return effects;
            }
            let next = matches!(action, Action::SelectNext);
            let index = match state.selected.and_then(|id| state.visible_index_of(id)) {
                None if next => 0,
                None => len - 1,
                Some(i) if next => (i + 1).min(len - 1),
                Some(i) => i.saturating_sub(1),
            };
            let id = state.conversations[state.visible[index]].id;
            select(state, id, &mut effects);
        }
        Action::FocusChanged(focused) => {
            state.focused = focused;
            if let (true, Some(id)) = (focused, state.selected) {
                mark_read(state, id, &mut effects);
            }
        }
        Action::Failed(error) if error.code == ErrorCode::Locked => locked(state),
        Action::Failed(error) => state.error = Some(error),
        Action::DismissError => state.error = None,
        Action::SetClosed { conversation_id, closed } => {
            // The core's ConversationChanged updates the row and the filter.
            effects.push(Effect::SetClosed { conversation_id, closed });
        }
        Action::OpenPrivacy(conversation) => {
            close_screens(state);
            state.privacy = Some(conversation);
        }
        Action::ClosePrivacy => state.privacy = None,
        Action::LockStateLoaded(lock) => {
            let first = !state.lock_known;
            state.lock_known = true;
            if lock.locked {
                state.lock = lock;
                locked(state);
            } else {
                let was_locked = state.lock.locked;
                state.lock = lock;
                if first || was_locked {
                    effects.push(Effect::LoadConversations);
                }
            }
        }
        Action::Unlocked(lock) => {
            state.lock = lock;
            state.lock_known = true;
            state.error = None;
            state.conversations_failed = false;
            effects.push(Effect::LoadConversations);
        }
        Action::Event(InboxEvent::Locked) => {
            state.lock.enabled = true;
            state.lock.locked = true;
            locked(state);
        }
        // The Campaigns screen reads the totals itself while it is open.
        Action::Event(InboxEvent::CampaignChanged { .. }) => {}
        Action::Event(InboxEvent::ExportProgress { done, total }) => {
            // Only for an export this window started; never backwards.
            if let Some((seen, _)) = state.export_progress {
                if done >= seen {
                    state.export_progress = Some((done, total));
                }
            }
        }
        Action::ExportStarted => {
            state.exporting = true;
            state.export_progress = Some((0, 0));
        }
        Action::ExportEnded => state.exporting = false,
        // The Contacts screen listens for these itself.
        Action::Event(InboxEvent::ContactsImportProgress { .. } | InboxEvent::ContactsChanged) => {}
        Action::Event(InboxEvent::ConversationRemoved { conversation_id }) => {
            let before = state.conversations.len();
            state.conversations.retain(|c| c.id != conversation_id);
            if state.conversations.len() != before {
                state.list_rev += 1;
            }
            if state.selected == Some(conversation_id) {
                state.selected = None;
                state.thread = Thread::default();
                state.thread_rev += 1;
            }
            state.search.hits.retain(|h| h.message.conversation_id != conversation_id);
        }
    }
    if matches!(state.privacy, Some(Some(id)) if state.conversation(id).is_none())
        && state.conversations_loaded
    {
        // The conversation the screen was opened for is gone (erased).
        state.privacy = Some(None);
    }
    effects
}

/// Close every screen over the inbox (and the help), so one shows at a time.
/// The welcome is left to the caller: Privacy & data opens over it.
fn close_screens(state: &mut Inbox) {
    state.help_open = false;
    state.privacy = None;
    state.channels_open = false;
    state.campaigns_open = false;
    state.contacts_open = false;
    state.templates_open = false;
}

/// The app locked: forget everything it showed, until unlocked.
fn locked(state: &mut Inbox) {
    state.lock.locked = true;
    state.lock_known = true;
    state.conversations.clear();
    state.conversations_loaded = false;
    state.conversations_failed = false;
    state.more_conversations = false;
    state.loading_more_conversations = false;
    state.conversations_cursor = None;
    state.selected = None;
    state.thread = Thread::default();
    state.search = Search::default();
    close_screens(state);
    state.error = None;
    state.export_progress = None;
    state.exporting = false;
    state.list_rev += 1;
    state.thread_rev += 1;
}

/// Asks for the page before the first loaded message, once at a time.
fn load_older(state: &mut Inbox, effects: &mut Vec<Effect>) {
    let t = &mut state.thread;
    let (Some(conversation_id), Some(first)) = (t.conversation_id, t.messages.first()) else {
        return;
    };
    if t.loaded && t.has_older && !t.loading_older {
        t.loading_older = true;
        state.thread_rev += 1;
        effects.push(Effect::LoadOlder { conversation_id, before: first.id });
    }
}

/// A search hit that is not loaded: open the thread around it in one
/// request (one page wherever it is; newer pages load as the agent scrolls
/// down), or say it is gone.
fn seek_focus(state: &mut Inbox, effects: &mut Vec<Effect>) {
    let Some(target) = state.thread.focus else { return };
    if state.thread.messages.iter().any(|m| m.id == target) {
        return; // the view scrolls to it
    }
    let t = &mut state.thread;
    if let (Some(conversation_id), false, false) =
        (t.conversation_id, t.loading_older, t.focus_jumped)
    {
        t.focus_jumped = true;
        t.loading_older = true;
        effects.push(Effect::LoadAround { conversation_id, target });
        state.thread_rev += 1;
    } else if t.loading_older {
        // A page already on its way; its answer seeks again.
    } else {
        state.thread.focus = None;
        state.error = Some(IpcError::new(
            parley_types::ErrorCode::NotFound,
            "That message is no longer in the conversation (it may have been deleted).",
        ));
    }
}

/// Adds an older page to the thread: unique ids, oldest first. The page is
/// normally all older than what is loaded, but a message that changed in
/// between may be in both; the loaded copy (kept fresh by events) wins.
pub fn merge_older(list: &mut Vec<Message>, older: Vec<Message>) {
    let loaded: std::collections::HashSet<i64> = list.iter().map(|m| m.id).collect();
    let mut merged: Vec<Message> = older.into_iter().filter(|m| !loaded.contains(&m.id)).collect();
    if merged.is_empty() {
        return;
    }
    merged.append(list);
    merged.sort_by(message_order);
    *list = merged;
}

fn select(state: &mut Inbox, id: i64, effects: &mut Vec<Effect>) {
    if state.conversation(id).is_none() {
        return;
    }
    if state.selected != Some(id) {
        state.selected = Some(id);
        state.thread = Thread { conversation_id: Some(id), ..Thread::default() };
        state.thread_rev += 1;
        state.list_rev += 1;
        effects.push(Effect::LoadMessages(id));
    }
    mark_read(state, id, effects);
}

/// Asks the core to mark `id` read if it has unread messages, and clears the
/// badge right away; the core's ConversationChanged confirms it.
fn mark_read(state: &mut Inbox, id: i64, effects: &mut Vec<Effect>) {
    let Some(c) = state.conversations.iter_mut().find(|c| c.id == id) else { return };
    if c.unread > 0 {
        c.unread = 0;
        state.list_rev += 1;
        effects.push(Effect::MarkRead(id));
    }
}

/// Whether the conversation's 24-hour window is open at `now`.
pub fn window_open(c: &ConversationSummary, now: UnixMillis) -> bool {
    c.window_expires_at.is_some_and(|t| t > now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(id: i64, last_at: i64, unread: u32) -> ConversationSummary {
        ConversationSummary {
            id,
            channel: ChannelKind::Whatsapp,
            title: format!("Customer {id}"),
            handle: format!("+1555000{id}"),
            last_preview: format!("preview {last_at}"),
            last_at,
            unread,
            window_expires_at: Some(last_at + parley_types::WINDOW_MILLIS),
            draft: None,
            closed: false,
        }
    }

    fn msg(id: i64, conversation_id: i64, sent_at: i64, status: Option<DeliveryStatus>) -> Message {
        Message {
            id,
            conversation_id,
            provider_id: None,
            direction: if status.is_some() { Direction::Outbound } else { Direction::Inbound },
            kind: "text".into(),
            body: format!("message {id}"),
            sent_at,
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

    fn ids(state: &Inbox) -> Vec<i64> {
        state.conversations.iter().map(|c| c.id).collect()
    }

    fn loaded(list: Vec<ConversationSummary>) -> Inbox {
        let mut s = Inbox::default();
        reduce(&mut s, Action::ConversationsLoaded(list));
        s
    }

    fn changed(c: ConversationSummary) -> Action {
        Action::Event(InboxEvent::ConversationChanged { conversation: c })
    }

    fn message_changed(m: Message) -> Action {
        Action::Event(InboxEvent::MessageChanged { message: m })
    }

    fn is_sorted(list: &[ConversationSummary]) -> bool {
        list.windows(2).all(|w| conversation_order(&w[0], &w[1]) == Ordering::Less)
    }

    #[test]
    fn snapshot_is_sorted_newest_first() {
        let s = loaded(vec![conv(1, 100, 0), conv(2, 300, 0), conv(3, 200, 0), conv(4, 300, 0)]);
        assert_eq!(ids(&s), vec![4, 2, 3, 1]);
        assert!(s.conversations_loaded);
    }

    #[test]
    fn conversation_changes_upsert_and_reorder() {
        let mut s = loaded(vec![conv(1, 100, 0), conv(2, 200, 0), conv(3, 300, 0)]);
        // New message in the oldest conversation: moves to the top.
        reduce(&mut s, changed(conv(1, 400, 2)));
        assert_eq!(ids(&s), vec![1, 3, 2]);
        assert_eq!(s.conversations[0].unread, 2);
        // A brand-new conversation lands in order.
        reduce(&mut s, changed(conv(9, 250, 1)));
        assert_eq!(ids(&s), vec![1, 3, 9, 2]);
        // The same change again is a no-op, not a duplicate.
        let rev = s.list_rev;
        reduce(&mut s, changed(conv(9, 250, 1)));
        assert_eq!(ids(&s), vec![1, 3, 9, 2]);
        assert_eq!(s.list_rev, rev, "no re-render for a repeated event");
        // Unread cleared without a new message: same place, new data.
        reduce(&mut s, changed(conv(3, 300, 0)));
        assert_eq!(ids(&s), vec![1, 3, 9, 2]);
        // A stale change (older than shown) is ignored.
        reduce(&mut s, changed(conv(1, 50, 7)));
        assert_eq!(s.conversations[0].last_at, 400);
        assert_eq!(s.conversations[0].unread, 2);
        assert!(is_sorted(&s.conversations));
    }

    #[test]
    fn upsert_keeps_order_under_many_random_moves() {
        let mut list: Vec<ConversationSummary> = (0..200).map(|i| conv(i, i * 10, 0)).collect();
        list.sort_by(conversation_order);
        // Deterministic pseudo-random walk.
        let mut x: i64 = 12345;
        for step in 0..2_000 {
            x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
            let id = x % 250; // some new, most existing
            let last_at = 2_000 + step + (x % 7);
            upsert_conversation(&mut list, conv(id, last_at, 0));
            assert!(is_sorted(&list), "sorted after step {step}");
        }
        let mut seen: Vec<i64> = list.iter().map(|c| c.id).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), list.len(), "ids stay unique");
    }

    #[test]
    fn events_before_the_snapshot_are_merged_not_lost() {
        let mut s = Inbox::default();
        // Pushed while list_conversations was in flight.
        reduce(&mut s, changed(conv(2, 500, 3)));
        reduce(&mut s, changed(conv(7, 450, 1)));
        // The snapshot was taken before conversation 2 changed.
        reduce(&mut s, Action::ConversationsLoaded(vec![conv(1, 100, 0), conv(2, 200, 0)]));
        assert_eq!(ids(&s), vec![2, 7, 1]);
        assert_eq!(s.conversation(2).unwrap().unread, 3);
    }

    #[test]
    fn selecting_loads_messages_and_marks_read_only_when_unread() {
        let mut s = loaded(vec![conv(1, 100, 0), conv(2, 200, 4)]);
        let fx = reduce(&mut s, Action::Select(2));
        assert_eq!(fx, vec![Effect::LoadMessages(2), Effect::MarkRead(2)]);
        assert_eq!(s.selected, Some(2));
        assert_eq!(s.conversation(2).unwrap().unread, 0, "badge clears at once");
        assert!(!s.thread.loaded);

        let fx = reduce(&mut s, Action::Select(1));
        assert_eq!(fx, vec![Effect::LoadMessages(1)], "no mark_read without unread");

        // Re-selecting the open conversation does not reload it.
        assert!(reduce(&mut s, Action::Select(1)).is_empty());
        // Unknown ids are ignored.
        assert!(reduce(&mut s, Action::Select(99)).is_empty());
        assert_eq!(s.selected, Some(1));
    }

    #[test]
    fn new_unread_in_the_open_conversation_is_marked_read_only_when_focused() {
        let mut s = loaded(vec![conv(1, 100, 0)]);
        reduce(&mut s, Action::Select(1));
        assert_eq!(reduce(&mut s, changed(conv(1, 200, 1))), vec![Effect::MarkRead(1)]);
        reduce(&mut s, Action::FocusChanged(false));
        assert!(reduce(&mut s, changed(conv(1, 300, 1))).is_empty());
        assert_eq!(s.conversation(1).unwrap().unread, 1);
        assert_eq!(reduce(&mut s, Action::FocusChanged(true)), vec![Effect::MarkRead(1)]);
        assert_eq!(s.conversation(1).unwrap().unread, 0);
    }

    #[test]
    fn keyboard_next_and_previous_follow_list_order() {
        let mut s = loaded(vec![conv(1, 100, 0), conv(2, 200, 0), conv(3, 300, 0)]);
        // Order is 3, 2, 1.
        reduce(&mut s, Action::SelectNext);
        assert_eq!(s.selected, Some(3), "first from nothing");
        reduce(&mut s, Action::SelectNext);
        assert_eq!(s.selected, Some(2));
        reduce(&mut s, Action::SelectNext);
        reduce(&mut s, Action::SelectNext);
        assert_eq!(s.selected, Some(1), "stops at the end");
        reduce(&mut s, Action::SelectPrevious);
        assert_eq!(s.selected, Some(2));
        reduce(&mut s, Action::SelectPrevious);
        reduce(&mut s, Action::SelectPrevious);
        assert_eq!(s.selected, Some(3), "stops at the top");
        let mut empty = loaded(vec![]);
        assert!(reduce(&mut empty, Action::SelectNext).is_empty());
        assert_eq!(empty.selected, None);
    }

    #[test]
    fn thread_upserts_by_id_and_orders_oldest_first() {
        let mut s = loaded(vec![conv(1, 100, 0)]);
        reduce(&mut s, Action::Select(1));
        reduce(
            &mut s,
            Action::MessagesLoaded {
                conversation_id: 1,
                messages: vec![msg(11, 1, 20, None), msg(10, 1, 10, None)],
            },
        );
        let order = |s: &Inbox| s.thread.messages.iter().map(|m| m.id).collect::<Vec<_>>();
        assert_eq!(order(&s), vec![10, 11]);
        // An event for the open thread appends; a repeat does not duplicate.
        reduce(&mut s, message_changed(msg(12, 1, 30, None)));
        reduce(&mut s, message_changed(msg(12, 1, 30, None)));
        assert_eq!(order(&s), vec![10, 11, 12]);
        // A late-arriving older message slots in by time.
        reduce(&mut s, message_changed(msg(9, 1, 5, None)));
        assert_eq!(order(&s), vec![9, 10, 11, 12]);
        // Messages of other conversations are not the open thread's business.
        reduce(&mut s, message_changed(msg(50, 2, 40, None)));
        assert_eq!(order(&s), vec![9, 10, 11, 12]);
    }

    #[test]
    fn outbound_echo_then_status_updates() {
        let mut s = loaded(vec![conv(1, 100, 0)]);
        reduce(&mut s, Action::Select(1));
        reduce(&mut s, Action::MessagesLoaded { conversation_id: 1, messages: vec![] });
        reduce(&mut s, Action::MessageSent(msg(20, 1, 50, Some(DeliveryStatus::Sending))));
        let status = |s: &Inbox| s.thread.messages[0].status;
        assert_eq!(status(&s), Some(DeliveryStatus::Sending));
        let mut accepted = msg(20, 1, 50, Some(DeliveryStatus::Accepted));
        accepted.provider_id = Some("wamid.X".into());
        reduce(&mut s, message_changed(accepted));
        assert_eq!(status(&s), Some(DeliveryStatus::Accepted));
        assert_eq!(s.thread.messages[0].provider_id.as_deref(), Some("wamid.X"));
        reduce(&mut s, message_changed(msg(20, 1, 50, Some(DeliveryStatus::Read))));
        assert_eq!(s.thread.messages.len(), 1);
        assert_eq!(status(&s), Some(DeliveryStatus::Read));
        assert_eq!(
            s.thread.messages[0].provider_id.as_deref(),
            Some("wamid.X"),
            "a later report without the provider id keeps it"
        );
    }

    #[test]
    fn a_clicked_notification_opens_its_conversation() {
        let mut s = loaded(vec![conv(1, 100, 0), conv(2, 200, 3)]);
        let fx = reduce(&mut s, Action::Event(InboxEvent::OpenConversation { conversation_id: 2 }));
        assert_eq!(fx, vec![Effect::LoadMessages(2), Effect::MarkRead(2)]);
        assert_eq!(s.selected, Some(2));
    }

    #[test]
    fn a_deleted_failed_message_leaves_the_open_thread() {
        let mut s = loaded(vec![conv(1, 100, 0)]);
        reduce(&mut s, Action::Select(1));
        let messages = vec![msg(1, 1, 10, None), msg(2, 1, 20, Some(DeliveryStatus::Failed))];
        reduce(&mut s, Action::MessagesLoaded { conversation_id: 1, messages });
        let rev = s.thread_rev;
        reduce(
            &mut s,
            Action::Event(InboxEvent::MessageRemoved { conversation_id: 1, message_id: 2 }),
        );
        assert_eq!(s.thread.messages.iter().map(|m| m.id).collect::<Vec<_>>(), vec![1]);
        assert!(s.thread_rev > rev);
        // Another conversation's removal changes nothing here.
        reduce(
            &mut s,
            Action::Event(InboxEvent::MessageRemoved { conversation_id: 9, message_id: 1 }),
        );
        assert_eq!(s.thread.messages.len(), 1);
    }

    #[test]
    fn status_never_regresses_in_the_view() {
        let mut s = loaded(vec![conv(1, 100, 0)]);
        reduce(&mut s, Action::Select(1));
        reduce(&mut s, Action::MessagesLoaded { conversation_id: 1, messages: vec![] });
        reduce(&mut s, message_changed(msg(20, 1, 50, Some(DeliveryStatus::Read))));
        // Late, out-of-order reports.
        for late in [DeliveryStatus::Delivered, DeliveryStatus::Sent, DeliveryStatus::Sending] {
            let rev = s.thread_rev;
            reduce(&mut s, message_changed(msg(20, 1, 50, Some(late))));
            assert_eq!(s.thread.messages[0].status, Some(DeliveryStatus::Read), "{late:?}");
            assert_eq!(s.thread_rev, rev, "nothing to re-render");
        }
        // The send_text echo arriving after the events does not reset it.
        reduce(&mut s, Action::MessageSent(msg(20, 1, 50, Some(DeliveryStatus::Sending))));
        assert_eq!(s.thread.messages[0].status, Some(DeliveryStatus::Read));

        // Failed is terminal and keeps its sentence.
        let mut failed = msg(21, 1, 60, Some(DeliveryStatus::Failed));
        failed.error = Some("The 24-hour window is closed.".into());
        reduce(&mut s, message_changed(failed));
        reduce(&mut s, message_changed(msg(21, 1, 60, Some(DeliveryStatus::Delivered))));
        let m = &s.thread.messages[1];
        assert_eq!(m.status, Some(DeliveryStatus::Failed));
        assert_eq!(m.error.as_deref(), Some("The 24-hour window is closed."));
    }

    #[test]
    fn snapshot_does_not_undo_events_that_raced_it() {
        let mut s = loaded(vec![conv(1, 100, 0)]);
        reduce(&mut s, Action::Select(1));
        // Delivered arrives while list_messages is in flight...
        reduce(&mut s, message_changed(msg(20, 1, 50, Some(DeliveryStatus::Delivered))));
        // ...and the snapshot still says sent.
        reduce(
            &mut s,
            Action::MessagesLoaded {
                conversation_id: 1,
                messages: vec![msg(19, 1, 40, None), msg(20, 1, 50, Some(DeliveryStatus::Sent))],
            },
        );
        assert!(s.thread.loaded);
        assert_eq!(s.thread.messages.len(), 2);
        assert_eq!(s.thread.messages[1].status, Some(DeliveryStatus::Delivered));
    }

    #[test]
    fn stale_thread_answers_are_dropped() {
        let mut s = loaded(vec![conv(1, 100, 0), conv(2, 200, 0)]);
        reduce(&mut s, Action::Select(1));
        reduce(&mut s, Action::Select(2));
        reduce(
            &mut s,
            Action::MessagesLoaded { conversation_id: 1, messages: vec![msg(1, 1, 1, None)] },
        );
        assert_eq!(s.thread.conversation_id, Some(2));
        assert!(s.thread.messages.is_empty());
        assert!(!s.thread.loaded);
    }

    #[test]
    fn sync_state_event_beats_a_slower_snapshot() {
        let mut s = Inbox::default();
        reduce(&mut s, Action::SyncStateLoaded(SyncState::Connecting));
        assert_eq!(s.sync, SyncState::Connecting);
        let offline = SyncState::Offline { reason: "relay unreachable".into(), retry_in_secs: 4 };
        reduce(&mut s, Action::Event(InboxEvent::SyncStateChanged { state: offline.clone() }));
        reduce(&mut s, Action::SyncStateLoaded(SyncState::Running));
        assert_eq!(s.sync, offline);

        let mut fresh = Inbox::default();
        let e = IpcError::new(ErrorCode::Internal, "Parley's core is not reachable.");
        reduce(&mut fresh, Action::SyncStateFailed(e.clone()));
        assert_eq!(fresh.sync, SyncState::Error { reason: e.message.clone() });
        assert_eq!(fresh.error, Some(e));
    }

    #[test]
    fn failed_loads_offer_a_retry() {
        let mut s = Inbox::default();
        let e = IpcError::new(ErrorCode::Storage, "The inbox database could not be read.");
        reduce(&mut s, Action::ConversationsFailed(e.clone()));
        assert!(s.conversations_failed);
        assert_eq!(s.error, Some(e.clone()));
        assert_eq!(reduce(&mut s, Action::RetryConversations), vec![Effect::LoadConversations]);
        assert!(!s.conversations_failed);
        reduce(&mut s, Action::ConversationsLoaded(vec![conv(1, 100, 0)]));
        reduce(&mut s, Action::Select(1));
        reduce(&mut s, Action::MessagesFailed { conversation_id: 1, error: e });
        assert!(s.thread.failed);
        assert_eq!(reduce(&mut s, Action::RetryMessages), vec![Effect::LoadMessages(1)]);
        assert!(!s.thread.failed);
    }

    #[test]
    fn errors_show_until_dismissed() {
        let mut s = Inbox::default();
        let e = IpcError::new(ErrorCode::WindowClosed, "Only a template can be sent.");
        reduce(&mut s, Action::Failed(e.clone()));
        assert_eq!(s.error, Some(e));
        reduce(&mut s, Action::DismissError);
        assert_eq!(s.error, None);
    }

    #[test]
    fn window_open_edges() {
        let mut c = conv(1, 1_000, 0);
        c.window_expires_at = Some(5_000);
        assert!(window_open(&c, 4_999));
        assert!(!window_open(&c, 5_000));
        c.window_expires_at = None;
        assert!(!window_open(&c, 0));
    }

    #[test]
    fn events_deserialize_from_the_core_json_shape() {
        let json = serde_json::json!({
            "type": "message_changed",
            "message": {
                "id": 5, "conversation_id": 1, "provider_id": null, "direction": "outbound",
                "kind": "text", "body": "<script>alert(1)</script>", "sent_at": 10,
                "status": "failed", "error": "Window closed."
            }
        });
        let e: InboxEvent = serde_json::from_value(json).unwrap();
        let mut s = loaded(vec![conv(1, 100, 0)]);
        reduce(&mut s, Action::Select(1));
        reduce(&mut s, Action::Event(e));
        assert_eq!(s.thread.messages[0].body, "<script>alert(1)</script>");
        assert_eq!(s.thread.messages[0].status, Some(DeliveryStatus::Failed));
    }

    fn opened_with(messages: Vec<Message>) -> Inbox {
        let mut s = loaded(vec![conv(1, 100, 0), conv(2, 200, 0)]);
        reduce(&mut s, Action::Select(1));
        reduce(&mut s, Action::MessagesLoaded { conversation_id: 1, messages });
        s
    }

    fn thread_ids(s: &Inbox) -> Vec<i64> {
        s.thread.messages.iter().map(|m| m.id).collect()
    }

    #[test]
    fn older_history_pages_in_once_at_a_time() {
        let mut s = opened_with(vec![msg(10, 1, 100, None), msg(11, 1, 110, None)]);
        assert!(s.thread.has_older);
        let fx = reduce(&mut s, Action::LoadOlder);
        assert_eq!(fx, vec![Effect::LoadOlder { conversation_id: 1, before: 10 }]);
        assert!(reduce(&mut s, Action::LoadOlder).is_empty(), "one request at a time");
        // A message that changed meanwhile is in both pages: no duplicate.
        let page = vec![msg(8, 1, 80, None), msg(9, 1, 90, None), msg(10, 1, 100, None)];
        reduce(&mut s, Action::OlderLoaded { conversation_id: 1, before: 10, messages: page });
        assert_eq!(thread_ids(&s), vec![8, 9, 10, 11]);
        assert!(!s.thread.loading_older);
        // The start of history: an empty page stops further requests.
        let fx = reduce(&mut s, Action::LoadOlder);
        assert_eq!(fx, vec![Effect::LoadOlder { conversation_id: 1, before: 8 }]);
        reduce(&mut s, Action::OlderLoaded { conversation_id: 1, before: 8, messages: vec![] });
        assert!(!s.thread.has_older);
        assert!(reduce(&mut s, Action::LoadOlder).is_empty());
    }

    #[test]
    fn stale_older_pages_are_dropped() {
        let mut s = opened_with(vec![msg(10, 1, 100, None)]);
        reduce(&mut s, Action::LoadOlder);
        reduce(&mut s, Action::Select(2));
        reduce(
            &mut s,
            Action::MessagesLoaded { conversation_id: 2, messages: vec![msg(20, 2, 5, None)] },
        );
        reduce(
            &mut s,
            Action::OlderLoaded {
                conversation_id: 1,
                before: 10,
                messages: vec![msg(1, 1, 1, None)],
            },
        );
        assert_eq!(thread_ids(&s), vec![20]);
        // An empty thread has nothing to page before.
        let mut empty = opened_with(vec![]);
        assert!(!empty.thread.has_older);
        assert!(reduce(&mut empty, Action::LoadOlder).is_empty());
    }

    fn hit(id: i64, conversation_id: i64) -> SearchHit {
        SearchHit {
            message: msg(id, conversation_id, id, None),
            conversation_title: "C".into(),
            conversation: None,
        }
    }

    #[test]
    fn search_answers_only_for_the_current_query() {
        let mut s = loaded(vec![conv(1, 100, 0)]);
        assert_eq!(
            reduce(&mut s, Action::SearchQuery("ord".into())),
            vec![Effect::Search { seq: 1 }]
        );
        assert_eq!(
            reduce(&mut s, Action::SearchQuery("order".into())),
            vec![Effect::Search { seq: 2 }]
        );
        reduce(&mut s, Action::SearchResults { seq: 1, hits: vec![hit(1, 1)] });
        assert!(s.search.hits.is_empty(), "a slower answer to an older query is dropped");
        assert!(s.search.loading);
        reduce(&mut s, Action::SearchResults { seq: 2, hits: vec![hit(2, 1)] });
        assert_eq!(s.search.hits.len(), 1);
        assert_eq!(s.search.searched.as_deref(), Some("order"));
        assert!(reduce(&mut s, Action::SearchQuery("  ".into())).is_empty(), "blank: no call");
        assert!(s.search.hits.is_empty());
        reduce(&mut s, Action::Escape);
        assert!(!s.search.open);
    }

    #[test]
    fn opening_a_hit_selects_and_focuses_its_message() {
        let mut s = loaded(vec![conv(1, 100, 0), conv(2, 200, 0)]);
        reduce(&mut s, Action::SearchQuery("x".into()));
        let mut far = hit(7, 9);
        far.conversation = Some(conv(9, 1, 0));
        let hits = vec![hit(5, 2), hit(99, 7), far];
        reduce(&mut s, Action::SearchResults { seq: 1, hits });
        // Another conversation: opened at the hit in one request.
        let fx = reduce(&mut s, Action::OpenHit(0));
        assert_eq!(fx, vec![Effect::LoadAround { conversation_id: 2, target: 5 }]);
        assert_eq!(s.thread.focus, Some(5));
        assert_eq!(s.thread.highlight, Some(5));
        // The answer: 100 older messages (more may exist), the hit, 300 newer
        // (more exist): one page, replacing the thread.
        let page: Vec<Message> = (0..401).map(|i| msg(1000 + i, 2, 1000 + i, None)).collect();
        let mut page = page;
        page[AROUND_BEFORE] = msg(5, 2, 1000 + AROUND_BEFORE as i64, None);
        reduce(&mut s, Action::AroundLoaded { conversation_id: 2, target: 5, messages: page });
        assert!(s.thread.loaded && s.thread.has_older && s.thread.has_newer);
        assert_eq!(s.thread.focus, Some(5), "loaded now; the view scrolls to it");
        reduce(&mut s, Action::FocusShown);
        assert_eq!(s.thread.focus, None);
        assert_eq!(s.thread.highlight, Some(5), "still highlighted");
        assert!(s.search.open, "results stay for the next hit");

        // Scrolled to the bottom: the next newer page, appended.
        let last = s.thread.messages.last().unwrap().id;
        let fx = reduce(&mut s, Action::LoadNewer);
        assert_eq!(fx, vec![Effect::LoadNewer { conversation_id: 2, after: last }]);
        assert!(reduce(&mut s, Action::LoadNewer).is_empty(), "one in flight");
        // A new message meanwhile belongs past the loaded stretch: not shown yet.
        reduce(
            &mut s,
            Action::Event(InboxEvent::MessageChanged { message: msg(9_999, 2, 9_999, None) }),
        );
        assert!(s.thread.find(9_999).is_none());
        let newer: Vec<Message> = (0..3).map(|i| msg(2000 + i, 2, 2000 + i, None)).collect();
        reduce(&mut s, Action::NewerLoaded { conversation_id: 2, after: last, messages: newer });
        assert!(!s.thread.has_newer, "a short page: the newest is loaded");
        assert_eq!(s.thread.messages.last().unwrap().id, 2002);

        // The agent sends while an old stretch shows: back to the newest.
        let mut s2 = s.clone();
        s2.thread.has_newer = true;
        let fx = reduce(&mut s2, Action::MessageSent(msg(3_000, 2, 3_000, None)));
        assert_eq!(fx, vec![Effect::LoadMessages(2)]);

        // A conversation outside the loaded list (and unknown to the hit).
        reduce(&mut s, Action::OpenHit(1));
        assert_eq!(s.selected, Some(2));
        assert!(s.error.is_some());
        // One the list has not paged to yet, but the hit carries: listed and opened.
        s.error = None;
        let fx = reduce(&mut s, Action::OpenHit(2));
        assert_eq!(s.selected, Some(9));
        assert!(s.conversation(9).is_some());
        assert_eq!(fx, vec![Effect::LoadAround { conversation_id: 9, target: 7 }]);
    }

    #[test]
    fn a_hit_that_cannot_be_reached_is_reported() {
        let mut s = loaded(vec![conv(1, 100, 0)]);
        reduce(&mut s, Action::SearchQuery("x".into()));
        reduce(&mut s, Action::SearchResults { seq: 1, hits: vec![hit(3, 1)] });
        reduce(&mut s, Action::OpenHit(0));
        // The message was deleted meanwhile: the core answers without it.
        reduce(
            &mut s,
            Action::AroundLoaded {
                conversation_id: 1,
                target: 3,
                messages: vec![msg(9, 1, 9, None)],
            },
        );
        assert_eq!(s.thread.focus, None);
        assert!(s.error.is_some());
        // Not left on a spinner: the newest messages load instead.
        assert!(!s.thread.loaded);
        let mut s2 = loaded(vec![conv(1, 100, 0)]);
        reduce(&mut s2, Action::SearchQuery("x".into()));
        reduce(&mut s2, Action::SearchResults { seq: 1, hits: vec![hit(3, 1), hit(4, 1)] });
        reduce(&mut s2, Action::OpenHit(0));
        // The core refused (purged meanwhile): the newest page instead.
        let e = IpcError::new(ErrorCode::NotFound, "That message no longer exists.");
        let fx = reduce(&mut s2, Action::OlderFailed { conversation_id: 1, error: e });
        assert_eq!(fx, vec![Effect::LoadMessages(1)]);
        // A second hit while the first is on its way: its answer is stale,
        // and the second is asked for.
        reduce(&mut s2, Action::OpenHit(0));
        reduce(&mut s2, Action::OpenHit(1));
        let fx = reduce(
            &mut s2,
            Action::AroundLoaded {
                conversation_id: 1,
                target: 3,
                messages: vec![msg(3, 1, 3, None)],
            },
        );
        assert_eq!(fx, vec![Effect::LoadAround { conversation_id: 1, target: 4 }]);
    }

    #[test]
    fn filters_narrow_the_list_and_keyboard_navigation() {
        let mut wa = conv(1, 100, 2);
        wa.channel = ChannelKind::Whatsapp;
        let mut ig = conv(2, 200, 0);
        ig.channel = ChannelKind::Instagram;
        let mut ig2 = conv(3, 300, 1);
        ig2.channel = ChannelKind::Instagram;
        let mut s = loaded(vec![wa, ig, ig2]);
        let visible =
            |s: &Inbox| s.visible.iter().map(|&i| s.conversations[i].id).collect::<Vec<_>>();
        assert_eq!(visible(&s), vec![3, 2, 1]);
        reduce(&mut s, Action::SetFilter(ListFilter::Unread));
        assert_eq!(visible(&s), vec![3, 1]);
        reduce(&mut s, Action::SelectNext);
        assert_eq!(s.selected, Some(3));
        reduce(&mut s, Action::SelectNext);
        assert_eq!(s.selected, Some(1), "skips the read conversation 2");
        assert_eq!(visible(&s), vec![1], "3 was read and left; 1 is read but open, so it stays");
        reduce(&mut s, Action::SetFilter(ListFilter::Channel(ChannelKind::Instagram)));
        assert_eq!(visible(&s), vec![3, 2, 1], "the open conversation stays visible");
        reduce(&mut s, Action::Select(2));
        assert_eq!(visible(&s), vec![3, 2]);
        // Live changes respect the filter.
        let mut new_wa = conv(4, 400, 1);
        new_wa.channel = ChannelKind::Whatsapp;
        reduce(&mut s, changed(new_wa));
        assert_eq!(visible(&s), vec![3, 2]);
        assert_eq!(s.unread_count(), 1, "only the new one: opening marked the others read");
    }

    #[test]
    fn retry_replaces_failed_and_delete_asks_the_core() {
        let mut failed = msg(7, 1, 70, Some(DeliveryStatus::Failed));
        failed.error = Some("The 24-hour window is closed.".into());
        let mut s = opened_with(vec![failed.clone()]);
        let status = |s: &Inbox| s.thread.messages[0].status;
        assert_eq!(reduce(&mut s, Action::Retry(7)), vec![Effect::Retry(7)]);
        assert_eq!(status(&s), Some(DeliveryStatus::Sending), "shown as sending at once");
        assert!(reduce(&mut s, Action::Retry(7)).is_empty(), "no second retry while sending");
        // The core fails it again before the command's answer arrives...
        reduce(&mut s, message_changed(failed.clone()));
        assert_eq!(status(&s), Some(DeliveryStatus::Failed));
        // ...and the late answer does not hide the new failure.
        reduce(&mut s, Action::Retried(msg(7, 1, 70, Some(DeliveryStatus::Sending))));
        assert_eq!(status(&s), Some(DeliveryStatus::Failed));
        // A refused retry puts the failure back, with its sentence.
        reduce(&mut s, Action::Retry(7));
        let e = IpcError::new(ErrorCode::Storage, "The inbox database could not be written.");
        reduce(&mut s, Action::RetryRefused { message_id: 7, error: e });
        assert_eq!(status(&s), Some(DeliveryStatus::Failed));
        assert_eq!(s.thread.messages[0].error.as_deref(), Some("The 24-hour window is closed."));
        assert!(s.error.is_some());
        assert_eq!(reduce(&mut s, Action::Delete(7)), vec![Effect::Delete(7)]);
    }

    fn customer(id: i64, wamid: &str) -> Message {
        Message { provider_id: Some(wamid.into()), ..msg(id, 1, id * 10, None) }
    }

    #[test]
    fn reply_to_quotes_a_known_message_and_is_cancelled_by_escape() {
        let pending = msg(3, 1, 30, Some(DeliveryStatus::Sending)); // no provider id yet
        let mut s = opened_with(vec![customer(1, "wamid.A"), customer(2, "wamid.B"), pending]);
        reduce(&mut s, Action::ReplyTo(3));
        assert_eq!(s.thread.reply_to, None, "Meta does not know it yet");
        reduce(&mut s, Action::ReplyTo(99));
        assert_eq!(s.thread.reply_to, None);
        let rev = s.thread_rev;
        assert!(reduce(&mut s, Action::ReplyTo(2)).is_empty());
        assert_eq!(s.thread.reply_target().and_then(|m| m.provider_id.as_deref()), Some("wamid.B"));
        assert!(s.thread_rev > rev);
        // Another message replaces the quote; Escape drops it.
        reduce(&mut s, Action::ReplyTo(1));
        assert_eq!(s.thread.reply_to, Some(1));
        reduce(&mut s, Action::Escape);
        assert_eq!(s.thread.reply_to, None);
        reduce(&mut s, Action::ReplyTo(1));
        reduce(&mut s, Action::CancelReply);
        assert_eq!(s.thread.reply_to, None);
        // Escape closes overlays first.
        reduce(&mut s, Action::ReplyTo(1));
        reduce(&mut s, Action::ToggleHelp);
        reduce(&mut s, Action::Escape);
        assert_eq!(s.thread.reply_to, Some(1));
        // Switching conversation or losing the message drops the quote.
        reduce(
            &mut s,
            Action::Event(InboxEvent::MessageRemoved { conversation_id: 1, message_id: 1 }),
        );
        assert_eq!(s.thread.reply_to, None);
        reduce(&mut s, Action::ReplyTo(2));
        reduce(&mut s, changed(conv(2, 500, 0)));
        reduce(&mut s, Action::Select(2));
        assert_eq!(s.thread.reply_to, None);
    }

    #[test]
    fn a_deleted_message_cannot_be_quoted_or_reacted_to() {
        let gone = Message { deleted: true, ..customer(1, "wamid.A") };
        assert!(!can_reply(&gone, ChannelKind::Whatsapp));
        assert!(!can_react(&gone, ChannelKind::Whatsapp));
        let ok = customer(2, "wamid.B");
        assert!(can_react(&ok, ChannelKind::Whatsapp));
        assert!(!can_react(&ok, ChannelKind::Instagram), "the core cannot send it");
        let ours = Message {
            provider_id: Some("wamid.C".into()),
            ..msg(3, 1, 30, Some(DeliveryStatus::Read))
        };
        assert!(can_reply(&ours, ChannelKind::Whatsapp));
        assert!(!can_reply(&ours, ChannelKind::Instagram), "the core sends no quote there");
        assert!(
            !can_react(&ours, ChannelKind::Whatsapp),
            "Meta takes reactions on customers' messages"
        );
    }

    #[test]
    fn reacting_shows_at_once_and_picking_it_again_removes_it() {
        let theirs = Message {
            reactions: vec![Reaction { emoji: "😂".into(), by: Direction::Inbound }],
            ..customer(1, "wamid.A")
        };
        let mut s = opened_with(vec![theirs]);
        reduce(&mut s, Action::TogglePicker(1));
        assert_eq!(s.thread.picker, Some(1));
        let fx = reduce(&mut s, Action::React { message_id: 1, emoji: "👍".into() });
        assert_eq!(fx, vec![Effect::React { message_id: 1, emoji: "👍".into(), previous: None }]);
        assert_eq!(s.thread.picker, None, "picking closes the picker");
        assert_eq!(our_reaction(&s.thread.messages[0]), Some("👍"));
        assert_eq!(s.thread.messages[0].reactions.len(), 2, "the customer's stays");
        // Another emoji replaces ours; the same one again removes it.
        let fx = reduce(&mut s, Action::React { message_id: 1, emoji: "❤️".into() });
        assert_eq!(
            fx,
            vec![Effect::React {
                message_id: 1, emoji: "❤️".into(), previous: Some("👍".into())
            }]
        );
        let fx = reduce(&mut s, Action::React { message_id: 1, emoji: "❤️".into() });
        assert_eq!(
            fx,
            vec![Effect::React {
                message_id: 1,
                emoji: String::new(),
                previous: Some("❤️".into())
            }]
        );
        assert_eq!(our_reaction(&s.thread.messages[0]), None);
        // A refusal puts back what was shown, with the reason in the banner.
        let error =
            IpcError::new(ErrorCode::WindowClosed, "The window is closed. Send a template.");
        reduce(
            &mut s,
            Action::ReactRefused {
                message_id: 1,
                previous: Some("❤️".into()),
                error: error.clone(),
            },
        );
        assert_eq!(our_reaction(&s.thread.messages[0]), Some("❤️"));
        assert_eq!(s.error, Some(error));
        // A failure the core reports later reaches the banner too.
        reduce(
            &mut s,
            Action::Event(InboxEvent::ReactionFailed {
                conversation_id: 1,
                message_id: 1,
                error: "Your reaction could not be sent. Try again.".into(),
            }),
        );
        assert_eq!(
            s.error.as_ref().map(|e| e.message.as_str()),
            Some("Your reaction could not be sent. Try again.")
        );
        // Our own messages and unknown ones get no reaction.
        assert!(reduce(&mut s, Action::React { message_id: 42, emoji: "👍".into() }).is_empty());
    }

    #[test]
    fn escape_closes_the_picker_before_the_quote() {
        let mut s = opened_with(vec![customer(1, "wamid.A")]);
        reduce(&mut s, Action::ReplyTo(1));
        reduce(&mut s, Action::TogglePicker(1));
        reduce(&mut s, Action::Escape);
        assert_eq!((s.thread.picker, s.thread.reply_to), (None, Some(1)));
        reduce(&mut s, Action::TogglePicker(1));
        reduce(&mut s, Action::TogglePicker(1));
        assert_eq!(s.thread.picker, None, "toggles");
    }

    #[test]
    fn escape_closes_help_before_search() {
        let mut s = loaded(vec![]);
        reduce(&mut s, Action::OpenSearch);
        reduce(&mut s, Action::ToggleHelp);
        reduce(&mut s, Action::Escape);
        assert!(!s.help_open);
        assert!(s.search.open);
        reduce(&mut s, Action::Escape);
        assert!(!s.search.open);
    }

    fn lock(enabled: bool, locked: bool) -> LockState {
        LockState { enabled, locked, idle_minutes: 5 }
    }

    #[test]
    fn nothing_loads_before_the_lock_state_and_nothing_while_locked() {
        let mut s = Inbox::default();
        assert_eq!(
            reduce(&mut s, Action::LockStateLoaded(lock(false, false))),
            vec![Effect::LoadConversations]
        );
        let mut s = Inbox::default();
        assert!(reduce(&mut s, Action::LockStateLoaded(lock(true, true))).is_empty());
        assert!(s.lock.locked);
        assert_eq!(
            reduce(&mut s, Action::Unlocked(lock(true, false))),
            vec![Effect::LoadConversations]
        );
        assert!(!s.lock.locked);
    }

    #[test]
    fn locking_forgets_what_was_shown_and_a_locked_refusal_is_no_banner() {
        let mut s = loaded(vec![conv(1, 100, 0), conv(2, 200, 0)]);
        reduce(&mut s, Action::Select(1));
        reduce(&mut s, Action::OpenPrivacy(None));
        reduce(&mut s, Action::Event(InboxEvent::Locked));
        assert!(s.lock.locked && s.lock.enabled);
        assert!(s.conversations.is_empty() && s.visible.is_empty());
        assert_eq!((s.selected, s.privacy), (None, None));
        assert!(s.thread.messages.is_empty());
        let mut s = loaded(vec![conv(1, 100, 0)]);
        reduce(&mut s, Action::Failed(IpcError::new(ErrorCode::Locked, "Parley is locked.")));
        assert!(s.lock.locked);
        assert_eq!(s.error, None);
    }

    #[test]
    fn an_erased_conversation_leaves_the_list_and_the_thread() {
        let mut s = loaded(vec![conv(1, 100, 0), conv(2, 200, 0)]);
        reduce(&mut s, Action::Select(1));
        reduce(&mut s, Action::OpenPrivacy(Some(1)));
        reduce(&mut s, Action::Event(InboxEvent::ConversationRemoved { conversation_id: 1 }));
        assert_eq!(ids(&s), vec![2]);
        assert_eq!(s.selected, None);
        assert_eq!(s.thread.conversation_id, None);
        assert_eq!(s.privacy, Some(None), "the screen stays, no longer for that customer");
        assert_eq!(s.visible.len(), 1);
    }

    #[test]
    fn the_templates_screen_opens_alone_closes_with_escape_and_reloads_on_meta_changes() {
        let mut s = Inbox::default();
        reduce(&mut s, Action::OpenChannels);
        reduce(&mut s, Action::OpenTemplates);
        assert!(s.templates_open);
        assert!(!s.channels_open, "one screen at a time");
        let rev = s.templates_rev;
        reduce(&mut s, Action::Event(InboxEvent::TemplatesChanged));
        assert_eq!(s.templates_rev, rev + 1);
        reduce(&mut s, Action::Escape);
        assert!(!s.templates_open);
        reduce(&mut s, Action::OpenTemplates);
        reduce(&mut s, Action::OpenPrivacy(None));
        assert!(!s.templates_open);
        reduce(&mut s, Action::OpenTemplates);
        assert_eq!(s.privacy, None);
        reduce(&mut s, Action::CloseTemplates);
        assert!(!s.templates_open);
    }

    #[test]
    fn the_welcome_shows_on_first_run_only_and_channels_close_with_escape() {
        use crate::onboarding::WelcomeStep;
        let info = |first_run| AppInfo { sandbox: true, profile: "Sandbox".into(), first_run };
        let mut s = Inbox::default();
        reduce(&mut s, Action::AppInfoLoaded(info(true)));
        assert_eq!(s.welcome, Some(WelcomeStep::Choose));
        reduce(&mut s, Action::Escape);
        assert_eq!(s.welcome, Some(WelcomeStep::Choose), "on first run the user must choose");
        reduce(&mut s, Action::WelcomeDone);
        assert_eq!(s.welcome, None);
        assert!(!s.app_info.as_ref().unwrap().first_run);

        let mut s = Inbox::default();
        reduce(&mut s, Action::AppInfoLoaded(info(false)));
        assert_eq!(s.welcome, None);
        assert!(s.app_info_known);
        reduce(&mut s, Action::OpenCampaigns);
        assert!(s.campaigns_open);
        reduce(&mut s, Action::Escape);
        assert!(!s.campaigns_open, "Escape closes Campaigns");
        reduce(&mut s, Action::OpenCampaigns);
        reduce(&mut s, Action::OpenChannels);
        assert!(s.channels_open);
        assert!(!s.campaigns_open, "one screen at a time");
        reduce(&mut s, Action::ShowWelcome(WelcomeStep::Connect));
        assert!(!s.channels_open);
        reduce(&mut s, Action::Escape);
        assert_eq!(s.welcome, None, "asked for again, Escape goes back");
        reduce(&mut s, Action::OpenChannels);
        reduce(&mut s, Action::Escape);
        assert!(!s.channels_open);
        reduce(&mut s, Action::OpenContacts);
        assert!(s.contacts_open);
        reduce(&mut s, Action::OpenChannels);
        assert!(!s.contacts_open && s.channels_open, "one screen at a time");
        reduce(&mut s, Action::OpenContacts);
        assert!(!s.channels_open);
        reduce(&mut s, Action::Escape);
        assert!(!s.contacts_open, "Escape closes Contacts");

        let mut s = Inbox::default();
        reduce(&mut s, Action::AppInfoFailed(IpcError::new(ErrorCode::Storage, "No key.")));
        assert!(s.app_info_known && s.welcome.is_none() && s.error.is_some());
    }

    #[test]
    fn escape_closes_the_privacy_screen_and_progress_is_tracked() {
        let mut s = loaded(vec![conv(1, 100, 0)]);
        reduce(&mut s, Action::OpenPrivacy(None));
        // Events for an export this window did not start are ignored.
        reduce(&mut s, Action::Event(InboxEvent::ExportProgress { done: 1, total: 10 }));
        assert_eq!(s.export_progress, None);
        reduce(&mut s, Action::ExportStarted);
        assert!(s.exporting);
        reduce(&mut s, Action::Event(InboxEvent::ExportProgress { done: 5, total: 10 }));
        assert_eq!(s.export_progress, Some((5, 10)));
        reduce(&mut s, Action::ExportEnded);
        assert!(!s.exporting);
        // The last event may arrive after the command's answer.
        reduce(&mut s, Action::Event(InboxEvent::ExportProgress { done: 10, total: 10 }));
        assert_eq!(s.export_progress, Some((10, 10)));
        reduce(&mut s, Action::Event(InboxEvent::ExportProgress { done: 3, total: 10 }));
        assert_eq!(s.export_progress, Some((10, 10)), "never backwards");
        reduce(&mut s, Action::Escape);
        assert_eq!(s.privacy, None);
    }

    #[test]
    fn older_conversations_load_page_by_page_once_at_a_time() {
        let mut s = Inbox::default();
        // A full first page: ids 1..=500, newest (highest last_at) first.
        let page = |from: i64| -> Vec<ConversationSummary> {
            (from..from + CONVERSATION_PAGE as i64).map(|i| conv(i, 100_000 - i, 0)).collect()
        };
        reduce(&mut s, Action::ConversationsLoaded(page(1)));
        assert!(s.more_conversations, "a full page may have more behind it");
        let fx = reduce(&mut s, Action::LoadMoreConversations);
        assert_eq!(fx, vec![Effect::LoadConversationsBefore { last_at: 100_000 - 500, id: 500 }]);
        assert!(reduce(&mut s, Action::LoadMoreConversations).is_empty(), "one in flight");

        // An event moved conversation 501 up meanwhile: the page's older copy
        // of it is ignored, the rest appended in order.
        reduce(&mut s, changed(conv(501, 200_000, 1)));
        let rev = s.list_rev;
        reduce(&mut s, Action::MoreConversationsLoaded(page(501)));
        assert!(s.list_rev > rev);
        assert_eq!(s.conversations.len(), 1000);
        assert_eq!(s.conversations[0].id, 501);
        assert_eq!(s.conversations[0].unread, 1, "the event's newer copy stays");
        assert!(s.conversations.windows(2).all(|w| conversation_order(&w[0], &w[1]).is_lt()));
        assert_eq!(s.visible.len(), 1000, "the list shows them");

        // A status event touched a conversation far older than any page so
        // far: it is listed, but the next page still starts after the last
        // row the core listed, so nothing in between is skipped.
        reduce(&mut s, changed(conv(9_000, 1, 0)));
        let fx = reduce(&mut s, Action::LoadMoreConversations);
        assert_eq!(fx, vec![Effect::LoadConversationsBefore { last_at: 100_000 - 1000, id: 1000 }]);
        reduce(&mut s, Action::MoreConversationsLoaded(page(1001)));
        // A page that comes back after a reload is dropped.
        reduce(&mut s, Action::LoadMoreConversations);
        reduce(&mut s, Action::ConversationsLoaded(page(1)));
        let len = s.conversations.len();
        reduce(&mut s, Action::MoreConversationsLoaded(page(5000)));
        assert_eq!(s.conversations.len(), len, "stale page ignored");

        // A short page ends it.
        reduce(&mut s, Action::LoadMoreConversations);
        reduce(&mut s, Action::MoreConversationsLoaded(vec![conv(2000, 1, 0)]));
        assert!(!s.more_conversations);
        assert!(reduce(&mut s, Action::LoadMoreConversations).is_empty(), "complete");
    }

    #[test]
    fn a_failed_page_is_reported_and_retried_on_the_next_scroll() {
        let mut s = Inbox::default();
        let full: Vec<_> = (1..=CONVERSATION_PAGE as i64).map(|i| conv(i, 10_000 - i, 0)).collect();
        reduce(&mut s, Action::ConversationsLoaded(full));
        reduce(&mut s, Action::LoadMoreConversations);
        let e = IpcError::new(ErrorCode::Storage, "The disk is full. Free some space.");
        reduce(&mut s, Action::MoreConversationsFailed(e.clone()));
        assert_eq!(s.error, Some(e));
        assert_eq!(reduce(&mut s, Action::LoadMoreConversations).len(), 1, "retried");
    }

    #[test]
    fn open_and_closed_filters_follow_the_core() {
        let mut s = Inbox::default();
        let mut done = conv(2, 200, 0);
        done.closed = true;
        reduce(&mut s, Action::ConversationsLoaded(vec![conv(1, 100, 0), done]));
        reduce(&mut s, Action::SetFilter(ListFilter::Closed));
        assert_eq!(s.visible.len(), 1);
        assert_eq!(s.conversations[s.visible[0]].id, 2);
        reduce(&mut s, Action::SetFilter(ListFilter::Open));
        assert_eq!(s.conversations[s.visible[0]].id, 1);
        assert_eq!(s.visible.len(), 1);
        let fx = reduce(&mut s, Action::SetClosed { conversation_id: 1, closed: true });
        assert_eq!(fx, vec![Effect::SetClosed { conversation_id: 1, closed: true }]);
        // The customer wrote again: the core reopened it.
        let mut reopened = conv(2, 300, 1);
        reopened.closed = false;
        reduce(&mut s, changed(reopened));
        assert_eq!(s.visible.len(), 2, "both open now");
    }

    #[test]
    fn the_contact_panel_toggles_and_escape_closes_it() {
        let mut s = loaded(vec![conv(1, 100, 0)]);
        reduce(&mut s, Action::ToggleContact);
        assert!(s.contact_open);
        reduce(&mut s, Action::Escape);
        assert!(!s.contact_open);
    }
}
