//! A profile: one data directory with its database and non-secret settings,
//! plus its own keyring entries. The sandbox and a real account are separate
//! profiles, so demo data never mixes with a customer's.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Non-secret settings, in `config.json`. Tokens and keys are in the keyring.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileConfig {
    /// The profile's keyring namespace, chosen at random when the profile is
    /// made, so moving or renaming the directory keeps its keys reachable.
    #[serde(default)]
    pub profile_id: Option<String>,
    /// True when this profile talks to the built-in sandbox, not Meta.
    #[serde(default)]
    pub sandbox: bool,
    pub relay_url: Option<String>,
    pub device_id: Option<String>,
    pub tenant_id: Option<String>,
    pub graph: Option<GraphSettings>,
    /// The user chose on the welcome screen (sandbox or their business).
    #[serde(default)]
    pub welcome_done: bool,
    /// The Instagram professional account connected with the business.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instagram_account_id: Option<String>,
}

impl ProfileConfig {
    /// True once the device has a relay and a Graph account to talk to.
    pub fn is_configured(&self) -> bool {
        self.relay_url.is_some() && self.graph.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphSettings {
    /// `https://graph.facebook.com`, or the sandbox's loopback address.
    pub base_url: String,
    /// For example `v23.0`.
    pub version: String,
    pub phone_number_id: String,
    pub waba_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot use the profile directory {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the profile settings in {path} are damaged: {reason}")]
    BadConfig { path: PathBuf, reason: String },
    #[error(
        "the profile in {path} is already open in another Parley window or parleyctl; \
         close that first"
    )]
    InUse { path: PathBuf },
}

/// Held while an engine uses a profile; see [`Profile::lock`].
#[derive(Debug)]
pub struct ProfileLock {
    _file: std::fs::File,
}

#[derive(Debug, Clone)]
pub struct Profile {
    dir: PathBuf,
    id: String,
}

impl Profile {
    /// Create the directory if needed (owner-only on Unix). An existing
    /// directory keeps its permissions: it may be one the user chose.
    pub fn open(dir: &Path) -> Result<Profile, ProfileError> {
        let io = |source| ProfileError::Io { path: dir.to_owned(), source };
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(io)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(io)?;
            }
        }
        let canonical = dir.canonicalize().map_err(io)?;
        let mut profile = Profile { dir: canonical, id: String::new() };
        let mut config = profile.load_config()?;
        profile.id = match config.profile_id.clone() {
            Some(id) => id,
            None => {
                let id = if profile.database_path().exists() {
                    // Made before ids were stored: its keys are under the
                    // hash of its path, which stays its id from now on.
                    let digest = Sha256::digest(profile.dir.to_string_lossy().as_bytes());
                    format!("profile-{}", &hex::encode(digest)[..16])
                } else {
                    let mut bytes = [0u8; 8];
                    rand::Rng::fill(&mut rand::rngs::OsRng, &mut bytes[..]);
                    format!("profile-{}", hex::encode(bytes))
                };
                config.profile_id = Some(id.clone());
                profile.save_config(&config)?;
                id
            }
        };
        Ok(profile)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The keyring namespace of this profile.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Take the profile for this process. Two engines on one profile would
    /// each treat the other's in-flight sends as crashed ones, so the second
    /// is refused. The OS drops the lock when the process ends, however it ends.
    pub fn lock(&self) -> Result<ProfileLock, ProfileError> {
        let path = self.dir.join("profile.lock");
        let io = |source| ProfileError::Io { path: path.clone(), source };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(ProfileLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(ProfileError::InUse { path: self.dir.clone() })
            }
            Err(std::fs::TryLockError::Error(source)) => Err(io(source)),
        }
    }

    pub fn database_path(&self) -> PathBuf {
        self.dir.join("parley.db")
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    pub fn load_config(&self) -> Result<ProfileConfig, ProfileError> {
        let path = self.config_path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| ProfileError::BadConfig { path, reason: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ProfileConfig::default()),
            Err(source) => Err(ProfileError::Io { path, source }),
        }
    }

    /// Write atomically (temp file + rename), so a crash never leaves half a file.
    pub fn save_config(&self, config: &ProfileConfig) -> Result<(), ProfileError> {
        let path = self.config_path();
        let tmp = self.dir.join("config.json.tmp");
        let json = serde_json::to_vec_pretty(config).expect("config serialises");
        let io = |source| ProfileError::Io { path: path.clone(), source };
        std::fs::write(&tmp, json).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(())
    }
}
