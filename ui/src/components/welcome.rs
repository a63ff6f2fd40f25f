//! The welcome screen: "Try the sandbox" or "Connect your business", and
//! the connect form. Thin: the form's state and checks are in
//! `crate::onboarding`; submitting is one command, whose refusals come back
//! on their fields.

use std::cell::RefCell;
use std::rc::Rc;

use parley_types::onboarding::{ConnectField, ConnectOutcome};
use wasm_bindgen_futures::spawn_local;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use super::icons;
use crate::app::Dispatcher;
use crate::ipc;
use crate::onboarding::{ConnectForm, WelcomeStep};
use crate::state::Action;

#[derive(Properties, PartialEq)]
pub struct WelcomeProps {
    pub dispatcher: Dispatcher,
    pub step: WelcomeStep,
    /// First run: the user must choose; otherwise the screen can be closed.
    pub first_run: bool,
}

/// Where each field comes from, shown under its label.
fn hint(field: ConnectField) -> &'static str {
    match field {
        ConnectField::WabaId => "WhatsApp Manager → Account tools → Phone numbers, or the app's WhatsApp → API Setup page.",
        ConnectField::PhoneNumberId => "The 15–16 digit id next to the number in WhatsApp Manager, not the number itself.",
        ConnectField::AccessToken => "A System User token from Meta Business Settings. It goes to the system keyring only and is never shown again.",
        ConnectField::RelayUrl => "The address of your Parley relay, from your administrator.",
        ConnectField::EnrollmentCode => "A one-time code from your relay administrator.",
        ConnectField::InstagramAccountId => "The numeric id of your Instagram professional account, if you connect one.",
    }
}

#[component]
pub fn Welcome(props: &WelcomeProps) -> Html {
    // Mutated in place: events between renders never see an old copy.
    let form = use_mut_ref(ConnectForm::default);
    let rerender = use_force_update();
    let failure = use_state(|| None::<String>);
    let choosing = use_state(|| false);
    let d = props.dispatcher.clone();

    let try_sandbox = {
        let (d, failure, choosing) = (d.clone(), failure.clone(), choosing.clone());
        Callback::from(move |_: MouseEvent| {
            if *choosing {
                return;
            }
            choosing.set(true);
            let (d, failure, choosing) = (d.clone(), failure.clone(), choosing.clone());
            spawn_local(async move {
                let result = ipc::finish_welcome().await;
                choosing.set(false);
                match result {
                    Ok(()) => d.dispatch(Action::WelcomeDone),
                    Err(e) => failure.set(Some(e.message)),
                }
            });
        })
    };
    let show_connect = d.send::<MouseEvent>(Action::ShowWelcome(WelcomeStep::Connect));
    let back = if props.first_run {
        d.send::<MouseEvent>(Action::ShowWelcome(WelcomeStep::Choose))
    } else {
        d.send::<MouseEvent>(Action::WelcomeDone)
    };
    let close = (!props.first_run).then(|| d.send::<MouseEvent>(Action::WelcomeDone));

    let body = match props.step {
        WelcomeStep::Choose => html! {
            <div class="welcome-card" data-testid="welcome">
                <span class="lock-logo" aria-hidden="true">{icons::logo()}</span>
                <h2 id="welcome-title">{"Welcome to Parley"}</h2>
                <p class="muted">{"One inbox for your business's WhatsApp and Instagram conversations. Your messages are stored encrypted on this computer only."}</p>
                <div class="welcome-choices">
                    <button type="button" class="choice" data-testid="try-sandbox" onclick={try_sandbox} disabled={*choosing}>
                        <strong>{"Try the sandbox"}</strong>
                        <span class="muted">{"Simulated customers write in, so you can try everything without a Meta account. Nothing leaves this computer."}</span>
                    </button>
                    <button type="button" class="choice" data-testid="connect-business" onclick={show_connect}>
                        <strong>{"Connect your business"}</strong>
                        <span class="muted">{"Use your WhatsApp Business number through the Cloud API and your company's Parley relay."}</span>
                    </button>
                </div>
                if let Some(message) = (*failure).clone() {
                    <p class="note err" role="alert">{message}</p>
                }
                if let Some(close) = close {
                    <button type="button" class="text-button small" onclick={close}>{"Back to the inbox"}</button>
                }
            </div>
        },
        WelcomeStep::Connect => connect_form(&form, &rerender, &failure, back),
    };
    html! {
        <section class="welcome-screen" data-testid="welcome-screen" aria-labelledby="welcome-title">
            {body}
        </section>
    }
}

