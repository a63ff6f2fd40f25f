//! The Contacts screen: the paged list with search and filters, the
//! create/edit form, delete with a confirmation, possible duplicates with
//! Merge, the CSV import wizard and the export. Thin: the words, checks and
//! wizard steps are `crate::contacts`'s; user content is text only.

use std::cell::RefCell;
use std::rc::Rc;

use parley_types::contact_book::{
    Contact, ContactField, ContactSaveOutcome, DuplicatePair, ExportContactsRequest,
    ImportCsvRequest,
};
use parley_types::contacts_csv::ContactsFilter;
use parley_types::InboxEvent;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

use super::icons;
use crate::app::Dispatcher;
use crate::contacts::{
    attribute_columns, contact_title, delete_question, mapped, mapping_error, mapping_step,
    merge_sentence, number_text, on_progress, opt_out_filter_from, opt_out_text, percent,
    preview_summary, query, report_summary, row_view, set_mapped, ContactForm, ImportStep,
    MAPPED_FIELDS,
};
use crate::ipc;
use crate::state::Action;

#[derive(Properties, PartialEq)]
pub struct ContactsProps {
    pub dispatcher: Dispatcher,
}

/// What the right-hand side shows.
#[derive(Clone, PartialEq)]
enum Pane {
    Empty,
    /// The form, and the contact as last loaded or saved (none when new).
    Form(ContactForm, Option<Contact>),
    Duplicates(Option<Vec<DuplicatePair>>),
    Import(ImportStep),
    Export,
}

#[derive(Clone, Default, PartialEq)]
struct List {
    contacts: Vec<Contact>,
    next: Option<parley_types::contact_book::ContactCursor>,
    loading: bool,
    loaded: bool,
}

fn input_value(e: &InputEvent) -> String {
    e.target_unchecked_into::<HtmlInputElement>().value()
}

