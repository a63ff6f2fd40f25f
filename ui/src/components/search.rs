//! The search box, the filter tabs and the search results that replace the
//! conversation list while a search is open.

use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::app::{Dispatcher, SEARCH_INPUT_ID};
use crate::state::{Action, ListFilter};
use crate::text::{highlight, query_terms, snippet};
use crate::{dom, format};

/// Characters of message text shown per hit.
const SNIPPET_CHARS: usize = 120;

#[derive(Properties, PartialEq)]
pub struct SidebarToolsProps {
    pub dispatcher: Dispatcher,
    /// `Inbox::list_rev`.
    pub rev: u64,
}

/// Search box and filter tabs above the list.
#[component]
pub fn SidebarTools(props: &SidebarToolsProps) -> Html {
    let state = props.dispatcher.state();
    let query = state.search.query.clone();
    let filter = state.filter;
    let unread = state.unread_count();
    drop(state);

    let oninput = {
        let d = props.dispatcher.clone();
        Callback::from(move |e: InputEvent| {
            d.dispatch(Action::SearchQuery(e.target_unchecked_into::<HtmlInputElement>().value()))
        })
    };
    let onfocus = props.dispatcher.send::<FocusEvent>(Action::OpenSearch);
    let onkeydown = {
        let d = props.dispatcher.clone();
        Callback::from(move |e: KeyboardEvent| {
            // Enter opens the newest hit, as in most chat apps.
            if e.key() == "Enter" && !d.state().search.hits.is_empty() {
                e.prevent_default();
                d.dispatch(Action::OpenHit(0));
            }
        })
    };

    let tabs: Html = ListFilter::ALL
        .iter()
        .map(|&f| {
            let pressed = f == filter;
            let label = match f {
                ListFilter::Unread if unread > 0 => format!("{} ({unread})", f.label()),
                _ => f.label().to_owned(),
            };
            html! {
                <button
                    type="button"
                    class={classes!("filter-tab", pressed.then_some("active"))}
                    data-testid="filter"
                    data-filter={f.key()}
                    aria-pressed={pressed.to_string()}
                    onclick={props.dispatcher.send::<MouseEvent>(Action::SetFilter(f))}
                >
                    {label}
                </button>
            }
        })
        .collect();

    html! {
        <div class="sidebar-tools">
            <div class="search-field" role="search">
                <input
                    id={SEARCH_INPUT_ID}
                    class="search-input"
                    data-testid="search-input"
                    type="search"
                    placeholder="Search messages  (Ctrl+K)"
                    aria-label="Search all messages"
                    autocomplete="off"
                    spellcheck="false"
                    value={query}
                    {oninput}
                    {onfocus}
                    {onkeydown}
                />
            </div>
            <div class="filter-tabs" role="group" aria-label="Show conversations">{tabs}</div>
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct SearchResultsProps {
    pub dispatcher: Dispatcher,
    pub rev: u64,
    pub now: i64,
}

/// Hits, newest first, with the query's words marked. Every piece of user
/// text is a text node; `<mark>` wraps hits, never markup from the text.
#[component]
pub fn SearchResults(props: &SearchResultsProps) -> Html {
    let state = props.dispatcher.state();
    let search = &state.search;
    let terms = query_terms(search.searched.as_deref().unwrap_or(&search.query));
    let status: Html = if search.query.trim().is_empty() {
        html! { <p class="list-status">{"Type to search every conversation."}</p> }
    } else if search.failed {
        html! { <p class="list-status">{"Search failed. Change the words to try again."}</p> }
    } else if search.searched.is_none() || search.loading && search.hits.is_empty() {
        html! { <p class="list-status" aria-busy="true">{"Searching…"}</p> }
    } else if search.hits.is_empty() {
        html! { <p class="list-status">{"No messages match."}</p> }
    } else {
        let n = search.hits.len();
        html! {
            <p class="search-count" aria-live="polite">
                {if n == 1 { "1 message".to_owned() } else { format!("{n} messages") }}
            </p>
        }
    };
    let offset = dom::utc_offset_min(props.now);
    let hits: Html = search
        .hits
        .iter()
        .enumerate()
        .map(|(i, hit)| {
            let text = snippet(&hit.message.body, &terms, SNIPPET_CHARS);
            let pieces: Html = highlight(&text, &terms)
                .into_iter()
                .map(|p| {
                    if p.hit {
                        html! { <mark>{p.text.to_owned()}</mark> }
                    } else {
                        html! { {p.text.to_owned()} }
                    }
                })
                .collect();
            let time = format::relative_time(hit.message.sent_at, props.now, offset);
            html! {
                <li key={hit.message.id}>
                    <button
                        type="button"
                        class="search-hit"
                        data-testid="search-hit"
                        data-message-id={hit.message.id.to_string()}
                        data-conversation-id={hit.message.conversation_id.to_string()}
                        onclick={props.dispatcher.send::<MouseEvent>(Action::OpenHit(i))}
                    >
                        <span class="row-line">
                            <span class="title">{hit.conversation_title.clone()}</span>
                            <span class="time">{time}</span>
                        </span>
                        <span class="hit-text" data-testid="search-hit-text">{pieces}</span>
                    </button>
                </li>
            }
        })
        .collect();
    let view = html! {
        <div class="search-results" data-testid="search-results">
            {status}
            <ul class="hit-list" aria-label="Search results">{hits}</ul>
        </div>
    };
    drop(state);
    view
}

#[derive(Properties, PartialEq)]
pub struct HelpOverlayProps {
    pub on_close: Callback<MouseEvent>,
}

/// The keyboard shortcuts, on "?".
#[component]
pub fn HelpOverlay(props: &HelpOverlayProps) -> Html {
    let close = use_node_ref();
    {
        let close = close.clone();
        use_effect_with((), move |_| {
            if let Some(el) = close.cast::<web_sys::HtmlElement>() {
                let _ = el.focus();
            }
        });
    }
    const KEYS: [(&str, &str); 16] = [
        ("Alt+↓ / Alt+↑", "Next / previous conversation"),
        ("Ctrl+K or /", "Search all messages"),
        ("Enter (in search)", "Open the newest hit"),
        ("R", "Reply: focus the message box, quoting the focused message"),
        ("E (on a message)", "React to the focused message"),
        ("I", "Contact panel: notes, labels, opt-out"),
        ("Enter / Shift+Enter", "Send / new line"),
        (
            "Esc",
            "Close search, this help, the contact panel, the emoji list or the quote; \
             else back to the message box",
        ),
        ("?", "Show or hide this help"),
        ("Ctrl+,", "Privacy & data"),
        ("Ctrl+.", "Channels: state, quality rating and messaging limit"),
        ("Ctrl+U", "Contacts: list, edit, merge, import and export"),
        ("Ctrl+T", "Templates: status, quality, builder"),
        ("Ctrl+B", "Campaigns: broadcast a template, follow each recipient"),
        ("Ctrl+L", "Lock Parley (when the app lock is on)"),
        ("Tab", "Move between controls"),
    ];
    let rows: Html = KEYS
        .iter()
        .map(|(k, what)| html! { <tr><th scope="row"><kbd>{*k}</kbd></th><td>{*what}</td></tr> })
        .collect();
    html! {
        <div class="overlay" data-testid="help-overlay">
            <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="help-title">
                <div class="dialog-head">
                    <h2 id="help-title">{"Keyboard shortcuts"}</h2>
                    <button
                        ref={close}
                        type="button"
                        class="icon-button"
                        aria-label="Close"
                        onclick={props.on_close.clone()}
                    >
                        {super::icons::close()}
                    </button>
                </div>
                <table class="shortcuts">{rows}</table>
            </div>
        </div>
    }
}
