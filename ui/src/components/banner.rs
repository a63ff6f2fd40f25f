use yew::prelude::*;

use super::icons;

#[derive(Properties, PartialEq)]
pub struct ErrorBannerProps {
    /// The IpcError's sentence; rendered as text.
    pub message: AttrValue,
    pub on_dismiss: Callback<MouseEvent>,
}

/// The last command error, until the agent dismisses it.
#[component]
pub fn ErrorBanner(props: &ErrorBannerProps) -> Html {
    html! {
        <div class="error-banner" data-testid="error-banner" role="alert">
            {icons::alert()}
            <span class="error-text">{props.message.clone()}</span>
            <button
                type="button"
                class="icon-button"
                data-testid="error-dismiss"
                aria-label="Dismiss error"
                title="Dismiss"
                onclick={props.on_dismiss.clone()}
            >
                {icons::close()}
            </button>
        </div>
    }
}
