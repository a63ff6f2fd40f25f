//! The root component: owns the inbox state, loads the snapshot once,
//! subscribes to the inbox event and runs the reducer's effects.

use std::cell::{Cell, Ref, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::KeyboardEvent;
use yew::prelude::*;

use parley_types::InboxEvent;

use crate::components::{
    CampaignsScreen, ChannelsScreen, ContactsScreen, ConversationList, ErrorBanner, Header,
    HelpOverlay, LockScreen, PrivacyScreen, TemplatesScreen, ThreadPane, Welcome,
};
use crate::state::{reduce, Action, Effect, Inbox};
use crate::{dom, ipc};

/// Pause after the last keystroke before searching.
const SEARCH_DEBOUNCE_MS: i32 = 180;
/// At most one "still here" (postponing the idle lock) per this interval.
const ACTIVITY_PING_MS: i64 = 20_000;

/// Element ids the keyboard shortcuts move focus to.
pub const SEARCH_INPUT_ID: &str = "search-input";
pub const COMPOSER_INPUT_ID: &str = "composer-input";

/// Shared handle to the inbox state. Components read it during render and
/// send [`Action`]s through [`Dispatcher::dispatch`]; the revision counters in
/// [`Inbox`] tell Yew which parts need re-rendering.
///
/// The state lives in a `RefCell` rather than `use_reducer` so that an event
/// touching one of 50,000 conversations does not clone all of them.
#[derive(Clone)]
pub struct Dispatcher {
    store: Rc<RefCell<Inbox>>,
    rerender: UseForceUpdateHandle,
}

impl PartialEq for Dispatcher {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.store, &other.store)
    }
}

impl Dispatcher {
    pub fn state(&self) -> Ref<'_, Inbox> {
        self.store.borrow()
    }

    pub fn dispatch(&self, action: Action) {
        let effects = reduce(&mut self.store.borrow_mut(), action);
        self.rerender.force_update();
        for effect in effects {
            self.run(effect);
        }
    }

    /// A callback that dispatches a fixed action.
    pub fn send<E: 'static>(&self, action: Action) -> Callback<E> {
        let this = self.clone();
        Callback::from(move |_| this.dispatch(action.clone()))
    }

    fn run(&self, effect: Effect) {
        let this = self.clone();
        match effect {
            Effect::LoadConversations => {
                spawn_local(async move { load_conversations(&this).await })
            }
            Effect::SetClosed { conversation_id, closed } => spawn_local(async move {
                if let Err(error) = ipc::set_conversation_closed(conversation_id, closed).await {
                    this.dispatch(Action::Failed(error));
                }
            }),
            Effect::LoadConversationsBefore { last_at, id } => spawn_local(async move {
                let action = match ipc::list_conversations_before(last_at, id).await {
                    Ok(page) => Action::MoreConversationsLoaded(page),
                    Err(error) => Action::MoreConversationsFailed(error),
                };
                this.dispatch(action);
            }),
            Effect::LoadMessages(conversation_id) => spawn_local(async move {
                let action = match ipc::list_messages(conversation_id).await {
                    Ok(messages) => Action::MessagesLoaded { conversation_id, messages },
                    Err(error) => Action::MessagesFailed { conversation_id, error },
                };
                this.dispatch(action);
            }),
            Effect::MarkRead(conversation_id) => spawn_local(async move {
                if let Err(error) = ipc::mark_read(conversation_id).await {
                    this.dispatch(Action::Failed(error));
                }
            }),
            Effect::LoadOlder { conversation_id, before } => spawn_local(async move {
                let action = match ipc::list_messages_before(conversation_id, before).await {
                    Ok(messages) => Action::OlderLoaded { conversation_id, before, messages },
                    Err(error) => Action::OlderFailed { conversation_id, error },
                };
                this.dispatch(action);
            }),
            Effect::LoadAround { conversation_id, target } => spawn_local(async move {
                let action = match ipc::list_messages_around(conversation_id, target).await {
                    Ok(messages) => Action::AroundLoaded { conversation_id, target, messages },
                    Err(error) => Action::OlderFailed { conversation_id, error },
                };
                this.dispatch(action);
            }),
            Effect::LoadNewer { conversation_id, after } => spawn_local(async move {
                let action = match ipc::list_messages_after(conversation_id, after).await {
                    Ok(messages) => Action::NewerLoaded { conversation_id, after, messages },
                    Err(error) => Action::NewerFailed { conversation_id, error },
                };
                this.dispatch(action);
            }),
            Effect::Search { seq } => spawn_local(async move {
                // Debounce: only the query the agent paused on is sent.
                dom::sleep(SEARCH_DEBOUNCE_MS).await;
                let query = {
                    let state = this.state();
                    if state.search.seq != seq {
                        return;
                    }
                    state.search.query.clone()
                };
                let action = match ipc::search(&query).await {
                    Ok(hits) => Action::SearchResults { seq, hits },
                    Err(error) => Action::SearchFailed { seq, error },
                };
                this.dispatch(action);
            }),
            Effect::Retry(message_id) => spawn_local(async move {
                match ipc::retry_message(message_id).await {
                    Ok(message) => this.dispatch(Action::Retried(message)),
                    Err(error) => this.dispatch(Action::RetryRefused { message_id, error }),
                }
            }),
            Effect::React { message_id, emoji, previous } => spawn_local(async move {
                let request = parley_types::ReactRequest { message_id, emoji };
                match ipc::react(&request).await {
                    Ok(message) => this.dispatch(Action::Reacted(message)),
                    Err(error) => {
                        this.dispatch(Action::ReactRefused { message_id, previous, error })
                    }
                }
            }),
            Effect::Delete(message_id) => spawn_local(async move {
                let conversation_id = this.state().thread.conversation_id;
                match ipc::delete_message(message_id).await {
                    // The core also pushes MessageRemoved; applying it here
                    // too is harmless and makes the bubble go at once.
                    Ok(()) => {
                        if let Some(conversation_id) = conversation_id {
                            this.dispatch(Action::Event(InboxEvent::MessageRemoved {
                                conversation_id,
                                message_id,
                            }));
                        }
                    }
                    Err(error) => this.dispatch(Action::Failed(error)),
                }
            }),
        }
    }
}

