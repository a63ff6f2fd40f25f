//! Parley's inbox UI: a Yew app compiled to WebAssembly and hosted by the
//! Tauri shell.
//!
//! Layout of the crate:
//! - [`state`], [`format`], [`virtual_list`]: plain Rust, unit-tested on the
//!   host. All the logic lives here.
//! - [`ipc`]: the only place that talks to Tauri (`window.__TAURI__`); it
//!   hands components typed results and [`parley_types::IpcError`]s.
//! - `app` and `components`: thin Yew function components (wasm32 only).
//!
//! User content is only ever rendered as text nodes.

pub mod attachment;
pub mod campaigns;
pub mod contacts;
pub mod format;
pub mod ipc;
pub mod onboarding;
pub mod privacy;
pub mod state;
pub mod template_manager;
pub mod template_picker;
pub mod text;
pub mod thread_window;
pub mod virtual_list;

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod components;
#[cfg(target_arch = "wasm32")]
mod dom;

/// Entry point, called by `init()` in `main.js`.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    let root =
        web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("app"));
    match root {
        Some(root) => {
            yew::Renderer::<app::App>::with_root(root).render();
        }
        None => {
            yew::Renderer::<app::App>::new().render();
        }
    }
}
