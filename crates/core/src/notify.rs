//! Desktop notifications behind the [`Notifier`] trait.
//!
//! The notify-rust implementation talks to the session's notification server
//! (org.freedesktop.Notifications on Linux). When there is none, notifying
//! fails with an error the caller logs and ignores: a missing notification
//! server must never stop sync or crash the app.

/// One notification about new customer messages. Debug leaves out the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Notification {
    pub conversation_id: i64,
    /// The sender's display name.
    pub title: String,
    /// A one-line preview, or empty when content is hidden.
    pub body: String,
}

impl std::fmt::Debug for Notification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notification")
            .field("conversation_id", &self.conversation_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("could not show a desktop notification: {0}")]
pub struct NotifyError(pub String);

pub trait Notifier: Send + Sync {
    /// Show `n`. Returns the server's notification id when it has one.
    fn notify(&self, n: &Notification) -> Result<u32, NotifyError>;
}

/// Called with a conversation id when the agent clicks its notification.
pub type OpenHandler = std::sync::Arc<dyn Fn(i64) + Send + Sync>;

/// Real desktop notifications through notify-rust.
#[derive(Default, Clone)]
pub struct DesktopNotifier {
    on_open: Option<OpenHandler>,
}

impl DesktopNotifier {
    /// Clicking a notification calls `on_open` with its conversation
    /// (where the notification server supports actions, as on Linux).
    pub fn with_open_handler(on_open: OpenHandler) -> DesktopNotifier {
        DesktopNotifier { on_open: Some(on_open) }
    }
}

impl std::fmt::Debug for DesktopNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DesktopNotifier")
            .field("opens_conversations", &self.on_open.is_some())
            .finish()
    }
}

impl Notifier for DesktopNotifier {
    fn notify(&self, n: &Notification) -> Result<u32, NotifyError> {
        let mut notification = notify_rust::Notification::new();
        notification.appname("Parley").summary(&n.title).body(&n.body);
        #[cfg(all(unix, not(target_os = "macos")))]
        {
            if self.on_open.is_some() {
                // "default" is the action a click on the notification invokes.
                notification.action("default", "Open conversation");
            }
            let handle = notification.show().map_err(|e| NotifyError(e.to_string()))?;
            let id = handle.id();
            if let Some(on_open) = self.on_open.clone() {
                let conversation = n.conversation_id;
                // Waiting blocks until the notification is clicked or closed.
                let spawned = std::thread::Builder::new().name("notification-action".into()).spawn(
                    move || {
                        handle.wait_for_action(|action| {
                            if action == "default" {
                                on_open(conversation);
                            }
                        })
                    },
                );
                if let Err(e) = spawned {
                    tracing::info!(error = %e, "notification clicks will not open the conversation");
                }
            }
            Ok(id)
        }
        #[cfg(not(all(unix, not(target_os = "macos"))))]
        {
            notification.show().map_err(|e| NotifyError(e.to_string()))?;
            Ok(0)
        }
    }
}

/// For headless use (the CLI, servers): notifications are off.
#[derive(Debug, Default, Clone)]
pub struct NoNotifier;

impl Notifier for NoNotifier {
    fn notify(&self, _n: &Notification) -> Result<u32, NotifyError> {
        Ok(0)
    }
}
