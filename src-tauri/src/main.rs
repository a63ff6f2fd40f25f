//! The Parley desktop app. Everything is in the `parley_app` library.

// No console window next to the app in Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    parley_app::run()
}
