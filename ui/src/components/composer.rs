//! The reply box, or the closed-window notice in its place.

use parley_types::{SendTextRequest, MAX_TEXT_CHARS};
use wasm_bindgen_futures::spawn_local;
use web_sys::{HtmlElement, HtmlTextAreaElement};
use yew::prelude::*;

use super::icons;
use crate::app::{Dispatcher, Drafts, COMPOSER_INPUT_ID};
use crate::format::{self, WINDOW_CLOSED_NOTICE};
use crate::ipc;
use crate::state::Action;

/// The message the next reply quotes, as the preview above the box shows it.
#[derive(Clone, PartialEq)]
pub struct ReplyPreview {
    pub message_id: i64,
    /// Sent as `reply_to` (Meta's `context.message_id`).
    pub provider_id: String,
    pub author: String,
    pub text: String,
}

#[derive(Properties, PartialEq)]
pub struct ComposerProps {
    pub conversation_id: i64,
    pub window_open: bool,
    #[prop_or_default]
    pub reply: Option<ReplyPreview>,
    pub dispatcher: Dispatcher,
    pub drafts: Drafts,
}

#[component]
pub fn Composer(props: &ComposerProps) -> Html {
    let id = props.conversation_id;
    let text = use_state(|| props.drafts.get(id));
    let input = use_node_ref();

    // Focus the box when a conversation opens.
    {
        let input = input.clone();
        use_effect_with(id, move |_| {
            if let Some(el) = input.cast::<HtmlElement>() {
                let _ = el.focus();
            }
        });
    }

    // Sends the current draft. The box clears at once (the local echo shows
    // the message with its clock); if the command fails the text comes back.
    // The quote goes with the message and leaves the preview at once; it
    // comes back with the text if the command fails.
    let send = {
        let (text, drafts, d) = (text.clone(), props.drafts.clone(), props.dispatcher.clone());
        let window_open = props.window_open;
        let reply = props.reply.as_ref().map(|r| (r.message_id, r.provider_id.clone()));
        Callback::from(move |()| {
            let body = drafts.get(id);
            if !format::can_send(&body, window_open) {
                return;
            }
            drafts.set(id, String::new());
            text.set(String::new());
            if reply.is_some() {
                d.dispatch(Action::CancelReply);
            }
            let (text, drafts, d, reply) = (text.clone(), drafts.clone(), d.clone(), reply.clone());
            spawn_local(async move {
                let request = SendTextRequest {
                    conversation_id: id,
                    text: body.trim().to_owned(),
                    reply_to: reply.as_ref().map(|(_, provider_id)| provider_id.clone()),
                };
                match ipc::send_text(&request).await {
                    Ok(echo) => d.dispatch(Action::MessageSent(echo)),
                    Err(error) => {
                        if drafts.get(id).is_empty() {
                            drafts.set(id, body.clone());
                            text.set(body);
                            if let Some((message_id, _)) = reply {
                                d.dispatch(Action::ReplyTo(message_id));
                            }
                        }
                        d.dispatch(Action::Failed(error));
                    }
                }
            });
        })
    };

    if !props.window_open {
        return html! {
            <div class="window-closed" data-testid="window-closed-notice" role="note">
                {icons::lock_clock()}
                <span>{WINDOW_CLOSED_NOTICE}</span>
            </div>
        };
    }

    let oninput = {
        let (text, drafts) = (text.clone(), props.drafts.clone());
        Callback::from(move |e: InputEvent| {
            let value = e.target_unchecked_into::<HtmlTextAreaElement>().value();
            drafts.set(id, value.clone());
            text.set(value);
        })
    };

    let onkeydown = {
        let send = send.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Enter" && !e.shift_key() && !e.alt_key() && !e.is_composing() {
                e.prevent_default();
                send.emit(());
            }
        })
    };

    let onclick = {
        let (send, input) = (send.clone(), input.clone());
        Callback::from(move |_: MouseEvent| {
            send.emit(());
            if let Some(el) = input.cast::<HtmlElement>() {
                let _ = el.focus();
            }
        })
    };

    let enabled = format::can_send(&text, true);
    let counter = format::char_counter(&text);
    let over = format::char_count(&text) > MAX_TEXT_CHARS;

    let preview = props.reply.as_ref().map(|r| {
        let cancel = {
            let (d, input) = (props.dispatcher.clone(), input.clone());
            Callback::from(move |_: MouseEvent| {
                d.dispatch(Action::CancelReply);
                if let Some(el) = input.cast::<HtmlElement>() {
                    let _ = el.focus();
                }
            })
        };
        html! {
            <div class="reply-preview" data-testid="reply-preview" role="note" aria-label={format!("Replying to {}", r.author)}>
                <div class="quote">
                    <span class="quote-author">{r.author.clone()}</span>
                    <span class="quote-text">{r.text.clone()}</span>
                </div>
                <button
                    type="button"
                    class="icon-button"
                    data-testid="cancel-reply"
                    aria-label="Cancel the reply"
                    title="Cancel the reply (Esc)"
                    onclick={cancel}
                >
                    {icons::close()}
                </button>
            </div>
        }
    });

    html! {
        <>
        if let Some(preview) = preview {
            {preview}
        }
        <div class="composer">
            <textarea
                ref={input}
                id={COMPOSER_INPUT_ID}
                class="composer-input"
                data-testid="composer-input"
                aria-label="Message"
                placeholder="Type a message"
                rows={format::composer_rows(&text).to_string()}
                value={(*text).clone()}
                {oninput}
                {onkeydown}
            />
            if let Some(counter) = counter {
                <span
                    class={classes!("char-counter", over.then_some("over"))}
                    data-testid="char-counter"
                    aria-live="polite"
                >
                    {counter}
                </span>
            }
            <button
                type="button"
                class="send-button"
                data-testid="send-button"
                aria-label="Send message"
                title="Send (Enter)"
                disabled={!enabled}
                {onclick}
            >
                {icons::send()}
            </button>
        </div>
        </>
    }
}
