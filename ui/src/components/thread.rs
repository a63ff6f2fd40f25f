//! The open conversation: header, messages and composer.
//!
//! Only a bounded slice of the loaded messages is in the DOM
//! ([`ThreadWindow`]); it slides when the agent scrolls near either end, and
//! the core is asked for older history at the top.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use parley_types::{ChannelKind, ConversationSummary, Direction, Message, QUICK_REACTIONS};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{Element, HtmlElement};
use yew::prelude::*;

use super::composer::{Composer, ReplyPreview};
use super::contact::ContactPanel;
use super::icons;
use crate::app::{Dispatcher, Drafts, COMPOSER_INPUT_ID};
use crate::format::{self, Tick, WindowState};
use crate::state::{self, Action};
use crate::text::{linkify, Segment};
use crate::thread_window::ThreadWindow;
use crate::{dom, ipc};

/// Within this many pixels of the bottom counts as "at the bottom".
const STICKY_PX: i32 = 48;
/// Within this many pixels of an end, the slice slides (or older history
/// is fetched).
const EDGE_PX: i32 = 400;

#[derive(Properties, PartialEq)]
pub struct ThreadPaneProps {
    pub dispatcher: Dispatcher,
    pub conversation: Option<ConversationSummary>,
    /// `Inbox::thread_rev`: re-render when the thread changes.
    pub rev: u64,
    pub now: i64,
    pub drafts: Drafts,
}

/// What the scroll effect compares against the previous render.
#[derive(Clone, Copy, PartialEq)]
struct Seen {
    conversation: Option<i64>,
    loaded: bool,
    last_message: Option<i64>,
}

/// The slice of one conversation, and a message to hold in place across
/// the next render: (id, its distance from the top of the viewport).
#[derive(Default)]
struct Slice {
    conversation: Option<i64>,
    window: ThreadWindow,
    anchor: Option<(i64, i32)>,
}

fn message_element(scroller: &Element, id: i64) -> Option<HtmlElement> {
    scroller
        .query_selector(&format!("[data-message-id=\"{id}\"]"))
        .ok()
        .flatten()
        .and_then(|e| e.dyn_into::<HtmlElement>().ok())
}

/// Remembers where message `id` is on screen, to restore after the slice
/// changes (WebKit has no CSS scroll anchoring).
fn anchor_of(scroller: &Element, id: i64) -> Option<(i64, i32)> {
    message_element(scroller, id).map(|el| (id, el.offset_top() - scroller.scroll_top()))
}

