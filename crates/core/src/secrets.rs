//! Where secrets live: the OS keyring, behind the [`SecretStore`] trait.
//!
//! Every secret of a profile (the database key, the device's private key, the
//! relay token, the Meta access token) is one keyring entry named
//! `<profile id>/<secret name>` under the service `parley`. There is no
//! fallback to a file or to memory when the keyring is missing: the user gets
//! a clear error instead, because a silent fallback would break the promise
//! that keys are never on disk.

use std::collections::HashMap;
use std::sync::Mutex;

use zeroize::Zeroizing;

/// The keyring service name all Parley entries share.
pub const KEYRING_SERVICE: &str = "parley";

/// The secrets a profile keeps, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretName {
    /// 32 random bytes: the SQLCipher raw key.
    DatabaseKey,
    /// 32 bytes: the X25519 secret key that opens sealed relay events.
    DeviceKey,
    /// The bearer token the relay issued at enrollment.
    RelayToken,
    /// The Meta Graph API access token.
    GraphToken,
}

impl SecretName {
    pub const ALL: [SecretName; 4] = [
        SecretName::DatabaseKey,
        SecretName::DeviceKey,
        SecretName::RelayToken,
        SecretName::GraphToken,
    ];

    fn as_str(self) -> &'static str {
        match self {
            SecretName::DatabaseKey => "db-key",
            SecretName::DeviceKey => "device-key",
            SecretName::RelayToken => "relay-token",
            SecretName::GraphToken => "graph-token",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// No usable OS keyring. The message says what to do about it.
    #[error(
        "the system keyring is not available ({0}). Parley keeps its keys only there: \
         start and unlock your keyring (GNOME Keyring, KWallet, macOS Keychain or \
         Windows Credential Manager) and try again"
    )]
    Unavailable(String),
    #[error("the keyring refused the request: {0}")]
    Failed(String),
}

/// Secret storage for one profile.
pub trait SecretStore: Send + Sync {
    fn get(&self, name: SecretName) -> Result<Option<Zeroizing<Vec<u8>>>, SecretError>;
    fn set(&self, name: SecretName, value: &[u8]) -> Result<(), SecretError>;
    /// Deleting an absent entry is not an error.
    fn delete(&self, name: SecretName) -> Result<(), SecretError>;
}

/// The OS keyring (Secret Service on Linux, Keychain on macOS, Credential
/// Manager on Windows) through the `keyring` crate.
pub struct KeyringStore {
    profile_id: String,
}

impl KeyringStore {
    /// `profile_id` keeps profiles (sandbox, real account, tests) apart.
    pub fn new(profile_id: impl Into<String>) -> Self {
        KeyringStore { profile_id: profile_id.into() }
    }

    fn entry(&self, name: SecretName) -> Result<keyring::Entry, SecretError> {
        keyring::Entry::new(KEYRING_SERVICE, &format!("{}/{}", self.profile_id, name.as_str()))
            .map_err(map_keyring_error)
    }
}

/// Translate keyring errors without ever formatting their payloads: some
/// variants (`BadEncoding`) carry the secret bytes themselves.
fn map_keyring_error(e: keyring::Error) -> SecretError {
    use keyring::Error as E;
    match e {
        E::NoDefaultStore => SecretError::Unavailable("no credential store could be opened".into()),
        E::NoStorageAccess(_) => {
            SecretError::Unavailable("the keyring is locked or unreachable".into())
        }
        E::PlatformFailure(p) => SecretError::Unavailable(format!("platform error: {p}")),
        E::BadEncoding(_) | E::BadDataFormat(..) => {
            SecretError::Failed("stored value is malformed".into())
        }
        E::TooLong(what, max) => SecretError::Failed(format!("{what} longer than {max}")),
        E::Invalid(what, why) => SecretError::Failed(format!("{what} is invalid: {why}")),
        E::Ambiguous(_) => SecretError::Failed("more than one matching keyring entry".into()),
        E::NotSupportedByStore(what) => SecretError::Failed(format!("not supported: {what}")),
        E::BadStoreFormat(what) => SecretError::Failed(format!("bad store format: {what}")),
        E::NoEntry => SecretError::Failed("no such entry".into()),
        _ => SecretError::Failed("unknown keyring error".into()),
    }
}

impl SecretStore for KeyringStore {
    fn get(&self, name: SecretName) -> Result<Option<Zeroizing<Vec<u8>>>, SecretError> {
        match self.entry(name)?.get_secret() {
            Ok(v) => Ok(Some(Zeroizing::new(v))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_keyring_error(e)),
        }
    }

    fn set(&self, name: SecretName, value: &[u8]) -> Result<(), SecretError> {
        self.entry(name)?.set_secret(value).map_err(map_keyring_error)
    }

    fn delete(&self, name: SecretName) -> Result<(), SecretError> {
        match self.entry(name)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_keyring_error(e)),
        }
    }
}

/// An in-memory store for unit tests whose subject is not the keyring.
/// Never used by the app or the CLI.
#[derive(Default)]
pub struct InMemorySecretStore {
    map: Mutex<HashMap<SecretName, Zeroizing<Vec<u8>>>>,
}

impl SecretStore for InMemorySecretStore {
    fn get(&self, name: SecretName) -> Result<Option<Zeroizing<Vec<u8>>>, SecretError> {
        Ok(self.map.lock().expect("secret map poisoned").get(&name).cloned())
    }

    fn set(&self, name: SecretName, value: &[u8]) -> Result<(), SecretError> {
        self.map.lock().expect("secret map poisoned").insert(name, Zeroizing::new(value.to_vec()));
        Ok(())
    }

    fn delete(&self, name: SecretName) -> Result<(), SecretError> {
        self.map.lock().expect("secret map poisoned").remove(&name);
        Ok(())
    }
}
