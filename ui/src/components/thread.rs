//! The open conversation: header, messages and composer.

use parley_types::{ConversationSummary, Direction, Message};
use web_sys::Element;
use yew::prelude::*;

use super::composer::Composer;
use super::icons;
use crate::app::{Dispatcher, Drafts};
use crate::dom;
use crate::format::{self, Tick, WindowState};
use crate::state::Action;

/// Within this many pixels of the bottom counts as "at the bottom".
const STICKY_PX: i32 = 48;

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

#[component]
pub fn ThreadPane(props: &ThreadPaneProps) -> Html {
    let scroller = use_node_ref();
    let at_bottom = use_mut_ref(|| true);
    let seen = use_mut_ref(|| None::<Seen>);

    let state = props.dispatcher.state();
    let thread = &state.thread;
    let now_seen = Seen {
        conversation: props.conversation.as_ref().map(|c| c.id),
        loaded: thread.loaded,
        last_message: thread.messages.last().map(|m| m.id),
    };
    let last_is_outbound =
        thread.messages.last().is_some_and(|m| m.direction == Direction::Outbound);

    // Scroll to the bottom on open, and on changes while already there (or
    // when the agent just sent something).
    {
        let (scroller, at_bottom, seen) = (scroller.clone(), at_bottom.clone(), seen.clone());
        use_effect_with((now_seen, props.rev), move |(current, _)| {
            let previous = seen.replace(Some(*current));
            let opened = previous.is_none_or(|p| {
                p.conversation != current.conversation || p.loaded != current.loaded
            });
            let sent = last_is_outbound
                && previous.is_some_and(|p| p.last_message != current.last_message);
            if opened || sent || *at_bottom.borrow() {
                if let Some(el) = scroller.cast::<Element>() {
                    el.set_scroll_top(el.scroll_height());
                }
                *at_bottom.borrow_mut() = true;
            }
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
                    <p>{"Pick a conversation on the left to read and reply."}</p>
                </div>
            </section>
        };
    };

    let onscroll = {
        let (scroller, at_bottom) = (scroller.clone(), at_bottom.clone());
        Callback::from(move |_: Event| {
            if let Some(el) = scroller.cast::<Element>() {
                let gap = el.scroll_height() - el.scroll_top() - el.client_height();
                *at_bottom.borrow_mut() = gap <= STICKY_PX;
            }
        })
    };

    let window = WindowState::of(conversation.window_expires_at, props.now);
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
        message_items(&thread.messages, props.now)
    };

    let v = format::row_view(conversation, props.now, 0);
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
            </header>
            <div
                class="messages"
                ref={scroller}
                {onscroll}
                role="log"
                aria-label="Messages"
                tabindex="0"
                data-testid="message-list"
            >
                {body}
            </div>
            <Composer
                key={conversation.id}
                conversation_id={conversation.id}
                window_open={window.is_open()}
                dispatcher={props.dispatcher.clone()}
                drafts={props.drafts.clone()}
            />
        </section>
    };
    drop(state);
    view
}

/// Bubbles with a separator above the first message of each local day.
fn message_items(messages: &[Message], now: i64) -> Html {
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
        items.push(bubble(m, offset));
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

fn bubble(m: &Message, offset: i64) -> Html {
    let v = format::bubble_view(m, offset);
    html! {
        <div key={format!("m{}", m.id)} class={classes!("msg-row", v.direction)}>
            <div
                class={classes!("bubble", v.direction, v.status)}
                data-testid="message"
                data-message-id={m.id.to_string()}
                data-direction={v.direction}
                data-status={v.status}
            >
                if let Some(label) = v.kind_label {
                    <span class="kind-label">{label}</span>
                }
                <div class="message-body" data-testid="message-body">{v.body}</div>
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
                    <div class="message-error" data-testid="message-error">{error}</div>
                }
            </div>
        </div>
    }
}
