//! The contact side panel: who the customer is, the agents' notes and
//! labels, the marketing opt-out and a summary of the history. The rules
//! (label and note limits) come from `parley_types::contact`; the core
//! checks them again when saving.

use parley_types::contact::{check_notes, clean_label, ContactDetails, ContactUpdate};
use parley_types::ChannelKind;
use wasm_bindgen_futures::spawn_local;
use web_sys::{HtmlInputElement, HtmlTextAreaElement};
use yew::prelude::*;

use crate::{dom, format, ipc};

#[derive(Properties, PartialEq)]
pub struct ContactPanelProps {
    pub conversation_id: i64,
    /// Changes when the conversation does (a new message, a STOP): the
    /// panel reloads its figures, keeping what the agent is editing.
    pub refresh_key: i64,
    pub now: i64,
    pub on_close: Callback<()>,
}

/// What the agent is editing, and whether it differs from what was saved.
#[derive(Clone, Default, PartialEq)]
struct Form {
    notes: String,
    labels: Vec<String>,
    opted_out: bool,
    /// The opt-out as loaded: Save sends it only if the agent changed it,
    /// so a STOP that arrived meanwhile is not undone.
    loaded_opted_out: bool,
    dirty: bool,
}

impl Form {
    fn from(d: &ContactDetails) -> Form {
        Form {
            notes: d.notes.clone(),
            labels: d.labels.clone(),
            opted_out: d.opted_out.is_some(),
            loaded_opted_out: d.opted_out.is_some(),
            dirty: false,
        }
    }
}

