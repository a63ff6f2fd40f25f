//! The lock screen: all the window shows while the core is locked.

use wasm_bindgen_futures::spawn_local;
use web_sys::{HtmlElement, HtmlInputElement};
use yew::prelude::*;

use super::icons;
use crate::app::Dispatcher;
use crate::ipc;
use crate::state::Action;

#[derive(Properties, PartialEq)]
pub struct LockScreenProps {
    pub dispatcher: Dispatcher,
}

#[component]
pub fn LockScreen(props: &LockScreenProps) -> Html {
    let passphrase = use_state(String::new);
    let error = use_state(|| None::<String>);
    let busy = use_state(|| false);
    let input = use_node_ref();
    {
        let input = input.clone();
        use_effect_with((), move |_| {
            if let Some(el) = input.cast::<HtmlElement>() {
                let _ = el.focus();
            }
        });
    }
    let onsubmit = {
        let (passphrase, error, busy, d, input) = (
            passphrase.clone(),
            error.clone(),
            busy.clone(),
            props.dispatcher.clone(),
            input.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if *busy {
                return;
            }
            if passphrase.is_empty() {
                return error.set(Some("Type your passphrase, then press Unlock.".into()));
            }
            let (value, passphrase, error, busy, d, input) = (
                (*passphrase).clone(),
                passphrase.clone(),
                error.clone(),
                busy.clone(),
                d.clone(),
                input.clone(),
            );
            busy.set(true);
            error.set(None);
            spawn_local(async move {
                let result = ipc::unlock(&value).await;
                busy.set(false);
                passphrase.set(String::new());
                match result {
                    Ok(state) => d.dispatch(Action::Unlocked(state)),
                    Err(e) => {
                        error.set(Some(e.message));
                        if let Some(el) = input.cast::<HtmlElement>() {
                            let _ = el.focus();
                        }
                    }
                }
            });
        })
    };
    let oninput = {
        let p = passphrase.clone();
        Callback::from(move |e: InputEvent| {
            p.set(e.target_unchecked_into::<HtmlInputElement>().value())
        })
    };
    html! {
        <main class="lock-screen" data-testid="lock-screen">
            <form class="lock-card" {onsubmit} aria-labelledby="lock-heading">
                <span class="lock-logo" aria-hidden="true">{icons::logo()}</span>
                <h2 id="lock-heading">{"Parley is locked"}</h2>
                <p class="muted">{"Your conversations stay hidden until you unlock with your passphrase."}</p>
                <label for="unlock-pass" class="visually-hidden">{"Passphrase"}</label>
                <input
                    id="unlock-pass"
                    ref={input}
                    type="password"
                    autocomplete="current-password"
                    placeholder="Passphrase"
                    data-testid="unlock-pass"
                    value={(*passphrase).clone()}
                    {oninput}
                    disabled={*busy}
                />
                <button type="submit" class="text-button primary" data-testid="unlock" disabled={*busy}>
                    {if *busy { "Checking…" } else { "Unlock" }}
                </button>
                if let Some(message) = (*error).clone() {
                    <p class="note err" role="alert" data-testid="unlock-error">{message}</p>
                }
            </form>
        </main>
    }
}