fn connect_form(
    form: &Rc<RefCell<ConnectForm>>,
    rerender: &UseForceUpdateHandle,
    failure: &UseStateHandle<Option<String>>,
    back: Callback<MouseEvent>,
) -> Html {
    let onsubmit = {
        let (form, rerender, failure) = (form.clone(), rerender.clone(), failure.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let request = form.borrow_mut().submit();
            rerender.force_update();
            let Some(request) = request else { return };
            failure.set(None);
            let (form, rerender, failure) = (form.clone(), rerender.clone(), failure.clone());
            spawn_local(async move {
                match ipc::connect_business(&request).await {
                    Ok(ConnectOutcome::Connected { .. }) => {
                        // The account profile runs now: start the window
                        // over on it (state, subscription, everything).
                        if let Some(w) = web_sys::window() {
                            let _ = w.location().reload();
                        }
                    }
                    Ok(ConnectOutcome::Refused { errors }) => {
                        form.borrow_mut().refused(errors);
                        rerender.force_update();
                    }
                    Err(e) => {
                        form.borrow_mut().failed();
                        failure.set(Some(e.message));
                        rerender.force_update();
                    }
                }
            });
        })
    };
    let busy = form.borrow().busy;
    let field = |f: ConnectField, kind: &'static str, placeholder: &'static str| {
        let id = format!("connect-{}", f.as_str());
        let (error, value) = {
            let form = form.borrow();
            (form.error(f), form.value(f).to_owned())
        };
        let error_id = format!("{id}-error");
        let oninput = {
            let (form, rerender) = (form.clone(), rerender.clone());
            Callback::from(move |e: InputEvent| {
                form.borrow_mut().set(f, e.target_unchecked_into::<HtmlInputElement>().value());
                rerender.force_update();
            })
        };
        let onblur = {
            let (form, rerender) = (form.clone(), rerender.clone());
            Callback::from(move |_: FocusEvent| {
                // Re-rendered only when the field's errors start to show.
                if form.borrow_mut().leave(f) {
                    rerender.force_update();
                }
            })
        };
        html! {
            <div class={classes!("form-field", error.is_some().then_some("invalid"))}>
                <label for={id.clone()}>{f.label()}</label>
                <input
                    id={id.clone()}
                    type={kind}
                    data-testid={id.clone()}
                    autocomplete="off"
                    spellcheck="false"
                    {placeholder}
                    {value}
                    aria-invalid={error.is_some().to_string()}
                    aria-describedby={error_id.clone()}
                    {oninput}
                    {onblur}
                    disabled={busy}
                />
                <span class="hint muted">{hint(f)}</span>
                if let Some(message) = error {
                    <p class="note err" role="alert" id={error_id} data-testid={format!("{id}-error")}>{message}</p>
                }
            </div>
        }
    };
    html! {
        <form class="connect-card card" data-testid="connect-form" {onsubmit} novalidate=true>
            <h2 id="welcome-title">{"Connect your business"}</h2>
            <p class="muted">{"Parley checks the token and the number with Meta, enrolls this computer at your relay, and then switches from the sandbox to your business. Until everything succeeded, nothing changes."}</p>
            {field(ConnectField::WabaId, "text", "e.g. 102290129340398")}
            {field(ConnectField::PhoneNumberId, "text", "e.g. 106540352242922")}
            {field(ConnectField::AccessToken, "password", "EAA…")}
            {field(ConnectField::RelayUrl, "text", "https://relay.example.com")}
            {field(ConnectField::EnrollmentCode, "text", "")}
            {field(ConnectField::InstagramAccountId, "text", "optional")}
            if let Some(message) = (**failure).clone() {
                <p class="note err" role="alert" data-testid="connect-failure">{message}</p>
            }
            <div class="form-actions">
                <button type="button" class="text-button" onclick={back} disabled={busy}>{"Back"}</button>
                <button type="submit" class="text-button primary" data-testid="connect-submit" disabled={busy}>
                    {if busy { "Checking with Meta…" } else { "Connect" }}
                </button>
            </div>
        </form>
    }
}
