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

/// Real desktop notifications through notify-rust.
#[derive(Debug, Default, Clone)]
pub struct DesktopNotifier;

impl Notifier for DesktopNotifier {
    fn notify(&self, n: &Notification) -> Result<u32, NotifyError> {
        let mut notification = notify_rust::Notification::new();
        notification.appname("Parley").summary(&n.title).body(&n.body);
        #[cfg(all(unix, not(target_os = "macos")))]
        {
            let handle = notification.show().map_err(|e| NotifyError(e.to_string()))?;
            Ok(handle.id())
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
