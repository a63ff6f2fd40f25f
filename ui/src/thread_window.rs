//! Which messages of a long thread are in the DOM.
//!
//! Messages have very different heights (a photo, a one-word reply, a long
//! paragraph), so the thread does not use fixed-row arithmetic like the
//! conversation list. It renders a bounded slice of the loaded messages and
//! slides that slice when the agent nears either end; the view keeps the
//! message under the reader's eye in place while rows come and go.
//!
//! The slice is anchored on a message id, not an index, so older pages
//! prepended and new messages appended do not move what is on screen.

use parley_types::Message;

/// At most this many messages are rendered at once.
pub const MAX_ROWS: usize = 120;
/// How many messages one slide adds at an end.
pub const STEP: usize = 40;

/// The rendered slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadWindow {
    /// The first rendered message; `None` follows the newest messages.
    first: Option<i64>,
    count: usize,
}

impl Default for ThreadWindow {
    fn default() -> Self {
        ThreadWindow::bottom()
    }
}

fn position(messages: &[Message], id: i64) -> Option<usize> {
    messages.iter().rposition(|m| m.id == id)
}

impl ThreadWindow {
    /// The newest messages, following new arrivals.
    pub fn bottom() -> Self {
        ThreadWindow { first: None, count: MAX_ROWS / 2 }
    }

    pub fn follows_bottom(&self) -> bool {
        self.first.is_none()
    }

    /// The half-open index range to render.
    pub fn range(&self, messages: &[Message]) -> (usize, usize) {
        let len = messages.len();
        let count = self.count.clamp(1, MAX_ROWS);
        match self.first.and_then(|id| position(messages, id)) {
            Some(start) => (start, (start + count).min(len)),
            // Following, or the anchor is gone (deleted): the newest.
            None => (len.saturating_sub(count), len),
        }
    }

    fn set(&mut self, messages: &[Message], start: usize, end: usize) {
        let len = messages.len();
        self.count = (end - start).max(1);
        self.first = if end >= len || start >= len { None } else { Some(messages[start].id) };
    }

    /// Shows up to [`STEP`] older loaded messages, dropping newer ones past
    /// [`MAX_ROWS`]. Returns false when the first loaded message is already
    /// rendered (time to ask the core for an older page).
    pub fn slide_up(&mut self, messages: &[Message]) -> bool {
        let (start, end) = self.range(messages);
        if start == 0 {
            return false;
        }
        let new_start = start.saturating_sub(STEP);
        let new_end = end.min(new_start + MAX_ROWS);
        self.set(messages, new_start, new_end);
        true
    }

    /// Shows up to [`STEP`] newer messages, dropping older ones past
    /// [`MAX_ROWS`]. Returns false at the newest message.
    pub fn slide_down(&mut self, messages: &[Message]) -> bool {
        let (start, end) = self.range(messages);
        if end >= messages.len() {
            return false;
        }
        let new_end = (end + STEP).min(messages.len());
        let new_start = start.max(new_end.saturating_sub(MAX_ROWS));
        self.set(messages, new_start, new_end);
        true
    }

    /// Stops following the newest loaded message and stays where it is:
    /// before newer messages are fetched for a thread opened far back, so
    /// they are appended below instead of the slice jumping to their end.
    pub fn pin(&mut self, messages: &[Message]) {
        let (start, end) = self.range(messages);
        if let Some(first) = messages.get(start) {
            self.first = Some(first.id);
            self.count = (end - start).max(1);
        }
    }

    /// Centers the slice on message `id` (a search hit). Returns false when
    /// it is not loaded.
    pub fn reveal(&mut self, messages: &[Message], id: i64) -> bool {
        let Some(at) = position(messages, id) else { return false };
        let (start, end) = self.range(messages);
        if at >= start && at < end {
            return true;
        }
        let new_start = at.saturating_sub(MAX_ROWS / 4);
        let new_end = (new_start + MAX_ROWS / 2).min(messages.len());
        self.set(messages, new_start, new_end);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_types::Direction;

    fn thread(ids: std::ops::Range<i64>) -> Vec<Message> {
        ids.map(|id| Message {
            id,
            conversation_id: 1,
            provider_id: None,
            direction: Direction::Inbound,
            kind: "text".into(),
            body: String::new(),
            sent_at: id,
            status: None,
            error: None,
            reply_to: None,
            reactions: Vec::new(),
            deleted: false,
            media: None,
            forwarded: Default::default(),
            location: None,
        })
        .collect()
    }

    #[test]
    fn opens_on_the_newest_and_follows_arrivals() {
        let mut m = thread(0..1000);
        let w = ThreadWindow::bottom();
        assert_eq!(w.range(&m), (940, 1000));
        m.extend(thread(1000..1005));
        assert_eq!(w.range(&m), (945, 1005), "new messages show, the DOM stays bounded");
        assert_eq!(w.range(&thread(0..3)), (0, 3));
        assert_eq!(w.range(&[]), (0, 0));
    }

    #[test]
    fn sliding_up_and_down_stays_bounded() {
        let m = thread(0..10_000);
        let mut w = ThreadWindow::bottom();
        let mut slides = 0;
        while w.slide_up(&m) {
            let (s, e) = w.range(&m);
            assert!(e - s <= MAX_ROWS, "{s}..{e}");
            slides += 1;
        }
        assert_eq!(w.range(&m).0, 0, "reached the first loaded message");
        assert!(slides > 200);
        assert!(!w.follows_bottom());
        while w.slide_down(&m) {
            let (s, e) = w.range(&m);
            assert!(e - s <= MAX_ROWS);
        }
        assert_eq!(w.range(&m).1, 10_000);
        assert!(w.follows_bottom(), "back at the newest, it follows again");
    }

    #[test]
    fn older_pages_do_not_move_the_slice() {
        let mut m = thread(500..600);
        let mut w = ThreadWindow::bottom();
        while w.slide_up(&m) {}
        let first_before = m[w.range(&m).0].id;
        let mut older = thread(0..500);
        older.append(&mut m);
        let m = older;
        let (s, _) = w.range(&m);
        assert_eq!(m[s].id, first_before, "same message first on screen");
        assert!(w.slide_up(&m), "now there is more to show above");
    }

    #[test]
    fn reveal_brings_a_message_into_the_slice() {
        let m = thread(0..5_000);
        let mut w = ThreadWindow::bottom();
        assert!(w.reveal(&m, 123));
        let (s, e) = w.range(&m);
        assert!(s <= 123 && 123 < e && e - s <= MAX_ROWS);
        assert!(!w.reveal(&m, 99_999));
        // Revealing near the end follows the bottom again.
        assert!(w.reveal(&m, 4_990));
        assert!(w.range(&m).1 == 5_000);
    }

    #[test]
    fn a_deleted_anchor_falls_back_to_the_newest() {
        let mut m = thread(0..300);
        let mut w = ThreadWindow::bottom();
        w.slide_up(&m);
        w.slide_up(&m);
        let (s, _) = w.range(&m);
        m.remove(s);
        assert_eq!(w.range(&m).1, m.len());
    }

    #[test]
    fn a_pinned_slice_stays_put_when_newer_messages_are_appended() {
        let mut messages = thread(0..200);
        let mut w = ThreadWindow::bottom();
        let before = w.range(&messages);
        assert!(w.follows_bottom());
        w.pin(&messages);
        assert!(!w.follows_bottom());
        messages.extend(thread(200..700));
        assert_eq!(w.range(&messages), before, "the appended page is below, not shown yet");
        assert!(w.slide_down(&messages), "and reached by sliding down");
    }
}
