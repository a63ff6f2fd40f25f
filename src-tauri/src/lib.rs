//! The Parley desktop shell: a Tauri window around [`parley_core::Core`].
//!
//! The shell owns no business logic. It picks a profile, starts the core
//! (and, for the sandbox profile, the in-process demo relay and sandbox),
//! forwards the core's [`InboxEvent`]s to the webview, and answers the UI's
//! commands (see [`commands`]) by delegating to the core.
//!
//! Start-up runs in the background so the window appears at once. Commands
//! wait for it; if it failed, they return its error, which the UI shows in its
//! error banner. That is how a locked keyring or a wrong database key reaches
//! the user: the core's errors are already sentences written for them.

mod commands;
mod links;
mod onboarding;
mod options;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use parley_core::{Core, DesktopNotifier, GraphSettings, OpenHandler, SandboxLink};
use parley_sandbox::demo::{Demo, DemoConfig};
use parley_types::{ErrorCode, InboxEvent, IpcError, INBOX_EVENT};
use tauri::{AppHandle, Emitter, Manager, RunEvent};
use tokio::sync::{broadcast, watch};
use zeroize::Zeroizing;

pub use options::Options;

/// The profile used once the user connected a real Meta account.
pub const ACCOUNT_PROFILE: &str = "account";
/// The demo profile, used until then.
pub const SANDBOX_PROFILE: &str = "sandbox";
/// Written into the sandbox profile at start-up: where the in-process
/// sandbox and relay listen (loopback addresses only, nothing secret), so
/// tests and curious users can drive the simulated customers.
pub const SANDBOX_INFO_FILE: &str = "sandbox.json";

/// The outcome of start-up, once known.
#[derive(Clone)]
enum Boot {
    Ready(Core),
    Failed(IpcError),
}

/// Managed state: the core (once started) and the demo it talks to.
pub struct Shell {
    boot: watch::Sender<Option<Boot>>,
    /// Kept alive for the app's lifetime; taken and shut down on exit.
    demo: Mutex<Option<Demo>>,
    /// Removed on exit, so a stale address is never read.
    sandbox_info: Mutex<Option<PathBuf>>,
    /// Where the profiles live and how start-up ran, for starting again
    /// after "Delete all my data".
    started_with: Mutex<Option<(PathBuf, Options)>>,
    /// Held while "Connect your business" runs, one attempt at a time.
    connecting: tokio::sync::Mutex<()>,
}

impl Shell {
    fn new() -> Shell {
        Shell {
            boot: watch::channel(None).0,
            demo: Mutex::new(None),
            sandbox_info: Mutex::new(None),
            started_with: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
        }
    }

    /// The started core, waiting for start-up if it is still running.
    pub async fn core(&self) -> Result<Core, IpcError> {
        let mut boot = self.boot.subscribe();
        // The sender lives in `self`, so this only fails if the app is gone.
        let ready = boot
            .wait_for(Option::is_some)
            .await
            .map_err(|_| IpcError::new(ErrorCode::Internal, "Parley is shutting down."))?;
        match ready.as_ref() {
            Some(Boot::Ready(core)) => Ok(core.clone()),
            Some(Boot::Failed(error)) => Err(error.clone()),
            None => unreachable!("wait_for returned a value that fails its predicate"),
        }
    }

    fn finish_boot(&self, outcome: Result<(Core, Option<Demo>, Option<PathBuf>), IpcError>) {
        let boot = match outcome {
            Ok((core, demo, info)) => {
                *lock(&self.demo) = demo;
                *lock(&self.sandbox_info) = info;
                Boot::Ready(core)
            }
            Err(error) => {
                // The message is a sentence about the failure (never message
                // content), the same one the UI shows.
                tracing::error!(code = ?error.code, error = %error.message, "start-up failed");
                Boot::Failed(error)
            }
        };
        self.boot.send_replace(Some(boot));
    }