#[component]
pub fn ContactPanel(props: &ContactPanelProps) -> Html {
    let details = use_state(|| None::<Result<ContactDetails, String>>);
    let form = use_state(Form::default);
    let new_label = use_state(String::new);
    let label_error = use_state(|| None::<String>);
    let status = use_state(|| None::<Result<&'static str, String>>);
    // Live (not a render's snapshot): read when a reload answers.
    let dirty = use_mut_ref(|| false);
    // The thread keys this component by conversation, so one instance only
    // ever shows one customer: a late answer cannot land on another.
    let id = props.conversation_id;

    // Load (and reload on changes); an untouched form follows the data.
    {
        let (details, form, dirty) = (details.clone(), form.clone(), dirty.clone());
        use_effect_with(props.refresh_key, move |_| {
            spawn_local(async move {
                match ipc::contact_details(id).await {
                    Ok(d) => {
                        if !*dirty.borrow() {
                            form.set(Form::from(&d));
                        }
                        details.set(Some(Ok(d)));
                    }
                    Err(e) => details.set(Some(Err(e.message))),
                }
            });
        });
    }

    let edit = {
        let (form, status, dirty) = (form.clone(), status.clone(), dirty.clone());
        move |change: Box<dyn FnOnce(&mut Form)>| {
            let mut next = (*form).clone();
            change(&mut next);
            next.dirty = true;
            *dirty.borrow_mut() = true;
            form.set(next);
            status.set(None);
        }
    };
    let on_notes = {
        let edit = edit.clone();
        Callback::from(move |e: InputEvent| {
            let value = e.target_unchecked_into::<HtmlTextAreaElement>().value();
            edit(Box::new(move |f| f.notes = value));
        })
    };
    let add_label = {
        let (edit, new_label, label_error, form) =
            (edit.clone(), new_label.clone(), label_error.clone(), form.clone());
        Callback::from(move |()| match clean_label(&new_label) {
            Ok(label) => {
                let lower = label.to_lowercase();
                if !form.labels.iter().any(|l| l.to_lowercase() == lower) {
                    edit(Box::new(move |f| f.labels.push(label)));
                }
                new_label.set(String::new());
                label_error.set(None);
            }
            Err(why) => label_error.set(Some(why)),
        })
    };
    let on_label_input = {
        let new_label = new_label.clone();
        Callback::from(move |e: InputEvent| {
            new_label.set(e.target_unchecked_into::<HtmlInputElement>().value());
        })
    };
    let on_label_key = {
        let add_label = add_label.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Enter" {
                e.prevent_default();
                add_label.emit(());
            }
        })
    };
    let on_opt_out = {
        let edit = edit.clone();
        Callback::from(move |e: Event| {
            let checked = e.target_unchecked_into::<HtmlInputElement>().checked();
            edit(Box::new(move |f| f.opted_out = checked));
        })
    };
    let notes_error = check_notes(&form.notes).err();
    let save = {
        let (form, details, status, dirty) =
            (form.clone(), details.clone(), status.clone(), dirty.clone());
        Callback::from(move |_: MouseEvent| {
            let update = ContactUpdate {
                conversation_id: id,
                notes: form.notes.clone(),
                labels: form.labels.clone(),
                opted_out: (form.opted_out != form.loaded_opted_out).then_some(form.opted_out),
            };
            let (form, details, status, dirty) =
                (form.clone(), details.clone(), status.clone(), dirty.clone());
            spawn_local(async move {
                match ipc::update_contact(&update).await {
                    Ok(d) => {
                        *dirty.borrow_mut() = false;
                        form.set(Form::from(&d));
                        details.set(Some(Ok(d)));
                        status.set(Some(Ok("Saved")));
                    }
                    Err(e) => status.set(Some(Err(e.message))),
                }
            });
        })
    };
    let close = props.on_close.reform(|_: MouseEvent| ());
    let offset = dom::utc_offset_min(props.now);

    let body = match &*details {
        None => html! { <p class="contact-note" aria-busy="true">{"Loading…"}</p> },
        Some(Err(message)) => html! { <p class="contact-error" role="alert">{message.clone()}</p> },
        Some(Ok(d)) => {
            let labels: Html = form
                .labels
                .iter()
                .map(|label| {
                    let remove = {
                        let (edit, label) = (edit.clone(), label.clone());
                        Callback::from(move |_: MouseEvent| {
                            let label = label.clone();
                            edit(Box::new(move |f| f.labels.retain(|l| *l != label)));
                        })
                    };
                    html! {
                        <li class="label-chip" data-testid="contact-label">
                            {label.clone()}
                            <button
                                type="button"
                                class="chip-remove"
                                aria-label={format!("Remove label {label}")}
                                onclick={remove}
                            >{"×"}</button>
                        </li>
                    }
                })
                .collect();
            let channel = format::channel_name(d.channel);
            html! {
                <>
                    <dl class="contact-facts">
                        <dt>{"Name"}</dt>
                        <dd data-testid="contact-name">{d.name.clone().unwrap_or_else(|| "Not shared".into())}</dd>
                        <dt>{if d.channel == ChannelKind::Whatsapp { "Number" } else { "Instagram id" }}</dt>
                        <dd data-testid="contact-handle">{d.handle.clone()}</dd>
                        <dt>{"Channel"}</dt>
                        <dd>{channel}</dd>
                        <dt>{"History"}</dt>
                        <dd data-testid="contact-history">{format::contact_history_text(d, props.now, offset)}</dd>
                    </dl>
                    <label class="contact-field">
                        <span>{"Notes"}</span>
                        <textarea
                            data-testid="contact-notes"
                            rows="5"
                            value={form.notes.clone()}
                            oninput={on_notes}
                            aria-invalid={notes_error.is_some().then_some("true")}
                        />
                        if let Some(why) = &notes_error {
                            <span class="contact-error" role="alert">{why.clone()}</span>
                        }
                    </label>
                    <div class="contact-field">
                        <span id="contact-labels-title">{"Labels"}</span>
                        <ul class="label-chips" aria-labelledby="contact-labels-title">{labels}</ul>
                        <div class="label-add">
                            <input
                                type="text"
                                data-testid="contact-label-input"
                                placeholder="Add a label, then Enter"
                                aria-label="New label"
                                value={(*new_label).clone()}
                                oninput={on_label_input}
                                onkeydown={on_label_key}
                            />
                        </div>
                        if let Some(why) = &*label_error {
                            <span class="contact-error" role="alert">{why.clone()}</span>
                        }
                    </div>
                    <label class="contact-field checkbox">
                        <input
                            type="checkbox"
                            data-testid="contact-opt-out"
                            checked={form.opted_out}
                            onchange={on_opt_out}
                        />
                        <span>{"Opted out of marketing messages"}</span>
                    </label>
                    <p class="contact-note" data-testid="contact-opt-out-text">
                        {format::opt_out_text(d.opted_out.as_ref(), props.now, offset)}
                    </p>
                    <div class="contact-actions">
                        <button
                            type="button"
                            class="text-button primary"
                            data-testid="contact-save"
                            disabled={!form.dirty || notes_error.is_some()}
                            onclick={save}
                        >{"Save"}</button>
                        {match &*status {
                            Some(Ok(text)) => html! { <span class="contact-saved" role="status" data-testid="contact-saved">{*text}</span> },
                            Some(Err(why)) => html! { <span class="contact-error" role="alert">{why.clone()}</span> },
                            None => html! {},
                        }}
                    </div>
                </>
            }
        }
    };

    html! {
        <aside class="contact-panel" data-testid="contact-panel" aria-label="Contact">
            <header class="contact-panel-header">
                <h3>{"Contact"}</h3>
                <button
                    type="button"
                    class="icon-button"
                    aria-label="Close the contact panel (Escape)"
                    title="Close (Escape)"
                    onclick={close}
                >{"×"}</button>
            </header>
            {body}
        </aside>
    }
}
