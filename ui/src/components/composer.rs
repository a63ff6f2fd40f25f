//! The reply box, or the closed-window notice in its place. A file chosen
//! with the paperclip or dropped on the thread waits in a chip above the box;
//! the box's text becomes its caption.

use std::rc::Rc;

use parley_types::attachment::SendFileMeta;
use parley_types::{SendTextRequest, MAX_TEXT_CHARS};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{DragEvent, Element, File, HtmlElement, HtmlInputElement, HtmlTextAreaElement};
use yew::prelude::*;

use crate::attachment::{self, PendingFile};

use super::icons;
use super::template_picker::TemplatePicker;
use crate::app::{Dispatcher, Drafts, COMPOSER_INPUT_ID};
use crate::format::{self, WINDOW_CLOSED_NOTICE};
use crate::ipc;
use crate::state::Action;
use crate::template_picker::CHOOSE_TEMPLATE;

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
    /// WhatsApp: a closed window offers the template picker.
    #[prop_or_default]
    pub templates_allowed: bool,
    /// Instagram past 24 hours: a person may reply (HUMAN_AGENT tag) once
    /// they say they are one.
    #[prop_or_default]
    pub human_agent: bool,
    #[prop_or_default]
    pub reply: Option<ReplyPreview>,
    pub dispatcher: Dispatcher,
    pub drafts: Drafts,
}

/// A checked file waiting to be sent, with the browser's handle to read it.
#[derive(Clone)]
struct Pending {
    file: PendingFile,
    handle: File,
}

/// Reads the file into memory (never to disk) and sends it.
async fn send_file(
    meta: SendFileMeta,
    handle: File,
) -> Result<parley_types::Message, parley_types::IpcError> {
    let buffer = JsFuture::from(handle.array_buffer()).await.map_err(|_| {
        parley_types::IpcError::new(
            parley_types::ErrorCode::InvalidInput,
            "Parley could not read the file. Check that it still exists, then choose it again.",
        )
    })?;
    let bytes = js_sys::Uint8Array::new(&buffer);
    ipc::send_file(&meta, &bytes).await
}

