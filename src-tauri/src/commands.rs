//! The commands the UI invokes. Each one waits for start-up and delegates to
//! the core; the core's errors cross as [`IpcError`] (a code and a sentence).
//!
//! A command is reachable from the webview only if it is listed in
//! src-tauri/build.rs (which generates its `allow-…` permission) and granted
//! in src-tauri/capabilities/main.json.

use parley_types::attachment::{SampleFileMeta, SendFileMeta};
use parley_types::campaign::{
    AudienceOptions, CampaignAction, CampaignDraft, CampaignPreview, CampaignRecipient,
    CampaignSummary, CreateCampaignRequest, RecipientsRequest,
};
use parley_types::contact::{ContactDetails, ContactUpdate};
use parley_types::contact_book::{
    Contact, ContactDraft, ContactPage, ContactQuery, ContactSaveOutcome, DuplicatePair,
    ExportContactsRequest, ImportCsvRequest,
};
use parley_types::contacts_csv::{ImportPreview, ImportReport};
use parley_types::onboarding::{ChannelStatus, ConnectOutcome, ConnectRequest, UpdateTokenRequest};
use parley_types::template::{SendTemplateRequest, TemplateSummary};
use parley_types::template_builder::TemplateDraft;
use parley_types::ErrorCode;
use parley_types::{
    AppInfo, ChannelKind, ConversationSummary, DataInventoryView, ExportSummary, IpcError,
    LockState, Message, NotificationContent, PrivacySettings, PurgeOutcome, ReactRequest,
    RetentionPeriod, RetentionSettings, SearchHit, SendTextRequest, SyncState,
};
use tauri::ipc::InvokeBody;
use tauri::{AppHandle, State};
use zeroize::Zeroizing;

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

/// The file's bytes arrive as the raw IPC body (no JSON number array), its
/// metadata in the request headers ([`SendFileMeta`]); nothing touches disk
/// before the core stores the file encrypted.
#[tauri::command]
pub async fn send_file(
    shell: State<'_, Shell>,
    request: tauri::ipc::Request<'_>,
) -> Result<Message, IpcError> {
    let (meta, bytes) = file_upload(&request)?;
    Ok(shell.core().await?.send_file(
        meta.conversation_id,
        &meta.file_name,
        &meta.mime_type,
        bytes,
        &meta.caption,
    )?)
}

/// Unpacks `send_file`'s request: headers into [`SendFileMeta`], the body as
/// bytes.
fn file_upload<'a>(
    request: &'a tauri::ipc::Request<'_>,
) -> Result<(SendFileMeta, &'a [u8]), IpcError> {
    let headers = request.headers();
    let meta = SendFileMeta::from_headers(|name| headers.get(name).and_then(|v| v.to_str().ok()))?;
    Ok((meta, raw_body(request, "The file did not arrive as a file. Choose it again.")?))
}

/// Unpacks `upload_template_sample`'s request: headers into
/// [`SampleFileMeta`], the body as bytes.
fn sample_upload<'a>(
    request: &'a tauri::ipc::Request<'_>,
) -> Result<(SampleFileMeta, &'a [u8]), IpcError> {
    let headers = request.headers();
    let meta =
        SampleFileMeta::from_headers(|name| headers.get(name).and_then(|v| v.to_str().ok()))?;
    Ok((meta, raw_body(request, "The sample did not arrive as a file. Choose it again.")?))
}

/// The raw IPC body, or `refusal` when the webview sent JSON instead.
fn raw_body<'a>(request: &'a tauri::ipc::Request<'_>, refusal: &str) -> Result<&'a [u8], IpcError> {
    match request.body() {
        InvokeBody::Raw(bytes) => Ok(bytes.as_slice()),
        InvokeBody::Json(_) => Err(IpcError::new(ErrorCode::InvalidInput, refusal)),
    }
}

#[tauri::command]
pub async fn list_templates(shell: State<'_, Shell>) -> Result<Vec<TemplateSummary>, IpcError> {
    Ok(shell.core().await?.list_templates()?)
}

#[tauri::command]
pub async fn refresh_templates(shell: State<'_, Shell>) -> Result<Vec<TemplateSummary>, IpcError> {
    Ok(shell.core().await?.refresh_templates().await?)
}