#[component]
pub fn ThreadPane(props: &ThreadPaneProps) -> Html {
    let scroller = use_node_ref();
    let at_bottom = use_mut_ref(|| true);
    let seen = use_mut_ref(|| None::<Seen>);
    let slice = use_mut_ref(Slice::default);
    let rerender = use_force_update();

    let state = props.dispatcher.state();
    let thread = &state.thread;
    let conversation_id = props.conversation.as_ref().map(|c| c.id);
    if slice.borrow().conversation != conversation_id {
        *slice.borrow_mut() =
            Slice { conversation: conversation_id, window: ThreadWindow::bottom(), anchor: None };
    }
    // A search hit to show: bring it into the slice before rendering.
    let focus = thread.focus.filter(|id| slice.borrow_mut().window.reveal(&thread.messages, *id));
    let (start, end) = slice.borrow().window.range(&thread.messages);
    let now_seen = Seen {
        conversation: conversation_id,
        loaded: thread.loaded,
        last_message: thread.messages.last().map(|m| m.id),
    };
    let last_is_outbound =
        thread.messages.last().is_some_and(|m| m.direction == Direction::Outbound);

    // Slides the slice or asks for older history when the viewport is near
    // an end. Called on scroll and after renders.
    let check_edges = {
        let (scroller, slice, d, rerender) =
            (scroller.clone(), slice.clone(), props.dispatcher.clone(), rerender.clone());
        Rc::new(move || {
            let Some(el) = scroller.cast::<Element>() else { return };
            let state = d.state();
            let messages = &state.thread.messages;
            let mut s = slice.borrow_mut();
            if s.anchor.is_some() {
                return; // a slide is still being laid out
            }
            let (start, end) = s.window.range(messages);
            let gap_below = el.scroll_height() - el.scroll_top() - el.client_height();
            if el.scroll_top() < EDGE_PX {
                if start > 0 {
                    s.anchor = anchor_of(&el, messages[start].id);
                    s.window.slide_up(messages);
                    drop((s, state));
                    rerender.force_update();
                } else if state.thread.has_older && !state.thread.loading_older {
                    drop((s, state));
                    d.dispatch(Action::LoadOlder);
                }
            } else if gap_below < EDGE_PX && end < messages.len() {
                s.anchor = anchor_of(&el, messages[end - 1].id);
                s.window.slide_down(messages);
                drop((s, state));
                rerender.force_update();
            } else if gap_below < EDGE_PX && state.thread.has_newer && !state.thread.loading_newer {
                // Opened far back (a search hit): the next newer page, added
                // below what is on screen.
                s.window.pin(messages);
                drop((s, state));
                d.dispatch(Action::LoadNewer);
            }
        })
    };

    // After a render: restore the anchored message's place, scroll to a
    // search hit, or stick to the bottom (on open, and on changes while
    // already there or when the agent just sent something).
    {
        let (scroller, at_bottom, seen, slice, d, check_edges) = (
            scroller.clone(),
            at_bottom.clone(),
            seen.clone(),
            slice.clone(),
            props.dispatcher.clone(),
            check_edges.clone(),
        );
        use_effect_with((now_seen, props.rev, start, end), move |(current, _, _, _)| {
            let previous = seen.replace(Some(*current));
            let Some(el) = scroller.cast::<Element>() else { return };
            let anchor = slice.borrow_mut().anchor.take();
            if let Some((id, offset)) = anchor {
                if let Some(m) = message_element(&el, id) {
                    el.set_scroll_top(m.offset_top() - offset);
                }
            } else if let Some(id) = focus {
                if let Some(m) = message_element(&el, id) {
                    let top = m.offset_top() - (el.client_height() - m.offset_height()) / 2;
                    el.set_scroll_top(top.max(0));
                    *at_bottom.borrow_mut() = false;
                }
                d.dispatch(Action::FocusShown);
                return;
            } else {
                let opened = previous.is_none_or(|p| {
                    p.conversation != current.conversation || p.loaded != current.loaded
                });
                // Following the bottom only makes sense at the newest
                // message; a thread opened far back pages down instead.
                let newest_loaded = !d.state().thread.has_newer;
                let sent = newest_loaded
                    && last_is_outbound
                    && previous.is_some_and(|p| p.last_message != current.last_message);
                if opened || sent || (*at_bottom.borrow() && newest_loaded) {
                    if !slice.borrow().window.follows_bottom() {
                        slice.borrow_mut().window = ThreadWindow::bottom();
                    }
                    el.set_scroll_top(el.scroll_height());
                    *at_bottom.borrow_mut() = true;
                    return;
                }
            }
            check_edges();
        });
    }

    // Stay at the bottom when the pane resizes (banner, composer growing).
    {
        let (scroller, at_bottom) = (scroller.clone(), at_bottom.clone());
        use_effect_with(props.conversation.is_some(), move |open| {
            let watch = scroller.cast::<Element>().filter(|_| *open).and_then(|el| {
                let target = el.clone();
                dom::ResizeWatch::new(&target, move || {
                    if *at_bottom.borrow() {
                        el.set_scroll_top(el.scroll_height());
                    }
                })
            });
            move || drop(watch)
        });
    }

    let Some(conversation) = props.conversation.as_ref() else {
        drop(state);
        return html! {
            <section class="thread-pane empty" aria-label="Conversation">
                <div class="empty-state">
                    {icons::chat_empty()}
                    <h2>{"No conversation selected"}</h2>
                    <p>{"Pick a conversation on the left to read and reply. Press ? for shortcuts."}</p>
                </div>
            </section>
        };
    };

    let onscroll = {
        let (scroller, at_bottom, check_edges) =
            (scroller.clone(), at_bottom.clone(), check_edges.clone());
        Callback::from(move |_: Event| {
            if let Some(el) = scroller.cast::<Element>() {
                let gap = el.scroll_height() - el.scroll_top() - el.client_height();
                *at_bottom.borrow_mut() = gap <= STICKY_PX;
            }
            check_edges();
        })
    };

    let window = WindowState::for_conversation(conversation, props.now);
    // Before the composer reads it: the draft kept from an earlier session.
    props.drafts.prime(conversation.id, conversation.draft.as_deref());
    let window_text =
        if window.is_open() { format!("Window open · {}", window.text()) } else { window.text() };

    let body: Html = if thread.failed {
        html! {
            <div class="thread-status">
                <p>{"Messages could not be loaded."}</p>
                <button
                    type="button"
                    class="text-button"
                    onclick={props.dispatcher.send::<MouseEvent>(Action::RetryMessages)}
                >
                    {"Try again"}
                </button>
            </div>
        }
    } else if !thread.loaded && thread.messages.is_empty() {
        html! { <div class="thread-status" aria-busy="true">{"Loading messages…"}</div> }
    } else if thread.messages.is_empty() {
        html! { <div class="thread-status">{"No messages yet."}</div> }
    } else {
        let top: Html = if start > 0 {
            Html::default()
        } else if thread.loading_older {
            html! { <div class="history-edge" aria-busy="true" data-testid="loading-older">{"Loading older messages…"}</div> }
        } else if !thread.has_older {
            html! { <div class="history-edge" data-testid="history-start">{"Beginning of the conversation"}</div> }
        } else {
            Html::default()
        };
        let ctx = BubbleCtx {
            all: &thread.messages,
            contact: &conversation.title,
            highlight: thread.highlight,
            dispatcher: &props.dispatcher,
            channel: conversation.channel,
            picker: thread.picker,
        };
        html! {
            <>
                {top}
                {message_items(&thread.messages[start..end], props.now, &ctx)}
            </>
        }
    };

    let v = format::row_view(conversation, props.now, 0);
    let reply = thread.reply_target().and_then(|m| {
        let provider_id = m.provider_id.clone()?;
        let q = format::quote_view(std::slice::from_ref(m), &provider_id, &conversation.title);
        Some(ReplyPreview { message_id: m.id, provider_id, author: q.author, text: q.text })
    });
    let view = html! {
        <section class="thread-pane" aria-label={format!("Conversation with {}", conversation.title)}>
            <header class="thread-header">
                <span class={classes!("avatar", v.channel_class)} aria-hidden="true">
                    {v.initials}
                    <span class="channel-badge">{icons::channel(conversation.channel)}</span>
                </span>
                <div class="thread-heading">
                    <h2 class="thread-title" data-testid="thread-title">{conversation.title.clone()}</h2>
                    <p class="thread-sub">
                        {format!("{} · {}", v.channel, conversation.handle)}
                    </p>
                </div>
                <span
                    class={classes!("window-chip", "large", window.class())}
                    data-testid="window-state"
                    title="Free-form replies are allowed for 24 hours after the customer's last message"
                >
                    {window_text}
                </span>
                <button
                    type="button"
                    class="text-button small"
                    data-testid="contact-button"
                    aria-pressed={if state.contact_open { "true" } else { "false" }}
                    aria-label={format!("Contact details, notes and labels of {}", conversation.title)}
                    title="Contact: notes, labels, opt-out (I)"
                    onclick={props.dispatcher.send::<MouseEvent>(Action::ToggleContact)}
                >
                    {"Contact"}
                </button>
                <button
                    type="button"
                    class="text-button small"
                    data-testid="close-conversation"
                    aria-pressed={conversation.closed.then_some("true")}
                    title={if conversation.closed {
                        "Reopen: the conversation needs attention again"
                    } else {
                        "Close: done for now; the customer writing again reopens it"
                    }}
                    onclick={props.dispatcher.send::<MouseEvent>(Action::SetClosed {
                        conversation_id: conversation.id,
                        closed: !conversation.closed,
                    })}
                >
                    {if conversation.closed { "Reopen" } else { "Close" }}
                </button>
                <button
                    type="button"
                    class="text-button small"
                    data-testid="customer-data"
                    aria-label={format!("Export or erase {}'s data", conversation.title)}
                    title="Export or erase this customer's data"
                    onclick={props.dispatcher.send::<MouseEvent>(Action::OpenPrivacy(Some(conversation.id)))}
                >
                    {"Customer data"}
                </button>
            </header>
            // The messages, and the contact panel over their right side (not
            // over the header or the composer, which stay usable).
            <div class="thread-middle">
            <div
                class="messages"
                ref={scroller}
                {onscroll}
                role="log"
                aria-label="Messages"
                tabindex="0"
                data-testid="message-list"
                data-loaded={thread.messages.len().to_string()}
                data-rendered={(end - start).to_string()}
            >
                {body}
            </div>
            if state.contact_open {
                <ContactPanel
                    key={conversation.id}
                    conversation_id={conversation.id}
                    refresh_key={conversation.last_at}
                    now={props.now}
                    on_close={props.dispatcher.send::<()>(Action::ToggleContact)}
                />
            }
            </div>
            <Composer
                key={conversation.id}
                conversation_id={conversation.id}
                window_open={window.allows_free_text()}
                human_agent={matches!(window, WindowState::HumanAgent { .. })}
                templates_allowed={conversation.channel == ChannelKind::Whatsapp}
                {reply}
                dispatcher={props.dispatcher.clone()}
                drafts={props.drafts.clone()}
            />
        </section>
    };
    drop(state);
    view
}