#[component]
pub fn ContactsScreen(props: &ContactsProps) -> Html {
    let search = use_state(String::new);
    let label = use_state(String::new);
    let opted = use_state(|| None::<bool>);
    let list = use_state(List::default);
    let reload = use_state(|| 0u32);
    let pane = use_state(|| Pane::Empty);
    // The current pane for event handlers that outlive a render.
    let pane_now = use_mut_ref(|| Pane::Empty);
    *pane_now.borrow_mut() = (*pane).clone();
    let note = use_state(|| None::<(bool, String)>);
    let confirm_delete = use_state(|| None::<Contact>);
    let export_path = use_state(String::new);
    let export_filtered = use_state(|| false);

    let current_query = query(&search, &label, *opted);
    // Which query the list shows: an answer to an older one is dropped.
    let generation = use_mut_ref(|| 0u64);

    // The first page, again whenever the query changes or contacts change.
    {
        let (list, generation) = (list.clone(), generation.clone());
        use_effect_with((current_query.clone(), *reload), move |(q, _)| {
            let q = q.clone();
            let list = list.clone();
            *generation.borrow_mut() += 1;
            let mine = *generation.borrow();
            list.set(List { loading: true, ..(*list).clone() });
            spawn_local(async move {
                let answer = ipc::list_contacts(&q).await;
                if *generation.borrow() != mine {
                    return;
                }
                match answer {
                    Ok(page) => list.set(List {
                        contacts: page.contacts,
                        next: page.next,
                        loading: false,
                        loaded: true,
                    }),
                    Err(e) => {
                        list.set(List { loading: false, loaded: true, ..Default::default() });
                        web_sys::console::error_1(&e.message.into());
                    }
                }
            });
        });
    }
    // The core's contact events: progress of an import, and changes.
    {
        let (reload, pane, pane_now) = (reload.clone(), pane.clone(), pane_now.clone());
        use_effect_with((), move |_| {
            let keep: Rc<RefCell<Option<ipc::Subscription>>> = Rc::new(RefCell::new(None));
            let alive = Rc::new(RefCell::new(true));
            {
                let (keep, alive) = (keep.clone(), alive.clone());
                spawn_local(async move {
                    let subscription = ipc::listen_inbox(move |event| match event {
                        InboxEvent::ContactsImportProgress { done, total } => {
                            let mut step = pane_now.borrow().clone();
                            if let Pane::Import(s) = &mut step {
                                on_progress(s, done, total);
                                pane.set(step);
                            }
                        }
                        InboxEvent::ContactsChanged | InboxEvent::ConversationRemoved { .. } => {
                            reload.set(*reload + 1)
                        }
                        _ => {}
                    })
                    .await;
                    if *alive.borrow() {
                        *keep.borrow_mut() = subscription.ok();
                    }
                });
            }
            move || {
                *alive.borrow_mut() = false;
                keep.borrow_mut().take();
            }
        });
    }

    let load_more = {
        let (list, q, generation) = (list.clone(), current_query.clone(), generation.clone());
        Callback::from(move |_: ()| {
            let Some(after) = list.next.clone() else { return };
            if list.loading {
                return;
            }
            let mut q = q.clone();
            q.after = Some(after);
            let (list, generation) = (list.clone(), generation.clone());
            let mine = *generation.borrow();
            list.set(List { loading: true, ..(*list).clone() });
            spawn_local(async move {
                let answer = ipc::list_contacts(&q).await;
                if *generation.borrow() != mine {
                    return;
                }
                if let Ok(page) = answer {
                    let mut l = (*list).clone();
                    l.contacts.extend(page.contacts);
                    l.next = page.next;
                    l.loading = false;
                    list.set(l);
                }
            });
        })
    };
    let onscroll = {
        let load_more = load_more.clone();
        Callback::from(move |e: Event| {
            let el = e.target_unchecked_into::<web_sys::Element>();
            if el.scroll_top() + el.client_height() + 200 >= el.scroll_height() {
                load_more.emit(());
            }
        })
    };

    let close = props.dispatcher.send::<MouseEvent>(Action::CloseContacts);
    let set_pane = |p: Pane| {
        let (pane, note) = (pane.clone(), note.clone());
        Callback::from(move |_: MouseEvent| {
            note.set(None);
            pane.set(p.clone());
        })
    };
    let new_contact = set_pane(Pane::Form(ContactForm::new_contact(), None));
    let open_import = set_pane(Pane::Import(ImportStep::Choose));
    let open_duplicates = {
        let pane = pane.clone();
        Callback::from(move |_: MouseEvent| {
            pane.set(Pane::Duplicates(None));
            let pane = pane.clone();
            spawn_local(async move {
                let found = ipc::duplicate_contacts().await.unwrap_or_default();
                pane.set(Pane::Duplicates(Some(found)));
            });
        })
    };
    let open_export = {
        let (pane, path, note) = (pane.clone(), export_path.clone(), note.clone());
        Callback::from(move |_: MouseEvent| {
            note.set(None);
            pane.set(Pane::Export);
            let path = path.clone();
            spawn_local(async move {
                if let Ok(suggestion) = ipc::contacts_export_suggestion().await {
                    path.set(suggestion);
                }
            });
        })
    };

    // The filter inputs are not given their value back: a render arriving
    // while the agent types (a page of results) would put an older text in.
    let filters = html! {
        <div class="contacts-filters">
            <input type="search" class="contacts-search" data-testid="contacts-search"
                placeholder="Search name, number or @handle" aria-label="Search contacts"
                oninput={{ let s = search.clone(); Callback::from(move |e: InputEvent| s.set(input_value(&e))) }} />
            <input type="text" class="contacts-label-filter" data-testid="contacts-label-filter"
                placeholder="Label" aria-label="Only contacts with this label"
                oninput={{ let s = label.clone(); Callback::from(move |e: InputEvent| s.set(input_value(&e))) }} />
            <select data-testid="contacts-optout-filter" aria-label="Opt-out"
                onchange={{ let o = opted.clone(); Callback::from(move |e: Event| o.set(opt_out_filter_from(&e.target_unchecked_into::<HtmlSelectElement>().value()))) }}>
                <option value="any" selected={opted.is_none()}>{"Everyone"}</option>
                <option value="in" selected={*opted == Some(false)}>{"Not opted out"}</option>
                <option value="out" selected={*opted == Some(true)}>{"Opted out"}</option>
            </select>
        </div>
    };

    let rows = list
        .contacts
        .iter()
        .map(|c| {
            let v = row_view(c);
            let selected = matches!(&*pane, Pane::Form(f, _) if f.draft.id == Some(c.id));
            let onclick = {
                let (pane, note, c) = (pane.clone(), note.clone(), c.clone());
                Callback::from(move |_: MouseEvent| {
                    note.set(None);
                    pane.set(Pane::Form(ContactForm::edit(&c), Some(c.clone())));
                })
            };
            html! {
                <li key={c.id}>
                    <button type="button" class={classes!("contact-row", selected.then_some("selected"))}
                        data-testid="contact-row" data-contact-id={c.id.to_string()} {onclick}>
                        <span class="contact-row-main">
                            <span class="contact-row-title" data-testid="contact-row-title">{v.title}</span>
                            <span class="contact-row-sub muted">{v.subtitle}</span>
                        </span>
                        <span class="contact-row-tags">
                            {for v.labels.iter().map(|l| html! { <span class="label-chip" data-testid="contact-row-label">{l.clone()}</span> })}
                            if v.opted_out {
                                <span class="label-chip opted" data-testid="contact-row-opted-out">{"Opted out"}</span>
                            }
                            <span class="muted channel-word">{v.channel}</span>
                        </span>
                    </button>
                </li>
            }
        })
        .collect::<Html>();

    let side = match &*pane {
        Pane::Empty => html! {
            <section class="card contacts-empty">
                <p class="muted">{"Choose a contact to see or edit it, or add one."}</p>
            </section>
        },
        Pane::Form(form, loaded) => {
            contact_form(form, loaded.as_ref(), &pane, &note, &confirm_delete, &props.dispatcher)
        }
        Pane::Duplicates(found) => duplicates_view(found.as_ref(), &pane, &note),
        Pane::Import(step) => import_view(step, &pane, &note),
        Pane::Export => {
            let path = export_path.clone();
            let filtered = export_filtered.clone();
            let (note2, q) = (note.clone(), current_query.clone());
            let export = Callback::from(move |e: SubmitEvent| {
                e.prevent_default();
                let filter = if *filtered {
                    ContactsFilter {
                        labels: q.label.clone().into_iter().collect(),
                        opted_out: q.opted_out,
                    }
                } else {
                    ContactsFilter::default()
                };
                let request = ExportContactsRequest { path: (*path).clone(), filter };
                let note = note2.clone();
                spawn_local(async move {
                    match ipc::export_contacts_csv(&request).await {
                        Ok(n) => note.set(Some((
                            true,
                            format!(
                                "{n} {} written to {}. The file is not encrypted: keep it safe.",
                                if n == 1 { "contact" } else { "contacts" },
                                request.path
                            ),
                        ))),
                        Err(e) => note.set(Some((false, e.message))),
                    }
                });
            });
            html! {
                <form class="card" data-testid="contacts-export" onsubmit={export}>
                    <h3>{"Export contacts as CSV"}</h3>
                    <p class="muted">{"WhatsApp contacts with their labels, notes, opt-out and attributes. Cells a spreadsheet would run as formulas are neutralised."}</p>
                    <label for="contacts-export-path">{"File"}</label>
                    <input id="contacts-export-path" type="text" class="path-input" data-testid="contacts-export-path"
                        value={(*export_path).clone()}
                        oninput={{ let p = export_path.clone(); Callback::from(move |e: InputEvent| p.set(input_value(&e))) }} />
                    <label class="radio">
                        <input type="radio" name="export-scope" checked={!*export_filtered} data-testid="export-all"
                            onchange={{ let f = export_filtered.clone(); Callback::from(move |_: Event| f.set(false)) }} />
                        {"All contacts"}
                    </label>
                    <label class="radio">
                        <input type="radio" name="export-scope" checked={*export_filtered} data-testid="export-filtered"
                            onchange={{ let f = export_filtered.clone(); Callback::from(move |_: Event| f.set(true)) }} />
                        {"Only the current label and opt-out filter"}
                    </label>
                    <div class="actions">
                        <button type="submit" class="text-button primary" data-testid="contacts-export-go">{"Export"}</button>
                    </div>
                </form>
            }
        }
    };

    let count = if list.next.is_some() {
        format!("{}+ contacts", list.contacts.len())
    } else {
        format!(
            "{} {}",
            list.contacts.len(),
            if list.contacts.len() == 1 { "contact" } else { "contacts" }
        )
    };

    html! {
        <section class="privacy-screen contacts-screen" data-testid="contacts-screen" aria-labelledby="contacts-title">
            <header class="privacy-head">
                <h2 id="contacts-title">{"Contacts"}</h2>
                <div class="form-actions">
                    <button type="button" class="text-button primary" data-testid="contact-new" onclick={new_contact}>{"New contact"}</button>
                    <button type="button" class="text-button" data-testid="contacts-import" onclick={open_import}>{"Import CSV"}</button>
                    <button type="button" class="text-button" data-testid="contacts-duplicates" onclick={open_duplicates}>{"Possible duplicates"}</button>
                    <button type="button" class="text-button" data-testid="contacts-export-open" onclick={open_export}>{"Export"}</button>
                    <button type="button" class="icon-button" data-testid="contacts-close"
                        aria-label="Close Contacts" title="Close (Esc)" onclick={close}>
                        {icons::close()}
                    </button>
                </div>
            </header>
            if let Some((ok, text)) = (*note).clone() {
                <p class={classes!("note", if ok { "ok" } else { "err" }, "contacts-note")}
                    role={if ok { "status" } else { "alert" }} data-testid="contacts-note">{text}</p>
            }
            <div class="contacts-layout">
                <div class="contacts-list-pane">
                    {filters}
                    <p class="muted contacts-count" data-testid="contacts-count">{count}</p>
                    <ul class="contacts-list" data-testid="contacts-list" {onscroll}>
                        {rows}
                        if list.loaded && list.contacts.is_empty() {
                            <li class="muted contacts-none">{"No contacts match."}</li>
                        }
                    </ul>
                </div>
                <div class="contacts-side">{side}</div>
            </div>
        </section>
    }
}

