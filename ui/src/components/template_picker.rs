//! The template picker that replaces the reply box once the 24-hour window
//! is closed: a searchable list of approved templates, then one input per
//! variable with a live preview bubble. Thin: the state and its rules are
//! in `crate::template_picker`.

use std::rc::Rc;

use parley_types::template::TemplateSummary;
use wasm_bindgen_futures::spawn_local;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use super::icons;
use crate::app::Dispatcher;
use crate::ipc;
use crate::state::Action;
use crate::template_picker::{self as picker, Part, Picker, Preview};

#[derive(Properties, PartialEq)]
pub struct TemplatePreviewProps {
    pub preview: Preview,
}

/// The message as the customer's phone shows it: header, body, footer and
/// the buttons under the bubble. Shared by the picker and the builder; text
/// nodes only.
#[component]
pub fn TemplatePreview(props: &TemplatePreviewProps) -> Html {
    let v = props.preview.clone();
    html! {
        <div class="phone-preview">
            <div class="bubble outbound template-preview" data-testid="template-preview">
                if let Some(header) = v.header {
                    <strong class="template-preview-header" data-testid="template-preview-header">{header}</strong>
                }
                <span class="message-body" data-testid="template-preview-body">{v.body}</span>
                if let Some(footer) = v.footer {
                    <span class="template-preview-footer" data-testid="template-preview-footer">{footer}</span>
                }
                if !v.buttons.is_empty() {
                    <div class="template-preview-buttons">
                        {for v.buttons.into_iter().map(|b| html! { <span class="template-preview-button" data-testid="template-preview-button">{b}</span> })}
                    </div>
                }
            </div>
        </div>
    }
}

enum Msg {
    Loading,
    Loaded(Vec<TemplateSummary>),
    Failed(String),
    Query(String),
    Choose(String, String),
    Back,
    Value(Part, usize, String),
    Sending,
    Sent,
    Contact(parley_types::contact::ContactDetails),
    FillFrom(Part, usize, String),
}

#[derive(Clone, PartialEq, Default)]
struct State(Picker);

impl Reducible for State {
    type Action = Msg;

    fn reduce(self: Rc<Self>, msg: Msg) -> Rc<Self> {
        let mut p = self.0.clone();
        match msg {
            Msg::Loading => {
                p.loading = true;
                p.error = None;
            }
            Msg::Loaded(list) => p.set_templates(list),
            Msg::Failed(sentence) => {
                p.loading = false;
                p.sending = false;
                p.error = Some(sentence);
            }
            Msg::Query(q) => p.query = q,
            Msg::Choose(name, language) => p.choose(&name, &language),
            Msg::Back => p.back(),
            Msg::Value(part, i, v) => p.set_value(part, i, v),
            Msg::Sending => {
                p.sending = true;
                p.error = None;
            }
            Msg::Sent => p.sent(),
            Msg::Contact(details) => p.set_contact(&details),
            Msg::FillFrom(part, i, key) => p.fill_from(part, i, &key),
        }
        Rc::new(State(p))
    }
}

#[derive(Properties, PartialEq)]
pub struct TemplatePickerProps {
    pub conversation_id: i64,
    pub dispatcher: Dispatcher,
    pub on_close: Callback<()>,
}

const SEARCH_ID: &str = "template-search";

fn field_id(n: usize) -> String {
    format!("template-field-{n}")
}

fn focus(id: &str) {
    crate::dom::focus_id(id);
}

fn refresh(state: UseReducerDispatcher<State>) {
    state.dispatch(Msg::Loading);
    spawn_local(async move {
        match ipc::refresh_templates().await {
            Ok(list) => state.dispatch(Msg::Loaded(list)),
            Err(e) => state.dispatch(Msg::Failed(e.message)),
        }
    });
}

