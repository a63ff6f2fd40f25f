//! Data rights on the desktop: retention, export, erasure, disconnecting
//! and deleting everything. See design.md §4.

use std::path::Path;
use std::time::Duration;

use parley_types::{
    ChannelKind, ChannelPurge, DataInventoryView, ExportSummary, InboxEvent, InventoryItem,
    PrivacySettings, PurgeOutcome, RetentionPeriod, RetentionSettings,
};
use serde::Serialize;

use crate::secrets::SecretName;
use crate::store::{ExportReport, Inventory, PurgeReport};
use crate::{now_ms, Core, CoreError};

fn channel_name(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Whatsapp => "whatsapp",
        ChannelKind::Instagram => "instagram",
    }
}

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

/// The setting key of a channel's retention override.
fn channel_key(channel: ChannelKind) -> &'static str {
    match channel {
        ChannelKind::Whatsapp => "retention.days.whatsapp",
        ChannelKind::Instagram => "retention.days.instagram",
    }
}

fn parse_period(value: &str) -> Result<RetentionPeriod, CoreError> {
    match value {
        "forever" => Ok(RetentionPeriod::Forever),
        days => days
            .parse()
            .map(|days| RetentionPeriod::Days { days })
            .map_err(|_| CoreError::InvalidInput(format!("bad retention setting {days:?}"))),
    }
}

/// The longest custom period accepted, about 100 years.
pub const MAX_RETENTION_DAYS: u32 = 36_500;

impl Core {
    /// How many days messages are kept globally; `None` keeps them forever.
    pub fn retention_days(&self) -> Result<Option<u32>, CoreError> {
        Ok(self.retention_settings_inner()?.global.days())
    }

    /// Set the global period (`None`: forever).
    pub fn set_retention_days(&self, days: Option<u32>) -> Result<(), CoreError> {
        let period = days.map_or(RetentionPeriod::Forever, |days| RetentionPeriod::Days { days });
        self.set_retention(None, Some(period)).map(drop)
    }

    /// The global period and the per-channel overrides.
    pub fn retention_settings(&self) -> Result<RetentionSettings, CoreError> {
        self.gate()?;
        self.retention_settings_inner()
    }

    fn retention_settings_inner(&self) -> Result<RetentionSettings, CoreError> {
        let store = &self.inner.store;
        let global = match store.setting(SETTING_RETENTION)? {
            None => RetentionPeriod::Days { days: DEFAULT_RETENTION_DAYS },
            Some(v) => parse_period(&v)?,
        };
        let channel = |kind| -> Result<Option<RetentionPeriod>, CoreError> {
            store.setting(channel_key(kind))?.map(|v| parse_period(&v)).transpose()
        };
        Ok(RetentionSettings {
            global,
            whatsapp: channel(ChannelKind::Whatsapp)?,
            instagram: channel(ChannelKind::Instagram)?,
        })
    }

    /// Set the global period (`channel` `None`) or one channel's override.
    /// `period` `None` resets: the global period to the 90-day default, a
    /// channel to following the global period.
    pub fn set_retention(
        &self,
        channel: Option<ChannelKind>,
        period: Option<RetentionPeriod>,
    ) -> Result<RetentionSettings, CoreError> {
        self.gate()?;
        if let Some(RetentionPeriod::Days { days }) = period {
            if days == 0 {
                return Err(CoreError::InvalidInput(
                    "keep messages for at least one day, or choose forever".into(),
                ));
            }
            if days > MAX_RETENTION_DAYS {
                return Err(CoreError::InvalidInput(format!(
                    "keep messages for at most {MAX_RETENTION_DAYS} days, or choose forever"
                )));
            }
        }
        let key = channel.map_or(SETTING_RETENTION, channel_key);
        let store = &self.inner.store;
        match period {
            None => store.delete_setting(key)?,
            Some(RetentionPeriod::Forever) => store.set_setting(key, "forever")?,
            Some(RetentionPeriod::Days { days }) => store.set_setting(key, &days.to_string())?,
        }
        self.retention_settings_inner()
    }

    /// [`Core::purge_expired`] at the current time ("Purge now").
    pub fn purge_now(&self) -> Result<PurgeOutcome, CoreError> {
        self.purge_expired(now_ms())
    }

    /// Delete what is older than each channel's retention period at
    /// `now_ms` (the clock is injected so tests can move it).
    pub fn purge_expired(&self, now_ms: i64) -> Result<PurgeOutcome, CoreError> {
        self.gate()?;
        self.purge_expired_inner(now_ms)
    }

