//! The commands the UI invokes. Each one waits for start-up and delegates to
//! the core; the core's errors cross as [`IpcError`] (a code and a sentence).
//!
//! A command is reachable from the webview only if it is listed in
//! src-tauri/build.rs (which generates its `allow-…` permission) and granted
//! in src-tauri/capabilities/main.json.

use parley_types::{
    AppInfo, ConversationSummary, IpcError, Message, ReactRequest, SearchHit, SendTextRequest,
    SyncState,
};
use tauri::State;

use crate::Shell;

#[tauri::command]
pub async fn app_info(shell: State<'_, Shell>) -> Result<AppInfo, IpcError> {
    Ok(shell.core().await?.app_info())
}

#[tauri::command]
pub async fn list_conversations(
    shell: State<'_, Shell>,
) -> Result<Vec<ConversationSummary>, IpcError> {
    Ok(shell.core().await?.list_conversations()?)
}

#[tauri::command]
pub async fn list_messages(
    shell: State<'_, Shell>,
    conversation_id: i64,
) -> Result<Vec<Message>, IpcError> {
    Ok(shell.core().await?.list_messages(conversation_id)?)
}

#[tauri::command]
pub async fn send_text(
    shell: State<'_, Shell>,
    request: SendTextRequest,
) -> Result<Message, IpcError> {
    Ok(shell.core().await?.send_text(&request)?)
}

#[tauri::command]
pub async fn react(shell: State<'_, Shell>, request: ReactRequest) -> Result<Message, IpcError> {
    Ok(shell.core().await?.react(&request)?)
}

#[tauri::command]
pub async fn mark_read(shell: State<'_, Shell>, conversation_id: i64) -> Result<(), IpcError> {
    Ok(shell.core().await?.mark_read(conversation_id)?)
}

#[tauri::command]
pub async fn sync_state(shell: State<'_, Shell>) -> Result<SyncState, IpcError> {
    Ok(shell.core().await?.sync_state())
}

#[tauri::command]
pub async fn list_messages_before(
    shell: State<'_, Shell>,
    conversation_id: i64,
    before_message_id: i64,
) -> Result<Vec<Message>, IpcError> {
    Ok(shell.core().await?.list_messages_before(conversation_id, before_message_id)?)
}

#[tauri::command]
pub async fn search(shell: State<'_, Shell>, query: String) -> Result<Vec<SearchHit>, IpcError> {
    Ok(shell.core().await?.search(&query)?)
}

#[tauri::command]
pub async fn retry_message(shell: State<'_, Shell>, message_id: i64) -> Result<Message, IpcError> {
    Ok(shell.core().await?.retry_message(message_id)?)
}

#[tauri::command]
pub async fn delete_message(shell: State<'_, Shell>, message_id: i64) -> Result<(), IpcError> {
    Ok(shell.core().await?.delete_message(message_id)?)
}

#[tauri::command]
pub async fn media_data_url(shell: State<'_, Shell>, message_id: i64) -> Result<String, IpcError> {
    Ok(shell.core().await?.media_data_url(message_id)?)
}