async fn load_conversations(d: &Dispatcher) {
    match ipc::list_conversations().await {
        Ok(list) => d.dispatch(Action::ConversationsLoaded(list)),
        Err(error) => d.dispatch(Action::ConversationsFailed(error)),
    }
}

/// Pause after the last keystroke before a draft is saved.
const DRAFT_SAVE_DEBOUNCE_MS: i32 = 700;

/// Unsent drafts per conversation: the composer's text, kept here while the
/// app runs and saved by the core (encrypted, across restarts) a moment
/// after the agent stops typing. Clearing (sending) is saved at once.
#[derive(Clone, Default)]
pub struct Drafts(Rc<RefCell<DraftCache>>);

#[derive(Default)]
struct DraftCache {
    text: HashMap<i64, String>,
    /// Bumped on every change of a conversation's draft in this session; a
    /// pending save only goes ahead if no newer change followed it.
    edits: HashMap<i64, u64>,
    /// Conversations with a save on its way to the core. Saves of one
    /// conversation never overlap (an older text could land last); the one
    /// in flight saves again if the draft changed meanwhile.
    saving: std::collections::HashSet<i64>,
}

impl PartialEq for Drafts {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Drafts {
    pub fn get(&self, id: i64) -> String {
        self.0.borrow().text.get(&id).cloned().unwrap_or_default()
    }

    /// The draft the core kept from an earlier session, unless the agent
    /// already edited this conversation's draft in this one (the listed
    /// summary may be older than what they typed or sent since).
    pub fn prime(&self, id: i64, saved: Option<&str>) {
        let mut cache = self.0.borrow_mut();
        if let (Some(saved), false) = (saved, cache.edits.contains_key(&id)) {
            cache.edits.insert(id, 0);
            cache.text.insert(id, saved.to_owned());
        }
    }