    pub(crate) fn purge_expired_inner(&self, now_ms: i64) -> Result<PurgeOutcome, CoreError> {
        let settings = self.retention_settings_inner()?;
        let kinds = [ChannelKind::Whatsapp, ChannelKind::Instagram];
        let plan: Vec<(ChannelKind, u32)> = kinds
            .iter()
            .filter_map(|&k| settings.effective(k).days().map(|days| (k, days)))
            .collect();
        let mut outcome = PurgeOutcome::default();
        let Some(shortest) = plan.iter().map(|&(_, days)| days).min() else {
            // Forever everywhere.
            outcome.channels = kinds
                .iter()
                .map(|&channel| ChannelPurge { channel, days: None, messages: 0, media_files: 0 })
                .collect();
            return Ok(outcome);
        };
        let cutoff = |days: u32| now_ms - i64::from(days) * DAY_MS;
        let names: Vec<(&str, i64)> =
            plan.iter().map(|&(k, days)| (channel_name(k), cutoff(days))).collect();
        let reports = self.inner.store.purge(&names, cutoff(shortest))?;
        for channel in kinds {
            let found = plan.iter().position(|&(k, _)| k == channel);
            let (days, report) = match found {
                Some(i) => (Some(plan[i].1), reports[i]),
                None => (None, PurgeReport::default()),
            };
            outcome.messages += report.messages;
            outcome.media_files += report.media_files;
            outcome.channels.push(ChannelPurge {
                channel,
                days,
                messages: report.messages,
                media_files: report.media_files,
            });
        }
        if outcome.messages > 0 {
            // Counts only: the log never names what was removed.
            tracing::info!(
                messages = outcome.messages,
                media_files = outcome.media_files,
                "expired messages deleted"
            );
        }
        Ok(outcome)
    }

    /// Erase one customer's conversation, messages, media and contact.
    pub fn delete_conversation_data(&self, conversation_id: i64) -> Result<PurgeReport, CoreError> {
        self.gate()?;
        let report = self.inner.store.delete_conversation_data(conversation_id)?;
        self.emit(InboxEvent::ConversationRemoved { conversation_id });
        Ok(report)
    }

    /// Export everything (or one conversation) into `dir`, unencrypted.
    pub fn export(
        &self,
        dir: &Path,
        conversation_id: Option<i64>,
    ) -> Result<ExportReport, CoreError> {
        self.gate()?;
        self.inner.store.export(dir, conversation_id).map_err(export_error)
    }

    /// Export everything (or one conversation) into `dir`, which must be an
    /// absolute path to a new or empty folder in an existing one. Progress
    /// is pushed as [`InboxEvent::ExportProgress`]; the rows stream from
    /// the database on a blocking thread.
    pub async fn export_to(
        &self,
        dir: String,
        conversation_id: Option<i64>,
    ) -> Result<ExportSummary, CoreError> {
        self.gate()?;
        let path = check_export_dir(&dir)?;
        let core = self.clone();
        let report = tokio::task::spawn_blocking(move || {
            let mut progress = |done, total| core.emit(InboxEvent::ExportProgress { done, total });
            core.inner
                .store
                .export_with_progress(&path, conversation_id, &mut progress)
                .map_err(export_error)
        })
        .await
        .map_err(|e| CoreError::InvalidInput(format!("the export stopped: {e}")))??;
        Ok(ExportSummary {
            dir: dir.trim().to_owned(),
            contacts: report.contacts,
            conversations: report.conversations,
            messages: report.messages,
            media_files: report.media_files,
        })
    }

    /// A new folder under the user's home (or the profile folder when no
    /// home is known) that "Export everything" suggests.
    pub fn export_suggestion(&self) -> String {
        let home = std::env::var_os("HOME")
            .or_else(|| std::env::var_os("USERPROFILE"))
            .map(std::path::PathBuf::from)
            .filter(|h| h.is_absolute() && h.is_dir())
            .unwrap_or_else(|| self.inner.profile.dir().to_owned());
        let mut candidate = home.join("Parley export");
        let mut n = 2;
        while candidate.exists() {
            candidate = home.join(format!("Parley export {n}"));
            n += 1;
        }
        candidate.to_string_lossy().into_owned()
    }

    /// What the Privacy & data screen shows besides the inventory.
    pub fn privacy_settings(&self) -> Result<PrivacySettings, CoreError> {
        self.gate()?;
        Ok(PrivacySettings {
            retention: self.retention_settings_inner()?,
            notifications: self.notification_content(),
            lock: self.lock_state(),
            export_suggestion: self.export_suggestion(),
            connected: self.config().graph.is_some() || self.config().relay_url.is_some(),
        })
    }