    /// "Delete all my data": leave the relay (while it can still be
    /// reached: if it cannot, nothing is deleted and the user can retry),
    /// stop everything, wait until no task holds the engine, delete the
    /// profile's keyring entries, database and settings (the core's job),
    /// remove the emptied profile folder (and the demo relay's files with
    /// it), then start again exactly as on first run.
    pub async fn delete_all_data(&self, app: &AppHandle) -> Result<(), IpcError> {
        let core = self.core().await?;
        core.deregister_device().await?;
        let Some((data_dir, options)) = lock(&self.started_with).clone() else {
            return Err(IpcError::new(ErrorCode::Internal, "Parley has not finished starting."));
        };
        tracing::info!("deleting all data");
        // From here on commands wait for the new start.
        self.boot.send_replace(None);
        core.shutdown();
        if let Some(path) = lock(&self.sandbox_info).take() {
            let _ = std::fs::remove_file(path);
        }
        let demo = lock(&self.demo).take();
        if let Some(demo) = demo {
            demo.shutdown().await;
        }
        let outcome = async {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while core.handle_count() > 1 {
                if std::time::Instant::now() > deadline {
                    return Err(IpcError::new(
                        ErrorCode::Internal,
                        "Parley could not stop its background work to delete the data. \
                         Quit Parley, start it again and retry.",
                    ));
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            let dir = core.profile().dir().to_owned();
            tauri::async_runtime::spawn_blocking(move || core.delete_all_data()).await.map_err(
                |e| IpcError::new(ErrorCode::Internal, format!("Deleting failed: {e}.")),
            )??;
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(error = %e, "the emptied profile folder stays"),
            }
            Ok(())
        }
        .await;
        // Whatever happened, start again: on success as on first run.
        let restarted = boot(app, &data_dir, &options).await;
        self.finish_boot(restarted);
        outcome
    }

    /// Stop the sync loop and the outbox worker, then the demo relay and
    /// sandbox. Runs once, on exit.
    fn shutdown(&self) {
        tracing::info!("stopping");
        if let Some(Boot::Ready(core)) = self.boot.borrow().as_ref() {
            core.shutdown();
        }
        if let Some(path) = lock(&self.sandbox_info).take() {
            let _ = std::fs::remove_file(path);
        }
        if let Some(demo) = lock(&self.demo).take() {
            tauri::async_runtime::block_on(demo.shutdown());
        }
        tracing::info!("stopped");
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Run the desktop app. Returns when its last window closed.
pub fn run() {
    init_tracing();
    let options = match Options::from_env_and_args(std::env::args_os().skip(1)) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("parley: {e}");
            std::process::exit(2);
        }
    };
    let app = tauri::Builder::default()
        .manage(Shell::new())
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::list_conversations,
            commands::list_messages,
            commands::send_text,
            commands::send_file,
            commands::mark_read,
            commands::sync_state,
            commands::list_messages_before,
            commands::search,
            commands::retry_message,
            commands::delete_message,
            commands::media_data_url,
            commands::react,
            commands::list_templates,
            commands::refresh_templates,
            commands::send_template,
            commands::create_template,
            commands::delete_template,
            commands::upload_template_sample,
            commands::duplicate_template,
            commands::privacy_settings,
            commands::data_inventory,
            commands::set_retention,
            commands::purge_now,
            commands::export_data,
            commands::erase_conversation,
            commands::disconnect,
            commands::delete_all_data,
            commands::set_notification_content,
            commands::lock_state,
            commands::unlock,
            commands::lock_now,
            commands::enable_app_lock,
            commands::disable_app_lock,
            commands::set_lock_idle_minutes,
            commands::still_here,
            commands::open_link,
            commands::save_draft,
            commands::list_conversations_before,
            commands::set_conversation_closed,
            commands::contact_details,
            commands::update_contact,
            commands::list_messages_around,
            commands::list_messages_after,
            commands::finish_welcome,
            commands::connect_business,
            commands::channels,
            commands::update_access_token,
            commands::reconnect,
            commands::audience_options,
            commands::preview_campaign,
            commands::create_campaign,
            commands::list_campaigns,
            commands::campaign_recipients,
            commands::campaign_action,
            commands::export_campaign,
            commands::list_contacts,
            commands::contact,
            commands::save_contact,
            commands::delete_contact,
            commands::merge_contacts,
            commands::duplicate_contacts,
            commands::preview_contacts_csv,
            commands::import_contacts_csv,
            commands::export_contacts_csv,
            commands::contacts_export_suggestion,
            commands::conversation,
        ])
        .setup(move |app| {
            #[cfg(unix)]
            tauri::async_runtime::spawn(exit_on_signal(app.handle().clone()));
            let handle = app.handle().clone();
            let data_dir = match &options.data_dir {
                Some(dir) => Ok(dir.clone()),
                None => app.path().app_data_dir(),
            };
            tauri::async_runtime::spawn(async move {
                let outcome = match data_dir {
                    Ok(dir) => {
                        let shell = handle.state::<Shell>();
                        *lock(&shell.started_with) = Some((dir.clone(), options.clone()));
                        boot(&handle, &dir, &options).await
                    }
                    Err(e) => Err(IpcError::new(
                        ErrorCode::Storage,
                        format!("Parley cannot find a folder for its data: {e}."),
                    )),
                };
                handle.state::<Shell>().finish_boot(outcome);
            });
            Ok(())
        })
        .build(tauri::generate_context!())
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "the window could not be created");
            std::process::exit(1);
        });
    app.run(|app, event| {
        if let RunEvent::Exit = event {
            app.state::<Shell>().shutdown();
        }
    });
}