    pub fn set(&self, id: i64, text: String) {
        let edit = {
            let mut cache = self.0.borrow_mut();
            let edit = cache.edits.get(&id).map_or(1, |e| e + 1);
            cache.edits.insert(id, edit);
            if text.is_empty() {
                cache.text.remove(&id);
            } else {
                cache.text.insert(id, text.clone());
            }
            edit
        };
        let this = self.clone();
        spawn_local(async move {
            if !text.trim().is_empty() {
                dom::sleep(DRAFT_SAVE_DEBOUNCE_MS).await;
                if this.0.borrow().edits.get(&id) != Some(&edit) {
                    return; // a newer change saves instead
                }
            }
            this.flush(id).await;
        });
    }

    /// Save the conversation's current draft, and again while it keeps
    /// changing under the save.
    async fn flush(&self, id: i64) {
        if !self.0.borrow_mut().saving.insert(id) {
            return; // the save in flight picks up the newest text
        }
        loop {
            let (edit, text) = {
                let cache = self.0.borrow();
                (cache.edits.get(&id).copied(), cache.text.get(&id).cloned().unwrap_or_default())
            };
            // Best effort: the text stays in the composer either way, and a
            // refused save (the app locked, the customer erased) has nothing
            // for the agent to act on.
            if let Err(e) = ipc::save_draft(id, &text).await {
                web_sys::console::warn_1(&format!("Parley: draft not saved: {}", e.message).into());
            }
            let mut cache = self.0.borrow_mut();
            if cache.edits.get(&id).copied() == edit {
                cache.saving.remove(&id);
                return;
            }
        }
    }
}

#[component]
pub fn App() -> Html {
    let store = use_mut_ref(Inbox::default);
    let rerender = use_force_update();
    let dispatcher = Dispatcher { store, rerender };
    let drafts = use_memo((), |_| Drafts::default());
    let now = use_state(dom::now_ms);

    {
        let d = dispatcher.clone();
        let set_now = now.setter();
        use_effect_with((), move |_| {
            let alive = Rc::new(Cell::new(true));
            let subscription: Rc<RefCell<Option<ipc::Subscription>>> = Rc::default();
            {
                let (d, alive, subscription) = (d.clone(), alive.clone(), subscription.clone());
                spawn_local(async move {
                    let on_event = {
                        let d = d.clone();
                        move |event| d.dispatch(Action::Event(event))
                    };
                    // Listen first, then take the snapshot: a change made in
                    // between arrives as an event and the reducer merges it.
                    match ipc::listen_inbox(on_event).await {
                        Ok(sub) if alive.get() => *subscription.borrow_mut() = Some(sub),
                        Ok(_) => {}
                        Err(error) => d.dispatch(Action::Failed(error)),
                    }
                    match ipc::sync_state().await {
                        Ok(sync) => d.dispatch(Action::SyncStateLoaded(sync)),
                        Err(error) => d.dispatch(Action::SyncStateFailed(error)),
                    }
                    // Nothing is loaded before the core says it is unlocked;
                    // the reducer asks for the conversations then.
                    match ipc::lock_state().await {
                        Ok(lock) => d.dispatch(Action::LockStateLoaded(lock)),
                        Err(_) => load_conversations(&d).await,
                    }
                });
            }
            {
                let d = d.clone();
                spawn_local(async move {
                    match ipc::app_info().await {
                        Ok(info) => d.dispatch(Action::AppInfoLoaded(info)),
                        Err(error) => d.dispatch(Action::AppInfoFailed(error)),
                    }
                });
            }

            // Relative times and window countdowns.
            let tick = dom::Interval::new(30_000, move || set_now.set(dom::now_ms()));

            let keys = {
                let d = d.clone();
                dom::WindowListener::new("keydown", move |event| {
                    let Some(key) = event.dyn_ref::<KeyboardEvent>() else { return };
                    let message = dom::focused_message_id(&event);
                    if let Some(shortcut) = shortcut(key, dom::is_typing_target(&event), message) {
                        key.prevent_default();
                        run_shortcut(&d, shortcut);
                    }
                })
            };
            // Typing or clicking postpones the idle lock.
            let last_ping = Rc::new(Cell::new(0i64));
            let activity = |event: &'static str| {
                let (d, last_ping) = (d.clone(), last_ping.clone());
                dom::WindowListener::new(event, move |_| {
                    let now = dom::now_ms();
                    {
                        let s = d.state();
                        if !s.lock.enabled || s.lock.locked {
                            return;
                        }
                    }
                    if now - last_ping.get() < ACTIVITY_PING_MS {
                        return;
                    }
                    last_ping.set(now);
                    let d = d.clone();
                    spawn_local(async move {
                        if let Err(error) = ipc::still_here().await {
                            d.dispatch(Action::Failed(error));
                        }
                    });
                })
            };
            let typed = activity("keydown");
            let clicked = activity("pointerdown");
            let focus = {
                let d = d.clone();
                dom::WindowListener::new("focus", move |_| d.dispatch(Action::FocusChanged(true)))
            };
            let blur = {
                let d = d.clone();
                dom::WindowListener::new("blur", move |_| d.dispatch(Action::FocusChanged(false)))
            };
            d.dispatch(Action::FocusChanged(dom::window_has_focus()));

            move || {
                alive.set(false);
                drop(subscription.borrow_mut().take());
                drop((tick, keys, focus, blur, typed, clicked));
            }
        });
    }