    /// The data inventory as lines for the Privacy & data screen.
    pub fn data_inventory_view(&self) -> Result<DataInventoryView, CoreError> {
        let inv = self.data_inventory()?;
        let config = self.config();
        let keyring =
            format!("OS keyring, service \"parley\", entries {}/…", self.inner.profile.id());
        let mut items = vec![
            InventoryItem {
                what: "Messages".into(),
                location: inv.database_file.display().to_string(),
                protection: "SQLCipher database (AES-256), key in the OS keyring".into(),
                count: Some(inv.counts.messages),
                bytes: Some(inv.database_bytes),
            },
            InventoryItem {
                what: "Contacts and conversations".into(),
                location: "the same database".into(),
                protection: "SQLCipher database (AES-256)".into(),
                count: Some(inv.counts.contacts + inv.counts.conversations),
                bytes: None,
            },
            InventoryItem {
                what: "Media files".into(),
                location: "the same database".into(),
                protection: "SQLCipher database (AES-256); never written to disk in clear".into(),
                count: Some(inv.counts.media_files),
                bytes: Some(inv.counts.media_bytes),
            },
            InventoryItem {
                what: "Database key".into(),
                location: keyring.clone(),
                protection: "OS keyring, locked with your login".into(),
                count: Some(1),
                bytes: None,
            },
        ];
        if config.relay_url.is_some() {
            items.push(InventoryItem {
                what: "Relay token and this device's private key".into(),
                location: keyring.clone(),
                protection: "OS keyring".into(),
                count: Some(2),
                bytes: None,
            });
        }
        if config.graph.is_some() {
            items.push(InventoryItem {
                what: "Meta access token".into(),
                location: keyring,
                protection: "OS keyring".into(),
                count: Some(1),
                bytes: None,
            });
        }
        let config_file = self.inner.profile.dir().join("config.json");
        items.push(InventoryItem {
            what: "Settings without secrets (relay address, number ids)".into(),
            location: config_file.display().to_string(),
            protection: "plain file, holds no message, token or key".into(),
            count: None,
            bytes: std::fs::metadata(&config_file).ok().map(|m| m.len()),
        });
        items.push(InventoryItem {
            what: "App lock".into(),
            location: "the same database".into(),
            protection: if self.lock_state().enabled {
                "only an Argon2id verifier of the passphrase, never the passphrase".into()
            } else {
                "off".into()
            },
            count: None,
            bytes: None,
        });
        Ok(DataInventoryView { items })
    }

    pub fn data_inventory(&self) -> Result<DataInventory, CoreError> {
        self.gate()?;
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
        self.gate()?;
        self.inner.secrets.delete(SecretName::GraphToken)?;
        self.update_config(|c| c.graph = None)?;
        *self.inner.graph.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(())
    }

    /// Leave the relay for good: it drops this device's queue and token.
    /// Needed before deleting everything, so no copy of future messages
    /// keeps waiting for a device that is gone.
    pub async fn deregister_device(&self) -> Result<(), CoreError> {
        self.gate()?;
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
        self.gate()?;
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

    /// Disconnect the Meta account (WhatsApp and Instagram): leave the
    /// relay (which stops sync and drops this device's queue), remove the
    /// relay token, device key and Meta token from the keyring, and either
    /// keep the history or delete it.
    pub async fn disconnect(&self, keep_history: bool) -> Result<PurgeReport, CoreError> {
        self.gate()?;
        self.deregister_device().await?;
        self.disconnect_graph()?;
        self.set_sync_state(parley_types::SyncState::Error {
            reason: "Disconnected: Parley no longer receives or sends messages. Connect an \
                     account again to resume."
                .into(),
        });
        if keep_history {
            return Ok(PurgeReport::default());
        }
        let removed = self.inner.store.list_conversations(i64::MAX as usize)?;
        let report = self.inner.store.delete_history()?;
        for c in removed {
            self.emit(InboxEvent::ConversationRemoved { conversation_id: c.id });
        }
        Ok(report)
    }

    /// The daily retention job behind [`Core::start`]: at start, then
    /// every day.
    pub(crate) async fn retention_loop(self) {
        let mut stop = self.stop_signal();
        loop {
            let core = self.clone();
            let purged =
                tokio::task::spawn_blocking(move || core.purge_expired_inner(now_ms())).await;
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

fn export_error(e: crate::store::ExportError) -> CoreError {
    match e {
        crate::store::ExportError::Store(s) => CoreError::Store(s),
        io => CoreError::InvalidInput(io.to_string()),
    }
}

/// An export goes to an absolute path: a new folder inside an existing
/// one, or an existing empty folder. Nothing is ever overwritten.
pub fn check_export_dir(dir: &str) -> Result<std::path::PathBuf, CoreError> {
    let trimmed = dir.trim();
    let path = std::path::PathBuf::from(trimmed);
    if trimmed.is_empty() || !path.is_absolute() {
        return Err(CoreError::InvalidInput(
            "choose a full folder path for the export, such as /home/you/Parley export".into(),
        ));
    }
    if path.exists() {
        let empty = std::fs::read_dir(&path).map(|mut d| d.next().is_none()).unwrap_or(false);
        if !path.is_dir() || !empty {
            return Err(CoreError::InvalidInput(format!(
                "{} already exists and is not an empty folder: choose a new folder name",
                path.display()
            )));
        }
    } else if !path.parent().is_some_and(Path::is_dir) {
        return Err(CoreError::InvalidInput(format!(
            "the folder that would hold {} does not exist: choose a folder that does",
            path.display()
        )));
    }
    Ok(path)
}