/// SIGTERM (logout, `kill`, WebDriver ending a session) and Ctrl-C end the
/// app the way closing its window does, so the exit path (stop syncing,
/// stop the demo, remove sandbox.json) runs instead of an abrupt death.
#[cfg(unix)]
async fn exit_on_signal(app: AppHandle) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        tracing::warn!("signal handlers not installed; a signal ends the app abruptly");
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("stopping on a signal");
    app.exit(0);
}

/// `RUST_LOG` style filtering, `info` by default, to stderr. Nothing in
/// this crate logs message content, and neither do the core's logs.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// Open the profile to use and start it: the account profile when it is
/// configured, otherwise the sandbox with its in-process demo.
async fn boot(
    app: &AppHandle,
    data_dir: &Path,
    options: &Options,
) -> Result<(Core, Option<Demo>, Option<PathBuf>), IpcError> {
    let account = data_dir.join(ACCOUNT_PROFILE);
    // Decided from the settings file alone: a connection attempt that
    // failed half-way leaves an unconfigured account profile, which must
    // not keep the app from starting on the sandbox (its keys may be gone).
    let configured = account.join("config.json").exists()
        && parley_core::Profile::open(&account)
            .and_then(|p| p.load_config())
            .is_ok_and(|c| c.is_configured());
    if configured {
        let core = open_core(app, account).await?;
        tracing::info!("starting the account profile");
        start(app, &core);
        return Ok((core, None, None));
    }
    if account.exists() {
        tracing::info!("the account profile is not connected yet; starting the sandbox");
    }

    let core = open_core(app, data_dir.join(SANDBOX_PROFILE)).await?;
    let mut config = DemoConfig::new(core.profile().dir());
    if let Some(auto_chat) = options.demo_auto_chat {
        config.auto_chat = auto_chat;
    }
    let demo = Demo::start(config).await.map_err(|e| {
        IpcError::new(ErrorCode::Internal, format!("The sandbox could not start: {e}."))
    })?;
    match attach(&core, &demo).await {
        Ok(info) => {
            tracing::info!("starting the sandbox profile");
            start(app, &core);
            Ok((core, Some(demo), Some(info)))
        }
        Err(e) => {
            demo.shutdown().await;
            Err(e)
        }
    }
}

/// Opening touches the keyring, which blocks (D-Bus on Linux, and perhaps an
/// unlock prompt), so it runs off the async workers.
async fn open_core(app: &AppHandle, dir: PathBuf) -> Result<Core, IpcError> {
    let notifier = DesktopNotifier::with_open_handler(open_from_notification(app.clone()));
    tauri::async_runtime::spawn_blocking(move || {
        Core::open_with_keyring(&dir, Arc::new(notifier)).map_err(IpcError::from)
    })
    .await
    .map_err(|e| IpcError::new(ErrorCode::Internal, format!("Opening the profile failed: {e}.")))?
}

