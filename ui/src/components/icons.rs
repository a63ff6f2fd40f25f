//! Inline SVG icons (no external assets, CSP-friendly). All are decorative
//! (`aria-hidden`); the element that carries them has the accessible name.

use parley_types::ChannelKind;
use yew::prelude::*;

use crate::format::Tick;

pub fn logo() -> Html {
    html! {
        <svg class="icon logo" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2h-7l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z" />
            <path fill="none" stroke="var(--logo-ink)" stroke-width="1.8" stroke-linecap="round" d="M7 9h10M7 12.5h6" />
        </svg>
    }
}

pub fn whatsapp() -> Html {
    html! {
        <svg class="icon channel-icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <path fill="currentColor" d="M12 2.2a9.8 9.8 0 0 0-8.4 14.8L2.3 21.7l4.8-1.3A9.8 9.8 0 1 0 12 2.2z" />
            <path fill="#fff" d="M8.6 7.1c.3-.3.8-.3 1 .1l1 2c.1.3.1.6-.1.8l-.7.8a6.4 6.4 0 0 0 3.4 3.4l.8-.7c.2-.2.5-.3.8-.1l2 1c.4.2.4.7.1 1-1 1.1-2.4 1.4-3.9.7a10.6 10.6 0 0 1-5-5c-.7-1.5-.4-2.9.6-4z" />
        </svg>
    }
}

pub fn instagram() -> Html {
    html! {
        <svg class="icon channel-icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <rect x="2.5" y="2.5" width="19" height="19" rx="5.5" fill="currentColor" />
            <circle cx="12" cy="12" r="4.2" fill="none" stroke="#fff" stroke-width="2" />
            <circle cx="17.3" cy="6.7" r="1.3" fill="#fff" />
        </svg>
    }
}

pub fn channel(kind: ChannelKind) -> Html {
    match kind {
        ChannelKind::Whatsapp => whatsapp(),
        ChannelKind::Instagram => instagram(),
    }
}

pub fn send() -> Html {
    html! {
        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <path fill="currentColor" d="M3.4 20.4 21 12 3.4 3.6l-.1 6.6L15 12 3.3 13.8z" />
        </svg>
    }
}

pub fn paperclip() -> Html {
    html! {
        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <path fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" d="M20.5 11.5 12 20a5.5 5.5 0 0 1-7.8-7.8l8.8-8.8a3.7 3.7 0 0 1 5.2 5.2l-8.8 8.8a1.8 1.8 0 0 1-2.6-2.6l8.1-8.1" />
        </svg>
    }
}

pub fn close() -> Html {
    html! {
        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <path fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" d="M6 6l12 12M18 6 6 18" />
        </svg>
    }
}

pub fn alert() -> Html {
    html! {
        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <circle cx="12" cy="12" r="9.5" fill="currentColor" />
            <path fill="none" stroke="var(--alert-ink)" stroke-width="2.2" stroke-linecap="round" d="M12 7v6.5M12 16.8v.2" />
        </svg>
    }
}

/// A shield: the Privacy & data screen.
pub fn shield() -> Html {
    html! {
        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <path fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round" d="M12 3 4.5 6v5.5c0 4.6 3.1 8.3 7.5 9.5 4.4-1.2 7.5-4.9 7.5-9.5V6z" />
            <path fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" d="m8.8 12 2.3 2.3 4.2-4.4" />
        </svg>
    }
}

/// A message card with lines: the Templates screen.
pub fn templates() -> Html {
    html! {
        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <rect x="4" y="4" width="16" height="16" rx="2.5" fill="none" stroke="currentColor" stroke-width="2" />
            <path fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" d="M8 9h8M8 12.5h8M8 16h4.5" />
        </svg>
    }
}

/// Signal waves: the Channels screen.
pub fn channels() -> Html {
    html! {
        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <circle cx="12" cy="12" r="2" fill="currentColor" />
            <path fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" d="M8.2 15.8a5.4 5.4 0 0 1 0-7.6M15.8 8.2a5.4 5.4 0 0 1 0 7.6M5.3 18.7a9.5 9.5 0 0 1 0-13.4M18.7 5.3a9.5 9.5 0 0 1 0 13.4" />
        </svg>
    }
}

/// A megaphone: broadcast campaigns.
pub fn megaphone() -> Html {
    html! {
        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <path fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round" d="M4 10v4h3l8 4.5v-13L7 10H4z" />
            <path fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" d="M18.5 9.5a3.5 3.5 0 0 1 0 5M8 14.5l1.2 4.5" />
        </svg>
    }
}

/// A padlock: lock the app now.
pub fn padlock() -> Html {
    html! {
        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <rect x="5" y="10.5" width="14" height="10" rx="2" fill="none" stroke="currentColor" stroke-width="2" />
            <path fill="none" stroke="currentColor" stroke-width="2" d="M8.5 10.5V7.8a3.5 3.5 0 0 1 7 0v2.7" />
        </svg>
    }
}

pub fn lock_clock() -> Html {
    html! {
        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" stroke-width="2" />
            <path fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" d="M12 7v5l3.5 2" />
        </svg>
    }
}

pub fn chat_empty() -> Html {
    html! {
        <svg class="icon empty-illustration" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <path fill="none" stroke="currentColor" stroke-width="1.2" stroke-linejoin="round" d="M4 4.5h16a1.5 1.5 0 0 1 1.5 1.5v9a1.5 1.5 0 0 1-1.5 1.5h-7l-5 4v-4H4A1.5 1.5 0 0 1 2.5 15V6A1.5 1.5 0 0 1 4 4.5z" />
        </svg>
    }
}

/// The delivery indicator of an outbound message.
pub fn tick(tick: Tick) -> Html {
    match tick {
        Tick::Clock => html! {
            <svg class="icon tick-icon" viewBox="0 0 16 16" aria-hidden="true" focusable="false">
                <circle cx="8" cy="8" r="6" fill="none" stroke="currentColor" stroke-width="1.4" />
                <path fill="none" stroke="currentColor" stroke-width="1.4" stroke-linecap="round" d="M8 4.6V8l2.2 1.4" />
            </svg>
        },
        Tick::Single => html! {
            <svg class="icon tick-icon" viewBox="0 0 16 16" aria-hidden="true" focusable="false">
                <path fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round" d="M3 8.6 6.2 11.6 13 4.6" />
            </svg>
        },
        Tick::Double | Tick::DoubleRead => html! {
            <svg class="icon tick-icon double" viewBox="0 0 20 16" aria-hidden="true" focusable="false">
                <path fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round" d="M1.5 8.6 4.7 11.6 11.5 4.6" />
                <path fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round" d="M8.6 11 9.2 11.6 16 4.6" />
            </svg>
        },
        Tick::Failed => html! { <span class="tick-failed" aria-hidden="true">{"!"}</span> },
    }
}

/// A curved arrow: reply to a message.
pub fn reply() -> Html {
    html! {
        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <path fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" d="M9 14 4 9l5-5M4 9h10a6 6 0 0 1 6 6v5" />
        </svg>
    }
}

/// A smiling face: react to a message.
pub fn smile() -> Html {
    html! {
        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" stroke-width="2" />
            <path fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" d="M8 14.5a5 5 0 0 0 8 0M9 9.5h.01M15 9.5h.01" />
        </svg>
    }
}

/// A right arrow: a forwarded message.
pub fn forwarded() -> Html {
    html! {
        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <path fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" d="m15 5 5 5-5 5M20 10H9a5 5 0 0 0-5 5v4" />
        </svg>
    }
}
