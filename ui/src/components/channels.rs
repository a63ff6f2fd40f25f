//! The Channels screen: each connected channel with its state, the number's
//! quality rating and messaging limit (fetched from Meta when the screen
//! opens, and on "Refresh"), and the fix for each problem. Thin: the words
//! are `crate::onboarding`'s.

use parley_types::onboarding::{ChannelStatus, UpdateTokenRequest};
use wasm_bindgen_futures::spawn_local;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use super::icons;
use crate::app::Dispatcher;
use crate::ipc;
use crate::onboarding::{channel_view, token_error, Fix, WelcomeStep};
use crate::state::Action;

#[derive(Properties, PartialEq)]
pub struct ChannelsProps {
    pub dispatcher: Dispatcher,
    /// Connected to the built-in sandbox: offer "Connect your business".
    pub sandbox: bool,
}

#[component]
pub fn ChannelsScreen(props: &ChannelsProps) -> Html {
    let channels = use_state(|| None::<Vec<ChannelStatus>>);
    let load_error = use_state(|| None::<String>);
    let reload = use_state(|| 0u32);
    let asking_token = use_state(|| false);
    let token = use_state(String::new);
    let token_note = use_state(|| None::<String>);
    let token_busy = use_state(|| false);
    let reconnect_note = use_state(|| None::<String>);
    {
        let (channels, load_error) = (channels.clone(), load_error.clone());
        use_effect_with(*reload, move |_| {
            spawn_local(async move {
                match ipc::channels().await {
                    Ok(list) => {
                        load_error.set(None);
                        channels.set(Some(list));
                    }
                    Err(e) => load_error.set(Some(e.message)),
                }
            });
        });
    }
    let refresh = {
        let reload = reload.clone();
        Callback::from(move |_: MouseEvent| reload.set(*reload + 1))
    };
    let close = props.dispatcher.send::<MouseEvent>(Action::CloseChannels);
    let connect = props.dispatcher.send::<MouseEvent>(Action::ShowWelcome(WelcomeStep::Connect));

    let ask_token = {
        let asking = asking_token.clone();
        Callback::from(move |_: MouseEvent| asking.set(true))
    };
    let reconnect = {
        let (note, reload) = (reconnect_note.clone(), reload.clone());
        Callback::from(move |_: MouseEvent| {
            let (note, reload) = (note.clone(), reload.clone());
            spawn_local(async move {
                match ipc::reconnect().await {
                    Ok(()) => {
                        note.set(Some("Trying again now.".into()));
                        reload.set(*reload + 1);
                    }
                    Err(e) => note.set(Some(e.message)),
                }
            });
        })
    };
    let token_input = {
        let (token, note) = (token.clone(), token_note.clone());
        Callback::from(move |e: InputEvent| {
            token.set(e.target_unchecked_into::<HtmlInputElement>().value());
            note.set(None);
        })
    };
    let save_token = {
        let (token, note, busy, asking, reload) = (
            token.clone(),
            token_note.clone(),
            token_busy.clone(),
            asking_token.clone(),
            reload.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if *busy {
                return;
            }
            if let Some(error) = token_error(&token) {
                return note.set(Some(error));
            }
            let request = UpdateTokenRequest { access_token: (*token).clone() };
            let (token, note, busy, asking, reload) =
                (token.clone(), note.clone(), busy.clone(), asking.clone(), reload.clone());
            busy.set(true);
            spawn_local(async move {
                let result = ipc::update_access_token(&request).await;
                busy.set(false);
                // Never kept, never shown back.
                token.set(String::new());
                match result {
                    Ok(()) => {
                        asking.set(false);
                        reload.set(*reload + 1);
                    }
                    Err(e) => note.set(Some(e.message)),
                }
            });
        })
    };

    let cards = match (*channels).as_ref() {
        None if load_error.is_none() => html! { <p class="muted" role="status">{"Asking Meta…"}</p> },
        None => html! {},
        Some(list) => list
            .iter()
            .map(|c| {
                let v = channel_view(c);
                let fix = v.fix.map(|fix| {
                    let onclick = match fix {
                        Fix::UpdateToken => ask_token.clone(),
                        Fix::Reconnect => reconnect.clone(),
                    };
                    let testid = match fix {
                        Fix::UpdateToken => "fix-token",
                        Fix::Reconnect => "fix-reconnect",
                    };
                    html! { <button type="button" class="text-button" data-testid={testid} {onclick}>{fix.label()}</button> }
                });
                html! {
                    <section class="card channel-card" data-testid="channel" data-kind={v.title.to_lowercase()} data-state={v.state}>
                        <h3 class="channel-title">{icons::channel(c.kind)}{v.title.clone()}</h3>
                        if let Some(number) = v.number.clone() {
                            <p class="channel-number" data-testid="channel-number">{number}</p>
                        }
                        <p class={classes!("channel-state", format!("state-{}", v.state))} data-testid="channel-state">
                            <span class="sync-dot" aria-hidden="true"></span>{v.state_text.clone()}
                        </p>
                        <dl class="channel-facts">
                            if let Some((words, class)) = v.quality {
                                <dt>{"Quality rating"}</dt>
                                <dd class={classes!("quality", class)} data-testid="channel-quality">{words}</dd>
                            }
                            if let Some(tier) = v.tier.clone() {
                                <dt>{"Messaging limit"}</dt>
                                <dd data-testid="channel-tier">{tier}</dd>
                            }
                            <dt>{"Id"}</dt>
                            <dd class="mono">{c.id.clone()}</dd>
                        </dl>
                        if let Some(error) = v.details_error.clone() {
                            <p class="note err" role="alert">{error}</p>
                        }
                        {fix.unwrap_or_default()}
                    </section>
                }
            })
            .collect::<Html>(),
    };

    html! {
        <section class="privacy-screen channels-screen" data-testid="channels-screen" aria-labelledby="channels-title">
            <header class="privacy-head">
                <h2 id="channels-title">{"Channels"}</h2>
                <div class="form-actions">
                    <button type="button" class="text-button" data-testid="channels-refresh" onclick={refresh}>{"Refresh"}</button>
                    <button
                        type="button"
                        class="icon-button"
                        data-testid="channels-close"
                        aria-label="Close Channels"
                        title="Close (Esc)"
                        onclick={close}
                    >
                        {icons::close()}
                    </button>
                </div>
            </header>
            if let Some(error) = (*load_error).clone() {
                <p class="note err" role="alert" data-testid="channels-error">{error}</p>
            }
            if let Some(note) = (*reconnect_note).clone() {
                <p class="note ok" role="status">{note}</p>
            }
            <div class="privacy-grid">
                {cards}
                if *asking_token {
                    <form class="card" data-testid="token-form" onsubmit={save_token}>
                        <h3>{"Update access token"}</h3>
                        <p class="muted">{"Paste a new System User token. Parley checks it with Meta, then keeps it in the system keyring only."}</p>
                        <label for="new-token">{"Access token"}</label>
                        <input id="new-token" type="password" autocomplete="off" data-testid="new-token"
                            value={(*token).clone()} oninput={token_input} disabled={*token_busy} />
                        if let Some(note) = (*token_note).clone() {
                            <p class="note err" role="alert" data-testid="token-error">{note}</p>
                        }
                        <button type="submit" class="text-button primary" disabled={*token_busy}>
                            {if *token_busy { "Checking with Meta…" } else { "Save token" }}
                        </button>
                    </form>
                }
                if props.sandbox {
                    <section class="card">
                        <h3>{"Your business"}</h3>
                        <p class="muted">{"This is the built-in sandbox. Connect your WhatsApp Business number to use Parley with real customers."}</p>
                        <button type="button" class="text-button primary" data-testid="channels-connect" onclick={connect}>{"Connect your business"}</button>
                    </section>
                }
            </div>
        </section>
    }
}