/// A click on a notification brings the window forward on that conversation.
fn open_from_notification(app: AppHandle) -> OpenHandler {
    Arc::new(move |conversation_id| {
        if let Some(window) = app.get_webview_window("main") {
            let _ = window.unminimize();
            let _ = window.show();
            let _ = window.set_focus();
        }
        if let Err(e) = app.emit(INBOX_EVENT, InboxEvent::OpenConversation { conversation_id }) {
            tracing::warn!(error = %e, "could not open the notified conversation");
        }
    })
}

/// Enroll with (or re-point at) the demo relay and the sandbox's Graph API,
/// then publish the sandbox's address.
async fn attach(core: &Core, demo: &Demo) -> Result<PathBuf, IpcError> {
    let internal = |e: &dyn std::fmt::Display| {
        IpcError::new(ErrorCode::Internal, format!("The sandbox could not start: {e}."))
    };
    let link = SandboxLink {
        relay_url: demo.relay_url(),
        tenant_id: demo.tenant_id().to_owned(),
        enrollment_code: demo.issue_enrollment_code().map_err(|e| internal(&e))?,
        graph: GraphSettings {
            base_url: demo.graph_base_url(),
            version: demo.graph_version().to_owned(),
            phone_number_id: demo.phone_number_id().to_owned(),
            waba_id: Some(demo.waba_id().to_owned()),
        },
        access_token: Zeroizing::new(demo.access_token().to_owned()),
    };
    core.attach_sandbox(link).await?;
    // Shown on the Channels screen beside the number.
    core.set_instagram_account(Some(demo.instagram_account_id().to_owned()))?;
    let info = core.profile().dir().join(SANDBOX_INFO_FILE);
    write_sandbox_info(&info, demo).map_err(|e| internal(&e))?;
    Ok(info)
}

/// Written whole (temp file + rename): a reader never sees half of it.
fn write_sandbox_info(path: &Path, demo: &Demo) -> std::io::Result<()> {
    let json = serde_json::json!({
        "graph_base_url": demo.graph_base_url(),
        "relay_url": demo.relay_url(),
    });
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&json).expect("JSON serialises"))?;
    std::fs::rename(&tmp, path)
}

/// Forward the core's events to the webview, then start syncing. The
/// subscription comes first so not even the first state change is missed.
fn start(app: &AppHandle, core: &Core) {
    let mut events = core.subscribe();
    let app = app.clone();
    let forwarded = core.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            // Ends with the core's background work, so the engine can be
            // dropped (and its profile deleted) without restarting the app.
            let received = tokio::select! {
                received = events.recv() => received,
                _ = forwarded.stopped() => break,
            };
            match received {
                Ok(event) => {
                    if let Err(e) = app.emit(INBOX_EVENT, &event) {
                        tracing::warn!(error = %e, "inbox event not delivered to the window");
                    }
                }
                // The window missed changes. Re-send what it needs to be
                // right again: the sync state and every listed conversation
                // (an open thread's messages reload when it is reopened).
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "the window fell behind the inbox events; resending");
                    resend_snapshot(&app, &forwarded);
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    core.start();
}

fn resend_snapshot(app: &AppHandle, core: &Core) {
    let mut snapshot = vec![InboxEvent::SyncStateChanged { state: core.sync_state() }];
    match core.list_conversations() {
        Ok(list) => snapshot.extend(
            list.into_iter().map(|conversation| InboxEvent::ConversationChanged { conversation }),
        ),
        Err(e) => tracing::warn!(error = %e, "conversations not readable for a resend"),
    }
    for event in snapshot {
        if let Err(e) = app.emit(INBOX_EVENT, &event) {
            tracing::warn!(error = %e, "inbox event not delivered to the window");
        }
    }
}