fn contact_form(
    form: &ContactForm,
    loaded: Option<&Contact>,
    pane: &UseStateHandle<Pane>,
    note: &UseStateHandle<Option<(bool, String)>>,
    confirm_delete: &UseStateHandle<Option<Contact>>,
    dispatcher: &Dispatcher,
) -> Html {
    let loaded = loaded.cloned();
    let field = |f: ContactField| {
        let (pane, form, loaded) = (pane.clone(), form.clone(), loaded.clone());
        Callback::from(move |e: InputEvent| {
            let mut form = form.clone();
            let value = match f {
                ContactField::Notes => e.target_unchecked_into::<HtmlTextAreaElement>().value(),
                _ => input_value(&e),
            };
            form.set(f, value);
            pane.set(Pane::Form(form, loaded.clone()));
        })
    };
    // Always one node (empty when there is no refusal): Yew matches
    // unkeyed children from the end, so a node appearing or going would
    // replace the inputs before it while the agent types.
    let error = |f: ContactField, testid: &'static str| -> Html {
        form.error(f)
            .map(|message| html! { <p class="note err field-error" role="alert" data-testid={testid}>{message}</p> })
            .unwrap_or_default()
    };
    let submit = {
        let (pane, form, note, loaded) = (pane.clone(), form.clone(), note.clone(), loaded.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let mut form = form.clone();
            let Some(draft) = form.submit() else {
                pane.set(Pane::Form(form, loaded.clone()));
                return;
            };
            form.saving = true;
            pane.set(Pane::Form(form.clone(), loaded.clone()));
            let (pane, note, loaded) = (pane.clone(), note.clone(), loaded.clone());
            spawn_local(async move {
                match ipc::save_contact(&draft).await {
                    Ok(ContactSaveOutcome::Saved { contact }) => {
                        note.set(Some((true, format!("Saved {}.", contact_title(&contact)))));
                        pane.set(Pane::Form(ContactForm::edit(&contact), Some(contact)));
                    }
                    Ok(ContactSaveOutcome::Refused { errors }) => {
                        form.refused(errors);
                        pane.set(Pane::Form(form, loaded));
                    }
                    Err(e) => {
                        form.saving = false;
                        pane.set(Pane::Form(form, loaded));
                        note.set(Some((false, e.message)));
                    }
                }
            });
        })
    };
    let attributes = form.draft.attributes.iter().enumerate().map(|(i, (name, value))| {
        let set = |is_name: bool| {
            let (pane, form, loaded) = (pane.clone(), form.clone(), loaded.clone());
            Callback::from(move |e: InputEvent| {
                let mut form = form.clone();
                let v = input_value(&e);
                if is_name {
                    form.set_attribute(i, Some(v), None);
                } else {
                    form.set_attribute(i, None, Some(v));
                }
                pane.set(Pane::Form(form, loaded.clone()));
            })
        };
        html! {
            <div class="attribute-row">
                <input type="text" placeholder="Attribute" aria-label="Attribute name" data-testid="contact-attr-name"
                    value={name.clone()} oninput={set(true)} />
                <input type="text" placeholder="Value" aria-label="Attribute value" data-testid="contact-attr-value"
                    value={value.clone()} oninput={set(false)} />
            </div>
        }
    }).collect::<Html>();
    let opt_text = loaded.as_ref().and_then(opt_out_text);
    let conversation = loaded.as_ref().and_then(|c| c.conversation_id);
    let open_conversation = conversation.map(|id| {
        let (d, note) = (dispatcher.clone(), note.clone());
        Callback::from(move |_: MouseEvent| {
            let (d, note) = (d.clone(), note.clone());
            spawn_local(async move {
                match ipc::conversation(id).await {
                    Ok(conversation) => {
                        // Listed first: it may be beyond the inbox's loaded pages.
                        d.dispatch(Action::Event(InboxEvent::ConversationChanged { conversation }));
                        d.dispatch(Action::CloseContacts);
                        d.dispatch(Action::Select(id));
                    }
                    Err(e) => note.set(Some((false, e.message))),
                }
            });
        })
    });
    let ask_delete = loaded.clone().map(|c| {
        let confirm = confirm_delete.clone();
        Callback::from(move |_: MouseEvent| confirm.set(Some(c.clone())))
    });
    let confirm_box = (**confirm_delete).clone().filter(|c| Some(c.id) == form.draft.id).map(|c| {
        let (confirm, pane, note) = (confirm_delete.clone(), pane.clone(), note.clone());
        let id = c.id;
        let title = contact_title(&c);
        let yes = Callback::from(move |_: MouseEvent| {
            let (confirm, pane, note, title) = (confirm.clone(), pane.clone(), note.clone(), title.clone());
            spawn_local(async move {
                confirm.set(None);
                match ipc::delete_contact(id).await {
                    Ok(()) => {
                        pane.set(Pane::Empty);
                        note.set(Some((true, format!("Deleted {title}."))));
                    }
                    Err(e) => note.set(Some((false, e.message))),
                }
            });
        });
        let no = {
            let confirm = confirm_delete.clone();
            Callback::from(move |_: MouseEvent| confirm.set(None))
        };
        html! {
            <div class="confirm" data-testid="contact-delete-confirm">
                <p>{delete_question(&c)}</p>
                <div class="actions">
                    <button type="button" class="text-button danger" data-testid="contact-delete-yes" onclick={yes}>{"Delete"}</button>
                    <button type="button" class="text-button" onclick={no}>{"Cancel"}</button>
                </div>
            </div>
        }
    });
    let toggle_opt = {
        let (pane, form, loaded) = (pane.clone(), form.clone(), loaded.clone());
        Callback::from(move |e: Event| {
            let mut form = form.clone();
            form.opt_out_checked = e.target_unchecked_into::<HtmlInputElement>().checked();
            pane.set(Pane::Form(form, loaded.clone()));
        })
    };
    html! {
        <form class="card contact-form" data-testid="contact-form" onsubmit={submit} novalidate=true>
            <h3>{if form.creating() { "New contact".to_owned() } else { loaded.as_ref().map(contact_title).unwrap_or_else(|| "Contact".into()) }}</h3>
            <label for="contact-name">{"Name"}</label>
            <input id="contact-name" type="text" data-testid="contact-name" value={form.draft.name.clone()} oninput={field(ContactField::Name)} />
            {error(ContactField::Name, "contact-name-error")}
            <label for="contact-whatsapp">{"WhatsApp number"}</label>
            if form.number_editable {
                <input id="contact-whatsapp" type="text" data-testid="contact-whatsapp" placeholder="+44 20 7946 0958"
                    value={form.draft.whatsapp.clone()} oninput={field(ContactField::Whatsapp)} />
            } else {
                <p class="mono" data-testid="contact-whatsapp-fixed">{
                    loaded.as_ref().and_then(|c| c.wa_id.as_deref().map(number_text).or_else(|| c.user_id.clone())).unwrap_or_default()
                }</p>
            }
            {error(ContactField::Whatsapp, "contact-whatsapp-error")}
            <label for="contact-instagram">{"Instagram handle"}</label>
            <input id="contact-instagram" type="text" data-testid="contact-instagram" placeholder="@handle"
                value={form.draft.instagram.clone()} oninput={field(ContactField::Instagram)} />
            {error(ContactField::Instagram, "contact-instagram-error")}
            <label for="contact-labels">{"Labels, separated by commas"}</label>
            <input id="contact-labels" type="text" data-testid="contact-labels" value={form.draft.labels.clone()} oninput={field(ContactField::Labels)} />
            {error(ContactField::Labels, "contact-labels-error")}
            <label for="contact-notes">{"Notes"}</label>
            <textarea id="contact-notes" data-testid="contact-notes" rows="3" value={form.draft.notes.clone()} oninput={field(ContactField::Notes)} />
            {error(ContactField::Notes, "contact-notes-error")}
            <label>{"Attributes"}</label>
            {attributes}
            {error(ContactField::Attributes, "contact-attributes-error")}
            <label class="radio">
                <input type="checkbox" data-testid="contact-opted-out" checked={form.opt_out_checked} onchange={toggle_opt} />
                {"Opted out of marketing messages"}
            </label>
            if let Some(text) = opt_text {
                <p class="muted">{text}</p>
            }
            <div class="actions">
                <button type="submit" class="text-button primary" data-testid="contact-save" disabled={form.saving}>
                    {if form.saving { "Saving…" } else if form.creating() { "Create contact" } else { "Save" }}
                </button>
                if let Some(onclick) = open_conversation {
                    <button type="button" class="text-button" data-testid="contact-open-conversation" {onclick}>{"Open conversation"}</button>
                }
                if let Some(onclick) = ask_delete {
                    <button type="button" class="text-button danger" data-testid="contact-delete" {onclick}>{"Delete…"}</button>
                }
            </div>
            {confirm_box.unwrap_or_default()}
        </form>
    }
}

