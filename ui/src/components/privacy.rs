//! The Privacy & data screen. Thin: the choices, sentences and checks are
//! in `crate::privacy`; every action is one core command, and what the core
//! refuses comes back as a sentence shown next to the action.

use std::rc::Rc;

use parley_types::{
    ChannelKind, DataInventoryView, LockState, NotificationContent, PrivacySettings,
    RetentionPeriod, RetentionSettings,
};
use wasm_bindgen_futures::spawn_local;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use super::icons;
use crate::app::Dispatcher;
use crate::privacy as logic;
use crate::state::Action;
use crate::{format, ipc};

#[derive(Properties, PartialEq)]
pub struct PrivacyProps {
    pub dispatcher: Dispatcher,
    /// Opened for this conversation's data.
    pub conversation: Option<i64>,
    pub list_rev: u64,
    pub export_progress: Option<(u64, u64)>,
    pub exporting: bool,
    pub lock: LockState,
}

/// An action's outcome next to its button: a sentence, good or bad.
#[derive(Clone, PartialEq)]
enum Note {
    Ok(String),
    Err(String),
    Busy(String),
}

fn note_view(note: &Option<Note>, testid: &'static str) -> Html {
    match note {
        None => html! {},
        Some(Note::Ok(text)) => {
            html! { <p class="note ok" data-testid={testid} role="status">{text.clone()}</p> }
        }
        Some(Note::Busy(text)) => {
            html! { <p class="note busy" data-testid={testid} role="status">{text.clone()}</p> }
        }
        Some(Note::Err(text)) => {
            html! { <p class="note err" data-testid={testid} role="alert">{text.clone()}</p> }
        }
    }
}

fn input_value(e: &InputEvent) -> String {
    e.target_unchecked_into::<HtmlInputElement>().value()
}

/// A text field's `oninput`: keep `state` equal to what is typed.
fn bind_text(state: &UseStateHandle<String>) -> Callback<InputEvent> {
    let state = state.clone();
    Callback::from(move |e: InputEvent| state.set(input_value(&e)))
}

/// A handler that sets `state` to `value`, whatever the event.
fn set_to<E: 'static, T: Clone + 'static>(state: &UseStateHandle<T>, value: T) -> Callback<E> {
    let state = state.clone();
    Callback::from(move |_: E| state.set(value.clone()))
}

fn select_value(e: &Event) -> String {
    e.target_unchecked_into::<HtmlSelectElement>().value()
}

/// One retention row's editable state: the select's value and the custom
/// field.
#[derive(Clone, PartialEq)]
struct RetentionRow {
    choice: String,
    custom: String,
}

impl RetentionRow {
    fn of(period: Option<RetentionPeriod>) -> RetentionRow {
        RetentionRow { choice: logic::choice_value(period), custom: logic::custom_text(period) }
    }
}