/// What every bubble needs besides its message.
struct BubbleCtx<'a> {
    /// The whole loaded thread, to find quoted messages.
    all: &'a [Message],
    contact: &'a str,
    highlight: Option<i64>,
    dispatcher: &'a Dispatcher,
    channel: ChannelKind,
    /// The message whose emoji picker is open.
    picker: Option<i64>,
}

/// Bubbles with a separator above the first message of each local day (and
/// above the first rendered one).
fn message_items(messages: &[Message], now: i64, ctx: &BubbleCtx<'_>) -> Html {
    let mut items = Vec::with_capacity(messages.len() + 8);
    let mut last_day = None;
    for m in messages {
        let offset = dom::utc_offset_min(m.sent_at);
        let day = format::local_day(m.sent_at, offset);
        if last_day != Some(day) {
            last_day = Some(day);
            items.push(html! {
                <div key={format!("d{day}")} class="day-separator" role="separator">
                    <span>{format::day_label(m.sent_at, now, offset)}</span>
                </div>
            });
        }
        items.push(bubble(m, offset, ctx));
    }
    items.into_iter().collect()
}

fn tick_class(tick: Tick) -> &'static str {
    match tick {
        Tick::Clock => "clock",
        Tick::Single => "single",
        Tick::Double => "double",
        Tick::DoubleRead => "read",
        Tick::Failed => "failed",
    }
}