#[component]
pub fn Composer(props: &ComposerProps) -> Html {
    let id = props.conversation_id;
    let text = use_state(|| props.drafts.get(id));
    // Instagram past 24 hours: the agent confirmed a person is replying.
    let human_confirmed = use_state(|| false);
    let input = use_node_ref();
    let file_input = use_node_ref();
    let pending = use_state(|| None::<Rc<Pending>>);
    let attach_error = use_state(|| None::<String>);
    // Open by default: with the window closed a template is the only way.
    let picker_open = use_state(|| true);

    // A file from the picker or a drop: checked before it is kept.
    let choose = {
        let (pending, attach_error) = (pending.clone(), attach_error.clone());
        Callback::from(move |handle: File| {
            let file = PendingFile {
                name: handle.name(),
                mime_type: handle.type_(),
                size: handle.size() as u64,
            };
            match attachment::check(&file) {
                Ok(()) => {
                    attach_error.set(None);
                    pending.set(Some(Rc::new(Pending { file, handle })));
                }
                Err(sentence) => attach_error.set(Some(sentence)),
            }
        })
    };

    // Drag and drop anywhere on the open thread. Listeners sit on the
    // document so a file dropped elsewhere is ignored instead of opened.
    {
        let (choose, attach_error) = (choose.clone(), attach_error.clone());
        let window_open = props.window_open;
        use_effect_with((id, window_open), move |_| {
            let document = web_sys::window().and_then(|w| w.document());
            let on_thread = |e: &DragEvent| {
                e.target()
                    .and_then(|t| t.dyn_into::<Element>().ok())
                    .and_then(|el| el.closest(".thread-pane").ok().flatten())
                    .is_some()
            };
            let on_over = Closure::<dyn Fn(DragEvent)>::new(move |e: DragEvent| {
                e.prevent_default();
                if let Some(dt) = e.data_transfer() {
                    dt.set_drop_effect(if window_open && on_thread(&e) { "copy" } else { "none" });
                }
            });
            let on_drop = Closure::<dyn Fn(DragEvent)>::new(move |e: DragEvent| {
                e.prevent_default();
                if !window_open || !on_thread(&e) {
                    return;
                }
                let files = e.data_transfer().and_then(|dt| dt.files());
                match files.as_ref().map(|f| f.length()).unwrap_or(0) {
                    0 => attach_error.set(Some(attachment::NOT_A_FILE.to_owned())),
                    1 => {
                        if let Some(file) = files.and_then(|f| f.get(0)) {
                            choose.emit(file);
                        }
                    }
                    _ => attach_error.set(Some(attachment::ONE_FILE_AT_A_TIME.to_owned())),
                }
            });
            if let Some(doc) = &document {
                let _ = doc
                    .add_event_listener_with_callback("dragover", on_over.as_ref().unchecked_ref());
                let _ =
                    doc.add_event_listener_with_callback("drop", on_drop.as_ref().unchecked_ref());
            }
            move || {
                if let Some(doc) = &document {
                    let _ = doc.remove_event_listener_with_callback(
                        "dragover",
                        on_over.as_ref().unchecked_ref(),
                    );
                    let _ = doc.remove_event_listener_with_callback(
                        "drop",
                        on_drop.as_ref().unchecked_ref(),
                    );
                }
                drop(on_over);
                drop(on_drop);
            }
        });
    }

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
        let (pending, attach_error) = (pending.clone(), attach_error.clone());
        Callback::from(move |()| {
            let body = drafts.get(id);
            if let Some(chosen) = (*pending).clone() {
                // The file goes with the box's text as its caption. Like a
                // text, the chip and the caption leave at once and come back
                // if the command fails. A quote stays for the next text: Meta
                // takes no quote on a file here yet.
                if !window_open {
                    return;
                }
                if let Err(sentence) = attachment::check_caption(&body) {
                    attach_error.set(Some(sentence));
                    return;
                }
                attach_error.set(None);
                pending.set(None);
                drafts.set(id, String::new());
                text.set(String::new());
                let meta = SendFileMeta {
                    conversation_id: id,
                    file_name: chosen.file.name.clone(),
                    mime_type: chosen.file.mime_type.clone(),
                    caption: body.trim().to_owned(),
                };
                let (text, drafts, d) = (text.clone(), drafts.clone(), d.clone());
                let (pending, attach_error) = (pending.clone(), attach_error.clone());
                spawn_local(async move {
                    match send_file(meta, chosen.handle.clone()).await {
                        Ok(echo) => d.dispatch(Action::MessageSent(echo)),
                        Err(error) => {
                            if drafts.get(id).is_empty() {
                                drafts.set(id, body.clone());
                                text.set(body);
                            }
                            pending.set(Some(chosen));
                            attach_error.set(Some(error.message));
                        }
                    }
                });
                return;
            }
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
        if props.templates_allowed && *picker_open {
            let on_close = {
                let picker_open = picker_open.clone();
                Callback::from(move |()| picker_open.set(false))
            };
            return html! {
                <TemplatePicker
                    conversation_id={id}
                    dispatcher={props.dispatcher.clone()}
                    {on_close}
                />
            };
        }
        let open_picker = {
            let picker_open = picker_open.clone();
            Callback::from(move |_: MouseEvent| picker_open.set(true))
        };
        return html! {
            <div class="window-closed" data-testid="window-closed-notice" role="note">
                {icons::lock_clock()}
                <span>{WINDOW_CLOSED_NOTICE}</span>
                if props.templates_allowed {
                    <button
                        type="button"
                        class="text-button small choose-template"
                        data-testid="choose-template"
                        onclick={open_picker}
                    >
                        {CHOOSE_TEMPLATE}
                    </button>
                }
            </div>
        };
    }

    if props.human_agent && !*human_confirmed {
        let confirm = {
            let human_confirmed = human_confirmed.clone();
            Callback::from(move |_: MouseEvent| human_confirmed.set(true))
        };
        return html! {
            <div class="window-closed human-agent" data-testid="human-agent-notice" role="note">
                {icons::lock_clock()}
                <span>{format::HUMAN_AGENT_NOTICE}</span>
                <button
                    type="button"
                    class="text-button small choose-template"
                    data-testid="human-agent-reply"
                    onclick={confirm}
                >
                    {"Reply as a human agent"}
                </button>
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

    let onattach = {
        let file_input = file_input.clone();
        Callback::from(move |_: MouseEvent| {
            if let Some(el) = file_input.cast::<HtmlElement>() {
                el.click();
            }
        })
    };

    let onfile = {
        let choose = choose.clone();
        Callback::from(move |e: Event| {
            let el = e.target_unchecked_into::<HtmlInputElement>();
            if let Some(file) = el.files().and_then(|f| f.get(0)) {
                choose.emit(file);
            }
            // The same file may be chosen again after removing it.
            el.set_value("");
        })
    };

    let chip = (*pending).as_ref().map(|chosen| {
        let remove = {
            let (pending, input) = (pending.clone(), input.clone());
            Callback::from(move |_: MouseEvent| {
                pending.set(None);
                if let Some(el) = input.cast::<HtmlElement>() {
                    let _ = el.focus();
                }
            })
        };
        html! {
            <div class="attachment-chip" data-testid="attachment-chip" role="group" aria-label="Attachment to send">
                {icons::paperclip()}
                <div class="attachment-text">
                    <span class="attachment-name" data-testid="attachment-name">{attachment::display_name(&chosen.file.name)}</span>
                    <span class="attachment-details" data-testid="attachment-details">{attachment::chip_details(&chosen.file)}</span>
                </div>
                <button
                    type="button"
                    class="icon-button"
                    data-testid="remove-attachment"
                    aria-label={attachment::remove_label(&chosen.file)}
                    title="Remove the attachment"
                    onclick={remove}
                >
                    {icons::close()}
                </button>
            </div>
        }
    });

    let enabled = pending.is_some() || format::can_send(&text, true);
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
        if let Some(chip) = chip {
            {chip}
        }
        if let Some(sentence) = (*attach_error).clone() {
            <p class="attach-error" role="alert" data-testid="attach-error">{sentence}</p>
        }
        <div class="composer">
            <input
                ref={file_input}
                type="file"
                class="visually-hidden"
                data-testid="file-input"
                tabindex="-1"
                aria-hidden="true"
                onchange={onfile}
            />
            <button
                type="button"
                class="icon-button attach-button"
                data-testid="attach-button"
                aria-label="Attach a file"
                title="Attach a file (or drop one on the conversation)"
                onclick={onattach}
            >
                {icons::paperclip()}
            </button>
            <textarea
                ref={input}
                id={COMPOSER_INPUT_ID}
                class="composer-input"
                data-testid="composer-input"
                aria-label="Message"
                placeholder={if pending.is_some() { "Add a caption (optional)" } else { "Type a message" }}
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
                aria-label={if pending.is_some() { "Send the file" } else { "Send message" }}
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
