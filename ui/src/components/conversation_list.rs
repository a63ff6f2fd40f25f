//! The virtualised conversation list: only the rows in view (plus overscan)
//! are in the DOM; a canvas of the full height keeps the scrollbar honest.

use std::rc::Rc;

use web_sys::Element;
use yew::prelude::*;

use super::icons;
use super::search::{SearchResults, SidebarTools};
use crate::app::Dispatcher;
use crate::state::Action;
use crate::virtual_list::{near_end, scroll_to_reveal, total_height, visible_range, VisibleRange};
use crate::{dom, format};

/// Fixed row height. The stylesheet reads it from `--row-h`, which is set
/// from this constant, so the two cannot disagree.
pub const ROW_HEIGHT: f64 = 76.0;
const OVERSCAN: usize = 8;
/// Rows before the end of the loaded list at which the next page is asked
/// for: a few screens ahead, so scrolling does not hit the end and wait.
const LOAD_MORE_MARGIN: usize = 60;

#[derive(Properties, PartialEq)]
pub struct ConversationListProps {
    pub dispatcher: Dispatcher,
    /// `Inbox::list_rev`: the list re-renders when it changes.
    pub rev: u64,
    pub selected: Option<i64>,
    pub now: i64,
    pub loaded: bool,
    pub failed: bool,
}

#[derive(Clone, Copy, Default, PartialEq)]
struct Metrics {
    scroll_top: f64,
    viewport: f64,
}