/// Message text as text nodes, with `http`/`https` URLs set apart.
///
/// Links are deliberately not `<a href>`: a followed link would navigate the
/// app's own window away from the inbox. A click (or Enter) asks the shell
/// to open the address in the user's browser, after re-checking that it is
/// a web link; a button next to it copies it.
fn rich_text(body: &str) -> Html {
    linkify(body)
        .into_iter()
        .map(|segment| match segment {
            Segment::Text(t) => html! { {t.to_owned()} },
            Segment::Link(url) => html! { <LinkText url={AttrValue::from(url.to_owned())} /> },
        })
        .collect()
}

#[derive(Properties, PartialEq)]
struct LinkTextProps {
    url: AttrValue,
}

#[component]
fn LinkText(props: &LinkTextProps) -> Html {
    let span = use_node_ref();
    let copied = use_state(|| false);
    // Why the browser did not open, shown next to the link.
    let failed = use_state(|| None::<String>);
    let onclick = {
        let (span, copied, url) = (span.clone(), copied.clone(), props.url.clone());
        Callback::from(move |_: MouseEvent| {
            dom::copy_text(&url, span.cast::<Element>());
            copied.set(true);
        })
    };
    let open = {
        let (url, failed) = (props.url.clone(), failed.clone());
        Callback::from(move |()| {
            let (url, failed) = (url.clone(), failed.clone());
            spawn_local(async move {
                failed.set(ipc::open_link(&url).await.err().map(|e| e.message));
            });
        })
    };
    let on_open_click = open.reform(|_: MouseEvent| ());
    let on_open_key = {
        let open = open.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Enter" {
                e.prevent_default();
                open.emit(());
            }
        })
    };
    html! {
        <span class="link-wrap">
            <span
                ref={span}
                class="link"
                role="link"
                tabindex="0"
                data-testid="message-link"
                title="Open in your browser"
                onclick={on_open_click}
                onkeydown={on_open_key}
            >
                {props.url.to_string()}
            </span>
            if let Some(message) = &*failed {
                <span class="link-error" role="alert" data-testid="link-error">{message.clone()}</span>
            }
            <button
                type="button"
                class="copy-link"
                data-testid="copy-link"
                aria-label={format!("Copy link {}", props.url)}
                title="Copy link"
                {onclick}
            >
                {if *copied { "Copied" } else { "Copy" }}
            </button>
        </span>
    }
}

