//! The Templates screen: every stored template with its status, quality and
//! rejection reason (reloaded when Meta's webhooks change one), Refresh
//! from Meta, delete with a confirmation, duplicate into another language,
//! and the builder with its live preview. Thin: the state, the words and
//! the rules are `crate::template_manager`'s.

use std::rc::Rc;

use parley_types::template::TemplateSummary;
use parley_types::template_builder::{
    DraftCategory, DraftField, ParameterFormat, TemplateDraft, MAX_BODY_CHARS,
    MAX_BUTTON_TEXT_CHARS, MAX_FOOTER_CHARS, MAX_HEADER_CHARS,
};
use wasm_bindgen_futures::spawn_local;
use web_sys::{HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

use super::icons;
use super::template_picker::TemplatePreview;
use crate::app::Dispatcher;
use crate::ipc;
use crate::state::Action;
use crate::template_manager::{
    quality_words, rejection_words, status_badge, ButtonKind, Edit, Form, HeaderKind, Manager,
    Sample,
};

enum Msg {
    Loading,
    Loaded(Vec<TemplateSummary>),
    Failed(String),
    New,
    CloseBuilder,
    Edit(Edit),
    Submitting,
    Submitted(TemplateSummary),
    AskDelete(String),
    CancelDelete,
    Deleted(String),
    AskDuplicate(String, String),
    CancelDuplicate,
    DuplicateLanguage(String),
    Duplicated(TemplateDraft),
}

#[derive(Clone, PartialEq, Default)]
struct State(Manager);

impl Reducible for State {
    type Action = Msg;

    fn reduce(self: Rc<Self>, msg: Msg) -> Rc<Self> {
        let mut m = self.0.clone();
        match msg {
            Msg::Loading => {
                m.loading = true;
                m.error = None;
            }
            Msg::Loaded(list) => m.set_templates(list),
            Msg::Failed(sentence) => m.failed(sentence),
            Msg::New => m.new_template(),
            Msg::CloseBuilder => m.close_builder(),
            Msg::Edit(edit) => m.edit(edit),
            Msg::Submitting => {
                m.submitting = true;
                m.error = None;
            }
            Msg::Submitted(created) => m.submitted(created),
            Msg::AskDelete(name) => m.ask_delete(&name),
            Msg::CancelDelete => m.confirm_delete = None,
            Msg::Deleted(name) => m.deleted(&name),
            Msg::AskDuplicate(name, language) => m.ask_duplicate(&name, &language),
            Msg::CancelDuplicate => m.duplicating = None,
            Msg::DuplicateLanguage(v) => m.duplicate_language = v,
            Msg::Duplicated(draft) => m.duplicated(&draft),
        }
        Rc::new(State(m))
    }
}

#[derive(Properties, PartialEq)]
pub struct TemplatesProps {
    pub dispatcher: Dispatcher,
    /// Bumped when Meta changed a template: the list loads again.
    pub rev: u64,
}

fn load(state: UseReducerDispatcher<State>, from_meta: bool) {
    state.dispatch(Msg::Loading);
    spawn_local(async move {
        let result = if from_meta {
            ipc::refresh_templates().await
        } else {
            match ipc::list_templates().await {
                // Nothing stored yet: ask Meta once.
                Ok(list) if list.is_empty() => ipc::refresh_templates().await,
                other => other,
            }
        };
        match result {
            Ok(list) => state.dispatch(Msg::Loaded(list)),
            Err(e) => state.dispatch(Msg::Failed(e.message)),
        }
    });
}

fn input_value(e: InputEvent) -> String {
    e.target_unchecked_into::<HtmlInputElement>().value()
}

fn select_value(e: Event) -> String {
    e.target_unchecked_into::<HtmlSelectElement>().value()
}

/// The refusals shown under a field.
fn errors(form: &Form, field: DraftField, testid: &str) -> Html {
    form.field_errors(field)
        .into_iter()
        .map(|e| html! { <p class="note err field-error" role="alert" data-testid={testid.to_owned()}>{e}</p> })
        .collect()
}

#[component]
pub fn TemplatesScreen(props: &TemplatesProps) -> Html {
    let state = use_reducer(State::default);
    {
        let state = state.dispatcher();
        use_effect_with(props.rev, move |_| load(state, false));
    }
    let m = &state.0;
    let close = props.dispatcher.send::<MouseEvent>(Action::CloseTemplates);
    let refresh = {
        let state = state.dispatcher();
        Callback::from(move |_: MouseEvent| load(state.clone(), true))
    };
    let new = {
        let state = state.dispatcher();
        Callback::from(move |_: MouseEvent| state.dispatch(Msg::New))
    };
    let edit = {
        let state = state.dispatcher();
        Callback::from(move |e: Edit| state.dispatch(Msg::Edit(e)))
    };

    let body = if let Some(form) = m.form.as_ref() {
        builder(form, m, &state, &edit)
    } else {
        list(m, &state)
    };

    html! {
        <section class="privacy-screen templates-screen" data-testid="templates-screen" aria-labelledby="templates-title">
            <header class="privacy-head">
                <h2 id="templates-title">{"Templates"}</h2>
                <div class="form-actions">
                    if m.form.is_none() {
                        <button type="button" class="text-button primary" data-testid="templates-new" onclick={new}>{"New template"}</button>
                        <button
                            type="button"
                            class="text-button"
                            data-testid="templates-refresh"
                            title="Fetch the templates from Meta again"
                            disabled={m.loading}
                            onclick={refresh}
                        >
                            {"Refresh"}
                        </button>
                    }
                    <button
                        type="button"
                        class="icon-button"
                        data-testid="templates-close"
                        aria-label="Close Templates"
                        title="Close (Esc)"
                        onclick={close}
                    >
                        {icons::close()}
                    </button>
                </div>
            </header>
            if let Some(error) = m.error.clone() {
                <p class="note err templates-error" role="alert" data-testid="templates-error">{error}</p>
            }
            {body}
        </section>
    }
}

fn list(m: &Manager, state: &UseReducerHandle<State>) -> Html {
    if m.loading && m.templates.is_empty() {
        return html! { <p class="muted templates-status" role="status" data-testid="templates-loading">{"Loading templates…"}</p> };
    }
    if let Some(empty) = m.empty_message() {
        return html! { <p class="muted templates-status" data-testid="templates-empty">{empty}</p> };
    }
    let rows: Html = m
        .templates
        .iter()
        .map(|t| {
            let (status, status_class) = status_badge(&t.status);
            let quality = quality_words(t.quality.as_deref());
            let key = format!("{}/{}", t.name, t.language);
            let confirming = m.confirm_delete.as_deref() == Some(t.name.as_str());
            let duplicating = m
                .duplicating
                .as_ref()
                .is_some_and(|(n, l)| n == &t.name && l == &t.language);
            let ask_delete = {
                let (state, name) = (state.dispatcher(), t.name.clone());
                Callback::from(move |_: MouseEvent| state.dispatch(Msg::AskDelete(name.clone())))
            };
            let ask_duplicate = {
                let (state, name, language) =
                    (state.dispatcher(), t.name.clone(), t.language.clone());
                Callback::from(move |_: MouseEvent| {
                    state.dispatch(Msg::AskDuplicate(name.clone(), language.clone()))
                })
            };
            let languages = m.templates.iter().filter(|o| o.name == t.name).count();
            let confirm = confirming.then(|| {
                let yes = {
                    let (state, name) = (state.dispatcher(), t.name.clone());
                    Callback::from(move |_: MouseEvent| {
                        let (state, name) = (state.clone(), name.clone());
                        spawn_local(async move {
                            match ipc::delete_template(&name).await {
                                Ok(()) => state.dispatch(Msg::Deleted(name)),
                                Err(e) => state.dispatch(Msg::Failed(e.message)),
                            }
                        });
                    })
                };
                let no = {
                    let state = state.dispatcher();
                    Callback::from(move |_: MouseEvent| state.dispatch(Msg::CancelDelete))
                };
                let what = if languages > 1 {
                    format!("Delete {} in all {languages} languages at Meta? This cannot be undone.", t.name)
                } else {
                    format!("Delete {} at Meta? This cannot be undone.", t.name)
                };
                html! {
                    <div class="template-confirm" role="alertdialog" data-testid="template-confirm-delete">
                        <span>{what}</span>
                        <button type="button" class="text-button danger" data-testid="template-delete-yes" onclick={yes}>{"Delete"}</button>
                        <button type="button" class="text-button" data-testid="template-delete-no" onclick={no}>{"Cancel"}</button>
                    </div>
                }
            });
            let duplicate = duplicating.then(|| {
                let oninput = {
                    let state = state.dispatcher();
                    Callback::from(move |e: InputEvent| {
                        state.dispatch(Msg::DuplicateLanguage(input_value(e)))
                    })
                };
                let request = m.duplicate_request();
                let hint = match &request {
                    Err(e) if !m.duplicate_language.trim().is_empty() => Some(e.clone()),
                    _ => None,
                };
                let go = {
                    let (state, request) = (state.dispatcher(), request.clone().ok());
                    Callback::from(move |e: SubmitEvent| {
                        e.prevent_default();
                        let Some((name, from, to)) = request.clone() else { return };
                        let state = state.clone();
                        spawn_local(async move {
                            match ipc::duplicate_template(&name, &from, &to).await {
                                Ok(draft) => state.dispatch(Msg::Duplicated(draft)),
                                Err(e) => state.dispatch(Msg::Failed(e.message)),
                            }
                        });
                    })
                };
                let cancel = {
                    let state = state.dispatcher();
                    Callback::from(move |_: MouseEvent| state.dispatch(Msg::CancelDuplicate))
                };
                html! {
                    <form class="template-confirm" data-testid="template-duplicate-form" onsubmit={go}>
                        <label for="duplicate-language">{"Copy to language"}</label>
                        <input id="duplicate-language" type="text" data-testid="template-duplicate-language"
                            placeholder="e.g. fr or pt_BR" value={m.duplicate_language.clone()} {oninput} />
                        <button type="submit" class="text-button primary" data-testid="template-duplicate-go"
                            disabled={request.is_err()}>{"Open in builder"}</button>
                        <button type="button" class="text-button" onclick={cancel}>{"Cancel"}</button>
                        if let Some(hint) = hint {
                            <p class="note err" role="alert">{hint}</p>
                        }
                    </form>
                }
            });
            html! {
                <li class="template-row" key={key} data-testid="template-row" data-name={t.name.clone()}
                    data-language={t.language.clone()} data-status={t.status.clone()}>
                    <div class="template-row-main">
                        <span class="template-name">{t.name.clone()}</span>
                        <span class="template-details">{crate::template_picker::row_details(t)}</span>
                        <span class={classes!("status-badge", status_class)} data-testid="template-status">{status}</span>
                        if let Some(q) = quality {
                            <span class={classes!("quality", format!("quality-{}", t.quality.as_deref().unwrap_or("").to_lowercase()))}
                                data-testid="template-quality">{q}</span>
                        }
                        <span class="template-row-actions">
                            <button type="button" class="text-button small" data-testid="template-duplicate"
                                title="Copy this template into another language" onclick={ask_duplicate}>{"Duplicate"}</button>
                            <button type="button" class="text-button small danger" data-testid="template-delete"
                                onclick={ask_delete}>{"Delete"}</button>
                        </span>
                    </div>
                    <span class="template-snippet">{t.body.clone()}</span>
                    if let Some(reason) = t.rejected_reason.as_deref() {
                        <p class="note err" data-testid="template-rejection">{rejection_words(reason)}</p>
                    }
                    {confirm.unwrap_or_default()}
                    {duplicate.unwrap_or_default()}
                </li>
            }
        })
        .collect();
    html! { <ul class="template-rows" aria-label="Templates" data-testid="template-rows">{rows}</ul> }
}

fn count(text: &str, max: usize) -> Html {
    let n = text.chars().count();
    html! { <span class={classes!("char-count", (n > max).then_some("over"))}>{format!("{n}/{max}")}</span> }
}

/// A media header's sample: picked, checked, read into memory and
/// uploaded to Meta, whose handle goes with the draft.
fn sample_picker(form: &Form, edit: &Callback<Edit>) -> Html {
    let onchange = {
        let (edit, form) = (edit.clone(), form.clone());
        Callback::from(move |e: Event| {
            let input = e.target_unchecked_into::<HtmlInputElement>();
            let Some(file) = input.files().and_then(|f| f.get(0)) else { return };
            input.set_value("");
            if let Some(refusal) = form.sample_refusal(&file.type_(), file.size() as u64) {
                return edit.emit(Edit::SampleFailed(refusal));
            }
            let meta = parley_types::attachment::SampleFileMeta {
                file_name: file.name(),
                mime_type: file.type_(),
            };
            edit.emit(Edit::SampleUploading(meta.file_name.clone()));
            let edit = edit.clone();
            spawn_local(async move {
                let Ok(buffer) = wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await
                else {
                    return edit.emit(Edit::SampleFailed(
                        "Parley could not read the file; choose it again".into(),
                    ));
                };
                let bytes = js_sys::Uint8Array::new(&buffer);
                match ipc::upload_template_sample(&meta, &bytes).await {
                    Ok(handle) => edit.emit(Edit::SampleUploaded(meta.file_name, handle)),
                    Err(e) => edit.emit(Edit::SampleFailed(e.message)),
                }
            });
        })
    };
    let status = match &form.sample {
        None => html! {},
        Some(Sample::Uploading(name)) => html! {
            <span class="muted" role="status" data-testid="builder-sample-status" data-state="uploading">{format!("Uploading {name} to Meta…")}</span>
        },
        Some(Sample::Uploaded { file_name, .. }) => html! {
            <span class="muted" role="status" data-testid="builder-sample-status" data-state="uploaded">{format!("Sample: {file_name}")}</span>
        },
        Some(Sample::Failed(why)) => html! {
            <p class="note err field-error" role="alert" data-testid="builder-sample-status" data-state="failed">{why.clone()}</p>
        },
    };
    html! {
        <label class="builder-inline">
            <span>{"Sample"}</span>
            <input type="file" data-testid="builder-sample" accept={form.sample_accept()} {onchange} />
            {status}
        </label>
    }
}

/// An authentication template's options: Meta writes its text.
fn authentication(form: &Form, edit: &Callback<Edit>) -> Html {
    let security = {
        let edit = edit.clone();
        Callback::from(move |e: Event| {
            edit.emit(Edit::AuthSecurity(e.target_unchecked_into::<HtmlInputElement>().checked()))
        })
    };
    let expiry = {
        let edit = edit.clone();
        Callback::from(move |e: InputEvent| edit.emit(Edit::AuthExpiry(input_value(e))))
    };
    let button = {
        let edit = edit.clone();
        Callback::from(move |e: InputEvent| edit.emit(Edit::AuthButton(input_value(e))))
    };
    html! {
        <>
            <p class="muted">{"Meta writes an authentication template's text: \"{{1}} is your verification code.\" You choose what follows it and the copy-code button's label; the code is typed when the template is sent."}</p>
            <label class="builder-check">
                <input type="checkbox" data-testid="builder-auth-security" checked={form.auth_security} onchange={security} />
                <span>{"Add \"For your security, do not share this code.\""}</span>
            </label>
            {errors(form, DraftField::Body, "builder-error-body")}
            <label class="builder-inline">
                <span>{"Expires after (minutes)"}</span>
                <input type="text" inputmode="numeric" data-testid="builder-auth-expiry" placeholder="none" value={form.auth_expiry.clone()} oninput={expiry} />
            </label>
            {errors(form, DraftField::Footer, "builder-error-footer")}
            <label class="builder-inline">
                <span>{"Button label"}</span>
                <input type="text" data-testid="builder-auth-button" placeholder="Copy code" value={form.auth_button.clone()} oninput={button} />
                {count(&form.auth_button, MAX_BUTTON_TEXT_CHARS)}
            </label>
            {errors(form, DraftField::Button(0), "builder-error-button-0")}
        </>
    }
}

fn builder(
    form: &Form,
    m: &Manager,
    state: &UseReducerHandle<State>,
    edit: &Callback<Edit>,
) -> Html {
    let on = |f: fn(String) -> Edit| {
        let edit = edit.clone();
        Callback::from(move |e: InputEvent| edit.emit(f(input_value(e))))
    };
    let category = {
        let edit = edit.clone();
        Callback::from(move |e: Event| {
            if let Some(c) = DraftCategory::parse(&select_value(e)) {
                edit.emit(Edit::Category(c));
            }
        })
    };
    let format = {
        let edit = edit.clone();
        Callback::from(move |e: Event| {
            edit.emit(Edit::Format(if select_value(e) == "NAMED" {
                ParameterFormat::Named
            } else {
                ParameterFormat::Positional
            }))
        })
    };
    let header_kind = {
        let edit = edit.clone();
        Callback::from(move |e: Event| {
            edit.emit(Edit::HeaderKind(HeaderKind::parse(&select_value(e))))
        })
    };
    let body_input = {
        let edit = edit.clone();
        Callback::from(move |e: InputEvent| {
            edit.emit(Edit::Body(e.target_unchecked_into::<HtmlTextAreaElement>().value()))
        })
    };
    let examples: Html = form
        .body_variables()
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let oninput = {
                let (edit, name) = (edit.clone(), name.clone());
                Callback::from(move |e: InputEvent| {
                    edit.emit(Edit::BodyExample(name.clone(), input_value(e)))
                })
            };
            let label = parley_types::template::label(&name);
            html! {
                <label class="example-field" key={name.clone()}>
                    <span>{format!("Example for {label}")}</span>
                    <input type="text" data-testid={format!("builder-example-{i}")}
                        value={form.examples.get(&name).cloned().unwrap_or_default()} {oninput} />
                </label>
            }
        })
        .collect();
    let n_buttons = form.buttons.len();
    let buttons: Html = form
        .buttons
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let kind = {
                let edit = edit.clone();
                Callback::from(move |e: Event| {
                    edit.emit(Edit::ButtonKind(i, ButtonKind::parse(&select_value(e))))
                })
            };
            let text = {
                let edit = edit.clone();
                Callback::from(move |e: InputEvent| edit.emit(Edit::ButtonText(i, input_value(e))))
            };
            let url = {
                let edit = edit.clone();
                Callback::from(move |e: InputEvent| edit.emit(Edit::ButtonUrl(i, input_value(e))))
            };
            let url_example = {
                let edit = edit.clone();
                Callback::from(move |e: InputEvent| {
                    edit.emit(Edit::ButtonUrlExample(i, input_value(e)))
                })
            };
            let phone = {
                let edit = edit.clone();
                Callback::from(move |e: InputEvent| edit.emit(Edit::ButtonPhone(i, input_value(e))))
            };
            let code = {
                let edit = edit.clone();
                Callback::from(move |e: InputEvent| edit.emit(Edit::ButtonCode(i, input_value(e))))
            };
            let up = {
                let edit = edit.clone();
                Callback::from(move |_: MouseEvent| edit.emit(Edit::MoveButton(i, -1)))
            };
            let down = {
                let edit = edit.clone();
                Callback::from(move |_: MouseEvent| edit.emit(Edit::MoveButton(i, 1)))
            };
            let remove = {
                let edit = edit.clone();
                Callback::from(move |_: MouseEvent| edit.emit(Edit::RemoveButton(i)))
            };
            html! {
                <div class="builder-button" data-testid="builder-button" key={i}>
                    <div class="builder-button-head">
                        <select aria-label={format!("Button {} kind", i + 1)} data-testid={format!("builder-button-kind-{i}")} onchange={kind}>
                            {for ButtonKind::ALL.iter().map(|k| html! {
                                <option value={k.key()} selected={*k == b.kind}>{k.words()}</option>
                            })}
                        </select>
                        <button type="button" class="icon-button small" aria-label="Move up" title="Move up" disabled={i == 0} onclick={up}>{"↑"}</button>
                        <button type="button" class="icon-button small" aria-label="Move down" title="Move down" disabled={i + 1 == n_buttons} onclick={down}>{"↓"}</button>
                        <button type="button" class="icon-button small" aria-label="Remove the button" title="Remove" data-testid={format!("builder-button-remove-{i}")} onclick={remove}>{icons::close()}</button>
                    </div>
                    if b.kind != ButtonKind::CopyCode {
                        <label class="builder-inline">
                            <span>{"Label"}</span>
                            <input type="text" data-testid={format!("builder-button-text-{i}")} value={b.text.clone()} oninput={text} />
                            {count(&b.text, MAX_BUTTON_TEXT_CHARS)}
                        </label>
                    }
                    if b.kind == ButtonKind::Url {
                        <label class="builder-inline">
                            <span>{"Website"}</span>
                            <input type="text" data-testid={format!("builder-button-url-{i}")} placeholder="https://shop.example/track/{{1}}" value={b.url.clone()} oninput={url} />
                        </label>
                        if b.url.contains("{{") {
                            <label class="builder-inline">
                                <span>{"Example"}</span>
                                <input type="text" data-testid={format!("builder-button-url-example-{i}")} placeholder="https://shop.example/track/A-7" value={b.url_example.clone()} oninput={url_example} />
                            </label>
                        }
                    }
                    if b.kind == ButtonKind::PhoneNumber {
                        <label class="builder-inline">
                            <span>{"Number"}</span>
                            <input type="text" data-testid={format!("builder-button-phone-{i}")} placeholder="+15551234567" value={b.phone_number.clone()} oninput={phone} />
                        </label>
                    }
                    if b.kind == ButtonKind::CopyCode {
                        <label class="builder-inline">
                            <span>{"Example code"}</span>
                            <input type="text" data-testid={format!("builder-button-code-{i}")} placeholder="SAVE10" value={b.code_example.clone()} oninput={code} />
                        </label>
                    }
                    {errors(form, DraftField::Button(i), &format!("builder-error-button-{i}"))}
                </div>
            }
        })
        .collect();
    let add = |kind: ButtonKind| {
        let edit = edit.clone();
        Callback::from(move |_: MouseEvent| edit.emit(Edit::AddButton(kind)))
    };
    let submission = m.submission();
    let submit = {
        let state = state.dispatcher();
        Callback::from(move |_: MouseEvent| {
            let Some(draft) = submission.clone() else { return };
            let state = state.clone();
            state.dispatch(Msg::Submitting);
            spawn_local(async move {
                match ipc::create_template(&draft).await {
                    Ok(created) => state.dispatch(Msg::Submitted(created)),
                    Err(e) => state.dispatch(Msg::Failed(e.message)),
                }
            });
        })
    };
    let cancel = {
        let state = state.dispatcher();
        Callback::from(move |_: MouseEvent| state.dispatch(Msg::CloseBuilder))
    };
    let title = match &form.duplicate_of {
        Some(of) => format!("Copy of {of}"),
        None => "New template".to_owned(),
    };
    html! {
        <div class="builder" data-testid="template-builder">
            <div class="card builder-form">
                <h3>{title}</h3>
                <label class="builder-field">
                    <span>{"Name"}</span>
                    <input type="text" data-testid="builder-name" placeholder="order_update" value={form.name.clone()} oninput={on(Edit::Name)} />
                    {errors(form, DraftField::Name, "builder-error-name")}
                </label>
                <div class="builder-row">
                    <label class="builder-field">
                        <span>{"Category"}</span>
                        <select data-testid="builder-category" onchange={category}>
                            {for [DraftCategory::Utility, DraftCategory::Marketing, DraftCategory::Authentication].iter().map(|c| html! {
                                <option value={c.as_str()} selected={*c == form.category}>{crate::template_picker::sentence(&c.as_str().to_lowercase()).trim_end_matches('.').to_owned()}</option>
                            })}
                        </select>
                    </label>
                    <label class="builder-field">
                        <span>{"Language"}</span>
                        <input type="text" data-testid="builder-language" list="template-languages" placeholder="en_US" value={form.language.clone()} oninput={on(Edit::Language)} />
                    </label>
                    <label class="builder-field">
                        <span>{"Variables"}</span>
                        <select data-testid="builder-format" onchange={format}>
                            <option value="POSITIONAL" selected={form.parameter_format == ParameterFormat::Positional}>{"Numbered {{1}}"}</option>
                            <option value="NAMED" selected={form.parameter_format == ParameterFormat::Named}>{"Named {{order_id}}"}</option>
                        </select>
                    </label>
                </div>
                <datalist id="template-languages">
                    {for ["en_US", "en_GB", "es", "es_MX", "pt_BR", "pt_PT", "fr", "de", "it", "nl", "id", "hi", "ar", "tr"].iter().map(|l| html! { <option value={*l} /> })}
                </datalist>
                {errors(form, DraftField::Category, "builder-error-category")}
                {errors(form, DraftField::Language, "builder-error-language")}

                if form.is_authentication() {
                    {authentication(form, edit)}
                } else {
                <label class="builder-field">
                    <span>{"Header"}</span>
                    <select data-testid="builder-header-kind" onchange={header_kind}>
                        {for HeaderKind::ALL.iter().map(|k| html! {
                            <option value={k.key()} selected={*k == form.header_kind}>{k.words()}</option>
                        })}
                    </select>
                </label>
                if form.header_kind == HeaderKind::Text {
                    <label class="builder-inline">
                        <span>{"Text"}</span>
                        <input type="text" data-testid="builder-header-text" value={form.header_text.clone()} oninput={on(Edit::HeaderText)} />
                        {count(&form.header_text, MAX_HEADER_CHARS)}
                    </label>
                    if form.header_text.contains("{{") {
                        <label class="builder-inline">
                            <span>{"Example"}</span>
                            <input type="text" data-testid="builder-header-example" value={form.header_example.clone()} oninput={on(Edit::HeaderExample)} />
                        </label>
                    }
                }
                if form.media_header().is_some() {
                    {sample_picker(form, edit)}
                }
                {errors(form, DraftField::Header, "builder-error-header")}

                <label class="builder-field">
                    <span class="builder-label-row">{"Body"}{count(&form.body, MAX_BODY_CHARS)}</span>
                    <textarea data-testid="builder-body" rows="5"
                        placeholder={match form.parameter_format {
                            ParameterFormat::Positional => "Hi {{1}}, your order {{2}} is ready.",
                            ParameterFormat::Named => "Hi {{customer_name}}, your order {{order_id}} is ready.",
                        }}
                        value={form.body.clone()} oninput={body_input} />
                </label>
                {examples}
                {errors(form, DraftField::Body, "builder-error-body")}

                <label class="builder-field">
                    <span class="builder-label-row">{"Footer (optional)"}{count(&form.footer, MAX_FOOTER_CHARS)}</span>
                    <input type="text" data-testid="builder-footer" value={form.footer.clone()} oninput={on(Edit::Footer)} />
                    {errors(form, DraftField::Footer, "builder-error-footer")}
                </label>

                <div class="builder-field">
                    <span>{"Buttons (optional)"}</span>
                    {buttons}
                    <div class="actions">
                        <button type="button" class="text-button small" data-testid="builder-add-quick-reply" onclick={add(ButtonKind::QuickReply)}>{"+ Quick reply"}</button>
                        <button type="button" class="text-button small" data-testid="builder-add-url" onclick={add(ButtonKind::Url)}>{"+ Website"}</button>
                        <button type="button" class="text-button small" data-testid="builder-add-phone" onclick={add(ButtonKind::PhoneNumber)}>{"+ Call"}</button>
                        <button type="button" class="text-button small" data-testid="builder-add-copy-code" onclick={add(ButtonKind::CopyCode)}>{"+ Copy code"}</button>
                    </div>
                    {errors(form, DraftField::Buttons, "builder-error-buttons")}
                </div>
                }

                <div class="builder-submit">
                    if let Some(todo) = form.untouched_problems() {
                        <span class="muted" data-testid="builder-todo">{todo}</span>
                    }
                    <button type="button" class="text-button" data-testid="builder-cancel" onclick={cancel}>{"Cancel"}</button>
                    <button type="button" class="text-button primary" data-testid="builder-submit"
                        disabled={m.submission().is_none()} onclick={submit}>
                        {if m.submitting { "Submitting…" } else { "Submit for review" }}
                    </button>
                </div>
            </div>
            <div class="builder-preview">
                <span class="template-preview-label">{"Preview"}</span>
                <TemplatePreview preview={form.preview()} />
                <p class="muted">{"Examples are shown in place of the variables. Meta reviews the template, usually within minutes; its status changes here when it does."}</p>
            </div>
        </div>
    }
}
