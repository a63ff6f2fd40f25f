use parley_types::{AppInfo, SyncState};
use yew::prelude::*;

use super::icons;
use crate::{dom, format};

#[derive(Properties, PartialEq)]
pub struct HeaderProps {
    pub info: Option<AppInfo>,
    pub sync: SyncState,
    /// Changes with every sync state received, restarting the countdown.
    pub sync_rev: u64,
    /// Opens the Privacy & data screen.
    pub on_privacy: Callback<MouseEvent>,
    /// Opens the Channels screen.
    #[prop_or_default]
    pub on_channels: Option<Callback<MouseEvent>>,
    /// Opens the Campaigns screen.
    #[prop_or_default]
    pub on_campaigns: Option<Callback<MouseEvent>>,
    /// Opens the Contacts screen.
    #[prop_or_default]
    pub on_contacts: Option<Callback<MouseEvent>>,
    /// Opens the Templates screen.
    #[prop_or_default]
    pub on_templates: Option<Callback<MouseEvent>>,
    /// Locks the app; shown only when the app lock is on.
    pub on_lock: Option<Callback<MouseEvent>>,
}

/// App name, sandbox badge and the always-visible sync state.
#[component]
pub fn Header(props: &HeaderProps) -> Html {
    // When the current sync state arrived, for the reconnect countdown.
    let received = use_mut_ref(|| (props.sync_rev, dom::now_ms()));
    if received.borrow().0 != props.sync_rev {
        *received.borrow_mut() = (props.sync_rev, dom::now_ms());
    }
    let rerender = use_force_update();
    let counting = matches!(props.sync, SyncState::Offline { .. });
    use_effect_with((counting, props.sync_rev), move |(counting, _)| {
        let interval = if *counting {
            dom::Interval::new(1_000, move || rerender.force_update())
        } else {
            None
        };
        move || drop(interval)
    });

    let elapsed = ((dom::now_ms() - received.borrow().1).max(0) / 1_000) as u64;
    let sync = format::sync_view(&props.sync, elapsed);
    let announcement = match sync.state {
        "running" => "Sync: online",
        "connecting" => "Sync: connecting",
        "offline" => "Sync: offline, reconnecting",
        "error" => "Sync stopped",
        _ => "Sync: idle",
    };
    let sandbox = props.info.as_ref().is_some_and(|i| i.sandbox);
    let profile = props
        .info
        .as_ref()
        .map(|i| i.profile.trim().to_owned())
        .filter(|p| !p.is_empty() && p != "default");

    html! {
        <header class="app-header">
            <div class="brand">
                {icons::logo()}
                <span class="app-name">{"Parley"}</span>
                if sandbox {
                    <span
                        class="badge sandbox-badge"
                        data-testid="sandbox-badge"
                        title="Connected to the built-in sandbox, not to Meta"
                    >
                        {"Sandbox"}
                    </span>
                }
                if let Some(profile) = profile {
                    <span class="profile" title="Profile">{profile}</span>
                }
            </div>
            <div class="sync-state" data-testid="sync-state" data-state={sync.state} title={sync.text.clone()}>
                <span class="sync-dot" aria-hidden="true"></span>
                <span class="sync-text">{sync.text}</span>
            </div>
            <div class="header-actions">
                if let Some(on_lock) = props.on_lock.clone() {
                    <button
                        type="button"
                        class="icon-button"
                        data-testid="lock-button"
                        aria-label="Lock Parley (Ctrl+L)"
                        title="Lock Parley (Ctrl+L)"
                        onclick={on_lock}
                    >
                        {icons::padlock()}
                    </button>
                }
                if let Some(on_campaigns) = props.on_campaigns.clone() {
                    <button
                        type="button"
                        class="icon-button"
                        data-testid="campaigns-button"
                        aria-label="Campaigns (Ctrl+B)"
                        title="Campaigns (Ctrl+B)"
                        onclick={on_campaigns}
                    >
                        {icons::megaphone()}
                    </button>
                }
                if let Some(on_contacts) = props.on_contacts.clone() {
                    <button
                        type="button"
                        class="text-button header-text-button"
                        data-testid="contacts-button"
                        aria-label="Contacts (Ctrl+U)"
                        title="Contacts (Ctrl+U)"
                        onclick={on_contacts}
                    >
                        {"Contacts"}
                    </button>
                }
                if let Some(on_templates) = props.on_templates.clone() {
                    <button
                        type="button"
                        class="icon-button"
                        data-testid="templates-button"
                        aria-label="Templates (Ctrl+T)"
                        title="Templates (Ctrl+T)"
                        onclick={on_templates}
                    >
                        {icons::templates()}
                    </button>
                }
                if let Some(on_channels) = props.on_channels.clone() {
                    <button
                        type="button"
                        class="icon-button"
                        data-testid="channels-button"
                        aria-label="Channels (Ctrl+.)"
                        title="Channels (Ctrl+.)"
                        onclick={on_channels}
                    >
                        {icons::channels()}
                    </button>
                }
                <button
                    type="button"
                    class="icon-button"
                    data-testid="privacy-button"
                    aria-label="Privacy & data (Ctrl+,)"
                    title="Privacy & data (Ctrl+,)"
                    onclick={props.on_privacy.clone()}
                >
                    {icons::shield()}
                </button>
            </div>
            // Announces state changes once, not every countdown second.
            <span class="visually-hidden" role="status">{announcement}</span>
        </header>
    }
}