fn bubble(m: &Message, offset: i64, ctx: &BubbleCtx<'_>) -> Html {
    let v = format::bubble_view(m, offset);
    let attachment = format::attachment_view(m);
    let quote = m
        .reply_to
        .as_deref()
        .filter(|_| !m.deleted)
        .map(|id| format::quote_view(ctx.all, id, ctx.contact));
    let reactions = format::reaction_views(&m.reactions, ctx.contact);
    let highlighted = ctx.highlight == Some(m.id);
    let d = ctx.dispatcher;
    let can_reply = state::can_reply(m, ctx.channel);
    let can_react = state::can_react(m, ctx.channel);
    let picker_open = can_react && ctx.picker == Some(m.id);
    let ours = state::our_reaction(m);
    let on_reply = {
        let (d, id) = (d.clone(), m.id);
        Callback::from(move |_: MouseEvent| {
            d.dispatch(Action::ReplyTo(id));
            dom::focus_id(COMPOSER_INPUT_ID);
        })
    };
    html! {
        <div
            key={format!("m{}", m.id)}
            class={classes!("msg-row", v.direction, (!reactions.is_empty()).then_some("has-reactions"))}
        >
            <div
                class={classes!(
                    "bubble",
                    v.direction,
                    v.status,
                    v.deleted.then_some("deleted"),
                    highlighted.then_some("highlighted"),
                    attachment.as_ref().filter(|a| a.preview).map(|_| "has-preview"),
                )}
                data-testid="message"
                data-message-id={m.id.to_string()}
                data-direction={v.direction}
                data-status={v.status}
                data-kind={v.kind.clone()}
                data-highlighted={highlighted.then_some("true")}
                data-provider-id={m.provider_id.clone()}
                tabindex={(can_reply || can_react).then_some("0")}
            >
                if let Some(label) = format::forwarded_label(m.forwarded).filter(|_| !m.deleted) {
                    <span class="forwarded-label" data-testid="forwarded">{icons::forwarded()}{label}</span>
                }
                if let Some(q) = quote {
                    <div class={classes!("quote", q.target.is_none().then_some("missing"))} data-testid="quote">
                        <span class="quote-author">{q.author}</span>
                        <span class="quote-text">{q.text}</span>
                    </div>
                }
                if let Some(label) = v.kind_label {
                    <span class="kind-label">{label}</span>
                }
                if let Some(a) = attachment {
                    <div class={classes!("attachment", a.state_name)} data-testid="attachment" data-media-state={a.state_name}>
                        if a.preview {
                            <MediaPreview message_id={m.id} alt={a.label.clone()} />
                        }
                        <div class="attachment-info">
                            <span class="attachment-label">{a.label}</span>
                            if let Some(name) = a.filename {
                                <span class="attachment-name">{name}</span>
                            }
                            if !a.details.is_empty() {
                                <span class="attachment-details">{a.details}</span>
                            }
                            if let Some(state) = a.state_text {
                                <span class="attachment-state" data-testid="attachment-state">{state}</span>
                            }
                        </div>
                    </div>
                }
                if let Some((coords, url)) = m.location.filter(|_| !m.deleted).and_then(format::location_view) {
                    <div class="location" data-testid="location">
                        <span class="location-coords" data-testid="location-coords" title="Coordinates (latitude, longitude)">{coords}</span>
                        <LinkText url={AttrValue::from(url)} />
                    </div>
                }
                if !v.body.is_empty() {
                    <div class="message-body" data-testid="message-body" dir="auto">
                        {if v.deleted { html! { {v.body} } } else { rich_text(&v.body) }}
                    </div>
                }
                <span class="meta">
                    <span class="time">{v.time}</span>
                    if let (Some(tick), Some(label)) = (v.tick, v.status_label) {
                        <span
                            class={classes!("tick", tick_class(tick))}
                            data-testid="message-tick"
                            role="img"
                            aria-label={label}
                            title={label}
                        >
                            {icons::tick(tick)}
                        </span>
                    }
                </span>
                if let Some(error) = v.error {
                    <div class="message-error" data-testid="message-error" role="note">{error}</div>
                }
                if v.can_retry {
                    <div class="message-actions">
                        <button
                            type="button"
                            class="text-button"
                            data-testid="retry-message"
                            onclick={d.send::<MouseEvent>(Action::Retry(m.id))}
                        >
                            {"Retry"}
                        </button>
                        <button
                            type="button"
                            class="text-button danger"
                            data-testid="delete-message"
                            onclick={d.send::<MouseEvent>(Action::Delete(m.id))}
                        >
                            {"Delete"}
                        </button>
                    </div>
                }
                if can_reply || can_react {
                    <div class="bubble-tools" data-testid="message-tools">
                        if can_reply {
                            <button
                                type="button"
                                class="tool-button"
                                data-testid="reply-button"
                                aria-label="Reply to this message"
                                title="Reply (R)"
                                onclick={on_reply}
                            >
                                {icons::reply()}
                            </button>
                        }
                        if can_react {
                            <button
                                type="button"
                                class="tool-button"
                                data-testid="react-button"
                                aria-label="React to this message"
                                aria-expanded={picker_open.to_string()}
                                title="React (E)"
                                onclick={d.send::<MouseEvent>(Action::TogglePicker(m.id))}
                            >
                                {icons::smile()}
                            </button>
                        }
                    </div>
                }
                if picker_open {
                    <div class="reaction-picker" role="group" aria-label="Pick a reaction" data-testid="reaction-picker">
                        { for QUICK_REACTIONS.iter().map(|e| {
                            let picked = ours == Some(*e);
                            let label = if picked { format!("Remove your reaction {e}") } else { format!("React {e}") };
                            html! {
                                <button
                                    type="button"
                                    class={classes!("reaction-option", picked.then_some("picked"))}
                                    data-testid="reaction-option"
                                    data-emoji={*e}
                                    aria-pressed={picked.to_string()}
                                    aria-label={label.clone()}
                                    title={label}
                                    onclick={d.send::<MouseEvent>(Action::React { message_id: m.id, emoji: (*e).to_owned() })}
                                >
                                    {*e}
                                </button>
                            }
                        }) }
                    </div>
                }
            </div>
            if !reactions.is_empty() {
                <div class="reactions" data-testid="reactions">
                    { for m.reactions.iter().filter(|r| !r.emoji.trim().is_empty()).zip(reactions).map(|(r, (emoji, label))| html! {
                        <span
                            class={classes!("reaction", (r.by == Direction::Outbound).then_some("ours"))}
                            data-testid="reaction"
                            data-by={if r.by == Direction::Outbound { "business" } else { "customer" }}
                            role="img"
                            aria-label={label.clone()}
                            title={label}
                        >
                            {emoji}
                        </span>
                    }) }
                </div>
            }
        </div>
    }
}

