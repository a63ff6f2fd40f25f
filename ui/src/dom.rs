//! Small RAII wrappers over browser APIs used by the components: the clock,
//! timers, window event listeners and CSSOM writes (allowed under a strict
//! `style-src 'self'` CSP, unlike `style=` attributes).

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement};

/// Milliseconds since the epoch, from the browser clock.
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// Minutes to add to UTC to get local time at instant `at` (DST-aware).
pub fn utc_offset_min(at: i64) -> i64 {
    let d = js_sys::Date::new(&JsValue::from_f64(at as f64));
    -(d.get_timezone_offset() as i64)
}

pub fn window_has_focus() -> bool {
    web_sys::window().and_then(|w| w.document()).and_then(|d| d.has_focus().ok()).unwrap_or(true)
}

/// A `setInterval` that is cleared on drop.
pub struct Interval {
    id: i32,
    _callback: Closure<dyn FnMut()>,
}

impl Interval {
    pub fn new(millis: i32, f: impl FnMut() + 'static) -> Option<Self> {
        let callback = Closure::<dyn FnMut()>::new(f);
        let id = web_sys::window()?
            .set_interval_with_callback_and_timeout_and_arguments_0(
                callback.as_ref().unchecked_ref(),
                millis,
            )
            .ok()?;
        Some(Interval { id, _callback: callback })
    }
}

impl Drop for Interval {
    fn drop(&mut self) {
        if let Some(w) = web_sys::window() {
            w.clear_interval_with_handle(self.id);
        }
    }
}

/// An event listener on `window`, removed on drop.
pub struct WindowListener {
    event: &'static str,
    callback: Closure<dyn FnMut(web_sys::Event)>,
}

impl WindowListener {
    pub fn new(event: &'static str, f: impl FnMut(web_sys::Event) + 'static) -> Option<Self> {
        let callback = Closure::<dyn FnMut(web_sys::Event)>::new(f);
        web_sys::window()?
            .add_event_listener_with_callback(event, callback.as_ref().unchecked_ref())
            .ok()?;
        Some(WindowListener { event, callback })
    }
}

impl Drop for WindowListener {
    fn drop(&mut self) {
        if let Some(w) = web_sys::window() {
            let _ = w.remove_event_listener_with_callback(
                self.event,
                self.callback.as_ref().unchecked_ref(),
            );
        }
    }
}

/// A ResizeObserver on one element, disconnected on drop.
pub struct ResizeWatch {
    observer: web_sys::ResizeObserver,
    _callback: Closure<dyn FnMut(js_sys::Array)>,
}

impl ResizeWatch {
    pub fn new(target: &Element, mut f: impl FnMut() + 'static) -> Option<Self> {
        let callback = Closure::<dyn FnMut(js_sys::Array)>::new(move |_entries| f());
        let observer = web_sys::ResizeObserver::new(callback.as_ref().unchecked_ref()).ok()?;
        observer.observe(target);
        Some(ResizeWatch { observer, _callback: callback })
    }
}

impl Drop for ResizeWatch {
    fn drop(&mut self) {
        self.observer.disconnect();
    }
}

/// Sets a CSS property through the CSSOM (CSP-safe).
pub fn set_style(element: &Element, property: &str, value: &str) {
    if let Some(el) = element.dyn_ref::<HtmlElement>() {
        let _ = el.style().set_property(property, value);
    }
}

pub fn set_px(element: &Element, property: &str, px: f64) {
    set_style(element, property, &format!("{px}px"));
}

/// Resolves after `millis` (a `setTimeout`); used to debounce search.
pub async fn sleep(millis: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, millis);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Focuses the element with `id`, if it is on the page.
pub fn focus_id(id: &str) -> bool {
    let el = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|e| e.dyn_into::<HtmlElement>().ok());
    match el {
        Some(el) => el.focus().is_ok(),
        None => false,
    }
}

/// Whether a key event is aimed at something the agent types into, where
/// single-key shortcuts ("/", "?", "r") must stay ordinary characters.
pub fn is_typing_target(event: &web_sys::Event) -> bool {
    event.target().and_then(|t| t.dyn_into::<HtmlElement>().ok()).is_some_and(|el| {
        let tag = el.tag_name().to_ascii_lowercase();
        tag == "textarea" || tag == "input" || tag == "select" || el.is_content_editable()
    })
}

/// The message bubble (`data-message-id`) a key event was aimed at, if the
/// focus is on one or inside one.
pub fn focused_message_id(event: &web_sys::Event) -> Option<i64> {
    let el = event.target()?.dyn_into::<Element>().ok()?;
    let bubble = el.closest("[data-message-id]").ok()??;
    bubble.get_attribute("data-message-id")?.parse().ok()
}

/// Copies `text` to the clipboard. If the webview refuses (no clipboard
/// permission), selects `fallback`'s text instead so Ctrl+C copies it.
pub fn copy_text(text: &str, fallback: Option<Element>) {
    let Some(window) = web_sys::window() else { return };
    let promise = window.navigator().clipboard().write_text(text);
    wasm_bindgen_futures::spawn_local(async move {
        if wasm_bindgen_futures::JsFuture::from(promise).await.is_err() {
            if let (Some(el), Ok(Some(selection))) = (fallback, window.get_selection()) {
                let _ = selection.select_all_children(&el);
            }
        }
    });
}
