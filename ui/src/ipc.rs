//! Typed access to the Tauri core. The only module that touches `JsValue`.
//!
//! Commands go through `window.__TAURI__.core.invoke` and the inbox event
//! through `window.__TAURI__.event.listen` (the app sets
//! `app.withGlobalTauri`). Every failure reaches components as an
//! [`IpcError`] whose `message` is a sentence for the agent: a rejection
//! carrying `{code, message}` is passed through, anything else (a thrown
//! exception, a plain string, a malformed answer) becomes
//! [`ErrorCode::Internal`] with a generic sentence, and the raw value goes to
//! the console for developers.

use parley_types::{ErrorCode, IpcError};

/// Shown when `window.__TAURI__` is missing (the page was opened outside the
/// app) or the bridge itself throws.
pub const CORE_UNREACHABLE: &str = "Parley's core is not reachable. Restart Parley and try again.";

/// The fallback sentence for an unexpected failure while `doing` something
/// ("loading messages").
pub fn unexpected(doing: &str) -> IpcError {
    IpcError::new(ErrorCode::Internal, format!("Something went wrong while {doing}. Try again."))
}

/// Keeps a structured rejection if it carries a readable sentence; otherwise
/// falls back to [`unexpected`]. Messages that look like serialized data are
/// never shown to the agent.
pub fn normalize(candidate: Option<IpcError>, doing: &str) -> IpcError {
    match candidate {
        Some(e) => {
            let text = e.message.trim();
            let looks_raw = text.is_empty() || text.starts_with('{') || text.starts_with('[');
            if looks_raw {
                IpcError { code: e.code, message: unexpected(doing).message }
            } else {
                IpcError { code: e.code, message: text.to_owned() }
            }
        }
        None => unexpected(doing),
    }
}

#[cfg(target_arch = "wasm32")]
pub use bridge::*;

#[cfg(target_arch = "wasm32")]
mod bridge {
    use js_sys::{Function, Object, Promise, Reflect};
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
    use parley_types::{
        AppInfo, ChannelKind, ConversationSummary, DataInventoryView, ErrorCode, ExportSummary,
        InboxEvent, IpcError, LockState, Message, NotificationContent, PrivacySettings,
        PurgeOutcome, ReactRequest, RetentionPeriod, RetentionSettings, SearchHit, SendTextRequest,
        SyncState, INBOX_EVENT,
    };
    use serde::de::DeserializeOwned;
    use serde::Serialize;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen_futures::JsFuture;

    use super::{normalize, unexpected, CORE_UNREACHABLE};

    #[wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(catch, js_namespace = ["window", "__TAURI__", "core"], js_name = invoke)]
        fn tauri_invoke(cmd: &str, args: &JsValue) -> Result<Promise, JsValue>;

        /// The same `invoke` with its options (request headers); a
        /// `Uint8Array` as `args` travels as the raw request body.
        #[wasm_bindgen(catch, js_namespace = ["window", "__TAURI__", "core"], js_name = invoke)]
        fn tauri_invoke_with_options(
            cmd: &str,
            args: &JsValue,
            options: &JsValue,
        ) -> Result<Promise, JsValue>;