/// Decoded previews of the most recent images, so sliding the thread or a
/// re-render does not ask the core for the same bytes again. Bounded: each
/// entry is a whole image as a `data:` URL.
const PREVIEW_CACHE: usize = 24;

thread_local! {
    static PREVIEWS: RefCell<VecDeque<(i64, Rc<str>)>> = const { RefCell::new(VecDeque::new()) };
}

fn cached_preview(id: i64) -> Option<Rc<str>> {
    PREVIEWS.with(|c| c.borrow().iter().find(|(i, _)| *i == id).map(|(_, u)| u.clone()))
}

fn cache_preview(id: i64, url: Rc<str>) {
    PREVIEWS.with(|c| {
        let mut c = c.borrow_mut();
        c.retain(|(i, _)| *i != id);
        if c.len() >= PREVIEW_CACHE {
            c.pop_front();
        }
        c.push_back((id, url));
    });
}

#[derive(Properties, PartialEq)]
struct MediaPreviewProps {
    message_id: i64,
    alt: String,
}

/// A stored image, fetched as a `data:` URL when its bubble is rendered.
#[component]
fn MediaPreview(props: &MediaPreviewProps) -> Html {
    let id = props.message_id;
    let url = use_state(|| cached_preview(id).map(Ok::<_, String>));
    {
        let url = url.clone();
        use_effect_with(id, move |id| {
            let id = *id;
            if url.is_none() {
                spawn_local(async move {
                    match ipc::media_data_url(id).await {
                        Ok(data) => {
                            let data: Rc<str> = data.into();
                            cache_preview(id, data.clone());
                            url.set(Some(Ok(data)));
                        }
                        Err(e) => url.set(Some(Err(e.message))),
                    }
                });
            }
        });
    }
    match &*url {
        None => html! { <div class="media-preview loading" aria-busy="true" /> },
        Some(Ok(src)) => html! {
            <img class="media-preview" data-testid="media-preview" src={src.to_string()} alt={props.alt.clone()} />
        },
        Some(Err(message)) => html! { <div class="media-preview error">{message.clone()}</div> },
    }
}