fn duplicates_view(
    found: Option<&Vec<DuplicatePair>>,
    pane: &UseStateHandle<Pane>,
    note: &UseStateHandle<Option<(bool, String)>>,
) -> Html {
    let Some(found) = found else {
        return html! { <section class="card"><h3>{"Possible duplicates"}</h3><p class="muted" role="status">{"Looking…"}</p></section> };
    };
    let pairs = found.iter().map(|pair| {
        let merge = {
            let (pane, note) = (pane.clone(), note.clone());
            let (keep, other) = (pair.first.id, pair.second.id);
            Callback::from(move |_: MouseEvent| {
                let (pane, note) = (pane.clone(), note.clone());
                spawn_local(async move {
                    match ipc::merge_contacts(keep, other).await {
                        Ok(kept) => {
                            note.set(Some((true, format!("Merged into {}.", contact_title(&kept)))));
                            let rest = ipc::duplicate_contacts().await.unwrap_or_default();
                            pane.set(Pane::Duplicates(Some(rest)));
                        }
                        Err(e) => note.set(Some((false, e.message))),
                    }
                });
            })
        };
        let side = |c: &Contact| {
            let v = row_view(c);
            html! { <div class="duplicate-side"><strong>{v.title}</strong><span class="muted">{v.subtitle}</span></div> }
        };
        html! {
            <li class="duplicate" data-testid="duplicate-pair">
                {side(&pair.first)}{side(&pair.second)}
                <p class="muted">{pair.reason.clone()}{" "}{merge_sentence(&pair.first, &pair.second)}</p>
                <button type="button" class="text-button primary" data-testid="duplicate-merge" onclick={merge}>{"Merge"}</button>
            </li>
        }
    }).collect::<Html>();
    html! {
        <section class="card" data-testid="duplicates">
            <h3>{"Possible duplicates"}</h3>
            if found.is_empty() {
                <p class="muted" data-testid="duplicates-none">{"No contacts look alike."}</p>
            } else {
                <ul class="duplicates">{pairs}</ul>
            }
        </section>
    }
}