#[component]
pub fn PrivacyScreen(props: &PrivacyProps) -> Html {
    let settings = use_state(|| None::<PrivacySettings>);
    let inventory = use_state(|| None::<DataInventoryView>);
    let load_error = use_state(|| None::<String>);
    let rows =
        use_state(|| [RetentionRow::of(None), RetentionRow::of(None), RetentionRow::of(None)]);
    let retention_note = use_state(|| None::<Note>);
    let export_dir = use_state(String::new);
    let export_note = use_state(|| None::<Note>);
    let one_dir = use_state(String::new);
    let one_note = use_state(|| None::<Note>);
    let confirm_erase = use_state(|| false);
    let chosen = use_state(|| props.conversation);
    let notify_note = use_state(|| None::<Note>);
    let lock_note = use_state(|| None::<Note>);
    let pass1 = use_state(String::new);
    let pass2 = use_state(String::new);
    let idle = use_state(|| 15u32);
    let keep_history = use_state(|| true);
    let confirm_disconnect = use_state(|| false);
    let disconnect_note = use_state(|| None::<Note>);
    let typed = use_state(String::new);
    let delete_note = use_state(|| None::<Note>);
    let reload = use_state(|| 0u32);

    // Load the settings and the inventory (again after each change).
    {
        let (settings, inventory, load_error, rows) =
            (settings.clone(), inventory.clone(), load_error.clone(), rows.clone());
        let (export_dir, one_dir, idle, d) =
            (export_dir.clone(), one_dir.clone(), idle.clone(), props.dispatcher.clone());
        use_effect_with(*reload, move |_| {
            spawn_local(async move {
                match ipc::privacy_settings().await {
                    Ok(s) => {
                        rows.set([
                            RetentionRow::of(Some(s.retention.global)),
                            RetentionRow::of(s.retention.whatsapp),
                            RetentionRow::of(s.retention.instagram),
                        ]);
                        if export_dir.is_empty() {
                            export_dir.set(s.export_suggestion.clone());
                            one_dir.set(format!("{} (one conversation)", s.export_suggestion));
                        }
                        if s.lock.enabled && s.lock.idle_minutes > 0 {
                            idle.set(s.lock.idle_minutes);
                        }
                        settings.set(Some(s));
                    }
                    Err(e) => {
                        load_error.set(Some(e.message.clone()));
                        d.dispatch(Action::Failed(e));
                    }
                }
                match ipc::data_inventory().await {
                    Ok(inv) => inventory.set(Some(inv)),
                    Err(e) => d.dispatch(Action::Failed(e)),
                }
            });
        });
    }
    let refresh = {
        let reload = reload.clone();
        Rc::new(move || reload.set(*reload + 1))
    };
    // ---------- retention ----------
    let save_retention = {
        let (rows, note, d, refresh) =
            (rows.clone(), retention_note.clone(), props.dispatcher.clone(), refresh.clone());
        Callback::from(move |_: MouseEvent| {
            let parsed: Result<Vec<_>, String> =
                rows.iter().map(|r| logic::parse_choice(&r.choice, &r.custom)).collect();
            let parsed = match parsed {
                Ok(p) => p,
                Err(e) => return note.set(Some(Note::Err(e))),
            };
            let (note, d, refresh) = (note.clone(), d.clone(), refresh.clone());
            spawn_local(async move {
                let scopes = [None, Some(ChannelKind::Whatsapp), Some(ChannelKind::Instagram)];
                let mut last: Option<RetentionSettings> = None;
                for (scope, period) in scopes.into_iter().zip(parsed) {
                    match ipc::set_retention(scope, period).await {
                        Ok(s) => last = Some(s),
                        Err(e) => {
                            if e.code == parley_types::ErrorCode::Locked {
                                d.dispatch(Action::Failed(e));
                            } else {
                                note.set(Some(Note::Err(e.message)));
                            }
                            return;
                        }
                    }
                }
                if last.is_some() {
                    note.set(Some(Note::Ok(
                        "Retention saved. The daily purge uses it from now on.".into(),
                    )));
                }
                refresh();
            });
        })
    };
    let purge = {
        let (note, d, refresh) =
            (retention_note.clone(), props.dispatcher.clone(), refresh.clone());
        Callback::from(move |_: MouseEvent| {
            let (note, d, refresh) = (note.clone(), d.clone(), refresh.clone());
            note.set(Some(Note::Busy("Deleting expired messages…".into())));
            spawn_local(async move {
                match ipc::purge_now().await {
                    Ok(outcome) => {
                        note.set(Some(Note::Ok(logic::purge_sentence(&outcome))));
                        d.dispatch(Action::RetryConversations);
                        refresh();
                    }
                    Err(e) => {
                        if e.code == parley_types::ErrorCode::Locked {
                            d.dispatch(Action::Failed(e));
                        } else {
                            note.set(Some(Note::Err(e.message)));
                        }
                    }
                }
            });
        })
    };
    let retention_rows: Html = ["All channels", "WhatsApp", "Instagram"]
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let row = rows[i].clone();
            let key = ["global", "whatsapp", "instagram"][i];
            let on_choice = {
                let rows = rows.clone();
                Callback::from(move |e: Event| {
                    let mut next = (*rows).clone();
                    next[i].choice = select_value(&e);
                    rows.set(next);
                })
            };
            let on_custom = {
                let rows = rows.clone();
                Callback::from(move |e: InputEvent| {
                    let mut next = (*rows).clone();
                    next[i].custom = input_value(&e);
                    rows.set(next);
                })
            };
            let options: Html = logic::choices(i > 0)
                .into_iter()
                .map(|(value, text)| {
                    html! { <option value={value} selected={row.choice == value}>{text}</option> }
                })
                .collect();
            let select_id = format!("retention-{key}");
            html! {
                <div class="field-row">
                    <label for={select_id.clone()}>{*label}</label>
                    <select id={select_id} data-testid={format!("retention-{key}")} onchange={on_choice}>
                        {options}
                    </select>
                    if row.choice == "custom" {
                        <input
                            type="text"
                            inputmode="numeric"
                            class="days-input"
                            aria-label={format!("{label}: number of days")}
                            data-testid={format!("retention-{key}-days")}
                            value={row.custom.clone()}
                            oninput={on_custom}
                        />
                        <span class="muted">{"days"}</span>
                    }
                </div>
            }
        })
        .collect();

    // ---------- export ----------
    let exporting = props.exporting;
    let run_export = |dir: UseStateHandle<String>,
                      note: UseStateHandle<Option<Note>>,
                      conversation: Option<i64>| {
        let d = props.dispatcher.clone();
        Callback::from(move |_: MouseEvent| {
            if let Err(e) = logic::check_export_path(&dir) {
                return note.set(Some(Note::Err(e)));
            }
            let (dir, note, d) = ((*dir).clone(), note.clone(), d.clone());
            note.set(Some(Note::Busy("Exporting…".into())));
            d.dispatch(Action::ExportStarted);
            spawn_local(async move {
                let result = ipc::export_data(&dir, conversation).await;
                d.dispatch(Action::ExportEnded);
                match result {
                    Ok(summary) => note.set(Some(Note::Ok(logic::export_sentence(&summary)))),
                    Err(e) => {
                        if e.code == parley_types::ErrorCode::Locked {
                            d.dispatch(Action::Failed(e));
                        } else {
                            note.set(Some(Note::Err(e.message)));
                        }
                    }
                }
            });
        })
    };
    let export_all = run_export(export_dir.clone(), export_note.clone(), None);
    let progress = props.export_progress.map(|(done, total)| {
        let pct = logic::percent(done, total);
        // Indeterminate until the core's first progress event.
        let bar = if total == 0 {
            html! { <progress data-testid="export-progress" data-done="0" data-total="0" aria-label="Export progress"></progress> }
        } else {
            html! {
                <progress
                    data-testid="export-progress"
                    data-done={done.to_string()}
                    data-total={total.to_string()}
                    max="100"
                    value={pct.to_string()}
                    aria-label="Export progress"
                ></progress>
            }
        };
        html! {
            <div class="progress-row">
                {bar}
                <span class="muted">{if total == 0 { "…".to_owned() } else { format!("{pct} %") }}</span>
            </div>
        }
    });

    // ---------- one customer ----------
    let state = props.dispatcher.state();
    let conversations: Vec<(i64, String, String)> = state
        .conversations
        .iter()
        .map(|c| (c.id, c.title.clone(), format::row_view(c, 0, 0).channel.to_string()))
        .collect();
    drop(state);
    let chosen_id = (*chosen).filter(|id| conversations.iter().any(|c| c.0 == *id));
    let chosen_title =
        chosen_id.and_then(|id| conversations.iter().find(|c| c.0 == id)).map(|c| c.1.clone());
    let on_choose = {
        let (chosen, confirm, note) = (chosen.clone(), confirm_erase.clone(), one_note.clone());
        Callback::from(move |e: Event| {
            chosen.set(select_value(&e).parse().ok());
            confirm.set(false);
            note.set(None);
        })
    };
    let export_one = run_export(one_dir.clone(), one_note.clone(), chosen_id);
    let erase = {
        let (confirm, note, d, refresh) =
            (confirm_erase.clone(), one_note.clone(), props.dispatcher.clone(), refresh.clone());
        let title = chosen_title.clone().unwrap_or_default();
        Callback::from(move |_: MouseEvent| {
            let Some(id) = chosen_id else { return };
            let (confirm, note, d, refresh, title) =
                (confirm.clone(), note.clone(), d.clone(), refresh.clone(), title.clone());
            spawn_local(async move {
                match ipc::erase_conversation(id).await {
                    Ok(()) => {
                        confirm.set(false);
                        note.set(Some(Note::Ok(format!(
                            "Everything Parley kept about {title} is erased: messages, files, \
                             contact record and search entries."
                        ))));
                        refresh();
                    }
                    Err(e) => {
                        if e.code == parley_types::ErrorCode::Locked {
                            d.dispatch(Action::Failed(e));
                        } else {
                            note.set(Some(Note::Err(e.message)));
                        }
                    }
                }
            });
        })
    };
    let conversation_options: Html = conversations
        .iter()
        .map(|(id, title, channel)| {
            html! {
                <option value={id.to_string()} selected={chosen_id == Some(*id)}>
                    {format!("{title} ({channel})")}
                </option>
            }
        })
        .collect();

    // ---------- notifications ----------
    let current_notify = settings.as_ref().map(|s| s.notifications);
    let notify_options: Html = logic::notification_choices()
        .into_iter()
        .map(|(content, label)| {
            let onchange = {
                let (note, d, refresh) =
                    (notify_note.clone(), props.dispatcher.clone(), refresh.clone());
                Callback::from(move |_: Event| {
                    let (note, d, refresh) = (note.clone(), d.clone(), refresh.clone());
                    spawn_local(async move {
                        match ipc::set_notification_content(content).await {
                            Ok(()) => {
                                note.set(Some(Note::Ok("Notifications changed.".into())));
                                refresh();
                            }
                            Err(e) => {
                                if e.code == parley_types::ErrorCode::Locked {
                                    d.dispatch(Action::Failed(e));
                                } else {
                                    note.set(Some(Note::Err(e.message)));
                                }
                            }
                        }
                    });
                })
            };
            let value = match content {
                NotificationContent::Full => "full",
                NotificationContent::SenderOnly => "sender_only",
                NotificationContent::Hidden => "hidden",
            };
            html! {
                <label class="radio">
                    <input
                        type="radio"
                        name="notifications"
                        value={value}
                        data-testid={format!("notify-{value}")}
                        checked={current_notify == Some(content)}
                        {onchange}
                    />
                    {label}
                </label>
            }
        })
        .collect();

    // ---------- app lock ----------
    let lock = props.lock;
    let idle_options: Html = logic::IDLE_CHOICES
        .iter()
        .map(|(minutes, label)| {
            html! { <option value={minutes.to_string()} selected={*idle == *minutes}>{*label}</option> }
        })
        .collect();
    let on_idle = {
        let (idle, note, d, enabled) =
            (idle.clone(), lock_note.clone(), props.dispatcher.clone(), lock.enabled);
        Callback::from(move |e: Event| {
            let minutes: u32 = select_value(&e).parse().unwrap_or(15);
            idle.set(minutes);
            if !enabled {
                return;
            }
            let (note, d) = (note.clone(), d.clone());
            spawn_local(async move {
                match ipc::set_lock_idle_minutes(minutes).await {
                    Ok(state) => {
                        d.dispatch(Action::LockStateLoaded(state));
                        note.set(Some(Note::Ok("Idle time saved.".into())));
                    }
                    Err(e) => note.set(Some(Note::Err(e.message))),
                }
            });
        })
    };
    let enable_lock = {
        let (p1, p2, idle, note, d) = (
            pass1.clone(),
            pass2.clone(),
            idle.clone(),
            lock_note.clone(),
            props.dispatcher.clone(),
        );
        Callback::from(move |_: MouseEvent| {
            if let Err(e) = logic::check_new_passphrase(&p1, &p2) {
                return note.set(Some(Note::Err(e)));
            }
            let (p1v, minutes, note, d, p1, p2) =
                ((*p1).clone(), *idle, note.clone(), d.clone(), p1.clone(), p2.clone());
            note.set(Some(Note::Busy("Turning on the app lock…".into())));
            spawn_local(async move {
                match ipc::enable_app_lock(&p1v, minutes).await {
                    Ok(state) => {
                        p1.set(String::new());
                        p2.set(String::new());
                        d.dispatch(Action::LockStateLoaded(state));
                        note.set(Some(Note::Ok(
                            "The app lock is on. Parley asks for the passphrase at start and after the idle time."
                                .into(),
                        )));
                    }
                    Err(e) => note.set(Some(Note::Err(e.message))),
                }
            });
        })
    };
    let disable_lock = {
        let (p1, note, d) = (pass1.clone(), lock_note.clone(), props.dispatcher.clone());
        Callback::from(move |_: MouseEvent| {
            let (p1v, note, d, p1) = ((*p1).clone(), note.clone(), d.clone(), p1.clone());
            note.set(Some(Note::Busy("Checking the passphrase…".into())));
            spawn_local(async move {
                match ipc::disable_app_lock(&p1v).await {
                    Ok(state) => {
                        p1.set(String::new());
                        d.dispatch(Action::LockStateLoaded(state));
                        note.set(Some(Note::Ok("The app lock is off.".into())));
                    }
                    Err(e) => note.set(Some(Note::Err(e.message))),
                }
            });
        })
    };
    let lock_now = {
        let (note, d) = (lock_note.clone(), props.dispatcher.clone());
        Callback::from(move |_: MouseEvent| {
            let (note, d) = (note.clone(), d.clone());
            spawn_local(async move {
                match ipc::lock_now().await {
                    Ok(_) => d.dispatch(Action::Event(parley_types::InboxEvent::Locked)),
                    Err(e) => note.set(Some(Note::Err(e.message))),
                }
            });
        })
    };
    let on_pass1 = bind_text(&pass1);
    let on_pass2 = bind_text(&pass2);

    // ---------- disconnect ----------
    let connected = settings.as_ref().is_some_and(|s| s.connected);
    let disconnect = {
        let (keep, confirm, note, d, refresh) = (
            keep_history.clone(),
            confirm_disconnect.clone(),
            disconnect_note.clone(),
            props.dispatcher.clone(),
            refresh.clone(),
        );
        Callback::from(move |_: MouseEvent| {
            let (keep, confirm, note, d, refresh) =
                (*keep, confirm.clone(), note.clone(), d.clone(), refresh.clone());
            note.set(Some(Note::Busy("Disconnecting…".into())));
            spawn_local(async move {
                match ipc::disconnect(keep).await {
                    Ok(()) => {
                        confirm.set(false);
                        note.set(Some(Note::Ok(if keep {
                            "Disconnected. The Meta token, relay token and device key are gone from the keyring; your history stays.".into()
                        } else {
                            "Disconnected, and the history is deleted. The Meta token, relay token and device key are gone from the keyring.".into()
                        })));
                        refresh();
                    }
                    Err(e) => {
                        if e.code == parley_types::ErrorCode::Locked {
                            d.dispatch(Action::Failed(e));
                        } else {
                            note.set(Some(Note::Err(e.message)));
                        }
                    }
                }
            });
        })
    };

    // ---------- delete everything ----------
    let delete_all = {
        let (typed, note) = (typed.clone(), delete_note.clone());
        Callback::from(move |_: MouseEvent| {
            if !logic::delete_all_confirmed(&typed) {
                return note.set(Some(Note::Err(format!(
                    "Type {} in capitals to confirm.",
                    logic::DELETE_ALL_WORD
                ))));
            }
            let note = note.clone();
            note.set(Some(Note::Busy("Deleting everything…".into())));
            spawn_local(async move {
                match ipc::delete_all_data().await {
                    // Start the window over too: as on first run.
                    Ok(()) => {
                        if let Some(w) = web_sys::window() {
                            let _ = w.location().reload();
                        }
                    }
                    Err(e) => note.set(Some(Note::Err(e.message))),
                }
            });
        })
    };
    let on_typed = bind_text(&typed);

    // ---------- inventory ----------
    let inventory_rows: Html = match inventory.as_ref() {
        None => html! { <tr><td colspan="4" class="muted">{"Loading…"}</td></tr> },
        Some(inv) => inv
            .items
            .iter()
            .map(|item| {
                let amount = match (item.count, item.bytes) {
                    (Some(n), Some(b)) => {
                        format!("{} · {}", logic::thousands(n), format::human_size(b))
                    }
                    (Some(n), None) => logic::thousands(n),
                    (None, Some(b)) => format::human_size(b),
                    (None, None) => "—".into(),
                };
                html! {
                    <tr data-testid="inventory-row">
                        <th scope="row">{item.what.clone()}</th>
                        <td class="amount">{amount}</td>
                        <td class="path">{item.location.clone()}</td>
                        <td>{item.protection.clone()}</td>
                    </tr>
                }
            })
            .collect(),
    };

    let close = props.dispatcher.send::<MouseEvent>(Action::ClosePrivacy);
    let on_export_dir = bind_text(&export_dir);
    let on_one_dir = bind_text(&one_dir);
    let ask_erase = set_to::<MouseEvent, _>(&confirm_erase, true);
    let cancel_erase = set_to::<MouseEvent, _>(&confirm_erase, false);
    let ask_disconnect = set_to::<MouseEvent, _>(&confirm_disconnect, true);
    let cancel_disconnect = set_to::<MouseEvent, _>(&confirm_disconnect, false);
    let keep_on = set_to::<Event, _>(&keep_history, true);
    let keep_off = set_to::<Event, _>(&keep_history, false);

    html! {
        <section class="privacy-screen" data-testid="privacy-screen" aria-labelledby="privacy-title">
            <header class="privacy-head">
                <h2 id="privacy-title">{"Privacy & data"}</h2>
                <button
                    type="button"
                    class="icon-button"
                    data-testid="privacy-close"
                    aria-label="Close Privacy & data"
                    title="Close (Esc)"
                    onclick={close}
                >
                    {icons::close()}
                </button>
            </header>
            if let Some(error) = (*load_error).clone() {
                <p class="note err" role="alert">{error}</p>
            }
            <div class="privacy-grid">
                <section class="card" aria-labelledby="retention-title">
                    <h3 id="retention-title">{"Keep messages and files"}</h3>
                    <p class="muted">{"Older messages and their files are deleted every day, and their words leave the search index. A channel can keep them for a different time than the others."}</p>
                    {retention_rows}
                    <div class="actions">
                        <button type="button" class="text-button primary" data-testid="retention-save" onclick={save_retention}>{"Save retention"}</button>
                        <button type="button" class="text-button" data-testid="purge-now" onclick={purge}>{"Purge now"}</button>
                    </div>
                    {note_view(&retention_note, "retention-note")}
                </section>

                <section class="card" aria-labelledby="export-title">
                    <h3 id="export-title">{"Export everything"}</h3>
                    <p class="warning" role="note">{"The export is NOT encrypted: anyone who can open the folder can read your customers' messages."}</p>
                    <label for="export-dir">{"Folder (new or empty)"}</label>
                    <input id="export-dir" type="text" class="path-input" data-testid="export-dir" value={(*export_dir).clone()} oninput={on_export_dir} spellcheck="false" />
                    <p class="muted">{"Contacts, conversations and messages as CSV and JSON, the media files, and a README describing them."}</p>
                    <div class="actions">
                        <button type="button" class="text-button primary" data-testid="export-all" disabled={exporting} onclick={export_all}>{"Export everything"}</button>
                    </div>
                    {progress}
                    {note_view(&export_note, "export-note")}
                </section>

                <section class="card" aria-labelledby="customer-title">
                    <h3 id="customer-title">{"One customer"}</h3>
                    <p class="muted">{"Export one conversation, or erase everything Parley keeps about one customer (the right to erasure). Also from a thread's \"Customer data\" button."}</p>
                    <label for="customer-select">{"Conversation"}</label>
                    <select id="customer-select" data-testid="customer-select" onchange={on_choose}>
                        <option value="" selected={chosen_id.is_none()}>{"Choose a conversation…"}</option>
                        {conversation_options}
                    </select>
                    if chosen_id.is_some() {
                        <label for="one-dir">{"Export to folder (CSV and JSON)"}</label>
                        <input id="one-dir" type="text" class="path-input" data-testid="export-one-dir" value={(*one_dir).clone()} oninput={on_one_dir} spellcheck="false" />
                        <div class="actions">
                            <button type="button" class="text-button" data-testid="export-one" disabled={exporting} onclick={export_one}>{"Export this conversation"}</button>
                            if !*confirm_erase {
                                <button type="button" class="text-button danger" data-testid="erase-ask" onclick={ask_erase}>{"Erase this customer's data…"}</button>
                            }
                        </div>
                        if *confirm_erase {
                            <div class="confirm" role="alertdialog" aria-labelledby="erase-q">
                                <p id="erase-q">{format!("Erase all of {}'s messages, files and contact record from this computer? This cannot be undone.", chosen_title.clone().unwrap_or_default())}</p>
                                <div class="actions">
                                    <button type="button" class="text-button danger" data-testid="erase-confirm" onclick={erase}>{"Erase"}</button>
                                    <button type="button" class="text-button" onclick={cancel_erase}>{"Cancel"}</button>
                                </div>
                            </div>
                        }
                    }
                    {note_view(&one_note, "customer-note")}
                </section>

                <section class="card" aria-labelledby="notify-title">
                    <h3 id="notify-title">{"Notifications show"}</h3>
                    <div class="radios" role="radiogroup" aria-labelledby="notify-title">{notify_options}</div>
                    <p class="muted">{"Notifications stay in the desktop's history, outside the encrypted database. While Parley is locked they show nothing."}</p>
                    {note_view(&notify_note, "notify-note")}
                </section>

                <section class="card" aria-labelledby="lock-title">
                    <h3 id="lock-title">{"App lock"}</h3>
                    <p class="muted">{"Ask for a passphrase at start and after some idle time. Only an Argon2id verifier is stored, never the passphrase."}</p>
                    <div class="field-row">
                        <label for="lock-idle">{"Lock after"}</label>
                        <select id="lock-idle" data-testid="lock-idle" onchange={on_idle}>{idle_options}</select>
                    </div>
                    if lock.enabled {
                        <p class="ok-text" data-testid="lock-on">{"The app lock is on."}</p>
                        <div class="actions">
                            <button type="button" class="text-button primary" data-testid="lock-now" onclick={lock_now}>{"Lock now"}</button>
                        </div>
                        <label for="lock-pass">{"Passphrase (to turn the lock off)"}</label>
                        <input id="lock-pass" type="password" autocomplete="off" data-testid="lock-pass" value={(*pass1).clone()} oninput={on_pass1} />
                        <div class="actions">
                            <button type="button" class="text-button" data-testid="lock-disable" onclick={disable_lock}>{"Turn off"}</button>
                        </div>
                    } else {
                        <label for="lock-pass">{"Passphrase (at least 8 characters)"}</label>
                        <input id="lock-pass" type="password" autocomplete="new-password" data-testid="lock-pass" value={(*pass1).clone()} oninput={on_pass1} />
                        <label for="lock-pass2">{"Same passphrase again"}</label>
                        <input id="lock-pass2" type="password" autocomplete="new-password" data-testid="lock-pass2" value={(*pass2).clone()} oninput={on_pass2} />
                        <div class="actions">
                            <button type="button" class="text-button primary" data-testid="lock-enable" onclick={enable_lock}>{"Turn on app lock"}</button>
                        </div>
                    }
                    {note_view(&lock_note, "lock-note")}
                </section>

                <section class="card" aria-labelledby="disconnect-title">
                    <h3 id="disconnect-title">{"Disconnect WhatsApp and Instagram"}</h3>
                    <p class="muted">{"Removes the Meta token, the relay token and this device's key from the keyring, stops sync, and deregisters this device at the relay."}</p>
                    <div class="radios" role="radiogroup" aria-label="History after disconnecting">
                        <label class="radio"><input type="radio" name="history" data-testid="disconnect-keep" checked={*keep_history} onchange={keep_on} />{"Keep the history on this computer"}</label>
                        <label class="radio"><input type="radio" name="history" data-testid="disconnect-delete" checked={!*keep_history} onchange={keep_off} />{"Delete the history too"}</label>
                    </div>
                    if *confirm_disconnect {
                        <div class="confirm" role="alertdialog" aria-labelledby="disconnect-q">
                            <p id="disconnect-q">{"Disconnect now? Parley stops receiving and sending messages until an account is connected again."}</p>
                            <div class="actions">
                                <button type="button" class="text-button danger" data-testid="disconnect-confirm" onclick={disconnect}>{"Disconnect"}</button>
                                <button type="button" class="text-button" onclick={cancel_disconnect}>{"Cancel"}</button>
                            </div>
                        </div>
                    } else {
                        <div class="actions">
                            <button type="button" class="text-button danger" data-testid="disconnect-ask" disabled={!connected} onclick={ask_disconnect}>{"Disconnect…"}</button>
                        </div>
                    }
                    {note_view(&disconnect_note, "disconnect-note")}
                </section>

                <section class="card danger-card" aria-labelledby="delete-title">
                    <h3 id="delete-title">{"Delete all my data"}</h3>
                    <p class="muted">{"Deletes the database with every message and file, the settings and every keyring entry, and deregisters this device at the relay. Parley then starts as on first run."}</p>
                    <label for="delete-typed">{format!("Type {} to confirm", logic::DELETE_ALL_WORD)}</label>
                    <input id="delete-typed" type="text" autocomplete="off" data-testid="delete-all-typed" value={(*typed).clone()} oninput={on_typed} />
                    <div class="actions">
                        <button type="button" class="text-button danger" data-testid="delete-all" disabled={!logic::delete_all_confirmed(&typed)} onclick={delete_all}>{"Delete all my data"}</button>
                    </div>
                    {note_view(&delete_note, "delete-note")}
                </section>

                <section class="card wide" aria-labelledby="inventory-title">
                    <h3 id="inventory-title">{"What Parley stores"}</h3>
                    <table class="inventory" data-testid="inventory">
                        <thead><tr><th scope="col">{"What"}</th><th scope="col">{"Amount"}</th><th scope="col">{"Where"}</th><th scope="col">{"Protection"}</th></tr></thead>
                        <tbody>{inventory_rows}</tbody>
                    </table>
                </section>
            </div>
        </section>
    }
}