#[tauri::command]
pub async fn send_template(
    shell: State<'_, Shell>,
    request: SendTemplateRequest,
) -> Result<Message, IpcError> {
    Ok(shell.core().await?.send_template(&request)?)
}

#[tauri::command]
pub async fn create_template(
    shell: State<'_, Shell>,
    draft: TemplateDraft,
) -> Result<TemplateSummary, IpcError> {
    Ok(shell.core().await?.create_template(&draft).await?)
}

/// A media header's sample: the bytes as the raw IPC body, the name and
/// type in the request headers ([`SampleFileMeta`]). Answers Meta's handle.
#[tauri::command]
pub async fn upload_template_sample(
    shell: State<'_, Shell>,
    request: tauri::ipc::Request<'_>,
) -> Result<String, IpcError> {
    let (meta, bytes) = sample_upload(&request)?;
    Ok(shell.core().await?.upload_template_sample(&meta.file_name, &meta.mime_type, bytes).await?)
}

#[tauri::command]
pub async fn delete_template(shell: State<'_, Shell>, name: String) -> Result<(), IpcError> {
    Ok(shell.core().await?.delete_template(&name).await?)
}

#[tauri::command]
pub async fn duplicate_template(
    shell: State<'_, Shell>,
    name: String,
    language: String,
    new_language: String,
) -> Result<TemplateDraft, IpcError> {
    Ok(shell.core().await?.duplicate_template(&name, &language, &new_language)?)
}

#[tauri::command]
pub async fn react(shell: State<'_, Shell>, request: ReactRequest) -> Result<Message, IpcError> {
    Ok(shell.core().await?.react(&request)?)
}

#[tauri::command]
pub async fn list_conversations_before(
    shell: State<'_, Shell>,
    last_at: i64,
    id: i64,
) -> Result<Vec<ConversationSummary>, IpcError> {
    Ok(shell.core().await?.list_conversations_before(last_at, id)?)
}

#[tauri::command]
pub async fn contact_details(
    shell: State<'_, Shell>,
    conversation_id: i64,
) -> Result<ContactDetails, IpcError> {
    Ok(shell.core().await?.contact_details(conversation_id)?)
}

#[tauri::command]
pub async fn update_contact(
    shell: State<'_, Shell>,
    update: ContactUpdate,
) -> Result<ContactDetails, IpcError> {
    Ok(shell.core().await?.update_contact(&update)?)
}

#[tauri::command]
pub async fn set_conversation_closed(
    shell: State<'_, Shell>,
    conversation_id: i64,
    closed: bool,
) -> Result<(), IpcError> {
    Ok(shell.core().await?.set_conversation_closed(conversation_id, closed)?)
}

#[tauri::command]
pub async fn list_messages_around(
    shell: State<'_, Shell>,
    conversation_id: i64,
    message_id: i64,
) -> Result<Vec<Message>, IpcError> {
    Ok(shell.core().await?.list_messages_around(conversation_id, message_id)?)
}

#[tauri::command]
pub async fn list_messages_after(
    shell: State<'_, Shell>,
    conversation_id: i64,
    after_message_id: i64,
) -> Result<Vec<Message>, IpcError> {
    Ok(shell.core().await?.list_messages_after(conversation_id, after_message_id)?)
}