fn import_view(
    step: &ImportStep,
    pane: &UseStateHandle<Pane>,
    note: &UseStateHandle<Option<(bool, String)>>,
) -> Html {
    match step {
        ImportStep::Choose => {
            let (pane, note) = (pane.clone(), note.clone());
            let onchange = Callback::from(move |e: Event| {
                let el = e.target_unchecked_into::<HtmlInputElement>();
                let Some(file) = el.files().and_then(|f| f.get(0)) else { return };
                el.set_value("");
                let (pane, note) = (pane.clone(), note.clone());
                spawn_local(async move {
                    let text = JsFuture::from(file.text()).await.ok().and_then(|v| v.as_string());
                    match text {
                        None => note.set(Some((false, "Parley could not read the file as text. Save it as CSV (UTF-8) and choose it again.".into()))),
                        Some(csv) => match mapping_step(&file.name(), csv) {
                            Ok(step) => {
                                note.set(None);
                                pane.set(Pane::Import(step));
                            }
                            Err(reason) => note.set(Some((false, reason))),
                        },
                    }
                });
            });
            html! {
                <section class="card" data-testid="import-choose">
                    <h3>{"Import contacts from CSV"}</h3>
                    <p class="muted">{"A header row names the columns. Customers are matched by WhatsApp number: existing contacts are updated, never duplicated."}</p>
                    <label for="import-file">{"CSV file"}</label>
                    <input id="import-file" type="file" accept=".csv,text/csv,text/plain" data-testid="import-file" {onchange} />
                </section>
            }
        }
        ImportStep::Map { file_name, csv, headers, mapping } => {
            let selects = MAPPED_FIELDS.iter().map(|(field, words)| {
                let chosen = mapped(mapping, field).unwrap_or_default();
                let onchange = {
                    let (pane, step) = (pane.clone(), step.clone());
                    let field = *field;
                    Callback::from(move |e: Event| {
                        let value = e.target_unchecked_into::<HtmlSelectElement>().value();
                        let mut step = step.clone();
                        if let ImportStep::Map { mapping, .. } = &mut step {
                            set_mapped(mapping, field, &value);
                        }
                        pane.set(Pane::Import(step));
                    })
                };
                html! {
                    <div class="field-row">
                        <label for={format!("map-{field}")}>{*words}</label>
                        <select id={format!("map-{field}")} data-testid={format!("map-{field}")} {onchange}>
                            <option value="" selected={chosen.is_empty()}>{"(not imported)"}</option>
                            {for headers.iter().filter(|h| !h.trim().is_empty()).map(|h| html! {
                                <option value={h.clone()} selected={h.eq_ignore_ascii_case(&chosen)}>{h.clone()}</option>
                            })}
                        </select>
                    </div>
                }
            }).collect::<Html>();
            let extra = attribute_columns(headers, mapping);
            let problem = mapping_error(mapping, headers);
            let next = {
                let (pane, note) = (pane.clone(), note.clone());
                let (file_name, csv, headers, mapping) =
                    (file_name.clone(), csv.clone(), headers.clone(), mapping.clone());
                Callback::from(move |_: MouseEvent| {
                    let request = ImportCsvRequest { csv: csv.clone(), mapping: mapping.clone() };
                    let (pane, note) = (pane.clone(), note.clone());
                    let (file_name, csv, headers, mapping) =
                        (file_name.clone(), csv.clone(), headers.clone(), mapping.clone());
                    spawn_local(async move {
                        match ipc::preview_contacts_csv(&request).await {
                            Ok(preview) => pane.set(Pane::Import(ImportStep::Preview {
                                file_name,
                                csv,
                                headers,
                                mapping,
                                preview,
                            })),
                            Err(e) => note.set(Some((false, e.message))),
                        }
                    });
                })
            };
            html! {
                <section class="card" data-testid="import-map">
                    <h3>{format!("Columns of {file_name}")}</h3>
                    {selects}
                    if !extra.is_empty() {
                        <p class="muted" data-testid="import-attributes">{format!("Kept as attributes: {}.", extra.join(", "))}</p>
                    }
                    if let Some(problem) = problem.clone() {
                        <p class="note err" role="alert" data-testid="import-map-error">{problem}</p>
                    }
                    <div class="actions">
                        <button type="button" class="text-button primary" data-testid="import-preview" disabled={problem.is_some()} onclick={next}>{"Preview"}</button>
                    </div>
                </section>
            }
        }
        ImportStep::Preview { file_name, csv, headers, mapping, preview } => {
            let back = {
                let pane = pane.clone();
                let step = ImportStep::Map {
                    file_name: file_name.clone(),
                    csv: csv.clone(),
                    headers: headers.clone(),
                    mapping: mapping.clone(),
                };
                Callback::from(move |_: MouseEvent| pane.set(Pane::Import(step.clone())))
            };
            let go = {
                let (pane, note) = (pane.clone(), note.clone());
                let request = ImportCsvRequest { csv: csv.clone(), mapping: mapping.clone() };
                Callback::from(move |_: MouseEvent| {
                    let (pane, note, request) = (pane.clone(), note.clone(), request.clone());
                    pane.set(Pane::Import(ImportStep::Importing { done: 0, total: 0 }));
                    spawn_local(async move {
                        match ipc::import_contacts_csv(&request).await {
                            Ok(report) => pane.set(Pane::Import(ImportStep::Done(report))),
                            Err(e) => {
                                note.set(Some((false, e.message)));
                                pane.set(Pane::Import(ImportStep::Choose));
                            }
                        }
                    });
                })
            };
            let rows = preview.rows.iter().map(|r| html! {
                <tr data-testid="preview-row">
                    <td>{r.row}</td>
                    <td>{r.name.clone().unwrap_or_default()}</td>
                    <td class="mono">{number_text(&r.wa_id)}</td>
                    <td>{r.labels.join(", ")}</td>
                    <td>{r.attributes.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("; ")}</td>
                </tr>
            }).collect::<Html>();
            let rejected = preview
                .rejected
                .iter()
                .map(|r| {
                    html! {
                        <tr data-testid="rejected-row" data-line={r.line.to_string()}>
                            <td>{r.line}</td>
                            <td>{r.reason.clone()}</td>
                        </tr>
                    }
                })
                .collect::<Html>();
            html! {
                <section class="card" data-testid="import-preview-step">
                    <h3>{"Preview"}</h3>
                    <p data-testid="import-summary">{preview_summary(preview)}</p>
                    if !preview.rejected.is_empty() {
                        <h4>{"Left out"}</h4>
                        <table class="inventory"><thead><tr><th>{"Row"}</th><th>{"Why"}</th></tr></thead><tbody>{rejected}</tbody></table>
                    }
                    <h4>{if preview.rows.len() as u64 + (preview.rejected.len() as u64) < preview.total { "First rows" } else { "Rows" }}</h4>
                    <div class="preview-scroll">
                        <table class="inventory"><thead><tr><th>{"Row"}</th><th>{"Name"}</th><th>{"WhatsApp"}</th><th>{"Labels"}</th><th>{"Attributes"}</th></tr></thead><tbody>{rows}</tbody></table>
                    </div>
                    <div class="actions">
                        <button type="button" class="text-button" onclick={back}>{"Back"}</button>
                        <button type="button" class="text-button primary" data-testid="import-go" onclick={go}>{"Import"}</button>
                    </div>
                </section>
            }
        }
        ImportStep::Importing { done, total } => html! {
            <section class="card" data-testid="import-progress-step">
                <h3>{"Importing…"}</h3>
                <div class="progress-row">
                    <progress data-testid="import-progress" max="100" value={percent(*done, *total).to_string()} aria-label="Import progress"></progress>
                    <span class="muted">{format!("{done} of {total}")}</span>
                </div>
            </section>
        },
        ImportStep::Done(report) => {
            let rejected = report.rejected.iter().map(|r| html! {
                <tr data-testid="report-rejected" data-line={r.line.to_string()}><td>{r.line}</td><td>{r.reason.clone()}</td></tr>
            }).collect::<Html>();
            let again = {
                let pane = pane.clone();
                Callback::from(move |_: MouseEvent| pane.set(Pane::Import(ImportStep::Choose)))
            };
            html! {
                <section class="card" data-testid="import-report">
                    <h3>{"Import finished"}</h3>
                    <p data-testid="import-report-summary" data-created={report.created.to_string()}
                        data-updated={report.updated.to_string()} data-rejected={report.rejected.len().to_string()}>
                        {report_summary(report)}
                    </p>
                    if !report.rejected.is_empty() {
                        <table class="inventory"><thead><tr><th>{"Row"}</th><th>{"Why it was left out"}</th></tr></thead><tbody>{rejected}</tbody></table>
                    }
                    <div class="actions">
                        <button type="button" class="text-button" onclick={again}>{"Import another file"}</button>
                    </div>
                </section>
            }
        }
    }
}
