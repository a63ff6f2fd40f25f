//! Data rights on the desktop: retention, export, erasure, disconnecting
//! and deleting everything. See design.md §4.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::secrets::SecretName;
use crate::store::{ExportReport, Inventory, PurgeReport};
use crate::{now_ms, Core, CoreError};

const SETTING_RETENTION: &str = "retention.days";
/// Messages and media are kept this long unless the user chose otherwise.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// What the app stores and where, for the data inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataInventory {
    pub profile_dir: std::path::PathBuf,
    pub database_file: std::path::PathBuf,
    /// The database and its WAL on disk, encrypted.
    pub database_bytes: u64,
    pub counts: Inventory,
    pub retention_days: Option<u32>,
    pub protection: &'static str,
}

impl Core {
    /// How many days messages are kept; `None` keeps them forever.
    pub fn retention_days(&self) -> Result<Option<u32>, CoreError> {
        Ok(match self.inner.store.setting(SETTING_RETENTION)?.as_deref() {
            None => Some(DEFAULT_RETENTION_DAYS),
            Some("forever") => None,
            Some(days) => {
                Some(days.parse().map_err(|_| {
                    CoreError::InvalidInput(format!("bad retention setting {days:?}"))
                })?)
            }
        })
    }

    pub fn set_retention_days(&self, days: Option<u32>) -> Result<(), CoreError> {
        if days == Some(0) {
            return Err(CoreError::InvalidInput("keep messages for at least one day".into()));
        }
        let value = days.map_or_else(|| "forever".to_owned(), |d| d.to_string());
        Ok(self.inner.store.set_setting(SETTING_RETENTION, &value)?)
    }

    /// Delete what is older than the retention period at `now_ms`.
    pub fn purge_expired(&self, now_ms: i64) -> Result<PurgeReport, CoreError> {
        let Some(days) = self.retention_days()? else { return Ok(PurgeReport::default()) };
        let report = self.inner.store.purge_before(now_ms - i64::from(days) * DAY_MS)?;
        if report.messages > 0 {
            // Counts only: the log never names what was removed.
            tracing::info!(
                messages = report.messages,
                media_files = report.media_files,
                days,
                "expired messages deleted"
            );
        }
        Ok(report)
    }

    /// Erase one customer's conversation, messages, media and contact.
    pub fn delete_conversation_data(&self, conversation_id: i64) -> Result<PurgeReport, CoreError> {
        Ok(self.inner.store.delete_conversation_data(conversation_id)?)
    }

    /// Export everything (or one conversation) into `dir`, unencrypted.
    pub fn export(
        &self,
        dir: &Path,
        conversation_id: Option<i64>,
    ) -> Result<ExportReport, CoreError> {
        self.inner.store.export(dir, conversation_id).map_err(|e| match e {
            crate::store::ExportError::Store(s) => CoreError::Store(s),
            io => CoreError::InvalidInput(io.to_string()),
        })
    }

    pub fn data_inventory(&self) -> Result<DataInventory, CoreError> {
        let db = self.inner.profile.database_path();
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        Ok(DataInventory {
            profile_dir: self.inner.profile.dir().to_owned(),
            database_bytes: size(&db) + size(&db.with_extension("db-wal")),
            database_file: db,
            counts: self.inner.store.inventory()?,
            retention_days: self.retention_days()?,
            protection: "Messages, contacts and media are in one SQLCipher database (AES-256), \
                whose random key is in the operating system's keyring, as are the Meta token, \
                the relay token and this device's private key. Settings without secrets are \
                in config.json.",
        })
    }

    /// Stop sending through Meta: forget the access token and the number.
    /// History stays.
    pub fn disconnect_graph(&self) -> Result<(), CoreError> {
        self.inner.secrets.delete(SecretName::GraphToken)?;
        self.update_config(|c| c.graph = None)?;
        *self.inner.graph.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(())
    }

    /// Leave the relay for good: it drops this device's queue and token.
    /// Needed before deleting everything, so no copy of future messages
    /// keeps waiting for a device that is gone.
    pub async fn deregister_device(&self) -> Result<(), CoreError> {
        let link = match self.relay_link() {
            Ok(link) => link,
            Err(CoreError::NotEnrolled) => return Ok(()),
            Err(e) => return Err(e),
        };
        link.client.deregister().await?;
        self.update_config(|c| {
            c.relay_url = None;
            c.device_id = None;
            c.tenant_id = None;
        })?;
        self.inner.secrets.delete(SecretName::RelayToken)?;
        self.inner.secrets.delete(SecretName::DeviceKey)?;
        *self.inner.relay.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(())
    }

    /// Delete everything this profile holds: keyring entries, the database
    /// (with media), settings. Afterwards the profile is as on first run.
    /// Call [`Core::deregister_device`] first. The caller must drop every
    /// clone of this `Core`.
    pub fn delete_all_data(self) -> Result<(), CoreError> {
        self.shutdown();
        for name in SecretName::ALL {
            self.inner.secrets.delete(name)?;
        }
        let profile = self.inner.profile.clone();
        let db = profile.database_path();
        let io = |path: &Path, source| crate::profile::ProfileError::Io {
            path: path.to_owned(),
            source,
        };
        for path in [
            db.clone(),
            db.with_extension("db-wal"),
            db.with_extension("db-shm"),
            profile.dir().join("config.json"),
            profile.dir().join("sandbox.json"),
        ] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&path, e).into()),
            }
        }
        Ok(())
    }

    /// The daily retention job behind [`Core::start`]: at start, then
    /// every day.
    pub(crate) async fn retention_loop(self) {
        let mut stop = self.stop_signal();
        loop {
            let core = self.clone();
            let purged = tokio::task::spawn_blocking(move || core.purge_expired(now_ms())).await;
            if let Ok(Err(e)) = purged {
                tracing::warn!(error = %e, "retention purge failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(24 * 60 * 60)) => {}
                _ = stop.changed() => break,
            }
        }
    }
}