        #[wasm_bindgen(catch, js_namespace = ["window", "__TAURI__", "event"], js_name = listen)]
        fn tauri_listen(event: &str, handler: &Function) -> Result<Promise, JsValue>;
    }

    fn log(context: &str, raw: &JsValue) {
        web_sys::console::error_2(&JsValue::from_str(context), raw);
    }

    fn unreachable_core(raw: &JsValue) -> IpcError {
        log("Parley: Tauri bridge unavailable", raw);
        IpcError::new(ErrorCode::Internal, CORE_UNREACHABLE)
    }

    fn to_js<T: Serialize + ?Sized>(value: &T) -> JsValue {
        // json_compatible: maps become plain objects and None becomes null,
        // exactly what Tauri's JSON deserializer expects.
        value
            .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
            .unwrap_or_else(|_| Object::new().into())
    }

    async fn invoke_raw(cmd: &str, args: JsValue, doing: &str) -> Result<JsValue, IpcError> {
        let promise = tauri_invoke(cmd, &args).map_err(|e| unreachable_core(&e))?;
        JsFuture::from(promise).await.map_err(|rejection| {
            log(&format!("Parley: command {cmd} failed"), &rejection);
            normalize(serde_wasm_bindgen::from_value::<IpcError>(rejection).ok(), doing)
        })
    }

    async fn invoke<T: DeserializeOwned>(
        cmd: &str,
        args: JsValue,
        doing: &str,
    ) -> Result<T, IpcError> {
        let value = invoke_raw(cmd, args, doing).await?;
        serde_wasm_bindgen::from_value(value.clone()).map_err(|e| {
            log(&format!("Parley: unexpected answer to {cmd}: {e}"), &value);
            unexpected(doing)
        })
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct ConversationArgs {
        conversation_id: i64,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct BeforeArgs {
        conversation_id: i64,
        before_message_id: i64,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct MessageArgs {
        message_id: i64,
    }

    #[derive(Serialize)]
    struct SearchArgs<'a> {
        query: &'a str,
    }

    #[derive(Serialize)]
    struct SendTextArgs<'a> {
        request: &'a SendTextRequest,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct AroundArgs {
        conversation_id: i64,
        message_id: i64,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct AfterArgs {
        conversation_id: i64,
        after_message_id: i64,
    }

    #[derive(Serialize)]
    struct UpdateContactArgs<'a> {
        update: &'a ContactUpdate,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct ClosedArgs {
        conversation_id: i64,
        closed: bool,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct ConversationPageArgs {
        last_at: i64,
        id: i64,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct DraftArgs<'a> {
        conversation_id: i64,
        body: &'a str,
    }

    #[derive(Serialize)]
    struct UrlArgs<'a> {
        url: &'a str,
    }

    #[derive(Serialize)]
    struct ReactArgs<'a> {
        request: &'a ReactRequest,
    }

    fn no_args() -> JsValue {
        Object::new().into()
    }

    pub async fn app_info() -> Result<AppInfo, IpcError> {
        invoke("app_info", no_args(), "reading the app information").await
    }

    // ---- welcome, "Connect your business" and the Channels screen

    #[derive(Serialize)]
    struct ConnectArgs<'a> {
        request: &'a parley_types::onboarding::ConnectRequest,
    }

    #[derive(Serialize)]
    struct TokenArgs<'a> {
        request: &'a parley_types::onboarding::UpdateTokenRequest,
    }

    /// "Try the sandbox": the welcome screen is not shown again.
    pub async fn finish_welcome() -> Result<(), IpcError> {
        invoke_raw("finish_welcome", no_args(), "saving your choice").await.map(drop)
    }

    /// Checks with Meta, enrolls and switches to the account profile; a
    /// refusal names the fields to fix.
    pub async fn connect_business(
        request: &parley_types::onboarding::ConnectRequest,
    ) -> Result<parley_types::onboarding::ConnectOutcome, IpcError> {
        invoke("connect_business", to_js(&ConnectArgs { request }), "connecting your business")
            .await
    }

    pub async fn channels() -> Result<Vec<parley_types::onboarding::ChannelStatus>, IpcError> {
        invoke("channels", no_args(), "reading the channels").await
    }

    pub async fn update_access_token(
        request: &parley_types::onboarding::UpdateTokenRequest,
    ) -> Result<(), IpcError> {
        invoke_raw("update_access_token", to_js(&TokenArgs { request }), "saving the token")
            .await
            .map(drop)
    }

    pub async fn reconnect() -> Result<(), IpcError> {
        invoke_raw("reconnect", no_args(), "reconnecting").await.map(drop)
    }

    /// Newest first.
    pub async fn list_conversations() -> Result<Vec<ConversationSummary>, IpcError> {
        invoke("list_conversations", no_args(), "loading conversations").await
    }

    /// The page of conversations after (`last_at`, `id`), newest first.
    pub async fn list_conversations_before(
        last_at: i64,
        id: i64,
    ) -> Result<Vec<ConversationSummary>, IpcError> {
        let args = to_js(&ConversationPageArgs { last_at, id });
        invoke("list_conversations_before", args, "loading older conversations").await
    }

    pub async fn list_messages(conversation_id: i64) -> Result<Vec<Message>, IpcError> {
        let args = to_js(&ConversationArgs { conversation_id });
        invoke("list_messages", args, "loading messages").await
    }

    /// The page before `before_message_id`, oldest first; empty at the start.
    pub async fn list_messages_before(
        conversation_id: i64,
        before_message_id: i64,
    ) -> Result<Vec<Message>, IpcError> {
        let args = to_js(&BeforeArgs { conversation_id, before_message_id });
        invoke("list_messages_before", args, "loading older messages").await
    }

    /// Newest first, at most the core's page of hits.
    pub async fn search(query: &str) -> Result<Vec<SearchHit>, IpcError> {
        invoke("search", to_js(&SearchArgs { query }), "searching").await
    }

    /// Queues a failed message again; returns it with its new status.
    pub async fn retry_message(message_id: i64) -> Result<Message, IpcError> {
        invoke("retry_message", to_js(&MessageArgs { message_id }), "resending the message").await
    }

    pub async fn delete_message(message_id: i64) -> Result<(), IpcError> {
        let args = to_js(&MessageArgs { message_id });
        invoke_raw("delete_message", args, "deleting the message").await.map(drop)
    }

    /// The stored file as a `data:` URL (the CSP allows `img-src data:`).
    pub async fn media_data_url(message_id: i64) -> Result<String, IpcError> {
        let args = to_js(&MessageArgs { message_id });
        invoke("media_data_url", args, "loading the attachment").await
    }

    /// Returns the local echo (status `sending`).
    pub async fn send_text(request: &SendTextRequest) -> Result<Message, IpcError> {
        let args = to_js(&SendTextArgs { request });
        invoke("send_text", args, "sending the message").await
    }

    /// Sends a file: its bytes as the raw IPC body (a `Uint8Array`, not a
    /// JSON array of numbers), its conversation, name, type and caption as
    /// percent-encoded request headers. Returns the local echo (`sending`).
    pub async fn send_file(
        meta: &parley_types::attachment::SendFileMeta,
        bytes: &js_sys::Uint8Array,
    ) -> Result<Message, IpcError> {
        let doing = "sending the file";
        let headers = Object::new();
        for (name, value) in meta.to_headers() {
            let _ = Reflect::set(&headers, &JsValue::from_str(name), &JsValue::from_str(&value));
        }
        let options = Object::new();
        let _ = Reflect::set(&options, &JsValue::from_str("headers"), &headers);
        let promise = tauri_invoke_with_options("send_file", bytes, &options)
            .map_err(|e| unreachable_core(&e))?;
        let value = JsFuture::from(promise).await.map_err(|rejection| {
            log("Parley: command send_file failed", &rejection);
            normalize(serde_wasm_bindgen::from_value::<IpcError>(rejection).ok(), doing)
        })?;
        serde_wasm_bindgen::from_value(value.clone()).map_err(|e| {
            log(&format!("Parley: unexpected answer to send_file: {e}"), &value);
            unexpected(doing)
        })
    }

    /// Uploads a media header's sample for Meta's review: the bytes as the
    /// raw IPC body, name and type as headers. Returns Meta's handle.
    pub async fn upload_template_sample(
        meta: &parley_types::attachment::SampleFileMeta,
        bytes: &js_sys::Uint8Array,
    ) -> Result<String, IpcError> {
        let doing = "uploading the sample";
        let headers = Object::new();
        for (name, value) in meta.to_headers() {
            let _ = Reflect::set(&headers, &JsValue::from_str(name), &JsValue::from_str(&value));
        }
        let options = Object::new();
        let _ = Reflect::set(&options, &JsValue::from_str("headers"), &headers);
        let promise = tauri_invoke_with_options("upload_template_sample", bytes, &options)
            .map_err(|e| unreachable_core(&e))?;
        let value = JsFuture::from(promise).await.map_err(|rejection| {
            log("Parley: command upload_template_sample failed", &rejection);
            normalize(serde_wasm_bindgen::from_value::<IpcError>(rejection).ok(), doing)
        })?;
        serde_wasm_bindgen::from_value(value.clone()).map_err(|e| {
            log(&format!("Parley: unexpected answer to upload_template_sample: {e}"), &value);
            unexpected(doing)
        })
    }

    #[derive(Serialize)]
    struct SendTemplateArgs<'a> {
        request: &'a parley_types::template::SendTemplateRequest,
    }

    pub async fn audience_options() -> Result<AudienceOptions, IpcError> {
        invoke("audience_options", no_args(), "reading the labels and attributes").await
    }

    #[derive(Serialize)]
    struct CampaignDraftArgs<'a> {
        draft: &'a CampaignDraft,
    }

    #[derive(Serialize)]
    struct CampaignRequestArgs<'a, T> {
        request: &'a T,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct CampaignActionArgs {
        campaign_id: i64,
        action: CampaignAction,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct CampaignExportArgs<'a> {
        campaign_id: i64,
        path: &'a str,
    }

    pub async fn preview_campaign(draft: &CampaignDraft) -> Result<CampaignPreview, IpcError> {
        invoke("preview_campaign", to_js(&CampaignDraftArgs { draft }), "preparing the summary")
            .await
    }

    pub async fn create_campaign(
        request: &CreateCampaignRequest,
    ) -> Result<CampaignSummary, IpcError> {
        let args = to_js(&CampaignRequestArgs { request });
        invoke("create_campaign", args, "starting the campaign").await
    }

    pub async fn list_campaigns() -> Result<Vec<CampaignSummary>, IpcError> {
        invoke("list_campaigns", no_args(), "loading the campaigns").await
    }

    pub async fn campaign_recipients(
        request: &RecipientsRequest,
    ) -> Result<Vec<CampaignRecipient>, IpcError> {
        let args = to_js(&CampaignRequestArgs { request });
        invoke("campaign_recipients", args, "loading the recipients").await
    }

    pub async fn campaign_action(
        campaign_id: i64,
        action: CampaignAction,
    ) -> Result<CampaignSummary, IpcError> {
        let args = to_js(&CampaignActionArgs { campaign_id, action });
        invoke("campaign_action", args, "changing the campaign").await
    }

    pub async fn export_campaign(campaign_id: i64, path: &str) -> Result<u64, IpcError> {
        let args = to_js(&CampaignExportArgs { campaign_id, path });
        invoke("export_campaign", args, "exporting the results").await
    }

    /// The stored templates (every status).
    pub async fn list_templates() -> Result<Vec<parley_types::template::TemplateSummary>, IpcError>
    {
        invoke("list_templates", no_args(), "loading the templates").await
    }

    /// Fetches the account's templates from Meta and stores them.
    pub async fn refresh_templates(
    ) -> Result<Vec<parley_types::template::TemplateSummary>, IpcError> {
        invoke("refresh_templates", no_args(), "refreshing the templates").await
    }

    /// Queues a template message; returns the local echo (`sending`).
    pub async fn send_template(
        request: &parley_types::template::SendTemplateRequest,
    ) -> Result<Message, IpcError> {
        invoke("send_template", to_js(&SendTemplateArgs { request }), "sending the template").await
    }

    #[derive(Serialize)]
    struct TemplateDraftArgs<'a> {
        draft: &'a parley_types::template_builder::TemplateDraft,
    }

    /// Submits a new template for Meta's review; answers it as stored
    /// (PENDING).
    pub async fn create_template(
        draft: &parley_types::template_builder::TemplateDraft,
    ) -> Result<parley_types::template::TemplateSummary, IpcError> {
        invoke("create_template", to_js(&TemplateDraftArgs { draft }), "submitting the template")
            .await
    }

    #[derive(Serialize)]
    struct NameArgs<'a> {
        name: &'a str,
    }

    /// Deletes the template (every language) at Meta and here.
    pub async fn delete_template(name: &str) -> Result<(), IpcError> {
        invoke("delete_template", to_js(&NameArgs { name }), "deleting the template").await
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct DuplicateArgs<'a> {
        name: &'a str,
        language: &'a str,
        new_language: &'a str,
    }

    /// A draft of the template in another language, to translate and submit.
    pub async fn duplicate_template(
        name: &str,
        language: &str,
        new_language: &str,
    ) -> Result<parley_types::template_builder::TemplateDraft, IpcError> {
        invoke(
            "duplicate_template",
            to_js(&DuplicateArgs { name, language, new_language }),
            "duplicating the template",
        )
        .await
    }

    /// Queues the agent's reaction (empty removes it); returns the message
    /// as it shows now.
    pub async fn react(request: &ReactRequest) -> Result<Message, IpcError> {
        invoke("react", to_js(&ReactArgs { request }), "sending the reaction").await
    }

    /// Opens a message's link in the user's browser (the shell re-checks it).
    pub async fn open_link(url: &str) -> Result<(), IpcError> {
        invoke_raw("open_link", to_js(&UrlArgs { url }), "opening the link").await.map(drop)
    }

    /// The thread opened at one message (a search hit far back).
    pub async fn list_messages_around(
        conversation_id: i64,
        message_id: i64,
    ) -> Result<Vec<Message>, IpcError> {
        let args = to_js(&AroundArgs { conversation_id, message_id });
        invoke("list_messages_around", args, "opening the conversation at the message").await
    }

    /// The page of messages newer than `after_message_id`.
    pub async fn list_messages_after(
        conversation_id: i64,
        after_message_id: i64,
    ) -> Result<Vec<Message>, IpcError> {
        let args = to_js(&AfterArgs { conversation_id, after_message_id });
        invoke("list_messages_after", args, "loading newer messages").await
    }

    /// The contact side panel of a conversation.
    pub async fn contact_details(conversation_id: i64) -> Result<ContactDetails, IpcError> {
        let args = to_js(&ConversationArgs { conversation_id });
        invoke("contact_details", args, "loading the contact").await
    }

    /// Saves the agents' notes, labels and opt-out; answers the saved panel.
    pub async fn update_contact(update: &ContactUpdate) -> Result<ContactDetails, IpcError> {
        invoke("update_contact", to_js(&UpdateContactArgs { update }), "saving the contact").await
    }

    /// Closes (the agent is done) or reopens a conversation.
    pub async fn set_conversation_closed(
        conversation_id: i64,
        closed: bool,
    ) -> Result<(), IpcError> {
        let args = to_js(&ClosedArgs { conversation_id, closed });
        invoke_raw("set_conversation_closed", args, "closing the conversation").await.map(drop)
    }

    /// Keeps the composer's text for a conversation (empty removes it).
    pub async fn save_draft(conversation_id: i64, body: &str) -> Result<(), IpcError> {
        let args = to_js(&DraftArgs { conversation_id, body });
        invoke_raw("save_draft", args, "saving the draft").await.map(drop)
    }

    pub async fn mark_read(conversation_id: i64) -> Result<(), IpcError> {
        let args = to_js(&ConversationArgs { conversation_id });
        invoke_raw("mark_read", args, "marking the conversation as read").await.map(drop)
    }

    pub async fn sync_state() -> Result<SyncState, IpcError> {
        invoke("sync_state", no_args(), "reading the sync state").await
    }

    #[derive(Serialize)]
    struct RetentionArgs {
        channel: Option<ChannelKind>,
        period: Option<RetentionPeriod>,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct ExportArgs<'a> {
        dir: &'a str,
        conversation_id: Option<i64>,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct DisconnectArgs {
        keep_history: bool,
    }

    #[derive(Serialize)]
    struct NotificationArgs {
        content: NotificationContent,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct PassphraseArgs<'a> {
        passphrase: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        idle_minutes: Option<u32>,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct IdleArgs {
        idle_minutes: u32,
    }

    pub async fn privacy_settings() -> Result<PrivacySettings, IpcError> {
        invoke("privacy_settings", no_args(), "reading the privacy settings").await
    }

    pub async fn data_inventory() -> Result<DataInventoryView, IpcError> {
        invoke("data_inventory", no_args(), "reading the data inventory").await
    }

    /// `channel` `None` sets the global period; `period` `None` resets.
    pub async fn set_retention(
        channel: Option<ChannelKind>,
        period: Option<RetentionPeriod>,
    ) -> Result<RetentionSettings, IpcError> {
        let args = to_js(&RetentionArgs { channel, period });
        invoke("set_retention", args, "saving the retention period").await
    }

    pub async fn purge_now() -> Result<PurgeOutcome, IpcError> {
        invoke("purge_now", no_args(), "deleting expired messages").await
    }

    pub async fn export_data(
        dir: &str,
        conversation_id: Option<i64>,
    ) -> Result<ExportSummary, IpcError> {
        let args = to_js(&ExportArgs { dir, conversation_id });
        invoke("export_data", args, "exporting").await
    }

    pub async fn erase_conversation(conversation_id: i64) -> Result<(), IpcError> {
        let args = to_js(&ConversationArgs { conversation_id });
        invoke_raw("erase_conversation", args, "erasing the customer's data").await.map(drop)
    }

    pub async fn disconnect(keep_history: bool) -> Result<(), IpcError> {
        let args = to_js(&DisconnectArgs { keep_history });
        invoke_raw("disconnect", args, "disconnecting").await.map(drop)
    }

    pub async fn delete_all_data() -> Result<(), IpcError> {
        invoke_raw("delete_all_data", no_args(), "deleting all data").await.map(drop)
    }

    pub async fn set_notification_content(content: NotificationContent) -> Result<(), IpcError> {
        let args = to_js(&NotificationArgs { content });
        invoke_raw("set_notification_content", args, "saving the notification setting")
            .await
            .map(drop)
    }

    pub async fn lock_state() -> Result<LockState, IpcError> {
        invoke("lock_state", no_args(), "reading the app lock").await
    }

    pub async fn unlock(passphrase: &str) -> Result<LockState, IpcError> {
        let args = to_js(&PassphraseArgs { passphrase, idle_minutes: None });
        invoke("unlock", args, "unlocking").await
    }

    pub async fn lock_now() -> Result<LockState, IpcError> {
        invoke("lock_now", no_args(), "locking").await
    }

    pub async fn enable_app_lock(
        passphrase: &str,
        idle_minutes: u32,
    ) -> Result<LockState, IpcError> {
        let args = to_js(&PassphraseArgs { passphrase, idle_minutes: Some(idle_minutes) });
        invoke("enable_app_lock", args, "turning on the app lock").await
    }

    pub async fn disable_app_lock(passphrase: &str) -> Result<LockState, IpcError> {
        let args = to_js(&PassphraseArgs { passphrase, idle_minutes: None });
        invoke("disable_app_lock", args, "turning off the app lock").await
    }

    pub async fn set_lock_idle_minutes(idle_minutes: u32) -> Result<LockState, IpcError> {
        let args = to_js(&IdleArgs { idle_minutes });
        invoke("set_lock_idle_minutes", args, "saving the idle time").await
    }

    /// The agent is active: postpones the idle lock.
    pub async fn still_here() -> Result<(), IpcError> {
        invoke_raw("still_here", no_args(), "keeping Parley unlocked").await.map(drop)
    }

    /// A live subscription to [`INBOX_EVENT`]; dropping it unlistens.
    #[derive(Serialize)]
    struct IdArgs {
        id: i64,
    }

    #[derive(Serialize)]
    struct QueryArgs<'a> {
        query: &'a ContactQuery,
    }

    #[derive(Serialize)]
    struct DraftContactArgs<'a> {
        draft: &'a ContactDraft,
    }

    #[derive(Serialize)]
    struct MergeArgs {
        keep: i64,
        merge: i64,
    }

    #[derive(Serialize)]
    struct CsvArgs<'a> {
        request: &'a ImportCsvRequest,
    }

    #[derive(Serialize)]
    struct ExportContactsArgs<'a> {
        request: &'a ExportContactsRequest,
    }

    pub async fn list_contacts(query: &ContactQuery) -> Result<ContactPage, IpcError> {
        invoke("list_contacts", to_js(&QueryArgs { query }), "loading contacts").await
    }

    pub async fn conversation(id: i64) -> Result<ConversationSummary, IpcError> {
        invoke("conversation", to_js(&IdArgs { id }), "opening the conversation").await
    }

    pub async fn contact(id: i64) -> Result<Contact, IpcError> {
        invoke("contact", to_js(&IdArgs { id }), "loading the contact").await
    }

    pub async fn save_contact(draft: &ContactDraft) -> Result<ContactSaveOutcome, IpcError> {
        invoke("save_contact", to_js(&DraftContactArgs { draft }), "saving the contact").await
    }

    pub async fn delete_contact(id: i64) -> Result<(), IpcError> {
        invoke_raw("delete_contact", to_js(&IdArgs { id }), "deleting the contact").await.map(drop)
    }

    pub async fn merge_contacts(keep: i64, merge: i64) -> Result<Contact, IpcError> {
        invoke("merge_contacts", to_js(&MergeArgs { keep, merge }), "merging the contacts").await
    }

    pub async fn duplicate_contacts() -> Result<Vec<DuplicatePair>, IpcError> {
        invoke("duplicate_contacts", no_args(), "looking for duplicates").await
    }

    pub async fn preview_contacts_csv(
        request: &ImportCsvRequest,
    ) -> Result<ImportPreview, IpcError> {
        invoke("preview_contacts_csv", to_js(&CsvArgs { request }), "checking the file").await
    }

    pub async fn import_contacts_csv(request: &ImportCsvRequest) -> Result<ImportReport, IpcError> {
        invoke("import_contacts_csv", to_js(&CsvArgs { request }), "importing contacts").await
    }

    pub async fn export_contacts_csv(request: &ExportContactsRequest) -> Result<u64, IpcError> {
        invoke("export_contacts_csv", to_js(&ExportContactsArgs { request }), "exporting contacts")
            .await
    }

    pub async fn contacts_export_suggestion() -> Result<String, IpcError> {
        invoke("contacts_export_suggestion", no_args(), "suggesting a file name").await
    }

    pub struct Subscription {
        unlisten: Function,
        _handler: Closure<dyn FnMut(JsValue)>,
    }

    impl Drop for Subscription {
        fn drop(&mut self) {
            // The handler closure is dropped right after, so Tauri must stop
            // calling it first.
            if let Err(e) = self.unlisten.call0(&JsValue::NULL) {
                log("Parley: unlisten failed", &e);
            }
        }
    }

    /// Subscribes to the inbox event. Resolves once the core has registered
    /// the listener, so a snapshot requested afterwards cannot miss a change.
    /// Payloads that do not parse are logged and skipped.
    pub async fn listen_inbox(
        on_event: impl Fn(InboxEvent) + 'static,
    ) -> Result<Subscription, IpcError> {
        let handler = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let payload =
                Reflect::get(&event, &JsValue::from_str("payload")).unwrap_or(JsValue::UNDEFINED);
            match serde_wasm_bindgen::from_value::<InboxEvent>(payload.clone()) {
                Ok(e) => on_event(e),
                Err(err) => log(&format!("Parley: ignored malformed inbox event: {err}"), &payload),
            }
        });
        let promise = tauri_listen(INBOX_EVENT, handler.as_ref().unchecked_ref())
            .map_err(|e| unreachable_core(&e))?;
        let unlisten = JsFuture::from(promise).await.map_err(|rejection| {
            log("Parley: listen failed", &rejection);
            normalize(
                serde_wasm_bindgen::from_value::<IpcError>(rejection).ok(),
                "subscribing to inbox updates",
            )
        })?;
        let unlisten = unlisten.dyn_into::<Function>().map_err(|v| {
            log("Parley: listen resolved to a non-function", &v);
            unexpected("subscribing to inbox updates")
        })?;
        Ok(Subscription { unlisten, _handler: handler })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_rejections_pass_through() {
        let e = IpcError::new(ErrorCode::WindowClosed, "Only an approved template can be sent.");
        assert_eq!(normalize(Some(e.clone()), "sending the message"), e);
    }

    #[test]
    fn anything_else_becomes_a_plain_internal_sentence() {
        let e = normalize(None, "sending the message");
        assert_eq!(e.code, ErrorCode::Internal);
        assert_eq!(e.message, "Something went wrong while sending the message. Try again.");
    }

    #[test]
    fn raw_json_or_empty_messages_are_never_shown() {
        for raw in ["", "   ", "{\"code\":\"storage\"}", "[1,2]"] {
            let e = normalize(Some(IpcError::new(ErrorCode::Storage, raw)), "loading messages");
            assert_eq!(e.code, ErrorCode::Storage, "the code is still useful");
            assert_eq!(e.message, "Something went wrong while loading messages. Try again.");
        }
    }

    #[test]
    fn rejection_json_shape_parses() {
        let v = serde_json::json!({"code": "retry_later", "message": "Meta is busy. Try again in a minute."});
        let e: IpcError = serde_json::from_value(v).unwrap();
        assert_eq!(normalize(Some(e), "x").code, ErrorCode::RetryLater);
    }
}