#[component]
pub fn TemplatePicker(props: &TemplatePickerProps) -> Html {
    let state = use_reducer(State::default);
    let p = &state.0;

    // Stored templates at once; the first time (none stored), ask Meta.
    {
        let state = state.dispatcher();
        let conversation_id = props.conversation_id;
        use_effect_with((), move |_| {
            {
                // Best effort: without the contact, the agent types values.
                let state = state.clone();
                spawn_local(async move {
                    if let Ok(details) = ipc::contact_details(conversation_id).await {
                        state.dispatch(Msg::Contact(details));
                    }
                });
            }
            state.dispatch(Msg::Loading);
            spawn_local(async move {
                match ipc::list_templates().await {
                    Ok(list) if list.is_empty() => refresh(state),
                    Ok(list) => state.dispatch(Msg::Loaded(list)),
                    Err(e) => state.dispatch(Msg::Failed(e.message)),
                }
            });
            focus(SEARCH_ID);
        });
    }
    // Focus follows the step: the first field, or the search.
    {
        let chosen = p.chosen.clone();
        use_effect_with(chosen, move |chosen| {
            if chosen.is_some() {
                // A template without variables has no field: Send then.
                focus("template-send");
                focus(&field_id(0));
            } else {
                focus(SEARCH_ID);
            }
        });
    }

    // Live, unlike the render's snapshot of `state`: a second Enter before
    // the re-render must not send the template twice.
    let in_flight = use_mut_ref(|| false);
    let send = {
        let (state, d, id) = (state.clone(), props.dispatcher.clone(), props.conversation_id);
        Callback::from(move |()| {
            if *in_flight.borrow() {
                return;
            }
            let Some(request) = state.0.request(id) else { return };
            *in_flight.borrow_mut() = true;
            let (state, d, in_flight) = (state.dispatcher(), d.clone(), in_flight.clone());
            state.dispatch(Msg::Sending);
            spawn_local(async move {
                let outcome = ipc::send_template(&request).await;
                *in_flight.borrow_mut() = false;
                match outcome {
                    Ok(echo) => {
                        d.dispatch(Action::MessageSent(echo));
                        state.dispatch(Msg::Sent);
                    }
                    Err(e) => state.dispatch(Msg::Failed(e.message)),
                }
            });
        })
    };

    let onkeydown = {
        let on_close = props.on_close.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Escape" {
                e.prevent_default();
                e.stop_propagation();
                on_close.emit(());
            }
        })
    };

    let head_title = match p.chosen_template() {
        Some(t) => t.name.clone(),
        None => picker::CHOOSE_TEMPLATE.to_owned(),
    };
    let onrefresh = {
        let state = state.dispatcher();
        Callback::from(move |_: MouseEvent| refresh(state.clone()))
    };
    let onclose = {
        let on_close = props.on_close.clone();
        Callback::from(move |_: MouseEvent| on_close.emit(()))
    };

    let content = if p.chosen_template().is_none() {
        let oninput = {
            let state = state.dispatcher();
            Callback::from(move |e: InputEvent| {
                state.dispatch(Msg::Query(e.target_unchecked_into::<HtmlInputElement>().value()))
            })
        };
        let onsearchkey = {
            let (state, first) = (
                state.dispatcher(),
                p.visible().first().map(|t| (t.name.clone(), t.language.clone())),
            );
            Callback::from(move |e: KeyboardEvent| {
                if e.key() == "Enter" {
                    if let Some((name, language)) = first.clone() {
                        e.prevent_default();
                        state.dispatch(Msg::Choose(name, language));
                    }
                }
            })
        };
        let rows: Html = p
            .visible()
            .into_iter()
            .map(|t| {
                let onclick = {
                    let (state, name, language) =
                        (state.dispatcher(), t.name.clone(), t.language.clone());
                    Callback::from(move |_: MouseEvent| {
                        state.dispatch(Msg::Choose(name.clone(), language.clone()))
                    })
                };
                html! {
                    <li key={format!("{}/{}", t.name, t.language)}>
                        <button
                            type="button"
                            class="template-option"
                            data-testid="template-option"
                            data-name={t.name.clone()}
                            data-language={t.language.clone()}
                            {onclick}
                        >
                            <span class="template-name">{t.name.clone()}</span>
                            <span class="template-details">{picker::row_details(t)}</span>
                            <span class="template-snippet">{t.body.clone()}</span>
                        </button>
                    </li>
                }
            })
            .collect();
        html! {
            <>
                <input
                    id={SEARCH_ID}
                    type="search"
                    class="template-search"
                    data-testid="template-search"
                    aria-label="Search templates"
                    placeholder="Search templates by name, language or category"
                    value={p.query.clone()}
                    {oninput}
                    onkeydown={onsearchkey}
                />
                if p.loading {
                    <p class="template-status" aria-busy="true" data-testid="template-loading">{"Loading templates…"}</p>
                } else if let Some(empty) = p.empty_message() {
                    <p class="template-status" data-testid="template-empty">{empty}</p>
                } else {
                    <ul class="template-list" aria-label="Approved templates">{rows}</ul>
                }
            </>
        }
    } else {
        let fields = p.fields();
        let last = fields.len().saturating_sub(1);
        let inputs: Html = fields
            .into_iter()
            .enumerate()
            .map(|(n, f)| {
                let oninput = {
                    let (state, part, index) = (state.dispatcher(), f.part, f.index);
                    Callback::from(move |e: InputEvent| {
                        let value = e.target_unchecked_into::<HtmlInputElement>().value();
                        state.dispatch(Msg::Value(part, index, value))
                    })
                };
                let onkeydown = {
                    let send = send.clone();
                    Callback::from(move |e: KeyboardEvent| {
                        if e.key() == "Enter" && !e.is_composing() {
                            e.prevent_default();
                            if n == last {
                                send.emit(());
                            } else {
                                focus(&field_id(n + 1));
                            }
                        }
                    })
                };
                let filled = p.filled_from(f.part, f.index).unwrap_or_default();
                let onchange = {
                    let (state, part, index) = (state.dispatcher(), f.part, f.index);
                    Callback::from(move |e: Event| {
                        let key = e.target_unchecked_into::<HtmlSelectElement>().value();
                        if !key.is_empty() {
                            state.dispatch(Msg::FillFrom(part, index, key))
                        }
                    })
                };
                let sources = (!p.contact.is_empty()).then(|| {
                    html! {
                        <select
                            class="template-field-source"
                            data-testid={format!("{}-source", f.test_id)}
                            aria-label={format!("Fill {} from the contact", f.label)}
                            title="Fill from the contact"
                            {onchange}
                        >
                            <option value="" selected={filled.is_empty()}>{"Typed"}</option>
                            {for p.contact.iter().map(|s| html! {
                                <option value={s.key.clone()} selected={s.key == filled}>{s.label.clone()}</option>
                            })}
                        </select>
                    }
                });
                html! {
                    <label class="template-field" key={f.test_id.clone()}>
                        <span class="template-field-label">{f.label.clone()}</span>
                        <span class="template-field-row">
                            <input
                                id={field_id(n)}
                                type="text"
                                data-testid={f.test_id.clone()}
                                placeholder={f.placeholder.clone()}
                                value={f.value.clone()}
                                {oninput}
                                {onkeydown}
                            />
                            {sources.unwrap_or_default()}
                        </span>
                    </label>
                }
            })
            .collect();
        let preview = p.preview().map(|preview| html! { <TemplatePreview {preview} /> });
        let onback = {
            let state = state.dispatcher();
            Callback::from(move |_: MouseEvent| state.dispatch(Msg::Back))
        };
        let onsend = {
            let send = send.clone();
            Callback::from(move |_: MouseEvent| send.emit(()))
        };
        html! {
            <div class="template-form">
                <div class="template-fields">
                    <button type="button" class="text-button small" data-testid="template-back" onclick={onback}>
                        {"← All templates"}
                    </button>
                    if p.fields().is_empty() {
                        <p class="template-status">{"This template has no variables to fill in."}</p>
                    }
                    {inputs}
                    <button
                        id="template-send"
                        type="button"
                        class="text-button primary template-send"
                        data-testid="template-send"
                        disabled={!p.can_send()}
                        title="Send the template (Enter in the last field)"
                        onclick={onsend}
                    >
                        {if p.sending { "Sending…" } else { "Send template" }}
                    </button>
                </div>
                <div class="template-preview-pane">
                    <span class="template-preview-label">{"Preview"}</span>
                    {preview.unwrap_or_default()}
                </div>
            </div>
        }
    };

    html! {
        <div
            class="template-picker"
            data-testid="template-picker"
            role="dialog"
            aria-label={picker::CHOOSE_TEMPLATE}
            {onkeydown}
        >
            <div class="template-picker-head">
                {icons::lock_clock()}
                <div class="template-picker-title">
                    <h3 data-testid="template-picker-title">{head_title}</h3>
                    <span>{crate::format::WINDOW_CLOSED_NOTICE}</span>
                </div>
                <button
                    type="button"
                    class="text-button small"
                    data-testid="template-refresh"
                    title="Fetch the templates from Meta again"
                    disabled={p.loading}
                    onclick={onrefresh}
                >
                    {"Refresh"}
                </button>
                <button
                    type="button"
                    class="icon-button"
                    data-testid="template-close"
                    aria-label="Close the template picker"
                    title="Close (Esc)"
                    onclick={onclose}
                >
                    {icons::close()}
                </button>
            </div>
            if let Some(error) = p.error.clone() {
                <p class="template-error" role="alert" data-testid="template-error">{error}</p>
            }
            {content}
        </div>
    }
}