#[component]
pub fn ConversationList(props: &ConversationListProps) -> Html {
    let scroller = use_node_ref();
    let canvas = use_node_ref();
    let window = use_node_ref();
    let metrics = use_mut_ref(Metrics::default);
    // The range currently in the DOM; a scroll re-renders only when it moves.
    let rendered = use_mut_ref(VisibleRange::default);
    let rerender = use_force_update();

    let state = props.dispatcher.state();
    // The filtered rows; `visible[i]` indexes `conversations`.
    let total = state.visible.len();
    let m = *metrics.borrow();
    let range = visible_range(total, m.scroll_top, m.viewport, ROW_HEIGHT, OVERSCAN);
    *rendered.borrow_mut() = range;

    // Near the end of what is loaded: ask for the next page (the reducer
    // keeps one request in flight and knows when the list is complete).
    {
        let d = props.dispatcher.clone();
        let wanted = state.more_conversations
            && !state.loading_more_conversations
            && m.viewport > 0.0
            && near_end(range, total, LOAD_MORE_MARGIN);
        use_effect_with((wanted, total), move |(wanted, _)| {
            if *wanted {
                d.dispatch(Action::LoadMoreConversations);
            }
        });
    }

    // Reads scroll position and viewport height from the DOM.
    let measure = {
        let (scroller, metrics, rendered, d) =
            (scroller.clone(), metrics.clone(), rendered.clone(), props.dispatcher.clone());
        Rc::new(move || {
            let Some(el) = scroller.cast::<Element>() else { return };
            let m =
                Metrics { scroll_top: el.scroll_top() as f64, viewport: el.client_height() as f64 };
            *metrics.borrow_mut() = m;
            let total = d.state().visible.len();
            if visible_range(total, m.scroll_top, m.viewport, ROW_HEIGHT, OVERSCAN)
                != *rendered.borrow()
            {
                rerender.force_update();
            }
        })
    };

    {
        let (scroller, measure) = (scroller.clone(), measure.clone());
        use_effect_with((), move |_| {
            let watch = scroller.cast::<Element>().and_then(|el| {
                dom::set_px(&el, "--row-h", ROW_HEIGHT);
                measure();
                dom::ResizeWatch::new(&el, move || measure())
            });
            move || drop(watch)
        });
    }

    // Size the canvas and move the window of rows (CSSOM, CSP-safe).
    {
        let (canvas, window) = (canvas.clone(), window.clone());
        use_effect_with((range, total), move |(range, total)| {
            if let Some(el) = canvas.cast::<Element>() {
                dom::set_px(&el, "height", total_height(*total, ROW_HEIGHT));
            }
            if let Some(el) = window.cast::<Element>() {
                let y = range.space_before(ROW_HEIGHT);
                dom::set_style(&el, "transform", &format!("translateY({y}px)"));
            }
        });
    }

    // Keep the selected row in view (keyboard navigation).
    {
        let (scroller, metrics, d, measure) =
            (scroller.clone(), metrics.clone(), props.dispatcher.clone(), measure.clone());
        use_effect_with(props.selected, move |selected| {
            let index = selected.and_then(|id| d.state().visible_index_of(id));
            if let (Some(index), Some(el)) = (index, scroller.cast::<Element>()) {
                let m = *metrics.borrow();
                if let Some(top) = scroll_to_reveal(index, ROW_HEIGHT, m.scroll_top, m.viewport) {
                    el.set_scroll_top(top.round() as i32);
                    measure();
                }
            }
        });
    }

    let onscroll = {
        let measure = measure.clone();
        Callback::from(move |_: Event| measure())
    };

    let on_select = {
        let d = props.dispatcher.clone();
        Callback::from(move |id: i64| d.dispatch(Action::Select(id)))
    };

    let offset = dom::utc_offset_min(props.now);
    let rows: Html = state.visible[range.start..range.end]
        .iter()
        .map(|&i| {
            let c = &state.conversations[i];
            let v = format::row_view(c, props.now, offset);
            let selected = props.selected == Some(c.id);
            let onclick = {
                let (on_select, id) = (on_select.clone(), c.id);
                Callback::from(move |_: MouseEvent| on_select.emit(id))
            };
            html! {
                <button
                    key={c.id}
                    type="button"
                    class={classes!(
                        "conv-row",
                        selected.then_some("selected"),
                        v.unread.is_some().then_some("has-unread"),
                    )}
                    data-testid="conversation-row"
                    data-conversation-id={v.id.to_string()}
                    data-channel={v.channel_class}
                    aria-current={selected.then_some("true")}
                    aria-label={v.aria_label}
                    {onclick}
                >
                    <span class={classes!("avatar", v.channel_class)} aria-hidden="true">
                        {v.initials}
                        <span class="channel-badge" title={v.channel}>{icons::channel(c.channel)}</span>
                    </span>
                    <span class="row-main">
                        <span class="row-line">
                            <span class="title">{v.title}</span>
                            <span class="time">{v.time}</span>
                        </span>
                        <span class="row-line">
                            if let Some(draft) = v.draft {
                                <span class="preview draft" data-testid="row-draft">
                                    <span class="draft-label">{"Draft: "}</span>{draft}
                                </span>
                            } else {
                                <span class="preview">{v.preview}</span>
                            }
                            if let Some(count) = v.unread {
                                <span class="unread-badge" data-testid="unread-badge">{count}</span>
                            }
                        </span>
                        <span class="row-line">
                            <span class={classes!("window-chip", v.window.class())}>{v.window_text}</span>
                            if v.closed {
                                <span class="closed-chip" data-testid="closed-chip">{"Closed"}</span>
                            }
                        </span>
                    </span>
                </button>
            }
        })
        .collect();

    let status: Html = if props.failed {
        html! {
            <div class="list-status">
                <p>{"Conversations could not be loaded."}</p>
                <button
                    type="button"
                    class="text-button"
                    onclick={props.dispatcher.send::<MouseEvent>(Action::RetryConversations)}
                >
                    {"Try again"}
                </button>
            </div>
        }
    } else if !props.loaded && total == 0 {
        html! { <div class="list-status" aria-busy="true">{"Loading conversations…"}</div> }
    } else if state.conversations.is_empty() {
        html! {
            <div class="list-status">
                {"No conversations yet. Messages from customers will appear here."}
            </div>
        }
    } else if total == 0 {
        html! {
            <div class="list-status" data-testid="filter-empty">
                {format!("No {} conversations.", state.filter.label().to_lowercase())}
            </div>
        }
    } else {
        Html::default()
    };

    let unread_total = state.unread_count();
    let searching = state.search.open && !state.search.query.trim().is_empty();
    let view = html! {
        <nav class="sidebar" aria-label="Conversations">
            <div class="sidebar-header">
                <h2 class="sidebar-title">{"Conversations"}</h2>
                if unread_total > 0 {
                    <span class="sidebar-count" title="Conversations with unread messages">
                        {format!("{unread_total} unread")}
                    </span>
                }
            </div>
            <SidebarTools dispatcher={props.dispatcher.clone()} rev={props.rev} />
            if searching {
                <SearchResults dispatcher={props.dispatcher.clone()} rev={props.rev} now={props.now} />
            } else {
                {status}
            }
            // Hidden rather than removed while searching, so its scroll
            // position and size observer survive.
            <div
                class="conv-scroll"
                hidden={searching}
                ref={scroller}
                {onscroll}
                data-testid="conversation-list"
                data-total={total.to_string()}
            >
                <div class="conv-canvas" ref={canvas}>
                    <div class="conv-window" ref={window}>{rows}</div>
                </div>
            </div>
            <p class="sidebar-hint" aria-hidden="true">{"Alt+↑ / Alt+↓ to switch · ? for shortcuts"}</p>
        </nav>
    };
    drop(state);
    view
}