    let state = dispatcher.state();
    let selected = state.selected_conversation().cloned();
    let error = state.error.clone();
    let on_lock = state.lock.enabled.then(|| {
        let d = dispatcher.clone();
        Callback::from(move |_: MouseEvent| lock_now(&d))
    });
    // Tests wait for this before deciding whether the welcome screen shows.
    let app_info_state = state.app_info_known.then_some("known");
    if state.lock.locked {
        let view = html! {
            <div class="app" data-app-info={app_info_state}>
                <Header
                    info={state.app_info.clone()}
                    sync={state.sync.clone()}
                    sync_rev={state.sync_rev}
                    on_privacy={Callback::noop()}
                    on_lock={None::<Callback<MouseEvent>>}
                />
                <LockScreen dispatcher={dispatcher.clone()} />
            </div>
        };
        drop(state);
        return view;
    }
    let first_run = state.app_info.as_ref().is_some_and(|i| i.first_run);
    let sandbox = state.app_info.as_ref().is_some_and(|i| i.sandbox);
    let workspace = match state.privacy {
        _ if state.welcome.is_some() => html! {
            <Welcome
                dispatcher={dispatcher.clone()}
                step={state.welcome.unwrap_or(crate::onboarding::WelcomeStep::Choose)}
                {first_run}
            />
        },
        _ if state.campaigns_open => html! {
            <CampaignsScreen dispatcher={dispatcher.clone()} />
        },
        _ if state.channels_open => html! {
            <ChannelsScreen dispatcher={dispatcher.clone()} {sandbox} />
        },
        _ if state.contacts_open => html! {
            <ContactsScreen dispatcher={dispatcher.clone()} />
        },
        _ if state.templates_open => html! {
            <TemplatesScreen dispatcher={dispatcher.clone()} rev={state.templates_rev} />
        },
        Some(conversation) => html! {
            <PrivacyScreen
                dispatcher={dispatcher.clone()}
                {conversation}
                list_rev={state.list_rev}
                export_progress={state.export_progress}
                exporting={state.exporting}
                lock={state.lock}
            />
        },
        None => html! {
            <main class="workspace">
                <ConversationList
                    dispatcher={dispatcher.clone()}
                    rev={state.list_rev}
                    selected={state.selected}
                    now={*now}
                    loaded={state.conversations_loaded}
                    failed={state.conversations_failed}
                />
                <ThreadPane
                    dispatcher={dispatcher.clone()}
                    conversation={selected}
                    rev={state.thread_rev}
                    now={*now}
                    drafts={(*drafts).clone()}
                />
            </main>
        },
    };
    let on_channels = (!first_run).then(|| dispatcher.send::<MouseEvent>(Action::OpenChannels));
    let on_campaigns = (!first_run).then(|| dispatcher.send::<MouseEvent>(Action::OpenCampaigns));
    let on_contacts = (!first_run).then(|| dispatcher.send::<MouseEvent>(Action::OpenContacts));
    let on_templates = (!first_run).then(|| dispatcher.send::<MouseEvent>(Action::OpenTemplates));
    let view = html! {
        <div class="app" data-app-info={app_info_state}>
            <Header
                info={state.app_info.clone()}
                sync={state.sync.clone()}
                sync_rev={state.sync_rev}
                on_privacy={dispatcher.send::<MouseEvent>(Action::OpenPrivacy(None))}
                {on_channels}
                {on_campaigns}
                {on_contacts}
                {on_templates}
                {on_lock}
            />
            if let Some(error) = error {
                <ErrorBanner
                    message={error.message}
                    on_dismiss={dispatcher.send::<MouseEvent>(Action::DismissError)}
                />
            }
            if state.help_open {
                <HelpOverlay on_close={dispatcher.send::<MouseEvent>(Action::ToggleHelp)} />
            }
            {workspace}
        </div>
    };
    drop(state);
    view
}

