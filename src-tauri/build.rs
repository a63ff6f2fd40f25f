//! Build script of the desktop app: Tauri's codegen inputs and ACL.
//!
//! Every command the UI may call is listed in the app manifest, so Tauri
//! generates an `allow-<command>` permission for it and refuses the command
//! unless a capability (src-tauri/capabilities/) grants that permission. A
//! command added to `generate_handler!` but not here (and not granted) is
//! unreachable from the webview, which is the point.

use std::path::Path;

/// Must match `tauri::generate_handler!` in src-tauri/src/lib.rs.
const COMMANDS: &[&str] = &[
    "app_info",
    "list_conversations",
    "list_messages",
    "send_text",
    "send_file",
    "mark_read",
    "sync_state",
    "list_messages_before",
    "search",
    "retry_message",
    "delete_message",
    "media_data_url",
    "react",
    "list_templates",
    "refresh_templates",
    "send_template",
    "create_template",
    "delete_template",
    "upload_template_sample",
    "duplicate_template",
    "privacy_settings",
    "data_inventory",
    "set_retention",
    "purge_now",
    "export_data",
    "erase_conversation",
    "disconnect",
    "delete_all_data",
    "set_notification_content",
    "lock_state",
    "unlock",
    "lock_now",
    "enable_app_lock",
    "disable_app_lock",
    "set_lock_idle_minutes",
    "still_here",
    "open_link",
    "save_draft",
    "list_conversations_before",
    "set_conversation_closed",
    "contact_details",
    "update_contact",
    "list_messages_around",
    "list_messages_after",
    "finish_welcome",
    "connect_business",
    "channels",
    "update_access_token",
    "reconnect",
    "audience_options",
    "preview_campaign",
    "create_campaign",
    "list_campaigns",
    "campaign_recipients",
    "campaign_action",
    "export_campaign",
    "list_contacts",
    "contact",
    "save_contact",
    "delete_contact",
    "merge_contacts",
    "duplicate_contacts",
    "preview_contacts_csv",
    "import_contacts_csv",
    "export_contacts_csv",
    "contacts_export_suggestion",
    "conversation",
];

/// What the window shows when the Yew UI was never built.
const PLACEHOLDER: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Parley</title></head><body><p>The Parley UI is not built: run \
<code>scripts/build-ui.sh</code> and rebuild.</p></body></html>\n";

fn main() {
    ensure_frontend_dist();
    // tauri-build parses the capabilities but only watches them for its
    // default location; ours are elsewhere (layout A).
    println!("cargo:rerun-if-changed=src-tauri/capabilities");
    let attributes = tauri_build::Attributes::new()
        .capabilities_path_pattern("./src-tauri/capabilities/**/*")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        panic!("tauri-build failed: {e:#}");
    }
}

/// `generate_context!` embeds `dist/` and fails when it is missing. A fresh
/// clone has no `dist/` (it is built by scripts/build-ui.sh and ignored by
/// git), and `cargo check`/`clippy` should still work there, so create a
/// one-page placeholder that tells the user what to do. An existing `dist/`
/// is never touched.
fn ensure_frontend_dist() {
    let root = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dist = Path::new(&root).join("dist");
    // A directory's mtime changes when files are added or removed, which
    // `include_bytes!` (how the assets are embedded) cannot notice.
    println!("cargo:rerun-if-changed={}", dist.display());
    let index = dist.join("index.html");
    if index.exists() {
        return;
    }
    println!(
        "cargo:warning=dist/index.html is missing; embedding a placeholder page. \
         Run scripts/build-ui.sh for the real UI."
    );
    std::fs::create_dir_all(&dist).expect("create dist/");
    std::fs::write(&index, PLACEHOLDER).expect("write the placeholder dist/index.html");
}
