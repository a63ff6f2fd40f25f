//! Windowing math for the conversation list: which rows to render for a
//! scroll position, and how tall the spacers around them are.
//!
//! Rows have a fixed height, so everything is arithmetic on indices. All
//! inputs are CSS pixels as the DOM reports them (`f64`).

/// Half-open range of row indices `[start, end)` to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VisibleRange {
    pub start: usize,
    pub end: usize,
}

impl VisibleRange {
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    pub fn contains(&self, index: usize) -> bool {
        index >= self.start && index < self.end
    }

    /// Height of the spacer above the rendered rows.
    pub fn space_before(&self, row_height: f64) -> f64 {
        self.start as f64 * row_height
    }

    /// Height of the spacer below the rendered rows.
    pub fn space_after(&self, total: usize, row_height: f64) -> f64 {
        total.saturating_sub(self.end) as f64 * row_height
    }
}

fn sane(x: f64) -> f64 {
    if x.is_finite() && x > 0.0 {
        x
    } else {
        0.0
    }
}

/// Rows intersecting the viewport, widened by `overscan` rows on each side
/// and clamped to `[0, total)`.
///
/// A scroll offset past the end (the list just shrank) yields the last rows
/// rather than nothing, so the list never renders blank while the browser
/// clamps its scroll position.
pub fn visible_range(
    total: usize,
    scroll_top: f64,
    viewport_height: f64,
    row_height: f64,
    overscan: usize,
) -> VisibleRange {
    if total == 0 || !(row_height.is_finite() && row_height > 0.0) {
        return VisibleRange::default();
    }
    let scroll_top = sane(scroll_top);
    let viewport_height = sane(viewport_height);
    let max_top = (total as f64 * row_height - viewport_height).max(0.0);
    let scroll_top = scroll_top.min(max_top);

    let first = ((scroll_top / row_height).floor() as usize).min(total - 1);
    let last = ((scroll_top + viewport_height) / row_height).ceil() as usize;
    let last = last.clamp(first + 1, total);

    VisibleRange {
        start: first.saturating_sub(overscan),
        end: last.saturating_add(overscan).min(total),
    }
}

/// Total scroll height of the list.
pub fn total_height(total: usize, row_height: f64) -> f64 {
    total as f64 * row_height
}

/// The scroll offset that brings row `index` fully into view, or `None` when
/// it already is. Scrolls as little as possible.
pub fn scroll_to_reveal(
    index: usize,
    row_height: f64,
    scroll_top: f64,
    viewport_height: f64,
) -> Option<f64> {
    let scroll_top = sane(scroll_top);
    let viewport_height = sane(viewport_height);
    let top = index as f64 * row_height;
    let bottom = top + row_height;
    if viewport_height < row_height {
        // Unmeasured or tiny viewport: align the row's top.
        return (top != scroll_top).then_some(top);
    }
    if top < scroll_top {
        Some(top)
    } else if bottom > scroll_top + viewport_height {
        Some((bottom - viewport_height).max(0.0))
    } else {
        None
    }
}