/// What a key press asks for; `None` leaves it to the page. `message` is the
/// message bubble the key was pressed on, if any.
fn shortcut(key: &KeyboardEvent, typing: bool, message: Option<i64>) -> Option<Shortcut> {
    let k = key.key();
    let (ctrl, alt, shift) = (key.ctrl_key() || key.meta_key(), key.alt_key(), key.shift_key());
    Some(match k.as_str() {
        "ArrowDown" if alt && !ctrl && !shift => Shortcut::Do(Action::SelectNext),
        "ArrowUp" if alt && !ctrl && !shift => Shortcut::Do(Action::SelectPrevious),
        "k" | "K" if ctrl && !alt => Shortcut::Search,
        "," if ctrl && !alt => Shortcut::Do(Action::OpenPrivacy(None)),
        "." if ctrl && !alt => Shortcut::Do(Action::OpenChannels),
        "b" | "B" if ctrl && !alt && !shift => Shortcut::Do(Action::OpenCampaigns),
        "u" | "U" if ctrl && !alt && !shift => Shortcut::Do(Action::OpenContacts),
        "t" | "T" if ctrl && !alt && !shift => Shortcut::Do(Action::OpenTemplates),
        "l" | "L" if ctrl && !alt && !shift => Shortcut::Lock,
        "Escape" => Shortcut::Escape,
        // Single keys only outside text fields, where they are characters.
        "/" if !typing && !ctrl && !alt => Shortcut::Search,
        "?" if !typing && !ctrl && !alt => Shortcut::Do(Action::ToggleHelp),
        "r" | "R" if !typing && !ctrl && !alt => Shortcut::Reply(message),
        "i" | "I" if !typing && !ctrl && !alt => Shortcut::Do(Action::ToggleContact),
        "e" | "E" if !typing && !ctrl && !alt && message.is_some() => {
            Shortcut::Do(Action::TogglePicker(message?))
        }
        _ => return None,
    })
}

enum Shortcut {
    Do(Action),
    Lock,
    Search,
    /// Reply, quoting the focused message if there is one.
    Reply(Option<i64>),
    Escape,
}

fn run_shortcut(d: &Dispatcher, shortcut: Shortcut) {
    match shortcut {
        Shortcut::Do(action) => d.dispatch(action),
        Shortcut::Lock => lock_now(d),
        Shortcut::Search => {
            d.dispatch(Action::OpenSearch);
            dom::focus_id(SEARCH_INPUT_ID);
        }
        Shortcut::Reply(message) => {
            if let Some(id) = message {
                d.dispatch(Action::ReplyTo(id));
            }
            dom::focus_id(COMPOSER_INPUT_ID);
        }
        Shortcut::Escape => {
            let overlay = {
                let s = d.state();
                s.help_open
                    || s.search.open
                    || s.thread.picker.is_some()
                    || s.privacy.is_some()
                    || s.contact_open
                    || s.channels_open
                    || s.contacts_open
                    || s.campaigns_open
                    || s.templates_open
                    || s.welcome.is_some()
            };
            d.dispatch(Action::Escape);
            if !overlay {
                // Nothing to close: back to the reply box.
                dom::focus_id(COMPOSER_INPUT_ID);
            }
        }
    }
}

/// Lock now (when the app lock is on); the view follows the core's answer.
fn lock_now(d: &Dispatcher) {
    if !d.state().lock.enabled {
        return;
    }
    let d = d.clone();
    spawn_local(async move {
        match ipc::lock_now().await {
            Ok(_) => d.dispatch(Action::Event(InboxEvent::Locked)),
            Err(error) => d.dispatch(Action::Failed(error)),
        }
    });
}