#[tauri::command]
pub async fn save_draft(
    shell: State<'_, Shell>,
    conversation_id: i64,
    body: String,
) -> Result<(), IpcError> {
    Ok(shell.core().await?.save_draft(conversation_id, &body)?)
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

// The Privacy & data screen.

#[tauri::command]
pub async fn privacy_settings(shell: State<'_, Shell>) -> Result<PrivacySettings, IpcError> {
    Ok(shell.core().await?.privacy_settings()?)
}

#[tauri::command]
pub async fn data_inventory(shell: State<'_, Shell>) -> Result<DataInventoryView, IpcError> {
    Ok(shell.core().await?.data_inventory_view()?)
}

#[tauri::command]
pub async fn set_retention(
    shell: State<'_, Shell>,
    channel: Option<ChannelKind>,
    period: Option<RetentionPeriod>,
) -> Result<RetentionSettings, IpcError> {
    Ok(shell.core().await?.set_retention(channel, period)?)
}

#[tauri::command]
pub async fn purge_now(shell: State<'_, Shell>) -> Result<PurgeOutcome, IpcError> {
    Ok(shell.core().await?.purge_now()?)
}

#[tauri::command]
pub async fn export_data(
    shell: State<'_, Shell>,
    dir: String,
    conversation_id: Option<i64>,
) -> Result<ExportSummary, IpcError> {
    Ok(shell.core().await?.export_to(dir, conversation_id).await?)
}

#[tauri::command]
pub async fn erase_conversation(
    shell: State<'_, Shell>,
    conversation_id: i64,
) -> Result<(), IpcError> {
    Ok(shell.core().await?.delete_conversation_data(conversation_id).map(drop)?)
}

#[tauri::command]
pub async fn disconnect(shell: State<'_, Shell>, keep_history: bool) -> Result<(), IpcError> {
    Ok(shell.core().await?.disconnect(keep_history).await.map(drop)?)
}

/// Deregister, delete everything, and start again as on first run. The
/// restart is the shell's job (it owns start-up); the deleting is the core's.
#[tauri::command]
pub async fn delete_all_data(app: AppHandle, shell: State<'_, Shell>) -> Result<(), IpcError> {
    shell.delete_all_data(&app).await
}

#[tauri::command]
pub async fn set_notification_content(
    shell: State<'_, Shell>,
    content: NotificationContent,
) -> Result<(), IpcError> {
    Ok(shell.core().await?.set_notification_content(content)?)
}

// The app lock. The passphrase is zeroized once checked or hashed.

#[tauri::command]
pub async fn lock_state(shell: State<'_, Shell>) -> Result<LockState, IpcError> {
    Ok(shell.core().await?.lock_state())
}

#[tauri::command]
pub async fn unlock(shell: State<'_, Shell>, passphrase: String) -> Result<LockState, IpcError> {
    Ok(shell.core().await?.unlock(Zeroizing::new(passphrase)).await?)
}

#[tauri::command]
pub async fn lock_now(shell: State<'_, Shell>) -> Result<LockState, IpcError> {
    Ok(shell.core().await?.lock()?)
}

#[tauri::command]
pub async fn enable_app_lock(
    shell: State<'_, Shell>,
    passphrase: String,
    idle_minutes: u32,
) -> Result<LockState, IpcError> {
    Ok(shell.core().await?.enable_app_lock(Zeroizing::new(passphrase), idle_minutes).await?)
}

#[tauri::command]
pub async fn disable_app_lock(
    shell: State<'_, Shell>,
    passphrase: String,
) -> Result<LockState, IpcError> {
    Ok(shell.core().await?.disable_app_lock(Zeroizing::new(passphrase)).await?)
}

#[tauri::command]
pub async fn set_lock_idle_minutes(
    shell: State<'_, Shell>,
    idle_minutes: u32,
) -> Result<LockState, IpcError> {
    Ok(shell.core().await?.set_lock_idle_minutes(idle_minutes)?)
}

#[tauri::command]
pub async fn still_here(shell: State<'_, Shell>) -> Result<(), IpcError> {
    Ok(shell.core().await?.still_here()?)
}

/// Open a link from a message in the user's browser (re-checked first; see
/// [`crate::links`]).
#[tauri::command]
pub fn open_link(url: String) -> Result<(), IpcError> {
    Ok(crate::links::open(&url)?)
}

#[tauri::command]
pub async fn finish_welcome(shell: State<'_, Shell>) -> Result<(), IpcError> {
    Ok(shell.core().await?.finish_welcome()?)
}

/// Check the business with Meta, enroll at its relay and switch to the
/// account profile (a [`Shell`] method: it swaps engines).
#[tauri::command]
pub async fn connect_business(
    app: AppHandle,
    shell: State<'_, Shell>,
    request: ConnectRequest,
) -> Result<ConnectOutcome, IpcError> {
    shell.connect_business(&app, request).await
}

#[tauri::command]
pub async fn channels(shell: State<'_, Shell>) -> Result<Vec<ChannelStatus>, IpcError> {
    Ok(shell.core().await?.channels().await?)
}

/// The token goes to the keyring only after Meta accepted it.
#[tauri::command]
pub async fn update_access_token(
    shell: State<'_, Shell>,
    request: UpdateTokenRequest,
) -> Result<(), IpcError> {
    Ok(shell.core().await?.update_access_token(Zeroizing::new(request.access_token)).await?)
}

#[tauri::command]
pub async fn reconnect(shell: State<'_, Shell>) -> Result<(), IpcError> {
    shell.core().await?.reconnect();
    Ok(())
}

#[tauri::command]
pub async fn audience_options(shell: State<'_, Shell>) -> Result<AudienceOptions, IpcError> {
    Ok(shell.core().await?.audience_options()?)
}

#[tauri::command]
pub async fn preview_campaign(
    shell: State<'_, Shell>,
    draft: CampaignDraft,
) -> Result<CampaignPreview, IpcError> {
    Ok(shell.core().await?.preview_campaign(&draft).await?)
}

#[tauri::command]
pub async fn create_campaign(
    shell: State<'_, Shell>,
    request: CreateCampaignRequest,
) -> Result<CampaignSummary, IpcError> {
    Ok(shell.core().await?.create_campaign(&request)?)
}

#[tauri::command]
pub async fn list_campaigns(shell: State<'_, Shell>) -> Result<Vec<CampaignSummary>, IpcError> {
    Ok(shell.core().await?.campaigns()?)
}

#[tauri::command]
pub async fn campaign_recipients(
    shell: State<'_, Shell>,
    request: RecipientsRequest,
) -> Result<Vec<CampaignRecipient>, IpcError> {
    Ok(shell.core().await?.campaign_recipients(&request)?)
}

#[tauri::command]
pub async fn campaign_action(
    shell: State<'_, Shell>,
    campaign_id: i64,
    action: CampaignAction,
) -> Result<CampaignSummary, IpcError> {
    Ok(shell.core().await?.campaign_action(campaign_id, action)?)
}

#[tauri::command]
pub async fn export_campaign(
    shell: State<'_, Shell>,
    campaign_id: i64,
    path: String,
) -> Result<u64, IpcError> {
    Ok(shell.core().await?.export_campaign(campaign_id, std::path::Path::new(&path))?)
}

#[tauri::command]
pub async fn list_contacts(
    shell: State<'_, Shell>,
    query: ContactQuery,
) -> Result<ContactPage, IpcError> {
    Ok(shell.core().await?.list_contacts(&query)?)
}

#[tauri::command]
pub async fn contact(shell: State<'_, Shell>, id: i64) -> Result<Contact, IpcError> {
    Ok(shell.core().await?.contact(id)?)
}

#[tauri::command]
pub async fn save_contact(
    shell: State<'_, Shell>,
    draft: ContactDraft,
) -> Result<ContactSaveOutcome, IpcError> {
    Ok(shell.core().await?.save_contact(&draft)?)
}

#[tauri::command]
pub async fn delete_contact(shell: State<'_, Shell>, id: i64) -> Result<(), IpcError> {
    Ok(shell.core().await?.delete_contact(id)?)
}

#[tauri::command]
pub async fn merge_contacts(
    shell: State<'_, Shell>,
    keep: i64,
    merge: i64,
) -> Result<Contact, IpcError> {
    Ok(shell.core().await?.merge_contacts(keep, merge)?)
}

#[tauri::command]
pub async fn duplicate_contacts(shell: State<'_, Shell>) -> Result<Vec<DuplicatePair>, IpcError> {
    Ok(shell.core().await?.duplicate_contacts()?)
}

#[tauri::command]
pub async fn preview_contacts_csv(
    shell: State<'_, Shell>,
    request: ImportCsvRequest,
) -> Result<ImportPreview, IpcError> {
    Ok(shell.core().await?.preview_contacts_csv(&request)?)
}

#[tauri::command]
pub async fn import_contacts_csv(
    shell: State<'_, Shell>,
    request: ImportCsvRequest,
) -> Result<ImportReport, IpcError> {
    Ok(shell.core().await?.import_contacts_csv(request).await?)
}

#[tauri::command]
pub async fn export_contacts_csv(
    shell: State<'_, Shell>,
    request: ExportContactsRequest,
) -> Result<u64, IpcError> {
    Ok(shell.core().await?.export_contacts_csv(&request)?)
}

#[tauri::command]
pub async fn contacts_export_suggestion(shell: State<'_, Shell>) -> Result<String, IpcError> {
    Ok(shell.core().await?.contacts_export_suggestion())
}

/// One conversation's row, to list it before opening it (from Contacts).
#[tauri::command]
pub async fn conversation(
    shell: State<'_, Shell>,
    id: i64,
) -> Result<ConversationSummary, IpcError> {
    Ok(shell.core().await?.conversation(id)?)
}