/// Whether the rendered rows reach within `margin` rows of the end of a
/// list of `total`: time to load the next page. An empty list counts (a
/// filter may hide every loaded row), a never-measured one (no rows in
/// range while there are rows) does not.
pub fn near_end(range: VisibleRange, total: usize, margin: usize) -> bool {
    if total == 0 {
        return true;
    }
    !range.is_empty() && range.end + margin >= total
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: f64 = 80.0;

    #[test]
    fn empty_list_renders_nothing() {
        assert!(visible_range(0, 0.0, 800.0, H, 5).is_empty());
        assert_eq!(visible_range(0, 500.0, 800.0, H, 5), VisibleRange::default());
    }

    #[test]
    fn top_of_list_renders_viewport_plus_overscan_below() {
        // 800 px / 80 px = 10 rows visible, plus 5 overscan.
        let r = visible_range(50_000, 0.0, 800.0, H, 5);
        assert_eq!(r, VisibleRange { start: 0, end: 15 });
        assert_eq!(r.space_before(H), 0.0);
        assert_eq!(r.space_after(50_000, H), (50_000 - 15) as f64 * H);
    }

    #[test]
    fn middle_of_list_has_overscan_on_both_sides() {
        // Scrolled to row 1000 and a half.
        let r = visible_range(50_000, 1000.5 * H, 800.0, H, 5);
        assert_eq!(r.start, 995);
        // Rows 1000..=1010 intersect (a partial row at each end), +5.
        assert_eq!(r.end, 1016);
        assert!(r.contains(1000) && r.contains(1010));
        assert!(r.len() < 30, "only a window of rows, never the whole list");
    }

    #[test]
    fn bottom_of_list_is_clamped_to_total() {
        let total = 50_000;
        let bottom = total_height(total, H) - 800.0;
        let r = visible_range(total, bottom, 800.0, H, 5);
        assert_eq!(r.end, total);
        assert_eq!(r.start, total - 10 - 5);
        assert_eq!(r.space_after(total, H), 0.0);
    }

    #[test]
    fn scroll_past_end_after_shrink_still_shows_last_rows() {
        // The list had 1000 rows, the user was at the bottom, now it has 3.
        let r = visible_range(3, 1000.0 * H, 800.0, H, 2);
        assert_eq!(r, VisibleRange { start: 0, end: 3 });
        let r = visible_range(100, 1_000_000.0, 800.0, H, 0);
        assert_eq!(r, VisibleRange { start: 90, end: 100 });
    }

    #[test]
    fn list_shorter_than_viewport_renders_all() {
        assert_eq!(visible_range(4, 0.0, 800.0, H, 5), VisibleRange { start: 0, end: 4 });
    }

    #[test]
    fn unmeasured_viewport_and_garbage_inputs_are_safe() {
        // Before the first measurement the viewport is 0: render a few rows.
        let r = visible_range(100, 0.0, 0.0, H, 5);
        assert_eq!(r, VisibleRange { start: 0, end: 6 });
        assert_eq!(visible_range(100, f64::NAN, f64::INFINITY, H, 0).start, 0);
        assert_eq!(visible_range(100, -50.0, 800.0, H, 0), VisibleRange { start: 0, end: 10 });
        assert!(visible_range(100, 0.0, 800.0, 0.0, 5).is_empty());
    }

    #[test]
    fn exact_row_boundaries() {
        // Exactly at row 10: rows 10..20 visible, no partial rows.
        let r = visible_range(1000, 10.0 * H, 10.0 * H, H, 0);
        assert_eq!(r, VisibleRange { start: 10, end: 20 });
    }

    #[test]
    fn reveal_scrolls_minimally() {
        // Viewport shows rows 10..20.
        let top = 10.0 * H;
        let vp = 10.0 * H;
        assert_eq!(scroll_to_reveal(15, H, top, vp), None);
        assert_eq!(scroll_to_reveal(10, H, top, vp), None);
        assert_eq!(scroll_to_reveal(19, H, top, vp), None);
        assert_eq!(scroll_to_reveal(9, H, top, vp), Some(9.0 * H));
        assert_eq!(scroll_to_reveal(20, H, top, vp), Some(11.0 * H));
        assert_eq!(scroll_to_reveal(0, H, 0.0, 0.0), None);
        assert_eq!(scroll_to_reveal(5, H, 0.0, 0.0), Some(5.0 * H));
    }

    #[test]
    fn the_next_page_is_wanted_only_near_the_end() {
        let r = |start, end| VisibleRange { start, end };
        assert!(!near_end(r(0, 30), 500, 40), "the top of a long list");
        assert!(near_end(r(440, 470), 500, 40), "within the margin");
        assert!(near_end(r(0, 12), 12, 40), "a short list shows its end");
        assert!(near_end(r(0, 0), 0, 40), "everything filtered out");
        assert!(!near_end(r(0, 0), 500, 40), "not measured yet");
    }
}
